// Package storage holds kubemesos' StorageClass manifests, embedded so the
// dev cluster and tooling apply exactly the files in this folder:
// kubemesos-local.yaml (reclaimPolicy Delete, the one to install) and
// kubemesos-local-retain.yaml (the same class with Retain, instead of it).
package storage

import (
	"bytes"
	"embed"
	"fmt"

	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/client-go/kubernetes/scheme"
)

// FS holds the manifests (*.yaml).
//
//go:embed *.yaml
var FS embed.FS

// Manifest files.
const (
	DeleteFile = "kubemesos-local.yaml"
	RetainFile = "kubemesos-local-retain.yaml"
)

// Class decodes the StorageClass of one manifest file of FS.
func Class(file string) (*storagev1.StorageClass, error) {
	b, err := FS.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	return decodeClass(file, b)
}

func decodeClass(file string, b []byte) (*storagev1.StorageClass, error) {
	obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(bytes.TrimSpace(b), nil, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	sc, ok := obj.(*storagev1.StorageClass)
	if !ok {
		return nil, fmt.Errorf("%s holds a %T, not a StorageClass", file, obj)
	}
	return sc, nil
}

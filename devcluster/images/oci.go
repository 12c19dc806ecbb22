package images

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"runtime"
	"sort"
	"strings"
	"time"
)

// Media types of the OCI image specification.
const (
	MediaTypeIndex    = "application/vnd.oci.image.index.v1+json"
	MediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeConfig   = "application/vnd.oci.image.config.v1+json"
	MediaTypeLayer    = "application/vnd.oci.image.layer.v1.tar"

	// AnnotationImageName is the index annotation containerd reads as the
	// image's name on import.
	AnnotationImageName = "io.containerd.image.name"
	// AnnotationRefName is the OCI tag annotation.
	AnnotationRefName = "org.opencontainers.image.ref.name"
)

// epoch is the modification time of every file the images contain, so that
// the same inputs always give the same digests.
var epoch = time.Unix(0, 0).UTC()

// Entry is one file system entry of an image layer.
type Entry struct {
	// Path is relative to the root, without a leading slash ("bin/sh").
	Path string
	// Mode holds the permission bits.
	Mode int64
	// Dir marks a directory.
	Dir bool
	// Link, when set, makes the entry a symbolic link to Link.
	Link string
	// Data is a regular file's content.
	Data []byte
}

// Config is the runtime part of an image config.
type Config struct {
	Entrypoint []string `json:"Entrypoint,omitempty"`
	Cmd        []string `json:"Cmd,omitempty"`
	Env        []string `json:"Env,omitempty"`
	WorkingDir string   `json:"WorkingDir,omitempty"`
	User       string   `json:"User,omitempty"`
	// Labels tell images apart that share their layers and command.
	Labels map[string]string `json:"Labels,omitempty"`
}

// Image is an image to be written as an OCI layout: its Base layers, bottom
// first, then Entries on top.
type Image struct {
	// Ref is the full reference, e.g. "kubemesos.local/busybox:latest".
	Ref string
	// Aliases are further names the layout gives the same manifest.
	Aliases []string
	// Base are the layers below Entries, bottom first. Images that share a
	// base layer share its blob: the same entries give the same digest.
	Base    [][]Entry
	Entries []Entry
	Config  Config
}

// Descriptor is an OCI content descriptor.
type Descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *Platform         `json:"platform,omitempty"`
}

// Platform names the OS and architecture an image runs on.
type Platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

// Index is the OCI image index (index.json).
type Index struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Manifests     []Descriptor `json:"manifests"`
}

// Manifest is the OCI image manifest.
type Manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        Descriptor   `json:"config"`
	Layers        []Descriptor `json:"layers"`
}

// ImageConfig is the OCI image configuration blob.
type ImageConfig struct {
	Created      time.Time `json:"created"`
	Architecture string    `json:"architecture"`
	OS           string    `json:"os"`
	Config       Config    `json:"config"`
	RootFS       RootFS    `json:"rootfs"`
	History      []History `json:"history,omitempty"`
}

// RootFS lists the uncompressed layer digests of an image.
type RootFS struct {
	Type    string   `json:"type"`
	DiffIDs []string `json:"diff_ids"`
}

// History describes how a layer was made.
type History struct {
	Created   time.Time `json:"created"`
	CreatedBy string    `json:"created_by,omitempty"`
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// tag returns the tag part of a reference ("latest" for "a/b:latest").
func tag(ref string) string {
	if _, t, ok := splitTag(ref); ok {
		return t
	}
	return "latest"
}

// Name returns a reference without its tag or digest
// ("localhost:5000/a/b" for "localhost:5000/a/b:1.0@sha256:…").
func Name(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	name, _, _ := splitTag(ref)
	return name
}

// splitTag splits ref at the colon of its tag, if its last path element has one.
func splitTag(ref string) (name, tag string, ok bool) {
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[:i], ref[i+1:], true
	}
	return ref, "", false
}

// Layer returns the uncompressed tar of the entries, sorted by path, with
// parent directories first and fixed owners and times.
func Layer(entries []Entry) ([]byte, error) {
	sorted := append([]Entry(nil), entries...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	seen := map[string]bool{}
	for _, e := range sorted {
		p := strings.TrimPrefix(path.Clean("/"+e.Path), "/")
		if p == "" {
			return nil, fmt.Errorf("layer entry with empty path")
		}
		if seen[p] {
			return nil, fmt.Errorf("layer entry %q twice", p)
		}
		seen[p] = true
		h := &tar.Header{
			Name:    p,
			Mode:    e.Mode,
			ModTime: epoch,
			Uname:   "root",
			Gname:   "root",
			Format:  tar.FormatPAX,
		}
		switch {
		case e.Dir:
			h.Typeflag = tar.TypeDir
			h.Name += "/"
		case e.Link != "":
			h.Typeflag = tar.TypeSymlink
			h.Linkname = e.Link
			if h.Mode == 0 {
				h.Mode = 0o777
			}
		default:
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.Data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("layer entry %q: %w", p, err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(e.Data); err != nil {
				return nil, fmt.Errorf("layer entry %q: %w", p, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteOCIArchive writes img as a tar of an OCI image layout and returns the
// descriptor of its manifest.
func WriteOCIArchive(w io.Writer, img Image) (Descriptor, error) {
	descs, err := WriteOCILayout(w, []Image{img})
	if err != nil {
		return Descriptor{}, err
	}
	return descs[0], nil
}

// WriteOCILayout writes imgs as one tar of an OCI image layout, each blob
// once however many images hold it, and returns the descriptor of each
// image's manifest. The index names every image under its Ref and each of
// its Aliases.
func WriteOCILayout(w io.Writer, imgs []Image) ([]Descriptor, error) {
	l, err := newLayout(imgs)
	if err != nil {
		return nil, err
	}
	if err := l.writeTo(w); err != nil {
		return nil, err
	}
	return l.manifests, nil
}

// layout is an OCI image layout in memory.
type layout struct {
	index []byte
	blobs map[string][]byte
	// order lists the blob digests in the order they were added.
	order []string
	// manifests holds each image's manifest descriptor, under its Ref.
	manifests []Descriptor
	first     string
}

func newLayout(imgs []Image) (*layout, error) {
	if len(imgs) == 0 {
		return nil, fmt.Errorf("no images to write")
	}
	blobs := map[string][]byte{}
	var order []string
	addBlob := func(mediaType string, b []byte) Descriptor {
		d := Descriptor{MediaType: mediaType, Digest: digestOf(b), Size: int64(len(b))}
		if _, ok := blobs[d.Digest]; !ok {
			blobs[d.Digest] = b
			order = append(order, d.Digest)
		}
		return d
	}
	var index []Descriptor
	var out []Descriptor
	names := map[string]bool{}
	for _, img := range imgs {
		if img.Ref == "" {
			return nil, fmt.Errorf("image has no reference")
		}
		var layers []Descriptor
		for _, entries := range append(append([][]Entry(nil), img.Base...), img.Entries) {
			layer, err := Layer(entries)
			if err != nil {
				return nil, fmt.Errorf("image %s: %w", img.Ref, err)
			}
			layers = append(layers, addBlob(MediaTypeLayer, layer))
		}
		cfg := ImageConfig{
			Created:      epoch,
			Architecture: runtime.GOARCH,
			OS:           "linux",
			Config:       img.Config,
			RootFS:       RootFS{Type: "layers"},
		}
		for _, l := range layers {
			cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.Digest)
			cfg.History = append(cfg.History, History{Created: epoch, CreatedBy: "kubemesos images"})
		}
		cfgJSON, err := json.Marshal(cfg)
		if err != nil {
			return nil, err
		}
		cfgDesc := addBlob(MediaTypeConfig, cfgJSON)
		manifestJSON, err := json.Marshal(Manifest{
			SchemaVersion: 2,
			MediaType:     MediaTypeManifest,
			Config:        cfgDesc,
			Layers:        layers,
		})
		if err != nil {
			return nil, err
		}
		manDesc := addBlob(MediaTypeManifest, manifestJSON)
		manDesc.Platform = &Platform{Architecture: runtime.GOARCH, OS: "linux"}
		for i, name := range append([]string{img.Ref}, img.Aliases...) {
			if names[name] {
				return nil, fmt.Errorf("image name %s twice in one layout", name)
			}
			names[name] = true
			d := manDesc
			d.Annotations = map[string]string{AnnotationImageName: name, AnnotationRefName: tag(name)}
			index = append(index, d)
			if i == 0 {
				out = append(out, d)
			}
		}
	}
	indexJSON, err := json.Marshal(Index{SchemaVersion: 2, MediaType: MediaTypeIndex, Manifests: index})
	if err != nil {
		return nil, err
	}
	return &layout{index: indexJSON, blobs: blobs, order: order, manifests: out, first: imgs[0].Ref}, nil
}

// writeTo writes the layout as a tar.
func (l *layout) writeTo(w io.Writer) error {
	tw := tar.NewWriter(w)
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Name: dir, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: epoch}); err != nil {
			return err
		}
	}
	write := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data)), ModTime: epoch}); err != nil {
			return fmt.Errorf("image %s: %w", l.first, err)
		}
		if _, err := tw.Write(data); err != nil {
			return fmt.Errorf("image %s: %w", l.first, err)
		}
		return nil
	}
	if err := write("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	if err := write("index.json", l.index); err != nil {
		return err
	}
	for _, d := range l.order {
		if err := write(blobPath(d), l.blobs[d]); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("image %s: %w", l.first, err)
	}
	return nil
}

func blobPath(digest string) string {
	return "blobs/sha256/" + strings.TrimPrefix(digest, "sha256:")
}

// Package rbac holds the RBAC manifests of kubemesos' own identities, embedded
// so the dev cluster and tooling apply exactly the files in this folder.
//
//   - kubemesos-bridge (group kubemesos:bridges): the Mesos framework.
//   - kubemesos-executor (group kubemesos:executors): the kubelet-executor.
//
// Subjects are bound both by user and by group, so a certificate for either
// gets the permissions.
package rbac

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/klog/v2"
)

// FS holds the manifests (*.yaml).
//
//go:embed *.yaml
var FS embed.FS

// Identities the manifests grant permissions to.
const (
	BridgeUser    = "kubemesos-bridge"
	BridgeGroup   = "kubemesos:bridges"
	ExecutorUser  = "kubemesos-executor"
	ExecutorGroup = "kubemesos:executors"
	// Namespace is where the bridge keeps its leases and config maps.
	Namespace = "kubemesos-system"
)

// Objects decodes every manifest, namespaces first, then roles, then
// bindings, so they can be created in order.
func Objects() ([]runtime.Object, error) {
	files, err := fs.Glob(FS, "*.yaml")
	if err != nil {
		return nil, fmt.Errorf("list manifests: %w", err)
	}
	var objs []runtime.Object
	for _, f := range files {
		b, err := FS.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", f, err)
		}
		d := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
		for {
			var raw runtime.RawExtension
			if err := d.Decode(&raw); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			if len(bytes.TrimSpace(raw.Raw)) == 0 || string(bytes.TrimSpace(raw.Raw)) == "null" {
				continue
			}
			obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(raw.Raw, nil, nil)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			objs = append(objs, obj)
		}
	}
	sort.SliceStable(objs, func(i, j int) bool { return order(objs[i]) < order(objs[j]) })
	return objs, nil
}

func order(o runtime.Object) int {
	switch o.(type) {
	case *corev1.Namespace:
		return 0
	case *rbacv1.ClusterRole, *rbacv1.Role:
		return 1
	default:
		return 2
	}
}

// Apply creates the manifests' objects, or updates them where they exist.
func Apply(ctx context.Context, c kubernetes.Interface) error {
	objs, err := Objects()
	if err != nil {
		return err
	}
	for _, o := range objs {
		if err := apply(ctx, c, o); err != nil {
			return err
		}
	}
	return nil
}

func apply(ctx context.Context, c kubernetes.Interface, o runtime.Object) error {
	var err error
	switch o := o.(type) {
	case *corev1.Namespace:
		_, err = c.CoreV1().Namespaces().Create(ctx, o, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			err = nil // nothing in a namespace's spec to converge
		}
	case *rbacv1.ClusterRole:
		api := c.RbacV1().ClusterRoles()
		_, err = api.Create(ctx, o, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			var cur *rbacv1.ClusterRole
			if cur, err = api.Get(ctx, o.Name, metav1.GetOptions{}); err == nil {
				cur.Rules = o.Rules
				_, err = api.Update(ctx, cur, metav1.UpdateOptions{})
			}
		}
	case *rbacv1.ClusterRoleBinding:
		api := c.RbacV1().ClusterRoleBindings()
		_, err = api.Create(ctx, o, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			var cur *rbacv1.ClusterRoleBinding
			if cur, err = api.Get(ctx, o.Name, metav1.GetOptions{}); err == nil {
				cur.Subjects = o.Subjects
				_, err = api.Update(ctx, cur, metav1.UpdateOptions{})
			}
		}
	case *rbacv1.Role:
		api := c.RbacV1().Roles(o.Namespace)
		_, err = api.Create(ctx, o, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			var cur *rbacv1.Role
			if cur, err = api.Get(ctx, o.Name, metav1.GetOptions{}); err == nil {
				cur.Rules = o.Rules
				_, err = api.Update(ctx, cur, metav1.UpdateOptions{})
			}
		}
	case *rbacv1.RoleBinding:
		api := c.RbacV1().RoleBindings(o.Namespace)
		_, err = api.Create(ctx, o, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			var cur *rbacv1.RoleBinding
			if cur, err = api.Get(ctx, o.Name, metav1.GetOptions{}); err == nil {
				cur.Subjects = o.Subjects
				_, err = api.Update(ctx, cur, metav1.UpdateOptions{})
			}
		}
	default:
		return fmt.Errorf("rbac manifests: unsupported object %T", o)
	}
	if err != nil {
		m, _ := metaOf(o)
		return fmt.Errorf("apply %T %s: %w", o, m, err)
	}
	klog.FromContext(ctx).V(4).Info("Applied RBAC object", "kind", fmt.Sprintf("%T", o))
	return nil
}

func metaOf(o runtime.Object) (string, bool) {
	m, ok := o.(metav1.Object)
	if !ok {
		return "", false
	}
	if m.GetNamespace() != "" {
		return m.GetNamespace() + "/" + m.GetName(), true
	}
	return m.GetName(), true
}

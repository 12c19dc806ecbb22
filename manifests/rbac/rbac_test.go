package rbac

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
)

// allows reports whether rules grant verb on group/resource.
func allows(rules []rbacv1.PolicyRule, group, resource, verb string) bool {
	for _, r := range rules {
		if has(r.APIGroups, group) && has(r.Resources, resource) && has(r.Verbs, verb) {
			return true
		}
	}
	return false
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s || x == "*" {
			return true
		}
	}
	return false
}

func TestManifests(t *testing.T) {
	objs, err := Objects()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := objs[0].(*corev1.Namespace); !ok {
		t.Fatalf("first object is %T, want the namespace so roles in it can be created", objs[0])
	}
	roles := map[string][]rbacv1.PolicyRule{}
	boundTo := map[string][]rbacv1.Subject{}
	for _, o := range objs {
		switch o := o.(type) {
		case *rbacv1.ClusterRole:
			roles["ClusterRole/"+o.Name] = o.Rules
		case *rbacv1.Role:
			if o.Namespace != Namespace {
				t.Errorf("role %s in namespace %q", o.Name, o.Namespace)
			}
			roles["Role/"+o.Name] = o.Rules
		case *rbacv1.ClusterRoleBinding:
			boundTo["ClusterRole/"+o.RoleRef.Name] = o.Subjects
		case *rbacv1.RoleBinding:
			boundTo["Role/"+o.RoleRef.Name] = o.Subjects
		}
	}
	for role := range roles {
		if _, ok := boundTo[role]; !ok {
			t.Errorf("%s is not bound", role)
		}
	}
	for role := range boundTo {
		if _, ok := roles[role]; !ok {
			t.Errorf("binding refers to missing %s", role)
		}
	}

	type grant struct{ group, resource, verb string }
	checks := []struct {
		role, user, group string
		want, deny        []grant
	}{
		{
			role: "ClusterRole/kubemesos:bridge", user: BridgeUser, group: BridgeGroup,
			want: []grant{{"", "pods", "watch"}, {"", "nodes", "list"}, {"", "namespaces", "watch"}, {"", "events", "create"}, {"events.k8s.io", "events", "create"}, {"", "pods/status", "patch"}, {"", "pods/status", "update"}, {"", "pods", "delete"},
				{"", "persistentvolumeclaims", "watch"}, {"", "persistentvolumes", "watch"}, {"", "persistentvolumes", "create"}, {"", "persistentvolumes", "delete"}, {"", "persistentvolumes", "patch"}, {"storage.k8s.io", "storageclasses", "watch"},
				{"", "nodes", "update"}, {"", "pods/eviction", "create"}, {"apps", "daemonsets", "get"}},
			deny: []grant{{"", "pods/binding", "create"}, {"", "pods", "create"}, {"", "secrets", "get"}, {"apps", "deployments", "create"}, {"", "nodes", "create"},
				{"", "persistentvolumeclaims", "update"}, {"", "persistentvolumeclaims", "delete"}, {"storage.k8s.io", "storageclasses", "create"}},
		},
		{
			role: "Role/kubemesos:bridge", user: BridgeUser, group: BridgeGroup,
			want: []grant{{"coordination.k8s.io", "leases", "update"}, {"", "configmaps", "create"}},
			deny: []grant{{"", "secrets", "get"}},
		},
		{
			role: "ClusterRole/kubemesos:executor", user: ExecutorUser, group: ExecutorGroup,
			want: []grant{{"", "pods", "delete"}, {"", "pods/binding", "create"}, {"", "nodes", "watch"}, {"", "events", "patch"}, {"", "pods/status", "update"}},
			deny: []grant{{"", "pods", "create"}, {"", "secrets", "get"}, {"", "nodes", "update"}, {"apps", "deployments", "create"}},
		},
	}
	for _, c := range checks {
		rules := roles[c.role]
		for _, g := range c.want {
			if !allows(rules, g.group, g.resource, g.verb) {
				t.Errorf("%s does not grant %s %s/%s", c.role, g.verb, g.group, g.resource)
			}
		}
		for _, g := range c.deny {
			if allows(rules, g.group, g.resource, g.verb) {
				t.Errorf("%s grants %s %s/%s", c.role, g.verb, g.group, g.resource)
			}
		}
		var user, group bool
		for _, s := range boundTo[c.role] {
			user = user || (s.Kind == rbacv1.UserKind && s.Name == c.user)
			group = group || (s.Kind == rbacv1.GroupKind && s.Name == c.group)
		}
		if !user || !group {
			t.Errorf("%s bound to user %s: %v, group %s: %v", c.role, c.user, user, c.group, group)
		}
	}
}

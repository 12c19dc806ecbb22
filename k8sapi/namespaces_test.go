package k8sapi

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubemesos/kubemesos/devcluster/controlplane/cptest"
)

// within polls cond for up to 10 s.
func within(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestNamespaceMirrorFollowsLabels: against a real API server, the mirror
// reports a Namespace's labels (kubernetes.io/metadata.name included) as
// they change.
func TestNamespaceMirrorFollowsLabels(t *testing.T) {
	cp := cptest.Start(t)
	client := cp.Client()
	m := NewNamespaceMirror(client, time.Minute)
	if err := m.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	ns, err := client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-x", Labels: map[string]string{"team": "x"}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	within(t, "the namespace's labels", func() bool {
		l := m.NamespaceLabels()["team-x"]
		return l["team"] == "x" && l[corev1.LabelMetadataName] == "team-x"
	})
	ns.Labels["team"] = "y"
	if _, err := client.CoreV1().Namespaces().Update(t.Context(), ns, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	within(t, "the new label", func() bool { return m.NamespaceLabels()["team-x"]["team"] == "y" })
}

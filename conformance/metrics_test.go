package conformance

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestKubectlTop: metrics-server (an add-on scheduled by kubemesos) scrapes
// every kubelet over TLS it verifies against the cluster CA, and `kubectl
// top` shows every Ready node and the CoreDNS pods.
func TestKubectlTop(t *testing.T) {
	top := func(args ...string) (string, error) {
		out, err := exec.CommandContext(t.Context(), cluster.kubectl,
			append([]string{"--kubeconfig", cluster.kubeconfig, "top"}, args...)...).CombinedOutput()
		return string(out), err
	}
	eventually(t, 4*time.Minute, "kubectl top nodes to list every Ready node", func() (bool, string) {
		out, err := top("nodes", "--no-headers")
		if err != nil {
			return false, out
		}
		for _, n := range readyNodes(t) {
			if !strings.Contains(out, n+" ") {
				return false, fmt.Sprintf("no %s in:\n%s", n, out)
			}
		}
		return true, out
	})
	eventually(t, 2*time.Minute, "kubectl top pods to list CoreDNS", func() (bool, string) {
		out, err := top("pods", "-n", "kube-system", "-l", "k8s-app=kube-dns", "--no-headers")
		return err == nil && strings.Contains(out, "coredns-"), out
	})
}

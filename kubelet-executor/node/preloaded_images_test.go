package node

import (
	"testing"

	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"
)

func TestValidatePreloadedImages(t *testing.T) {
	good := []string{"kubemesos.local/busybox", "kubemesos.local/*", "registry.k8s.io/e2e-test-images/agnhost", "localhost:5000/app"}
	if err := ValidatePreloadedImages(good); err != nil {
		t.Fatalf("valid names refused: %v", err)
	}
	for _, bad := range []string{"", " kubemesos.local/busybox", "kubemesos.local/busybox:latest", "/*", "kubemesos.local/*/x", "kubemesos.local/b*", "busybox@sha256:0123"} {
		if err := ValidatePreloadedImages([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestPreloadedImagesAreNeverReverified(t *testing.T) {
	c := Config{PreloadedImages: []string{"kubemesos.local/busybox", "registry.k8s.io/pause"}}
	kc := KubeletConfiguration(c, Host{CPUs: 2, MemMiB: 4096})
	if kc.ImagePullCredentialsVerificationPolicy != kubeletv1beta1.NeverVerifyAllowlistedImages {
		t.Errorf("policy = %q, want %q", kc.ImagePullCredentialsVerificationPolicy, kubeletv1beta1.NeverVerifyAllowlistedImages)
	}
	if got := kc.PreloadedImagesVerificationAllowlist; len(got) != 2 || got[0] != "kubemesos.local/busybox" || got[1] != "registry.k8s.io/pause" {
		t.Errorf("allowlist = %v", got)
	}
	// Without preloaded images the kubelet keeps its default policy.
	if kc := KubeletConfiguration(Config{}, Host{CPUs: 2, MemMiB: 4096}); kc.ImagePullCredentialsVerificationPolicy != "" || kc.PreloadedImagesVerificationAllowlist != nil {
		t.Errorf("default config sets a policy: %q %v", kc.ImagePullCredentialsVerificationPolicy, kc.PreloadedImagesVerificationAllowlist)
	}
}

package node

import (
	"fmt"
	"strings"
)

// Images the operator loads into a node's containerd (`ctr images import`,
// as `kubemesos up` does) were never pulled by the kubelet. With the kubelet's
// default credential verification policy (NeverVerifyPreloadedImages, KEP-2535)
// such an image counts as preloaded only while no pull of that image is under
// way on the node: a second pod asking for it while another pod's pull is in
// flight (imagePullPolicy Always, or a `:latest` image without a policy) must
// pull it again even with IfNotPresent. Where nothing can be pulled (no
// registry) that pod fails with ErrImagePull although the image is present.
//
// Naming the loaded images turns on NeverVerifyAllowlistedImages with them as
// the allowlist, so a pod that finds one present uses it, whatever other pods
// on the node are pulling. Images not named follow that policy's rule for
// everything else: credentials are verified, as for an image a kubelet pulled.

// ValidatePreloadedImages checks the names as the kubelet checks its
// preloadedImagesVerificationAllowlist: an image name without tag or digest
// (`registry.k8s.io/pause`), or a prefix ending in `/*`
// (`kubemesos.local/*`), without surrounding spaces.
func ValidatePreloadedImages(names []string) error {
	for _, n := range names {
		if n != strings.TrimSpace(n) || n == "" {
			return fmt.Errorf("image pattern %q: empty or surrounded by spaces", n)
		}
		if prefix, ok := strings.CutSuffix(n, "/*"); ok {
			if prefix == "" || strings.Contains(prefix, "*") {
				return fmt.Errorf("image pattern %q: a wildcard needs a registry host before /* and no other *", n)
			}
			continue
		}
		if strings.ContainsAny(n, "*@") {
			return fmt.Errorf("image pattern %q: only a trailing /* wildcard is allowed, and no digest", n)
		}
		last := n[strings.LastIndex(n, "/")+1:]
		if strings.Contains(last, ":") {
			return fmt.Errorf("image pattern %q: name the image without its tag", n)
		}
	}
	return nil
}

//go:build tools

// Package ginkgo pins the ginkgo CLI that runs the upstream e2e.test in
// parallel; its version is the one k8s.io/kubernetes in hack/tools requires
// (a test binary and the CLI that drives it must agree).
package ginkgo

import (
	_ "github.com/onsi/ginkgo/v2/ginkgo"
)

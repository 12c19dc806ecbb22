// Package bindir finds the Kubernetes and etcd binaries that hack/tools
// builds into bin/ (or $KUBEMESOS_BIN_DIR), for the dev cluster and for tests
// that start real servers. It imports nothing beyond the standard library,
// so Mesos-only test support (mesoslocal/mesostest) can use it without
// pulling in Kubernetes packages.
package bindir

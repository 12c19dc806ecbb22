// Package controlplane runs a real Kubernetes control plane for development,
// tests and `kubemesos up`: etcd, kube-apiserver and (optionally)
// kube-controller-manager, built from the pinned k8s.io/kubernetes module
// into bin/ (hack/build-tools.sh).
//
// Everything lives under Options.Dir:
//
//	pki/           CA (ca.crt, ca.key: signs serving and client certificates),
//	               sa.key/sa.pub, issued certificates
//	etcd/          etcd's data directory
//	kubeconfigs/   admin.kubeconfig, controller-manager.kubeconfig, and those made by Kubeconfig
//	logs/          etcd.log, kube-apiserver.log, kube-controller-manager.log
//	controlplane.json  URL, ports and process IDs of the running control plane
//
// Starting again on the same Dir reuses the CA, the service-account key and
// etcd's data, so kubeconfigs handed out before stay valid.
//
// Start applies the RBAC manifests of manifests/rbac (the bridge's and the
// executor's identities). The API server authorizes with Node,RBAC, admits
// with NodeRestriction, and reaches kubelets with a client certificate in
// system:masters; kubelets trust ClientCAFile for client authentication.
//
// StopComponent and StartComponent crash or stop one component and bring it
// back on the same ports, for fault tests (a dead API server, an etcd crash).
//
// The cptest subpackage starts one for a test and stops it at cleanup.
package controlplane

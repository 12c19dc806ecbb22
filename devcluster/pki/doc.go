// Package pki issues the certificates and keys of a dev cluster: one CA
// (ECDSA P-256) that signs the API server's serving certificate and every
// client certificate (admin, controller-manager, the API server's kubelet
// client, node and component identities), the service-account signing key
// pair, and kubeconfigs that embed them.
//
// Kubernetes reads a client certificate's subject as the user: the common name
// is the user name and each organization is a group. All files are PEM: certs
// as CERTIFICATE, private keys as PKCS#8 PRIVATE KEY, public keys as PKIX
// PUBLIC KEY; private keys are written with mode 0600.
package pki

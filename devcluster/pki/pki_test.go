package pki

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	clientcmdv1 "k8s.io/client-go/tools/clientcmd/api/v1"
	"sigs.k8s.io/yaml"
)

func TestServingAndClientCertsOverTLS(t *testing.T) {
	dir := t.TempDir()
	ca, err := NewCA(dir, "test-ca")
	if err != nil {
		t.Fatal(err)
	}
	serving, err := ca.IssueServing("apiserver", []string{"localhost", "kubernetes.default.svc"}, []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.96.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.IssueClient("system:node:agent-1", []string{"system:nodes", "extra"})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "system-node-agent-1.crt"); client.CertFile != want {
		t.Errorf("client cert file = %s, want %s", client.CertFile, want)
	}
	if st, err := os.Stat(client.KeyFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("client key file mode: %v %v", st.Mode(), err)
	}

	// Load everything back from disk, as the Kubernetes binaries will.
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.crt has no certificate")
	}
	serverCert, err := tls.LoadX509KeyPair(serving.CertFile, serving.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	clientCert, err := tls.LoadX509KeyPair(client.CertFile, client.KeyFile)
	if err != nil {
		t.Fatal(err)
	}

	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := r.TLS.PeerCertificates[0].Subject
		groups := slices.Sorted(slices.Values(s.Organization))
		fmt.Fprintf(w, "%s %s", s.CommonName, strings.Join(groups, ","))
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	srv.StartTLS()
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port

	for _, host := range []string{"127.0.0.1", "localhost"} {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{clientCert}}}}
		resp, err := c.Get(fmt.Sprintf("https://%s:%d/", host, port))
		if err != nil {
			t.Fatalf("%s: %v", host, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got, want := string(body), "system:node:agent-1 extra,system:nodes"; got != want {
			t.Errorf("server saw %q, want %q", got, want)
		}
	}

	// A certificate from another CA is refused.
	other, err := NewCA(t.TempDir(), "other")
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := other.IssueClient("intruder", nil)
	if err != nil {
		t.Fatal(err)
	}
	strangerCert, err := tls.X509KeyPair(stranger.CertPEM, stranger.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{strangerCert}}}}
	if resp, err := c.Get(srv.URL); err == nil {
		resp.Body.Close()
		t.Error("a client certificate from a foreign CA was accepted")
	}
	// The serving certificate does not cover a name it was not issued for.
	if err := serving.Cert.VerifyHostname("example.com"); err == nil {
		t.Error("serving certificate verifies for example.com")
	}
}

func TestLoadOrCreateCA(t *testing.T) {
	dir := t.TempDir()
	a, err := LoadOrCreateCA(dir, "ca")
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadOrCreateCA(dir, "ca")
	if err != nil {
		t.Fatal(err)
	}
	if !a.Cert.Equal(b.Cert) {
		t.Error("second LoadOrCreateCA made a new CA instead of loading the existing one")
	}
	kp, err := b.IssueClient("admin", []string{"system:masters"})
	if err != nil {
		t.Fatal(err)
	}
	if err := kp.Cert.CheckSignatureFrom(a.Cert); err != nil {
		t.Errorf("certificate from the loaded CA does not chain to the original: %v", err)
	}
	if _, err := b.IssueClient("", nil); err == nil {
		t.Error("client certificate without a common name was issued")
	}
}

func TestServiceAccountKey(t *testing.T) {
	dir := t.TempDir()
	sa, err := NewServiceAccountKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	privPEM, err := os.ReadFile(sa.PrivateKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := ParsePrivateKeyPEM(privPEM)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, err := os.ReadFile(sa.PublicKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(pubPEM)
	if blk == nil || blk.Type != "PUBLIC KEY" {
		t.Fatalf("sa.pub is not a PEM public key: %q", pubPEM)
	}
	pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !priv.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(pub) {
		t.Error("sa.pub does not match sa.key")
	}
	again, err := NewServiceAccountKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	privPEM2, _ := os.ReadFile(again.PrivateKeyFile)
	if string(privPEM2) != string(privPEM) {
		t.Error("NewServiceAccountKey replaced an existing key: tokens already issued would stop verifying")
	}
}

func TestWriteKubeconfig(t *testing.T) {
	dir := t.TempDir()
	ca, err := NewCA(dir, "ca")
	if err != nil {
		t.Fatal(err)
	}
	kp, err := ca.IssueClient("kubemesos-bridge", []string{"kubemesos:bridges"})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "kube", "bridge.kubeconfig")
	if err := WriteKubeconfig(path, "https://127.0.0.1:6443", ca, kp); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg clientcmdv1.Config
	if err := yaml.UnmarshalStrict(b, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.CurrentContext != "kubemesos" || len(cfg.Clusters) != 1 || len(cfg.AuthInfos) != 1 {
		t.Fatalf("kubeconfig shape: %+v", cfg)
	}
	if got := cfg.Clusters[0].Cluster.Server; got != "https://127.0.0.1:6443" {
		t.Errorf("server = %s", got)
	}
	if string(cfg.Clusters[0].Cluster.CertificateAuthorityData) != string(ca.CertPEM) {
		t.Error("kubeconfig does not embed the CA")
	}
	ai := cfg.AuthInfos[0]
	if ai.Name != "kubemesos-bridge" || string(ai.AuthInfo.ClientCertificateData) != string(kp.CertPEM) || string(ai.AuthInfo.ClientKeyData) != string(kp.KeyPEM) {
		t.Errorf("kubeconfig user: %+v", ai)
	}
}

func TestFileName(t *testing.T) {
	for in, want := range map[string]string{
		"system:node:agent-1":            "system-node-agent-1",
		"kubemesos-bridge":               "kubemesos-bridge",
		"../../etc/passwd":               "..-..-etc-passwd",
		"system:kube-controller-manager": "system-kube-controller-manager",
	} {
		if got := FileName(in); got != want {
			t.Errorf("FileName(%q) = %q, want %q", in, got, want)
		}
	}
}

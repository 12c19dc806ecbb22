package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	clientcmdv1 "k8s.io/client-go/tools/clientcmd/api/v1"
	"sigs.k8s.io/yaml"

	"github.com/kubemesos/kubemesos/internal/atomicfile"
)

// Validity is how long issued certificates are valid.
const Validity = 10 * 365 * 24 * time.Hour

// KeyPair is a certificate with its private key, and the files they were
// written to.
type KeyPair struct {
	Cert     *x509.Certificate
	Key      crypto.Signer
	CertPEM  []byte
	KeyPEM   []byte
	CertFile string
	KeyFile  string
}

// CA signs certificates and writes them, with their keys, to its directory.
type CA struct {
	KeyPair
	// Dir is where issued certificates are written.
	Dir string
}

// NewCA creates a self-signed CA named commonName and writes it to
// dir/ca.crt and dir/ca.key. Issued certificates go to dir too.
func NewCA(dir, commonName string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          newSerial(),
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(Validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SubjectKeyId:          keyID(&key.PublicKey),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("self-sign CA: %w", err)
	}
	kp, err := newKeyPair(der, key)
	if err != nil {
		return nil, err
	}
	if err := kp.WriteFiles(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")); err != nil {
		return nil, err
	}
	return &CA{KeyPair: *kp, Dir: dir}, nil
}

// LoadCA reads a CA written by NewCA from dir.
func LoadCA(dir string) (*CA, error) {
	kp, err := LoadKeyPair(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"))
	if err != nil {
		return nil, err
	}
	if !kp.Cert.IsCA {
		return nil, fmt.Errorf("%s is not a CA certificate", kp.CertFile)
	}
	return &CA{KeyPair: *kp, Dir: dir}, nil
}

// LoadOrCreateCA loads the CA in dir, or creates one when dir has none.
func LoadOrCreateCA(dir, commonName string) (*CA, error) {
	ca, err := LoadCA(dir)
	if err == nil {
		return ca, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	return NewCA(dir, commonName)
}

// IssueServing issues a TLS serving certificate for the given names and
// addresses and writes it to <Dir>/<name>.crt and .key. The first DNS name,
// or name when there is none, is the common name.
func (ca *CA) IssueServing(name string, dnsNames []string, ips []net.IP) (*KeyPair, error) {
	cn := name
	if len(dnsNames) > 0 {
		cn = dnsNames[0]
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		DNSNames:    dnsNames,
		IPAddresses: ips,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	return ca.issue(name, tmpl)
}

// IssueClient issues a client certificate for user commonName in groups and
// writes it to <Dir>/<commonName>.crt and .key (characters that do not belong
// in a file name, such as ':', become '-').
func (ca *CA) IssueClient(commonName string, groups []string) (*KeyPair, error) {
	return ca.IssueClientAs(commonName, commonName, groups)
}

// IssueClientAs is IssueClient with the file name chosen by the caller, for
// several certificates of the same user.
func (ca *CA) IssueClientAs(name, commonName string, groups []string) (*KeyPair, error) {
	if commonName == "" {
		return nil, errors.New("client certificate needs a common name (the user)")
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: commonName, Organization: groups},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	return ca.issue(name, tmpl)
}

func (ca *CA) issue(name string, tmpl *x509.Certificate) (*KeyPair, error) {
	if name == "" {
		return nil, errors.New("certificate needs a name")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key for %s: %w", name, err)
	}
	now := time.Now()
	tmpl.SerialNumber = newSerial()
	tmpl.NotBefore = now.Add(-time.Hour)
	tmpl.NotAfter = now.Add(Validity)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	tmpl.BasicConstraintsValid = true
	tmpl.AuthorityKeyId = ca.Cert.SubjectKeyId
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("sign certificate %s: %w", name, err)
	}
	kp, err := newKeyPair(der, key)
	if err != nil {
		return nil, err
	}
	base := filepath.Join(ca.Dir, FileName(name))
	if err := kp.WriteFiles(base+".crt", base+".key"); err != nil {
		return nil, err
	}
	return kp, nil
}

// FileName turns a certificate name such as "system:node:agent-1" into a safe
// file name ("system-node-agent-1").
func FileName(name string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			return r
		}
		return '-'
	}, name)
}

// WriteFiles writes the certificate and key PEM files (the key with mode
// 0600), creating their directories, and records the paths.
func (kp *KeyPair) WriteFiles(certFile, keyFile string) error {
	if err := atomicfile.Write(certFile, kp.CertPEM, 0o644); err != nil {
		return err
	}
	if err := atomicfile.Write(keyFile, kp.KeyPEM, 0o600); err != nil {
		return err
	}
	kp.CertFile, kp.KeyFile = certFile, keyFile
	return nil
}

// LoadKeyPair reads a PEM certificate and PKCS#8 (or SEC1 EC) private key.
func LoadKeyPair(certFile, keyFile string) (*KeyPair, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("read certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: no PEM certificate", certFile)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", certFile, err)
	}
	key, err := ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyFile, err)
	}
	return &KeyPair{Cert: cert, Key: key, CertPEM: certPEM, KeyPEM: keyPEM, CertFile: certFile, KeyFile: keyFile}, nil
}

// ParsePrivateKeyPEM parses the first PEM private key (PKCS#8, SEC1 EC or
// PKCS#1 RSA) in b.
func ParsePrivateKeyPEM(b []byte) (crypto.Signer, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM private key")
	}
	var (
		k   any
		err error
	)
	switch blk.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(blk.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	default:
		return nil, fmt.Errorf("unsupported PEM block %q", blk.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("private key of type %T cannot sign", k)
	}
	return s, nil
}

// ServiceAccountKey is the key pair that signs and verifies service-account
// tokens (kube-apiserver --service-account-signing-key-file/--service-account-key-file,
// kube-controller-manager --service-account-private-key-file).
type ServiceAccountKey struct {
	PrivateKeyFile string
	PublicKeyFile  string
}

// NewServiceAccountKey writes a fresh ECDSA P-256 key pair to dir/sa.key and
// dir/sa.pub, or returns the pair already there.
func NewServiceAccountKey(dir string) (*ServiceAccountKey, error) {
	sa := &ServiceAccountKey{PrivateKeyFile: filepath.Join(dir, "sa.key"), PublicKeyFile: filepath.Join(dir, "sa.pub")}
	if b, err := os.ReadFile(sa.PrivateKeyFile); err == nil {
		if _, err := ParsePrivateKeyPEM(b); err == nil {
			if _, err := os.Stat(sa.PublicKeyFile); err == nil {
				return sa, nil
			}
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate service-account key: %w", err)
	}
	priv, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshal service-account key: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("marshal service-account public key: %w", err)
	}
	if err := atomicfile.Write(sa.PrivateKeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: priv}), 0o600); err != nil {
		return nil, err
	}
	if err := atomicfile.Write(sa.PublicKeyFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644); err != nil {
		return nil, err
	}
	return sa, nil
}

// WriteKubeconfig writes a kubeconfig at path that reaches serverURL, trusts
// ca and authenticates with cert; the certificates and key are embedded, so
// the file stands alone. The user is named after cert's common name.
func WriteKubeconfig(path, serverURL string, ca *CA, cert *KeyPair) error {
	user := cert.Cert.Subject.CommonName
	cfg := clientcmdv1.Config{
		Kind:       "Config",
		APIVersion: "v1",
		Clusters: []clientcmdv1.NamedCluster{{
			Name:    "kubemesos",
			Cluster: clientcmdv1.Cluster{Server: serverURL, CertificateAuthorityData: ca.CertPEM},
		}},
		AuthInfos: []clientcmdv1.NamedAuthInfo{{
			Name:     user,
			AuthInfo: clientcmdv1.AuthInfo{ClientCertificateData: cert.CertPEM, ClientKeyData: cert.KeyPEM},
		}},
		Contexts: []clientcmdv1.NamedContext{{
			Name:    "kubemesos",
			Context: clientcmdv1.Context{Cluster: "kubemesos", AuthInfo: user},
		}},
		CurrentContext: "kubemesos",
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("encode kubeconfig: %w", err)
	}
	return atomicfile.Write(path, b, 0o600)
}

func newKeyPair(der []byte, key *ecdsa.PrivateKey) (*KeyPair, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse issued certificate: %w", err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshal key: %w", err)
	}
	return &KeyPair{
		Cert:    cert,
		Key:     key,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}),
	}, nil
}

func newSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		// crypto/rand does not fail on Linux; a time-based serial is still unique enough.
		return big.NewInt(time.Now().UnixNano())
	}
	return n.Add(n, big.NewInt(1))
}

func keyID(pub *ecdsa.PublicKey) []byte {
	b, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil
	}
	sum := sha256.Sum256(b)
	return sum[:20]
}

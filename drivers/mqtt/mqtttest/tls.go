package mqtttest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a certificate authority generated for one test, with a server
// certificate for 127.0.0.1/localhost and a client certificate, all written
// as PEM files under a temporary directory.
type CA struct {
	Pool               *x509.CertPool
	CAFile             string // CA certificate (PEM)
	ServerCertFile     string
	ServerKeyFile      string
	ClientCertFile     string
	ClientKeyFile      string
	Server, ClientCert tls.Certificate
}

// NewCA generates a CA, a server and a client certificate.
func NewCA(t testing.TB) *CA {
	t.Helper()
	dir := t.TempDir()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mqtttest CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("mqtttest: CA: %v", err)
	}
	caCert, _ := x509.ParseCertificate(der)
	ca := &CA{Pool: x509.NewCertPool(), CAFile: filepath.Join(dir, "ca.pem")}
	ca.Pool.AddCert(caCert)
	writePEM(t, ca.CAFile, "CERTIFICATE", der)
	issue := func(name string, serial int64, usage x509.ExtKeyUsage) (tls.Certificate, string, string) {
		k := newKey(t)
		c := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: name},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
			DNSNames:     []string{"localhost"},
		}
		d, err := x509.CreateCertificate(rand.Reader, c, caCert, &k.PublicKey, key)
		if err != nil {
			t.Fatalf("mqtttest: issue %s: %v", name, err)
		}
		kd, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatalf("mqtttest: %v", err)
		}
		cf, kf := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
		writePEM(t, cf, "CERTIFICATE", d)
		writePEM(t, kf, "EC PRIVATE KEY", kd)
		pair, err := tls.LoadX509KeyPair(cf, kf)
		if err != nil {
			t.Fatalf("mqtttest: %v", err)
		}
		return pair, cf, kf
	}
	ca.Server, ca.ServerCertFile, ca.ServerKeyFile = issue("server", 2, x509.ExtKeyUsageServerAuth)
	ca.ClientCert, ca.ClientCertFile, ca.ClientKeyFile = issue("client", 3, x509.ExtKeyUsageClientAuth)
	return ca
}

// ServerTLS is a listener config presenting the server certificate. With
// requireClient, clients must present a certificate signed by the CA.
func (ca *CA) ServerTLS(requireClient bool) *tls.Config {
	c := &tls.Config{Certificates: []tls.Certificate{ca.Server}, MinVersion: tls.VersionTLS12}
	if requireClient {
		c.ClientAuth = tls.RequireAndVerifyClientCert
		c.ClientCAs = ca.Pool
	}
	return c
}

// ClientTLS is a client config trusting the CA and presenting the client
// certificate.
func (ca *CA) ClientTLS() *tls.Config {
	return &tls.Config{RootCAs: ca.Pool, Certificates: []tls.Certificate{ca.ClientCert}, MinVersion: tls.VersionTLS12}
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("mqtttest: key: %v", err)
	}
	return k
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatalf("mqtttest: %v", err)
	}
}

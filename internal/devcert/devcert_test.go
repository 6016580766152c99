package devcert

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"
)

func TestEnsureMakesATrustedCertificateOnce(t *testing.T) {
	dir := t.TempDir()
	f, err := Ensure(dir)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(pair.Certificate[0])
	pool, err := Pool(f.CA)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"localhost", "127.0.0.1"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: name}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if st, _ := os.Stat(f.Key); st.Mode().Perm() != 0o600 {
		t.Fatalf("private key mode %v", st.Mode().Perm())
	}
	before, _ := os.ReadFile(f.CA)
	if _, err := Ensure(dir); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(f.CA)
	if string(before) != string(after) {
		t.Fatal("a valid CA was replaced: clients trusting it would break")
	}
}

package server

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/tollgate-dev/tollgate/internal/bedrocksim"
	"github.com/tollgate-dev/tollgate/internal/devcert"
	"github.com/tollgate-dev/tollgate/internal/localddb"
	"github.com/tollgate-dev/tollgate/internal/rules"
	"github.com/tollgate-dev/tollgate/internal/store"
)

func TestValidateReportsEveryProblem(t *testing.T) {
	_, err := ParseFlags([]string{"--listen", ":8443", "--wal-dir", "", "--call-timeout", "0s", "--breaker-ratio", "2"}, io.Discard)
	if err == nil {
		t.Fatal("bad configuration accepted")
	}
	for _, want := range []string{"--region", "--tls-cert", "--wal-dir", "--call-timeout", "--breaker-ratio"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
}

// TestPlainHTTPBehindLoadBalancer runs a whole regional process in-process
// with only the plain-HTTP listener (TLS terminated by a load balancer in
// front), serves a call with a bearer key, and shuts down cleanly, flushing
// its usage.
func TestPlainHTTPBehindLoadBalancer(t *testing.T) {
	ddb := localddb.StartT(t)
	st := store.New(ddb.Client(), "srv-")
	ctx := context.Background()
	if err := st.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.PutCustomer(ctx, &store.Customer{ID: "acme", Name: "Acme", Status: rules.CustomerActive, AllowedModels: []string{"*"}}); err != nil {
		t.Fatal(err)
	}
	secret, k, _ := store.NewKey("acme", "", nil)
	if err := st.PutKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	sim, err := bedrocksim.Start(bedrocksim.Config{Regions: []string{"us-east-1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()

	a, stop := runInProcess(t,
		"--region", "us-east-1", "--listen", "", "--http-listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0",
		"--admin-listen", "", "--bedrock-endpoint", sim.URL("us-east-1"), "--dynamodb-endpoint", ddb.Endpoint,
		"--table-prefix", "srv-", "--wal-dir", t.TempDir())

	req, _ := http.NewRequest(http.MethodPost, "http://"+a.HTTP+"/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse",
		strings.NewReader(`{"messages":[{"role":"user","content":[{"text":"hello over plain HTTP"}]}]}`))
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"usage"`) || resp.Header.Get("X-Tollgate-Request-Id") == "" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		r, err := http.Get("http://" + a.Ops + path)
		if err != nil || r.StatusCode != 200 {
			t.Fatalf("%s: %v %v", path, r, err)
		}
		r.Body.Close()
	}

	if err := stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	total, _, err := st.CustomerUsage(ctx, "acme", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil || total.Requests != 1 || total.OutputTokens == 0 {
		t.Fatalf("usage after shutdown %+v, %v", total, err)
	}
}

// TestAdminOverTLS serves the admin API over HTTPS with the data plane's
// certificate (--admin-tls), for deployments where it leaves the host.
func TestAdminOverTLS(t *testing.T) {
	ddb := localddb.StartT(t)
	st := store.New(ddb.Client(), "adm-")
	ctx := context.Background()
	if err := st.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	certs, err := devcert.Ensure(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a, stop := runInProcess(t,
		"--region", "us-east-1", "--listen", "127.0.0.1:0", "--ops-listen", "",
		"--tls-cert", certs.Cert, "--tls-key", certs.Key,
		"--admin-listen", "127.0.0.1:0", "--admin-tls", "--admin-token", "s3cret-admin-token",
		"--bedrock-endpoint", "http://127.0.0.1:9", "--dynamodb-endpoint", ddb.Endpoint,
		"--table-prefix", "adm-", "--wal-dir", t.TempDir())
	defer func() { _ = stop() }()
	pool, err := devcert.Pool(certs.CA)
	if err != nil {
		t.Fatal(err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	req, _ := http.NewRequest(http.MethodGet, "https://"+a.Admin+"/admin/v1/customers", nil)
	req.Header.Set("Authorization", "Bearer s3cret-admin-token")
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("admin over TLS: %d", resp.StatusCode)
	}
	if resp, err := http.Get("http://" + a.Admin + "/admin/v1/customers"); err == nil && resp.StatusCode == http.StatusOK {
		t.Fatal("the admin API also answered plain HTTP")
	}

	if _, err := ParseFlags([]string{"--region", "us-east-1", "--listen", "", "--http-listen", ":0", "--admin-tls"}, io.Discard); err == nil || !strings.Contains(err.Error(), "--admin-tls needs") {
		t.Fatalf("--admin-tls without a certificate: %v", err)
	}
}

// runInProcess runs a regional process with args in this process until the
// returned stop is called (which drains and returns Run's error); it fails
// the test if the process does not become ready.
func runInProcess(t *testing.T, args ...string) (Addrs, func() error) {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	cfg, err := ParseFlags(args, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan Addrs, 1)
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, zerolog.Nop(), func(a Addrs) { addrs <- a }) }()
	stop := func() error {
		cancel()
		return <-done
	}
	select {
	case a := <-addrs:
		return a, stop
	case err := <-done:
		cancel()
		t.Fatalf("Run: %v", err)
	case <-time.After(30 * time.Second):
		_ = stop()
		t.Fatal("not ready")
	}
	return Addrs{}, stop
}

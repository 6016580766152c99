package bedrocksim_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"

	"github.com/tollgate-dev/tollgate/internal/bedrocksim"
)

const (
	claude    = "anthropic.claude-3-5-sonnet-20240620-v1:0"
	usEast1   = "us-east-1"
	usWest2   = "us-west-2"
	testAKID  = "AKID"
	testSecre = "SECRET"
)

// startSim starts a simulator that is closed when the test ends.
func startSim(t *testing.T, cfg bedrocksim.Config) *bedrocksim.Sim {
	t.Helper()
	sim, err := bedrocksim.Start(cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := sim.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return sim
}

// newClient is the official SDK client, SigV4-signed with static
// credentials, pointed at one region of sim, with retries off so every call
// is exactly one request.
func newClient(sim *bedrocksim.Sim, region string, optFns ...func(*bedrockruntime.Options)) *bedrockruntime.Client {
	return bedrockruntime.New(bedrockruntime.Options{
		Region:       region,
		BaseEndpoint: aws.String(sim.URL(region)),
		Credentials:  credentials.NewStaticCredentialsProvider(testAKID, testSecre, ""),
		HTTPClient:   sim.HTTPClient(),
		Retryer:      aws.NopRetryer{},
	}, optFns...)
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// syncWriter serialises writes from the simulator's goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func tlsClientFromPEM(t *testing.T, pem []byte) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("bad PEM")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

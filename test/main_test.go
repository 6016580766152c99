// Package test holds Tollgate's cross-component tests. They run the local
// stack of internal/stack: real dynalite, the Bedrock simulator, and real
// `tollgate serve` processes, called through the official AWS SDK over TLS.
package test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/smithy-go/auth/bearer"

	"github.com/tollgate-dev/tollgate/internal/rules"
	"github.com/tollgate-dev/tollgate/internal/stack"
	"github.com/tollgate-dev/tollgate/internal/store"
)

// binary is the tollgate executable built once for the package.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tollgate-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// The race detector runs in the served processes too when the tests
	// themselves run under -race.
	binary, err = stack.Build(context.Background(), dir, raceEnabled)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// startStack runs a fresh stack for one test; extra flags go to every
// region's `tollgate serve`.
func startStack(t testing.TB, serveArgs ...string) *stack.Stack {
	t.Helper()
	return startStackN(t, 1, serveArgs...)
}

// startStackN runs a fresh stack with the given number of instances per
// region.
func startStackN(t testing.TB, instances int, serveArgs ...string) *stack.Stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	logPath := filepath.Join(t.TempDir(), "regional.log")
	logs, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	s, err := stack.Start(ctx, stack.Options{
		Dir: t.TempDir(), Binary: binary, Logs: logs, ServeArgs: serveArgs, InstancesPerRegion: instances,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		logs.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			if len(b) > 8000 {
				b = b[len(b)-8000:]
			}
			t.Logf("regional log (tail):\n%s", b)
		}
	})
	return s
}

// newCustomer creates an active customer with one key and returns the key.
func newCustomer(t testing.TB, s *stack.Stack, id string, models ...string) (string, *store.Key) {
	t.Helper()
	if len(models) == 0 {
		models = []string{"*"}
	}
	ctx := context.Background()
	if err := s.Store.PutCustomer(ctx, &store.Customer{ID: id, Name: id, Status: rules.CustomerActive, AllowedModels: models}); err != nil {
		t.Fatal(err)
	}
	return newKey(t, s, id, nil)
}

func newKey(t testing.TB, s *stack.Stack, customer string, exp *time.Time) (string, *store.Key) {
	t.Helper()
	secret, k, err := store.NewKey(customer, "test", exp)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Store.PutKey(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	return secret, k
}

// sdkClient is the official Bedrock Runtime client pointed at a region of
// the stack, authenticating with a Tollgate key as bearer token.
func sdkClient(t testing.TB, s *stack.Stack, region, key string) *bedrockruntime.Client {
	t.Helper()
	hc, err := s.HTTPClient()
	if err != nil {
		t.Fatal(err)
	}
	return bedrockruntime.New(bedrockruntime.Options{
		Region:                  region,
		BaseEndpoint:            aws.String(s.Region(region).URL),
		HTTPClient:              hc,
		BearerAuthTokenProvider: bearer.StaticTokenProvider{Token: bearer.Token{Value: key}},
		AuthSchemePreference:    []string{"httpBearerAuth"},
		RetryMaxAttempts:        1,
	})
}

// rawPost sends a hand-made request to a region, for what SDKs cannot send.
func rawPost(t *testing.T, s *stack.Stack, region, path, key, body string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	hc, err := s.HTTPClient()
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, s.Region(region).URL+path, stringsReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

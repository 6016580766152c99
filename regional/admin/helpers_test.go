package admin_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/tollgate-dev/tollgate/internal/adminclient"
	"github.com/tollgate-dev/tollgate/internal/localddb"
	"github.com/tollgate-dev/tollgate/internal/store"
	"github.com/tollgate-dev/tollgate/regional/admin"
)

const testToken = "test-admin-token-0123456789abcdef"

// env is an admin API served by httptest against dynalite.
type env struct {
	store  *store.Store
	url    string
	client *adminclient.Client
	reg    *prometheus.Registry
	// logs holds the handler's log lines, written through logw.
	logs *strings.Builder
	logw *syncWriter
}

type envOptions struct {
	// wrap replaces the store the handler sees (to inject failures).
	wrap func(*store.Store) admin.Store
	now  func() time.Time
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	ddb := localddb.StartT(t)
	s := store.New(ddb.Client(), "admin-test-")
	if err := s.Bootstrap(context.Background()); err != nil {
		t.Fatal(err)
	}
	toks, err := admin.ParseTokens("ops:"+admin.HashToken(testToken)+","+admin.HashToken("second-token-0123456789"), "")
	if err != nil {
		t.Fatal(err)
	}
	// One clock for the handler and the store, as in production.
	s.Now = o.now
	var st admin.Store = s
	if o.wrap != nil {
		st = o.wrap(s)
	}
	logs := &strings.Builder{}
	logw := &syncWriter{w: logs}
	reg := prometheus.NewRegistry()
	h, err := admin.New(admin.Config{
		Store: st, Tokens: toks, Region: "us-test-1", Now: o.now,
		Logger: zerolog.New(logw), Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := adminclient.New(srv.URL, testToken, adminclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &env{store: s, url: srv.URL, client: c, reg: reg, logs: logs, logw: logw}
}

// syncWriter serialises writes from concurrent requests.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

// logText returns what the handler logged so far.
func (e *env) logText() string {
	e.logw.mu.Lock()
	defer e.logw.mu.Unlock()
	return e.logs.String()
}

// do sends a raw request and returns the status, headers and body.
func (e *env) do(t *testing.T, method, path, token, body string) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// errorBody is the API's error shape.
type errorBody struct {
	Message   string `json:"message"`
	Type      string `json:"type"`
	RequestID string `json:"request_id"`
	Fields    []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"fields"`
}

// snapshot returns every item of the config table, as sorted JSON lines,
// to show that a refused request wrote nothing.
func (e *env) snapshot(t *testing.T) []string {
	t.Helper()
	var out []string
	p := dynamodb.NewScanPaginator(e.store.DB, &dynamodb.ScanInput{TableName: aws.String(e.store.Tables.Config)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			b, err := json.Marshal(it)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, string(b))
		}
	}
	sort.Strings(out)
	return out
}

// counter sums a counter's series in the handler's registry.
func (e *env) counter(t *testing.T, name string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

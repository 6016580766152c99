package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeUpstream answers with a fixed status (0: connection error) and counts
// calls. It stands in for one region in this package's unit tests; the
// failover drills in test/ use the Bedrock simulator.
type fakeUpstream struct {
	mu     sync.Mutex
	status int
	amzn   string
	calls  int
	models []string
}

func (u *fakeUpstream) set(status int, amzn string) {
	u.mu.Lock()
	u.status, u.amzn = status, amzn
	u.mu.Unlock()
}

func (u *fakeUpstream) Do(ctx context.Context, c *Call) (*http.Response, string, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.calls++
	u.models = append(u.models, c.Model)
	if u.status == 0 {
		return nil, "", errors.New("connection refused")
	}
	h := http.Header{}
	if u.amzn != "" {
		h.Set("X-Amzn-ErrorType", u.amzn)
	}
	return &http.Response{StatusCode: u.status, Header: h, Body: io.NopCloser(strings.NewReader("{}"))}, "", nil
}

func (u *fakeUpstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls
}

func newTestFailover(t *testing.T, open time.Duration) (*Failover, *fakeUpstream, *fakeUpstream) {
	t.Helper()
	east, west := &fakeUpstream{status: 200}, &fakeUpstream{status: 200}
	f, err := NewFailover(FailoverConfig{
		Local:     "us-east-1",
		Upstreams: map[string]Upstream{"us-east-1": east, "us-west-2": west},
		Order:     []string{"us-west-2"},
		Breaker:   BreakerSettings{ConsecutiveFailures: 3, OpenTimeout: open},
	})
	if err != nil {
		t.Fatal(err)
	}
	return f, east, west
}

func call() *Call { return &Call{Op: OpConverse, Model: "anthropic.claude-3-haiku-20240307-v1:0"} }

func TestFailoverOnOutageThenRecovery(t *testing.T) {
	ctx := context.Background()
	f, east, west := newTestFailover(t, 50*time.Millisecond)
	east.set(0, "")
	for i := 0; i < 3; i++ {
		resp, region, err := f.Do(ctx, call())
		if err != nil || resp.StatusCode != 200 || region != "us-west-2" {
			t.Fatalf("call %d: %v %v %v", i, resp, region, err)
		}
	}
	if !f.LocalOpen() {
		t.Fatal("breaker not open after 3 consecutive failures")
	}
	before := east.count()
	for i := 0; i < 10; i++ {
		if _, region, _ := f.Do(ctx, call()); region != "us-west-2" {
			t.Fatalf("served by %s while the local breaker is open", region)
		}
	}
	if east.count() != before {
		t.Fatalf("the sick region got %d calls while open", east.count()-before)
	}
	// Heal; after the open timeout one probe goes to the local region and
	// closes the breaker.
	east.set(200, "")
	time.Sleep(60 * time.Millisecond)
	if _, region, _ := f.Do(ctx, call()); region != "us-east-1" {
		t.Fatalf("half-open probe went to %s", region)
	}
	if f.LocalOpen() || f.BreakerState("us-east-1") != "closed" {
		t.Fatalf("breaker %s after a good probe", f.BreakerState("us-east-1"))
	}
	_ = west
}

func TestFailoverRules(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name       string
		status     int
		amzn       string
		wantRegion string
		wantStatus int
	}{
		{"throttling fails over", 429, "ThrottlingException", "us-west-2", 200},
		{"model not ready fails over", 429, "ModelNotReadyException", "us-west-2", 200},
		{"5xx fails over", 503, "ServiceUnavailableException", "us-west-2", 200},
		{"validation is the caller's", 400, "ValidationException", "us-east-1", 400},
		{"access denied is the caller's", 403, "AccessDeniedException", "us-east-1", 403},
		{"model timeout is not retried elsewhere", 408, "ModelTimeoutException", "us-east-1", 408},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, east, west := newTestFailover(t, time.Minute)
			east.set(tc.status, tc.amzn)
			resp, region, err := f.Do(ctx, call())
			if err != nil || region != tc.wantRegion || resp.StatusCode != tc.wantStatus {
				t.Fatalf("got %v %s %v", resp, region, err)
			}
			if tc.wantRegion == "us-east-1" && west.count() != 0 {
				t.Fatal("a client error was retried in another region")
			}
		})
	}
}

func TestFailoverAllRegionsDown(t *testing.T) {
	f, east, west := newTestFailover(t, time.Minute)
	east.set(503, "ServiceUnavailableException")
	west.set(503, "ServiceUnavailableException")
	resp, region, err := f.Do(context.Background(), call())
	if err != nil || resp.StatusCode != 503 || region != "us-west-2" {
		t.Fatalf("got %v %s %v", resp, region, err)
	}
}

func TestClientErrorsNeverTrip(t *testing.T) {
	f, east, _ := newTestFailover(t, time.Minute)
	east.set(400, "ValidationException")
	for i := 0; i < 50; i++ {
		_, _, _ = f.Do(context.Background(), call())
	}
	if f.LocalOpen() {
		t.Fatal("client errors opened the breaker")
	}
}

func TestTranslateModel(t *testing.T) {
	explicit := map[string]map[string]string{"eu-west-1": {"anthropic.claude-old": "", "x.special": "x.special-eu"}}
	cases := []struct {
		model, to string
		cross     bool
		want      string
		ok        bool
	}{
		{"anthropic.claude-3-haiku-20240307-v1:0", "us-west-2", false, "anthropic.claude-3-haiku-20240307-v1:0", true},
		{"us.anthropic.claude-3-haiku-20240307-v1:0", "us-west-2", false, "us.anthropic.claude-3-haiku-20240307-v1:0", true},
		{"us.anthropic.claude-3-haiku-20240307-v1:0", "eu-west-1", false, "", false},
		{"us.anthropic.claude-3-haiku-20240307-v1:0", "eu-west-1", true, "eu.anthropic.claude-3-haiku-20240307-v1:0", true},
		{"global.anthropic.claude-x", "eu-west-1", false, "global.anthropic.claude-x", true},
		{"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.x:0", "us-west-2", false, "arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.anthropic.x:0", true},
		{"arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc", "us-west-2", false, "", false},
		{"arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc", "us-west-2", false, "", false},
		{"anthropic.claude-old", "eu-west-1", true, "", false},
		{"x.special", "eu-west-1", false, "x.special-eu", true},
	}
	for _, c := range cases {
		got, ok := TranslateModel(c.model, "us-east-1", c.to, explicit, c.cross)
		if got != c.want || ok != c.ok {
			t.Errorf("TranslateModel(%q → %s, cross=%v) = %q %v, want %q %v", c.model, c.to, c.cross, got, ok, c.want, c.ok)
		}
	}
}

func TestModelWithoutEquivalentNeverSentThere(t *testing.T) {
	f, east, west := newTestFailover(t, time.Minute)
	east.set(503, "ServiceUnavailableException")
	c := call()
	c.Model = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc"
	resp, region, _ := f.Do(context.Background(), c)
	if west.count() != 0 || region != "us-east-1" || resp.StatusCode != 503 {
		t.Fatalf("regional-only model went to %s (west calls %d)", region, west.count())
	}
}

package ratelimit

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/rules"
	"github.com/tollgate-dev/tollgate/regional/apierror"
)

var t0 = time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)

// newTest returns a Limiter alone in its region (share 1) with the default
// buckets: 600 requests/min gives 10/s and a 30-request bucket, whose soft
// zone is its last 6 requests.
func newTest(t testing.TB, mod func(*Config)) *Limiter {
	t.Helper()
	cfg := Config{Region: "us-east-1", InstanceID: "i-1", Now: func() time.Time { return t0 }}
	if mod != nil {
		mod(&cfg)
	}
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

var rpm600 = rules.Limits{RequestsPerMinute: 600}

func admitN(t *testing.T, l *Limiter, n int, lim rules.Limits, at time.Time) Decision {
	t.Helper()
	var d Decision
	for i := range n {
		var err error
		if d, err = l.Admit("acme", "", lim, 0, at); err != nil {
			t.Fatalf("request %d refused: %v", i+1, err)
		}
	}
	return d
}

func TestBurstThenSoftZoneThenRefusal(t *testing.T) {
	l := newTest(t, nil)
	// Above the soft zone: no delay. 24 requests leave 6 of 30.
	d := admitN(t, l, 24, rpm600, t0)
	if d.Wait != 0 || d.Requests.Remaining != 6 || d.Requests.Limit != 600 {
		t.Fatalf("24th: %+v", d)
	}
	// Into the soft zone: the delay grows with the square of the depth,
	// 2s × ((6 − after)/6)², up to 2s for the request that empties it.
	for after := 5; after >= 0; after-- {
		d, err := l.Admit("acme", "", rpm600, 0, t0)
		if err != nil {
			t.Fatal(err)
		}
		x := float64(6-after) / 6
		if want := time.Duration(x * x * float64(2*time.Second)); absDur(d.Wait-want) > time.Microsecond {
			t.Fatalf("leaving %d: wait %v, want %v", after, d.Wait, want)
		}
	}
	// Empty: refused with an actionable message; nothing taken.
	d, err := l.Admit("acme", "", rpm600, 0, t0)
	var e *apierror.Error
	if !errors.As(err, &e) || e.Type != apierror.RateLimited || e.Status() != http.StatusTooManyRequests {
		t.Fatalf("got %v", err)
	}
	if e.RetryAfter != 1 || !strings.Contains(e.Message, "customer acme exceeded 600 requests per minute; retry after 1 s or ask for a higher limit") {
		t.Fatalf("error %+v", e)
	}
	if d.Requests.Remaining != 0 || d.Requests.Reset != 3*time.Second {
		t.Fatalf("refusal decision %+v", d)
	}
	// 100 ms later one request has accrued: admitted, with the full delay.
	d, err = l.Admit("acme", "", rpm600, 0, t0.Add(100*time.Millisecond))
	if err != nil || d.Wait != 2*time.Second {
		t.Fatalf("after refill: %+v %v", d, err)
	}
	// After a full burst time of rest the bucket is full again.
	if d := admitN(t, l, 24, rpm600, t0.Add(3200*time.Millisecond)); d.Wait != 0 {
		t.Fatalf("after rest: %+v", d)
	}
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func TestTokensBucket(t *testing.T) {
	l := newTest(t, nil)
	// 60,000 tokens/min = 1,000/s; TokenBurst 10s holds 10,000.
	lim := rules.Limits{TokensPerMinute: 60_000}
	if _, err := l.Admit("acme", "", lim, 7_000, t0); err != nil {
		t.Fatal(err)
	}
	d, err := l.Admit("acme", "", lim, 4_000, t0)
	var e *apierror.Error
	if !errors.As(err, &e) || !strings.Contains(e.Message, "exceeded 60000 tokens per minute; retry after 1 s") {
		t.Fatalf("got %v", err)
	}
	if d.Tokens.Remaining != 3_000 || d.Requests.Limit != 0 {
		t.Fatalf("decision %+v", d)
	}
	// The call used 1,000 tokens, not 7,000: Correct returns 6,000.
	l.Correct("acme", "", 7_000, 1_000, t0)
	d, err = l.Admit("acme", "", lim, 4_000, t0)
	if err != nil || d.Tokens.Remaining != 5_000 || d.Wait != 0 {
		t.Fatalf("after correction: %+v %v", d, err)
	}
	// Underestimated: Correct takes the difference, into debt.
	l.Correct("acme", "", 4_000, 12_000, t0)
	_, err = l.Admit("acme", "", lim, 0, t0)
	if !errors.As(err, &e) || e.RetryAfter != 3 {
		t.Fatalf("in debt of 3,000: %v", err)
	}
}

func TestOversizedCallLeavesDebt(t *testing.T) {
	l := newTest(t, nil)
	lim := rules.Limits{TokensPerMinute: 60_000} // bucket of 10,000
	// Bigger than the whole bucket: admitted from a full bucket, at once.
	d, err := l.Admit("acme", "", lim, 25_000, t0)
	if err != nil || d.Wait != 0 {
		t.Fatalf("oversized from full: %+v %v", d, err)
	}
	// 15,000 of debt: the next call waits for the debt plus its own cost.
	_, err = l.Admit("acme", "", lim, 1_000, t0.Add(5*time.Second))
	var e *apierror.Error
	if !errors.As(err, &e) || e.RetryAfter != 11 {
		t.Fatalf("in debt: %v", err)
	}
	if _, err := l.Admit("acme", "", lim, 25_000, t0.Add(24*time.Second)); err == nil {
		t.Fatal("oversized admitted from a bucket that is not full")
	}
	if _, err := l.Admit("acme", "", lim, 25_000, t0.Add(25*time.Second)); err != nil {
		t.Fatalf("full again: %v", err)
	}
}

func TestUnlimitedAndLimitChanges(t *testing.T) {
	l := newTest(t, nil)
	for range 1000 {
		if d, err := l.Admit("free", "", rules.Limits{}, 1e6, t0); err != nil || d != (Decision{}) {
			t.Fatalf("no limits: %+v %v", d, err)
		}
	}
	admitN(t, l, 30, rpm600, t0)
	// A raised limit keeps the level (no free tokens) and refills faster.
	if _, err := l.Admit("acme", "", rules.Limits{RequestsPerMinute: 1200}, 0, t0); err == nil {
		t.Fatal("raising the limit refilled the bucket")
	}
	if _, err := l.Admit("acme", "", rules.Limits{RequestsPerMinute: 1200}, 0, t0.Add(50*time.Millisecond)); err != nil {
		t.Fatalf("20/s refill: %v", err)
	}
	// A dimension that becomes limited starts full.
	both := rules.Limits{RequestsPerMinute: 1200, TokensPerMinute: 600}
	if d, err := l.Admit("acme", "", both, 90, t0.Add(100*time.Millisecond)); err != nil || d.Tokens.Limit != 600 || d.Tokens.Remaining != 10 {
		t.Fatalf("new tokens limit: %+v %v", d, err)
	}
}

func TestModelOverrideHasItsOwnBuckets(t *testing.T) {
	l := newTest(t, nil)
	admitN(t, l, 30, rpm600, t0)
	if _, err := l.Admit("acme", "", rpm600, 0, t0); err == nil {
		t.Fatal("customer bucket not empty")
	}
	// 60/min holds 3 requests.
	for range 3 {
		d, err := l.Admit("acme", "m1", rules.Limits{RequestsPerMinute: 60}, 0, t0)
		if err != nil || d.Requests.Limit != 60 {
			t.Fatalf("override: %+v %v", d, err)
		}
	}
	_, err := l.Admit("acme", "m1", rules.Limits{RequestsPerMinute: 60}, 0, t0)
	var e *apierror.Error
	if !errors.As(err, &e) || !strings.Contains(e.Message, "60 requests per minute for model m1") {
		t.Fatalf("override exhausted: %v", err)
	}
}

func TestShareSplitsTheLimit(t *testing.T) {
	l := newTest(t, func(c *Config) { c.Regions = []string{"us-west-2"} }) // two equal regions
	if got := l.Share("acme"); got != 0.5 {
		t.Fatalf("share %g", got)
	}
	// 600/min × 0.5 × 3s = 15 requests in the bucket; remaining is scaled
	// back to the whole customer.
	d := admitN(t, l, 5, rpm600, t0)
	if d.Requests.Remaining != 20 {
		t.Fatalf("remaining %d, want 10 left / 0.5", d.Requests.Remaining)
	}
	admitN(t, l, 10, rpm600, t0)
	if _, err := l.Admit("acme", "", rpm600, 0, t0); err == nil {
		t.Fatal("16th admitted")
	}
	// A second instance joins: the bucket shrinks to 7.5 and refills at
	// 2.5/s, from the moment of the last call (the lower rate applies).
	l.setInstances(2)
	if _, err := l.Admit("acme", "", rpm600, 0, t0.Add(399*time.Millisecond)); err == nil {
		t.Fatal("admitted before 1 request accrued at 2.5/s")
	}
	if _, err := l.Admit("acme", "", rpm600, 0, t0.Add(401*time.Millisecond)); err != nil {
		t.Fatalf("at 2.5/s: %v", err)
	}
	// Back to one instance: capacity doubles, the level does not jump.
	l.setInstances(1)
	if _, err := l.Admit("acme", "", rpm600, 0, t0.Add(401*time.Millisecond)); err == nil {
		t.Fatal("resizing granted free tokens")
	}
}

func TestClockStepBackAddsNothing(t *testing.T) {
	l := newTest(t, nil)
	admitN(t, l, 30, rpm600, t0.Add(time.Minute))
	if _, err := l.Admit("acme", "", rpm600, 0, t0); err == nil {
		t.Fatal("a step back refilled the bucket")
	}
	if _, err := l.Admit("acme", "", rpm600, 0, t0.Add(time.Minute+100*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
}

func TestNoDelayWhenDisabled(t *testing.T) {
	l := newTest(t, func(c *Config) { c.MaxWait = -1 })
	if d := admitN(t, l, 30, rpm600, t0); d.Wait != 0 {
		t.Fatalf("wait %v", d.Wait)
	}
}

func TestSweepDropsOnlyIdleFullBuckets(t *testing.T) {
	l := newTest(t, nil)
	admitN(t, l, 1, rpm600, t0)
	if _, err := l.Admit("busy", "", rules.Limits{TokensPerMinute: 60}, 1e6, t0.Add(5*time.Minute)); err != nil {
		t.Fatal(err) // deep in debt for a long time
	}
	if n := l.sweep(t0.Add(4 * time.Minute)); n != 0 {
		t.Fatalf("swept %d before IdleEvict", n)
	}
	if n := l.sweep(t0.Add(11 * time.Minute)); n != 1 {
		t.Fatalf("swept %d, want acme only", n)
	}
	b := l.lookup(bucketKey{"busy", ""})
	if b == nil {
		t.Fatal("a bucket in debt was dropped")
	}
	b.mu.Unlock()
}

func TestConfigValidation(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no region":        {InstanceID: "x"},
		"no instance":      {Region: "r"},
		"soft":             {Region: "r", InstanceID: "x", SoftThreshold: 1},
		"ttl":              {Region: "r", InstanceID: "x", HeartbeatInterval: 5 * time.Second, HeartbeatTTL: 5 * time.Second},
		"local weight":     {Region: "r", InstanceID: "x", RegionWeights: map[string]float64{"other": 1}},
		"negative weight":  {Region: "r", InstanceID: "x", RegionWeights: map[string]float64{"r": 1, "o": -1}},
		"assumed instance": {Region: "r", InstanceID: "x", AssumedInstances: -2},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	l, err := New(Config{Region: "a", InstanceID: "x", RegionWeights: map[string]float64{"a": 3, "b": 1}})
	if err != nil || l.RegionShare() != 0.75 {
		t.Fatalf("weights: %v %v", l, err)
	}
}

func TestSetHeaders(t *testing.T) {
	d := Decision{
		Wait:     250 * time.Millisecond,
		Requests: Quota{Limit: 600, Remaining: 12, Reset: 1500 * time.Millisecond},
		Tokens:   Quota{Limit: 100_000, Remaining: 0, Reset: 3*time.Second + time.Microsecond},
	}
	h := http.Header{}
	d.SetHeaders(h)
	want := map[string]string{
		"x-ratelimit-limit-requests":     "600",
		"x-ratelimit-remaining-requests": "12",
		"x-ratelimit-reset-requests":     "1.5s",
		"x-ratelimit-limit-tokens":       "100000",
		"x-ratelimit-remaining-tokens":   "0",
		"x-ratelimit-reset-tokens":       "3.001s",
		"x-tollgate-ratelimit-delay":     "0.25s",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
		if d, err := time.ParseDuration(h.Get(k)); strings.HasSuffix(v, "s") && (err != nil || d <= 0) {
			t.Errorf("%s does not parse as a duration: %v", k, err)
		}
	}
	if len(h) != len(want) {
		t.Errorf("headers %v", h)
	}
	// Appending to one header's values must not overwrite the next one's.
	h.Add(HeaderLimitRequests, "x")
	if h.Get(HeaderRemainingRequests) != "12" {
		t.Fatal("value slices share capacity")
	}
	// Only the requests dimension: only its headers.
	h = http.Header{}
	(&Decision{Requests: Quota{Limit: 5, Remaining: 5}}).SetHeaders(h)
	if len(h) != 3 || h.Get("x-ratelimit-reset-requests") != "0s" {
		t.Fatalf("requests only: %v", h)
	}
	h = http.Header{}
	(&Decision{}).SetHeaders(h)
	if len(h) != 0 {
		t.Fatalf("unlimited: %v", h)
	}
	hdr := make(http.Header, 8)
	allocs := testing.AllocsPerRun(100, func() {
		clear(hdr)
		d.SetHeaders(hdr)
	})
	if allocs > 2 {
		t.Fatalf("SetHeaders: %v allocations, want 2", allocs)
	}
}

func TestAdmitAllocatesNothing(t *testing.T) {
	l := newTest(t, nil)
	lim := rules.Limits{RequestsPerMinute: 1_000_000, TokensPerMinute: 1_000_000_000}
	now := t0
	allocs := testing.AllocsPerRun(1000, func() {
		now = now.Add(time.Millisecond)
		if _, err := l.Admit("acme", "", lim, 500, now); err != nil {
			t.Fatal(err)
		}
		l.Correct("acme", "", 500, 400, now)
	})
	if allocs != 0 {
		t.Fatalf("Admit+Correct: %v allocations", allocs)
	}
}

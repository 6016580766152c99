package test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/tollgate-dev/tollgate/internal/rules"
	"github.com/tollgate-dev/tollgate/internal/stack"
	"github.com/tollgate-dev/tollgate/internal/store"
	"github.com/tollgate-dev/tollgate/regional/apierror"
)

// limitedCustomer creates an active customer with limits and one key.
func limitedCustomer(t *testing.T, s *stack.Stack, id string, lim rules.Limits) string {
	t.Helper()
	c := &store.Customer{ID: id, Name: id, Status: rules.CustomerActive, AllowedModels: []string{"*"}, Limits: lim}
	if err := s.Store.PutCustomer(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	key, _ := newKey(t, s, id, nil)
	return key
}

// liveInstances reads tollgate_ratelimit_live_instances from an
// instance's metrics.
func liveInstances(hc *http.Client, r *stack.Regional) int {
	resp, err := hc.Get(r.OpsURL + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "tollgate_ratelimit_live_instances{") {
			n, _ := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			return int(n)
		}
	}
	return -1
}

// TestRateLimitHoldsAcrossInstancesAndRegions: two regions with two
// instances each enforce one customer's 600 requests/min together. The
// customer sends three times that for a minute, unevenly (50/25/15/10% of
// the requests to the four instances, which still saturates each one's
// quarter share), and the busiest instance is killed midway; a load
// balancer would then send its traffic to the other instance of its
// region, and so does the test. Admitted requests (successful responses)
// stay within 10% of the limit over the whole run, and after the recount
// as well.
//
// The expected total, from docs/rate-limits.md: the limit over the run,
// plus the initial buckets (3s of the limit: 30 requests), minus the dead
// instance's quarter share while it is still counted (at most heartbeat
// TTL + interval = 3.5s here: about 9 requests).
func TestRateLimitHoldsAcrossInstancesAndRegions(t *testing.T) {
	const (
		limitPerMin = 600
		drive       = 62 * time.Second
		killAt      = 30 * time.Second
		ttl         = 3 * time.Second
		interval    = 500 * time.Millisecond
		sendRate    = 3 * limitPerMin / 60 // per second
	)
	s := startStackN(t, 2,
		"--ratelimit-heartbeat-interval", interval.String(), "--ratelimit-heartbeat-ttl", ttl.String())
	key := limitedCustomer(t, s, "acme", rules.Limits{RequestsPerMinute: limitPerMin})
	hc, err := s.HTTPClient()
	if err != nil {
		t.Fatal(err)
	}
	hc.Timeout = 30 * time.Second
	east, west := s.Instances("us-east-1"), s.Instances("us-west-2")
	all := append(append([]*stack.Regional{}, east...), west...)
	// Every instance must count its region's two before the clock starts.
	deadline := time.Now().Add(15 * time.Second)
	for _, r := range all {
		for liveInstances(hc, r) != 2 {
			if time.Now().After(deadline) {
				t.Fatalf("%s at %s does not count 2 live instances", r.Region, r.URL)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// 20 slots per round, interleaved: 10 for east[0], 5 east[1], 3
	// west[0], 2 west[1].
	slots := []int{0, 1, 0, 2, 0, 1, 0, 3, 0, 2, 0, 1, 0, 2, 0, 1, 0, 3, 0, 1}
	var route [4]atomic.Pointer[stack.Regional]
	for i, r := range all {
		route[i].Store(r)
	}
	body := `{"messages":[{"role":"user","content":[{"text":"hello"}]}],"inferenceConfig":{"maxTokens":16}}`
	path := "/model/" + model + "/converse"

	var (
		admitted, afterRecount, refused, failed atomic.Int64
		wg                                      sync.WaitGroup
	)
	recounted := killAt + ttl + interval + time.Second
	start := time.Now()
	tick := time.NewTicker(time.Second / sendRate)
	killed := false
	for n := 0; ; n++ {
		since := time.Since(start)
		if since >= drive {
			break
		}
		if !killed && since >= killAt {
			east[0].Kill()
			route[0].Store(east[1])
			killed = true
			t.Logf("killed %s instance 0 at %s; admitted so far %d", east[0].Region, since.Round(time.Millisecond), admitted.Load())
		}
		r := route[slots[n%len(slots)]].Load()
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, r.URL+path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := hc.Do(req)
			if err != nil {
				failed.Add(1)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusOK:
				admitted.Add(1)
				if since >= recounted {
					afterRecount.Add(1)
				}
			case http.StatusTooManyRequests:
				refused.Add(1)
			default:
				failed.Add(1)
			}
		}()
		<-tick.C
	}
	tick.Stop()
	elapsed := time.Since(start)
	wg.Wait()

	limit := float64(limitPerMin) * elapsed.Minutes()
	got := float64(admitted.Load())
	t.Logf("%s: admitted %d (limit over the run %.0f, %+.1f%%), refused %d, failed %d; after the recount %d in %s",
		elapsed.Round(time.Millisecond), admitted.Load(), limit, 100*(got/limit-1), refused.Load(), failed.Load(),
		afterRecount.Load(), (elapsed - recounted).Round(time.Millisecond))
	if got < 0.9*limit || got > 1.1*limit {
		t.Errorf("admitted %d, want within 10%% of %.0f", admitted.Load(), limit)
	}
	limitAfter := float64(limitPerMin) * (elapsed - recounted).Minutes()
	if a := float64(afterRecount.Load()); a < 0.9*limitAfter || a > 1.1*limitAfter {
		t.Errorf("after the recount: admitted %d, want within 10%% of %.0f", afterRecount.Load(), limitAfter)
	}
	if refused.Load() < int64(limit) {
		t.Errorf("only %d refused of three times the limit: was the limit enforced?", refused.Load())
	}
	// Only calls in flight at the killed instance may fail.
	if failed.Load() > 3*sendRate {
		t.Errorf("%d calls failed otherwise than with 429", failed.Load())
	}
}

// TestRateLimitDelaysThenRefuses walks one instance's bucket down: calls
// pass at once, then are held back for longer and longer (each call takes
// at least its announced delay and succeeds), then are refused with a
// Bedrock ThrottlingException that carries Retry-After and the
// x-ratelimit-* headers. A 60s burst makes the bucket big next to its
// refill, so the walk is not blurred by refill.
func TestRateLimitDelaysThenRefuses(t *testing.T) {
	s := startStack(t, "--ratelimit-burst", "60s")
	// 40/min over two regions: this instance has 20/min, a bucket of 20
	// with a soft zone of 4 (the default 20%).
	key := limitedCustomer(t, s, "acme", rules.Limits{RequestsPerMinute: 40})
	c := sdkClient(t, s, "us-east-1", key)
	ctx := context.Background()

	var lastDelay time.Duration
	delayed := 0
	for i := 1; ; i++ {
		if i > 30 {
			t.Fatal("no refusal after 30 calls")
		}
		start := time.Now()
		out, err := c.Converse(ctx, converseInput(model, "hello", 16))
		took := time.Since(start)
		if err != nil {
			var te *types.ThrottlingException
			if !errors.As(err, &te) {
				t.Fatalf("call %d: %v, want a ThrottlingException", i, err)
			}
			if i < 20 || delayed < 3 {
				t.Fatalf("refused at call %d after %d delayed calls", i, delayed)
			}
			t.Logf("call %d refused: %s", i, te.ErrorMessage())
			break
		}
		h := awsmiddleware.GetRawResponse(out.ResultMetadata).(*smithyhttp.Response).Header
		if h.Get("X-Ratelimit-Limit-Requests") != "40" || h.Get("X-Ratelimit-Remaining-Requests") == "" || h.Get("X-Ratelimit-Reset-Requests") == "" {
			t.Fatalf("call %d: rate-limit headers %v", i, h)
		}
		if i == 1 && h.Get("X-Ratelimit-Remaining-Requests") != "38" {
			t.Fatalf("first call: remaining %s, want 38 (19 left ÷ share 0.5)", h.Get("X-Ratelimit-Remaining-Requests"))
		}
		v := h.Get("X-Tollgate-Ratelimit-Delay")
		if v == "" {
			if delayed > 0 {
				t.Fatalf("call %d not delayed after %d delayed calls", i, delayed)
			}
			continue
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > 2*time.Second {
			t.Fatalf("call %d: delay header %q", i, v)
		}
		if i < 16 {
			t.Fatalf("call %d delayed (%s) above the soft zone", i, d)
		}
		if d < lastDelay {
			t.Fatalf("call %d: delay %s shorter than the previous %s", i, d, lastDelay)
		}
		if took < d {
			t.Fatalf("call %d took %s, less than its delay %s", i, took, d)
		}
		t.Logf("call %d delayed %s, took %s", i, d, took.Round(time.Millisecond))
		lastDelay, delayed = d, delayed+1
	}
	if lastDelay < time.Second {
		t.Fatalf("the deepest delay was %s, want about 2s", lastDelay)
	}

	// The refusal as a plain HTTP client sees it.
	resp, b := rawPost(t, s, "us-east-1", "/model/"+model+"/converse", key, `{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`, nil)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("X-Amzn-ErrorType") != "ThrottlingException" {
		t.Fatalf("status %d, %q: %s", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), b)
	}
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 3 {
		t.Fatalf("Retry-After %q, want 1–3 (one request refills in 3s)", resp.Header.Get("Retry-After"))
	}
	if resp.Header.Get("X-Ratelimit-Limit-Requests") != "40" || resp.Header.Get("X-Ratelimit-Remaining-Requests") != "0" {
		t.Fatalf("headers %v", resp.Header)
	}
	if reset, err := time.ParseDuration(resp.Header.Get("X-Ratelimit-Reset-Requests")); err != nil || reset < 50*time.Second || reset > 60*time.Second {
		t.Fatalf("reset %q, want about 60s to refill the bucket", resp.Header.Get("X-Ratelimit-Reset-Requests"))
	}
	var e apierror.Body
	if err := json.Unmarshal(b, &e); err != nil || e.Type != apierror.RateLimited ||
		!strings.Contains(e.Message, "customer acme exceeded 40 requests per minute; retry after") || e.RetryAfterSeconds < 1 {
		t.Fatalf("body %s", b)
	}
}

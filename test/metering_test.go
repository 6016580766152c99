package test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/tollgate-dev/tollgate/internal/bedrocksim"
	"github.com/tollgate-dev/tollgate/internal/stack"
	"github.com/tollgate-dev/tollgate/internal/store"
)

// metered reads a customer's summed usage around now.
func metered(t *testing.T, s *stack.Stack, customer string) store.UsageCounts {
	t.Helper()
	total, _, err := s.Store.CustomerUsage(context.Background(), customer, time.Now().Add(-2*time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return total
}

// simTotals sums what the simulator reported in completed responses.
func simTotals(s *stack.Stack, regions ...string) bedrocksim.Counters {
	var c bedrocksim.Counters
	for _, r := range regions {
		x := s.Sim.Counters(r)
		c.Served += x.Served
		c.InputTokens += x.InputTokens
		c.OutputTokens += x.OutputTokens
		c.CacheReadTokens += x.CacheReadTokens
		c.CacheWriteTokens += x.CacheWriteTokens
	}
	return c
}

// TestMeteringExactPerOperation: after a flush, the usage in DynamoDB
// equals what the simulator returned for each operation, cache tokens
// included, and a stream cut in the middle is metered as Bedrock reported
// it (nothing) and counted as an error.
func TestMeteringExactPerOperation(t *testing.T) {
	s := startStack(t)
	ctx := context.Background()
	key, _ := newCustomer(t, s, "acme")
	c := sdkClient(t, s, "us-east-1", key)
	var tl tally
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 40; i++ {
		mixedCall(ctx, c, rng, &tl)
	}
	// Prompt caching: the same prefix twice writes then reads the cache.
	cached := &bedrockruntime.ConverseInput{
		ModelId: aws.String(model),
		System: []types.SystemContentBlock{
			&types.SystemContentBlockMemberText{Value: "a long shared system prompt of nine words here"},
			&types.SystemContentBlockMemberCachePoint{Value: types.CachePointBlock{Type: types.CachePointTypeDefault}},
		},
		Messages: converseInput(model, "question", 0).Messages,
	}
	for i := 0; i < 2; i++ {
		out, err := c.Converse(ctx, cached)
		if err != nil {
			t.Fatal(err)
		}
		u := out.Usage
		tl.add(int64(*u.InputTokens), int64(*u.OutputTokens), int64(aws.ToInt32(u.CacheReadInputTokens)), int64(aws.ToInt32(u.CacheWriteInputTokens)))
	}
	if tl.failures.Load() != 0 {
		t.Fatalf("%d calls failed", tl.failures.Load())
	}
	// A stream cut in the middle.
	s.Sim.SetFault("us-east-1", bedrocksim.Fault{FailMidStreamAfter: 2})
	out, err := c.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{ModelId: aws.String(model), Messages: converseInput(model, "cut me", 0).Messages})
	if err != nil {
		t.Fatal(err)
	}
	for range out.GetStream().Events() {
	}
	if out.GetStream().Err() == nil {
		t.Fatal("cut stream ended without an error")
	}
	s.Sim.ClearFaults()

	s.Region("us-east-1").Stop() // drain and flush
	got := metered(t, s, "acme")
	sim := simTotals(s, "us-east-1")
	if got.InputTokens != tl.input.Load() || got.OutputTokens != tl.output.Load() ||
		got.CacheReadTokens != tl.cacheRead.Load() || got.CacheWriteTokens != tl.cacheWrite.Load() {
		t.Fatalf("metered %+v, client saw in=%d out=%d cr=%d cw=%d", got, tl.input.Load(), tl.output.Load(), tl.cacheRead.Load(), tl.cacheWrite.Load())
	}
	if got.InputTokens != sim.InputTokens || got.OutputTokens != sim.OutputTokens || got.CacheReadTokens != sim.CacheReadTokens || got.CacheWriteTokens != sim.CacheWriteTokens {
		t.Fatalf("metered %+v, simulator reported %+v", got, sim)
	}
	if got.CacheReadTokens == 0 || got.CacheWriteTokens == 0 {
		t.Fatalf("cache tokens not metered: %+v", got)
	}
	if got.Requests != tl.requests.Load()+1 || got.Errors != 1 {
		t.Fatalf("requests %d errors %d, want %d and 1", got.Requests, got.Errors, tl.requests.Load()+1)
	}
}

// TestCrashDrill kills a regional process with SIGKILL at random moments
// under concurrent mixed load, restarts it, and checks that the metered
// totals are at least what clients received completely (nothing lost) and
// at most what the simulator completed (nothing counted twice).
func TestCrashDrill(t *testing.T) {
	s := startStack(t)
	ctx := context.Background()
	key, _ := newCustomer(t, s, "acme")
	east := s.Region("us-east-1")
	c := func() *bedrockruntime.Client { return sdkClient(t, s, "us-east-1", key) }
	var tl tally
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	for round := 0; round < 4; round++ {
		stop := make(chan struct{})
		wg := load(ctx, c, 8, &tl, stop)
		time.Sleep(time.Duration(300+rng.IntN(900)) * time.Millisecond)
		east.Kill()
		close(stop)
		wg.Wait()
		if err := east.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// A last stretch of load, then a clean stop flushes everything.
	stop := make(chan struct{})
	wg := load(ctx, c, 8, &tl, stop)
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	east.Stop()

	got := metered(t, s, "acme")
	sim := simTotals(s, "us-east-1", "us-west-2")
	t.Logf("client complete: %d calls in=%d out=%d (%d failed); metered: %d requests in=%d out=%d; simulator completed: %d in=%d out=%d",
		tl.requests.Load(), tl.input.Load(), tl.output.Load(), tl.failures.Load(), got.Requests, got.InputTokens, got.OutputTokens, sim.Served, sim.InputTokens, sim.OutputTokens)
	if tl.requests.Load() < 50 {
		t.Fatalf("only %d calls completed: the drill did not load the process", tl.requests.Load())
	}
	if got.InputTokens < tl.input.Load() || got.OutputTokens < tl.output.Load() {
		t.Fatalf("usage lost: metered in=%d out=%d < received in=%d out=%d", got.InputTokens, got.OutputTokens, tl.input.Load(), tl.output.Load())
	}
	if got.InputTokens > sim.InputTokens || got.OutputTokens > sim.OutputTokens {
		t.Fatalf("usage double-counted: metered in=%d out=%d > completed in=%d out=%d", got.InputTokens, got.OutputTokens, sim.InputTokens, sim.OutputTokens)
	}
}

// TestDynamoDBOutageDrill stops DynamoDB under load: calls with cached keys
// keep succeeding, usage piles up in the write-ahead log, and after
// DynamoDB returns the totals are exact.
func TestDynamoDBOutageDrill(t *testing.T) {
	s := startStack(t)
	ctx := context.Background()
	key, _ := newCustomer(t, s, "acme")
	c := func() *bedrockruntime.Client { return sdkClient(t, s, "us-east-1", key) }
	var tl tally
	warm := rand.New(rand.NewPCG(5, 6))
	mixedCall(ctx, c(), warm, &tl) // caches the key

	stop := make(chan struct{})
	wg := load(ctx, c, 4, &tl, stop)
	time.Sleep(300 * time.Millisecond)
	if err := s.DDB.Pause(); err != nil {
		t.Fatal(err)
	}
	before := tl.requests.Load()
	time.Sleep(3 * time.Second)
	during := tl.requests.Load() - before
	if err := s.DDB.Resume(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if during < 20 {
		t.Fatalf("only %d calls succeeded while DynamoDB was down", during)
	}
	if f := tl.failures.Load(); f != 0 {
		t.Fatalf("%d calls failed during the DynamoDB outage", f)
	}
	s.Region("us-east-1").Stop()
	got := metered(t, s, "acme")
	if got.Requests != tl.requests.Load() || got.InputTokens != tl.input.Load() || got.OutputTokens != tl.output.Load() {
		t.Fatalf("metered %d requests in=%d out=%d, clients received %d in=%d out=%d",
			got.Requests, got.InputTokens, got.OutputTokens, tl.requests.Load(), tl.input.Load(), tl.output.Load())
	}
}

// TestTwoWritersTwoRegions: two regional processes meter the same customer
// at the same time; each writes only its own components, and the summed
// total is exact.
func TestTwoWritersTwoRegions(t *testing.T) {
	s := startStack(t)
	ctx := context.Background()
	key, _ := newCustomer(t, s, "acme")
	var tl tally
	stop := make(chan struct{})
	wgE := load(ctx, func() *bedrockruntime.Client { return sdkClient(t, s, "us-east-1", key) }, 4, &tl, stop)
	wgW := load(ctx, func() *bedrockruntime.Client { return sdkClient(t, s, "us-west-2", key) }, 4, &tl, stop)
	time.Sleep(2500 * time.Millisecond) // spans several flushes of both writers
	close(stop)
	wgE.Wait()
	wgW.Wait()
	for _, r := range s.Regions {
		r.Stop()
	}
	total, comps, err := s.Store.CustomerUsage(ctx, "acme", time.Now().Add(-2*time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	writers := map[string]bool{}
	for _, c := range comps {
		writers[c.WriterRegion+"/"+c.WriterID] = true
	}
	if len(writers) != 2 {
		t.Fatalf("components from %d writers, want 2: %v", len(writers), writers)
	}
	if tl.failures.Load() != 0 {
		t.Fatalf("%d calls failed", tl.failures.Load())
	}
	if total.Requests != tl.requests.Load() || total.InputTokens != tl.input.Load() || total.OutputTokens != tl.output.Load() {
		t.Fatalf("summed %d requests in=%d out=%d, clients received %d in=%d out=%d",
			total.Requests, total.InputTokens, total.OutputTokens, tl.requests.Load(), tl.input.Load(), tl.output.Load())
	}
}

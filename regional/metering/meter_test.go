package metering

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/tollgate-dev/tollgate/internal/store"
)

// want accumulates expected totals independently of the meter's code.
type want struct {
	mu                                              sync.Mutex
	requests, errors, input, output, cacheR, cacheW int64
}

func (w *want) add(ev Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.requests++
	if ev.ErrorType != "" || ev.Status >= 400 {
		w.errors++
	}
	w.input += ev.Usage.InputTokens
	w.output += ev.Usage.OutputTokens
	w.cacheR += ev.Usage.CacheReadTokens
	w.cacheW += ev.Usage.CacheWriteTokens
}

func (w *want) check(t *testing.T, e *testEnv, customer string) {
	t.Helper()
	got, _, err := e.st.CustomerUsage(context.Background(), customer, e.clock.Now().Add(-48*time.Hour), e.clock.Now().Add(48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if got.Requests != w.requests || got.Errors != w.errors || got.InputTokens != w.input || got.OutputTokens != w.output ||
		got.CacheReadTokens != w.cacheR || got.CacheWriteTokens != w.cacheW {
		t.Fatalf("%s: stored requests=%d errors=%d in=%d out=%d cr=%d cw=%d; want %d %d %d %d %d %d", customer,
			got.Requests, got.Errors, got.InputTokens, got.OutputTokens, got.CacheReadTokens, got.CacheWriteTokens,
			w.requests, w.errors, w.input, w.output, w.cacheR, w.cacheW)
	}
}

var models = []string{"anthropic.claude-3-5-sonnet-20241022-v2:0", "us.anthropic.claude-3-7-sonnet-20250219-v1:0", "amazon.nova-pro-v1:0"}

func event(i int, customer string, at time.Time) Event {
	ev := Event{
		RequestID: fmt.Sprintf("req-%d", i), CustomerID: customer, KeyID: "k1",
		Model: models[i%len(models)], Operation: "Converse", Time: at,
		Usage:  Usage{InputTokens: int64(100 + i), OutputTokens: int64(10 + i%7), CacheReadTokens: int64(i % 3), CacheWriteTokens: int64(i % 2), LatencyMs: 300},
		Status: 200, Latency: 350 * time.Millisecond,
	}
	if i%5 == 0 {
		ev.ServedRegion = "us-west-2" // failover
	}
	if i%11 == 0 {
		ev.Status, ev.ErrorType, ev.Usage = 429, "ThrottlingException", Usage{}
	}
	return ev
}

func record(t *testing.T, m *Meter, w *want, ev Event) {
	t.Helper()
	if err := m.Record(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if w != nil {
		w.add(ev)
	}
}

func TestMeterExactTotals(t *testing.T) {
	e := newTestEnv(t)
	reg := prometheus.NewRegistry()
	cfg := e.config(t.TempDir(), "us-east-1")
	cfg.Registerer = reg
	m := e.open(cfg)
	ctx := context.Background()
	wants := map[string]*want{"acme": {}, "globex": {}}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				n := g*1000 + i
				cust := "acme"
				if n%3 == 0 {
					cust = "globex"
				}
				// Spread over two hours.
				at := e.clock.Now().Add(time.Duration(n%2) * time.Hour)
				ev := event(n, cust, at)
				if err := m.Record(ctx, ev); err != nil {
					t.Error(err)
					return
				}
				wants[cust].add(ev)
			}
		}()
	}
	wg.Wait()
	if err := m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for c, w := range wants {
		w.check(t, e, c)
	}
	st := m.Stats()
	if st.Records != 320 || st.Dirty != 0 || st.OldestUnflushed != 0 || st.Flushes != 1 {
		t.Fatalf("stats %+v", st)
	}
	// 2 customers x 2 hours x 3 models x 2 served regions at most.
	if st.WriteCalls > 24 || st.WriteCalls < 12 {
		t.Fatalf("%d writes for 320 events", st.WriteCalls)
	}

	// A flush with nothing new writes nothing.
	if err := m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if m.Stats().WriteCalls != st.WriteCalls {
		t.Fatal("idle flush wrote")
	}
	// A re-sent flush (same state, as after a timeout whose write did
	// land) is refused by DynamoDB and counted as done.
	m.mu.Lock()
	for _, c := range m.comps {
		c.dirty = true
	}
	m.mu.Unlock()
	if err := m.Flush(ctx); err != nil {
		t.Fatalf("re-sent flush: %v", err)
	}
	for c, w := range wants {
		w.check(t, e, c)
	}
	if v := counterValue(t, m.metrics.ddbCalls.WithLabelValues("put", "stale")); v != float64(st.WriteCalls) {
		t.Fatalf("stale puts %v, want %d", v, st.WriteCalls)
	}
	if v := counterValue(t, m.metrics.events.WithLabelValues("Converse", "ThrottlingException")); v == 0 {
		t.Fatal("error events not counted by type")
	}

	// Per-model breakdown and error types survive the round trip.
	_, comps, err := e.st.CustomerUsage(ctx, "acme", e.clock.Now().Add(-time.Hour), e.clock.Now().Add(3*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var throttled int64
	for _, c := range comps {
		throttled += c.ErrorsByType["ThrottlingException"]
		if c.WriterID != m.WriterID() || c.WriterRegion != "us-east-1" {
			t.Fatalf("component owned by %s/%s", c.WriterRegion, c.WriterID)
		}
	}
	if throttled != wants["acme"].errors {
		t.Fatalf("throttled %d, want %d", throttled, wants["acme"].errors)
	}
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Record(ctx, event(1, "acme", time.Time{})); !errors.Is(err, ErrClosed) {
		t.Fatalf("record after close: %v", err)
	}
	// Closing unregistered the metrics: a new meter registers again.
	m2 := e.open(cfg)
	if m2.WriterID() != m.WriterID() {
		t.Fatal("writer id changed across reopen")
	}
	if _, err := Open(ctx, cfg); !errors.Is(err, ErrWALLocked) {
		t.Fatalf("second open of a directory: %v", err)
	}
	m2.Close(ctx)
}

func TestMeterInvalidEvents(t *testing.T) {
	e := &testEnv{t: t, st: store.New(nil, "x-"), clock: &fakeClock{t: time.Now()}}
	m := e.open(e.config(t.TempDir(), "us-east-1"))
	defer m.abandon()
	for name, ev := range map[string]Event{
		"no customer":    {Model: "m"},
		"bad customer":   {CustomerID: "Acme Corp", Model: "m"},
		"no model":       {CustomerID: "acme"},
		"hash in model":  {CustomerID: "acme", Model: "a#b"},
		"negative usage": {CustomerID: "acme", Model: "m", Usage: Usage{InputTokens: -1}},
	} {
		if err := m.Record(context.Background(), ev); !errors.Is(err, ErrInvalidEvent) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := Open(context.Background(), Config{}); err == nil || !strings.Contains(err.Error(), "Dir is required") {
		t.Fatalf("empty config: %v", err)
	}
}

// TestMeterCrashRecovery kills the meter (no Close, no final flush) at
// several points and checks that a new process ends with exact totals.
func TestMeterCrashRecovery(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	dir := t.TempDir()
	w := &want{}
	n := 0
	next := func() Event { n++; return event(n, "acme", e.clock.Now()) }

	// 1. Crash before any flush.
	m := e.open(e.config(dir, "eu-west-1"))
	id := m.WriterID()
	for range 30 {
		record(t, m, w, next())
	}
	m.abandon()

	// 2. Reopen: replay + reconcile + flush; then more records, a flush,
	// more records, crash.
	m = e.open(e.config(dir, "eu-west-1"))
	if m.WriterID() != id {
		t.Fatal("writer id changed")
	}
	w.check(t, e, "acme") // Open flushed the replayed records
	for range 30 {
		record(t, m, w, next())
	}
	if err := m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for range 30 {
		record(t, m, w, next())
	}
	// Keep a copy of the log as it is now, before the next flush deletes
	// segments: restoring it later is a crash between the DynamoDB
	// writes and the segment deletion.
	snapshot := copyDir(t, dir)
	if err := m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	w.check(t, e, "acme")
	m.abandon()
	os.RemoveAll(dir)
	if err := os.Rename(snapshot, dir); err != nil {
		t.Fatal(err)
	}

	// 3. Reopen on the old log, with a torn record at its tail.
	removeEmptyTail(t, dir)
	if err := appendFile(lastSegment(t, dir), []byte{0, 0, 0, 40, 1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	m = e.open(e.config(dir, "eu-west-1"))
	w.check(t, e, "acme")
	for range 10 {
		record(t, m, w, next())
	}
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	w.check(t, e, "acme")
}

// TestMeterOutage pauses DynamoDB: recording goes on, flushes fail fast
// and are counted, the backlog shows in Stats, and once DynamoDB is back
// everything is flushed exactly.
func TestMeterOutage(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	cfg := e.config(t.TempDir(), "us-east-1")
	cfg.FlushTimeout = 300 * time.Millisecond
	m := e.open(cfg)
	w := &want{}
	for i := range 20 {
		record(t, m, w, event(i, "acme", e.clock.Now()))
	}
	if err := m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Pause(); err != nil {
		t.Fatal(err)
	}
	resumed := false
	defer func() {
		if !resumed {
			e.srv.Resume()
		}
	}()
	for i := 20; i < 200; i++ {
		record(t, m, w, event(i, "acme", e.clock.Now()))
	}
	e.clock.Advance(90 * time.Second)
	start := time.Now()
	if err := m.Flush(ctx); err == nil {
		t.Fatal("flush succeeded while DynamoDB is paused")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("flush took %v despite a 300ms timeout", took)
	}
	st := m.Stats()
	if st.FlushErrors != 1 || st.OldestUnflushed < 90*time.Second || st.Dirty == 0 || st.LastFlushError == "" {
		t.Fatalf("stats during outage: %+v", st)
	}
	if err := e.srv.Resume(); err != nil {
		t.Fatal(err)
	}
	resumed = true
	flushEventually(t, m)
	w.check(t, e, "acme")
	if st := m.Stats(); st.OldestUnflushed != 0 || st.LastFlushError != "" {
		t.Fatalf("stats after recovery: %+v", st)
	}
	m.Close(ctx)
}

// TestMeterBacklogFull fills the backlog during an outage: Record refuses
// with ErrBacklogFull, and accepts again once the backlog is flushed.
func TestMeterBacklogFull(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	cfg := e.config(t.TempDir(), "us-east-1")
	cfg.FlushTimeout = 200 * time.Millisecond
	cfg.SegmentBytes, cfg.MaxBacklogBytes = 1024, 4096
	m := e.open(cfg)
	defer m.Close(ctx)
	w := &want{}
	e.srv.Pause()
	var err error
	i := 0
	for ; i < 1000; i++ {
		ev := event(i, "acme", e.clock.Now())
		if err = m.Record(ctx, ev); err != nil {
			break
		}
		w.add(ev)
	}
	if !errors.Is(err, ErrBacklogFull) || i < 20 {
		t.Fatalf("after %d records: %v", i, err)
	}
	if st := m.Stats(); st.Rejected != 1 || st.BacklogBytes < 4096 {
		t.Fatalf("stats: %+v", st)
	}
	segs := len(m.wal.segmentFiles())
	if segs < 3 {
		t.Fatalf("%d segments for a full backlog", segs)
	}
	if err := m.Flush(ctx); err == nil {
		t.Fatal("flush succeeded while paused")
	}
	if n := len(m.wal.segmentFiles()); n != segs {
		t.Fatalf("a failed flush deleted segments: %d -> %d", segs, n)
	}
	e.srv.Resume()
	flushEventually(t, m)
	if n := len(m.wal.segmentFiles()); n != 1 {
		t.Fatalf("%d segments left after a successful flush", n)
	}
	record(t, m, w, event(i, "acme", e.clock.Now()))
	if err := m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	w.check(t, e, "acme")
}

// TestMeterRestartDuringOutage opens a meter with a backlog while DynamoDB
// is down: Open must not fail or hang, Record must work, and the replayed
// records are reconciled once DynamoDB is back.
func TestMeterRestartDuringOutage(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	dir := t.TempDir()
	cfg := e.config(dir, "us-east-1")
	cfg.FlushTimeout = 200 * time.Millisecond
	w := &want{}
	m := e.open(cfg)
	for i := range 25 {
		record(t, m, w, event(i, "acme", e.clock.Now()))
	}
	if err := m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 25; i < 50; i++ {
		record(t, m, w, event(i, "acme", e.clock.Now()))
	}
	m.abandon()

	e.srv.Pause()
	m = e.open(cfg)
	for i := 50; i < 60; i++ {
		record(t, m, w, event(i, "acme", e.clock.Now()))
	}
	if err := m.Flush(ctx); err == nil {
		t.Fatal("flush during outage succeeded")
	}
	e.srv.Resume()
	flushEventually(t, m)
	w.check(t, e, "acme")
	m.Close(ctx)
}

// TestMeterTwoWriters runs two meters (two regions, two directories) for
// the same customer and hour concurrently: components never collide and
// the summed total is exact.
func TestMeterTwoWriters(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	w := &want{}
	var wg sync.WaitGroup
	for _, region := range []string{"us-east-1", "eu-west-1"} {
		cfg := e.config(t.TempDir(), region)
		cfg.FlushInterval = 5 * time.Millisecond // background flushes race with records
		m := e.open(cfg)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				ev := event(i, "acme", e.clock.Now())
				ev.ServedRegion = "us-east-1" // same served region and models in both
				if err := m.Record(ctx, ev); err != nil {
					t.Error(err)
				}
				w.add(ev)
			}
			if err := m.Close(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	w.check(t, e, "acme")
}

// TestMeterLateEventAfterEviction records into an hour whose component
// was flushed and evicted from memory: the meter reads it back and adds.
func TestMeterLateEventAfterEviction(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	m := e.open(e.config(t.TempDir(), "us-east-1"))
	defer m.Close(ctx)
	w := &want{}
	hour := e.clock.Now()
	for i := range 10 {
		record(t, m, w, event(i*3, "acme", hour))
	}
	m.Flush(ctx)
	e.clock.Advance(2 * time.Hour)
	if err := m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if st := m.Stats(); st.Components != 0 {
		t.Fatalf("%d components kept after eviction", st.Components)
	}
	record(t, m, w, event(3, "acme", hour)) // late, same component
	if err := m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	w.check(t, e, "acme")
}

// TestMeterClonedDirectory: two processes with the same writer id (a
// copied directory) must not overwrite each other silently.
func TestMeterClonedDirectory(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	dir := t.TempDir()
	m := e.open(e.config(dir, "us-east-1"))
	record(t, m, nil, event(1, "acme", e.clock.Now()))
	m.Close(ctx)
	clone := copyDir(t, dir)
	a := e.open(e.config(dir, "us-east-1"))
	b := e.open(e.config(clone, "us-east-1"))
	defer a.Close(ctx)
	defer b.Close(ctx)
	for range 3 {
		record(t, a, nil, event(1, "acme", e.clock.Now()))
	}
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	record(t, b, nil, event(1, "acme", e.clock.Now()))
	if err := b.Flush(ctx); err == nil || !strings.Contains(err.Error(), "another process") {
		t.Fatalf("clone's flush: %v", err)
	}
}

// TestMeterKill9 runs a child process that records events one at a time
// and flushes every few milliseconds, kills it with SIGKILL at a random
// moment, several times, and checks the totals: every acknowledged event
// is counted once, and at most the one in flight at each kill is added.
func TestMeterKill9(t *testing.T) {
	if os.Getenv("TOLLGATE_METERING_CHILD") != "" {
		runChild()
		return
	}
	e := newTestEnv(t)
	dir := t.TempDir()
	acked, rounds := 0, 4
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMeterKill9$")
		cmd.Env = append(os.Environ(), "TOLLGATE_METERING_CHILD=1",
			"TOLLGATE_METERING_ENDPOINT="+e.srv.Endpoint, "TOLLGATE_METERING_DIR="+dir,
			"TOLLGATE_METERING_START="+strconv.Itoa(round*100000))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAt := 20 + rng.IntN(150)
		sc := bufio.NewScanner(out)
		n := 0
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "ack ") {
				n++
				if n == killAt {
					cmd.Process.Kill()
				}
			}
		}
		cmd.Wait()
		if n < killAt {
			t.Fatalf("round %d: child stopped after %d acks", round, n)
		}
		acked += n
	}
	m := e.open(e.config(dir, "us-east-1"))
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, _, err := e.st.CustomerUsage(context.Background(), "acme", time.Now().Add(-48*time.Hour), time.Now().Add(48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("acknowledged %d, counted %d", acked, got.Requests)
	if got.Requests < int64(acked) || got.Requests > int64(acked+rounds) || got.InputTokens != got.Requests || got.OutputTokens != 2*got.Requests {
		t.Fatalf("counted %d requests (%d in, %d out) for %d acknowledged events in %d kills", got.Requests, got.InputTokens, got.OutputTokens, acked, rounds)
	}
}

func runChild() {
	env := &testEnv{st: store.New(nil, "mt-")}
	env.st = newChildStore(os.Getenv("TOLLGATE_METERING_ENDPOINT"))
	cfg := Config{
		Dir: os.Getenv("TOLLGATE_METERING_DIR"), Region: "us-east-1", Store: env.st,
		FlushInterval: 2 * time.Millisecond, SyncInterval: -1, SegmentBytes: 1024, MaxBacklogBytes: 1 << 20,
	}
	m, err := Open(context.Background(), cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(2)
	}
	start, _ := strconv.Atoi(os.Getenv("TOLLGATE_METERING_START"))
	for i := start; ; i++ {
		ev := Event{RequestID: strconv.Itoa(i), CustomerID: "acme", Model: models[i%len(models)], Operation: "Converse",
			Usage: Usage{InputTokens: 1, OutputTokens: 2}, Status: 200}
		if err := m.Record(context.Background(), ev); err != nil {
			fmt.Fprintln(os.Stderr, "child record:", err)
			os.Exit(3)
		}
		fmt.Fprintf(os.Stdout, "ack %d\n", i)
	}
}

func copyDir(t *testing.T, dir string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range entries {
		if en.Name() == lockFileName {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, en.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, en.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// flushEventually flushes until a flush succeeds. Right after an outage
// ends, dynalite first works through the requests queued while it was
// stopped, and a flush with a short timeout can miss its deadline; the
// background flusher retries the same way.
func flushEventually(t *testing.T, m *Meter) {
	t.Helper()
	var err error
	for range 20 {
		if err = m.Flush(context.Background()); err == nil {
			return
		}
	}
	t.Fatalf("no flush succeeded after the outage: %v", err)
}

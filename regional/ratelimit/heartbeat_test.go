package ratelimit

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/localddb"
	"github.com/tollgate-dev/tollgate/internal/store"
)

// clock is a settable clock shared by several limiters.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(t0.UnixNano())
	return c
}
func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func newInstance(t *testing.T, hs HeartbeatStore, c *clock, region, id string) *Limiter {
	t.Helper()
	l, err := New(Config{
		Region: region, InstanceID: id, Store: hs, Now: c.Now,
		Regions: []string{"us-east-1", "us-west-2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func sync1(t *testing.T, l *Limiter) {
	t.Helper()
	if err := l.Sync(context.Background()); err != nil {
		t.Fatalf("%s: %v", l.cfg.InstanceID, err)
	}
}

func wantInstances(t *testing.T, l *Limiter, n int) {
	t.Helper()
	if got := l.Instances(); got != n {
		t.Fatalf("%s counts %d instances, want %d", l.cfg.InstanceID, got, n)
	}
	if got, want := l.Share("acme"), 0.5/float64(n); got != want {
		t.Fatalf("%s: share %g, want %g", l.cfg.InstanceID, got, want)
	}
}

// TestHeartbeatsAgainstDynamoDB runs the heartbeat protocol on dynalite
// with an injected clock: instances join, one stops heartbeating and drops
// out after the TTL, one deregisters on shutdown and drops out at once.
func TestHeartbeatsAgainstDynamoDB(t *testing.T) {
	ddb := localddb.StartT(t)
	st := store.New(ddb.Client(), "rl-")
	if err := st.Bootstrap(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := newClock()
	a := newInstance(t, st, c, "us-east-1", "a")
	b := newInstance(t, st, c, "us-east-1", "b")
	w := newInstance(t, st, c, "us-west-2", "w")

	wantInstances(t, a, 1) // before any heartbeat: AssumedInstances
	sync1(t, a)
	wantInstances(t, a, 1)
	sync1(t, b) // b joins and sees a at once
	wantInstances(t, b, 2)
	sync1(t, a) // a sees b at its next round
	wantInstances(t, a, 2)
	sync1(t, w) // regions count separately
	wantInstances(t, w, 1)

	// b stops heartbeating (a crash). Its last heartbeat, at t0, counts
	// until t0+10s.
	c.Advance(9 * time.Second)
	sync1(t, a)
	wantInstances(t, a, 2)
	c.Advance(time.Second)
	sync1(t, a)
	wantInstances(t, a, 1)

	// b comes back under Run, then shuts down: its heartbeat is deleted,
	// so a takes over its share at a's next round, not after the TTL.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	waitFor(t, func() bool { sync1(t, a); return a.Instances() == 2 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	sync1(t, a)
	wantInstances(t, a, 1)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// memStore is an in-memory HeartbeatStore that can be made unreachable.
type memStore struct {
	mu   sync.Mutex
	down bool
	m    map[string]store.Instance
}

var errDown = errors.New("dynamodb unreachable")

func (s *memStore) PutInstance(_ context.Context, in store.Instance) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return errDown
	}
	s.m[in.Region+"/"+in.ID] = in
	return nil
}

func (s *memStore) ListInstances(_ context.Context, region string, now time.Time) ([]store.Instance, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return nil, errDown
	}
	var out []store.Instance
	for _, in := range s.m {
		if in.Region == region && in.ExpiresAt.After(now) {
			out = append(out, in)
		}
	}
	return out, nil
}

func (s *memStore) DeleteInstance(_ context.Context, region, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return errDown
	}
	delete(s.m, region+"/"+id)
	return nil
}

func (s *memStore) setDown(v bool) { s.mu.Lock(); s.down = v; s.mu.Unlock() }

// TestOutageKeepsTheLastCount: while DynamoDB is unreachable the count
// stays; after it returns, a count that dropped only because every
// heartbeat expired during the outage is not trusted until the others had
// a TTL to write again, while a rise is taken at once.
func TestOutageKeepsTheLastCount(t *testing.T) {
	ms := &memStore{m: map[string]store.Instance{}}
	c := newClock()
	a := newInstance(t, ms, c, "us-east-1", "a")
	b := newInstance(t, ms, c, "us-east-1", "b")
	d := newInstance(t, ms, c, "us-east-1", "d")
	for _, l := range []*Limiter{a, b, d, a, b} {
		sync1(t, l)
	}
	wantInstances(t, a, 3)

	ms.setDown(true)
	c.Advance(time.Minute)
	if err := a.Sync(context.Background()); !errors.Is(err, errDown) {
		t.Fatalf("sync during outage: %v", err)
	}
	wantInstances(t, a, 3)

	ms.setDown(false)
	sync1(t, a) // b's and d's heartbeats expired during the outage
	wantInstances(t, a, 3)
	c.Advance(2 * time.Second)
	sync1(t, b) // b is back; d really died during the outage
	sync1(t, a)
	wantInstances(t, a, 3)
	c.Advance(8 * time.Second) // a has seen DynamoDB answer for a TTL
	sync1(t, b)
	sync1(t, a)
	wantInstances(t, a, 2)

	// A joiner counts at once, whatever the history.
	ms.setDown(true)
	_ = a.Sync(context.Background())
	ms.setDown(false)
	sync1(t, newInstance(t, ms, c, "us-east-1", "e"))
	sync1(t, a)
	wantInstances(t, a, 3)
}

// An instance without a store stays at AssumedInstances.
func TestNoStore(t *testing.T) {
	l, err := New(Config{Region: "r", InstanceID: "x", AssumedInstances: 4})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(context.Background()); err != nil || l.Share("c") != 0.25 {
		t.Fatalf("%v %g", err, l.Share("c"))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

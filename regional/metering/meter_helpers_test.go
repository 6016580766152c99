package metering

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/localddb"
	"github.com/tollgate-dev/tollgate/internal/store"
)

// fakeClock is an injected clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type testEnv struct {
	t     *testing.T
	srv   *localddb.Server
	st    *store.Store
	clock *fakeClock
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	srv := localddb.StartT(t)
	return newTestEnvOn(t, srv, srv.Endpoint)
}

func newTestEnvOn(t *testing.T, srv *localddb.Server, endpoint string) *testEnv {
	t.Helper()
	st := store.New(localddb.NewClient(endpoint), "mt-")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := st.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	return &testEnv{t: t, srv: srv, st: st, clock: &fakeClock{t: time.Date(2025, 6, 1, 10, 15, 0, 0, time.UTC)}}
}

// config returns a test configuration: manual flushes, no fsync gap,
// small segments so rotation and deletion happen.
func (e *testEnv) config(dir, region string) Config {
	return Config{
		Dir: dir, Region: region, Store: e.st,
		FlushInterval: -1, FlushTimeout: 2 * time.Second, SyncInterval: -1,
		SegmentBytes: 2048, MaxBacklogBytes: 1 << 20,
		Now: e.clock.Now,
	}
}

func (e *testEnv) open(cfg Config) *Meter {
	e.t.Helper()
	m, err := Open(context.Background(), cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

// abandon simulates kill -9: no final flush, the log and lock are just
// let go, as the kernel does for a dead process. Every Record that
// returned is on disk already; call it with no Record in flight.
func (m *Meter) abandon() {
	m.closed.Store(true)
	close(m.stop)
	m.flusherWG.Wait()
	m.wal.mu.Lock()
	m.wal.closed = true
	m.wal.mu.Unlock()
	m.wal.kickSelf()
	<-m.wal.done
	m.wal.f.Close()
	m.metrics.unregister()
	m.wal.unlock()
}

func newChildStore(endpoint string) *store.Store {
	return store.New(localddb.NewClient(endpoint), "mt-")
}

package auth

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/rules"
	"github.com/tollgate-dev/tollgate/internal/store"
	"github.com/tollgate-dev/tollgate/regional/apierror"
)

// fakeSource is an in-memory Source for this package's unit tests; the
// integration tests in regional/server use DynamoDB (dynalite).
type fakeSource struct {
	mu        sync.Mutex
	keys      map[string]*store.Key
	customers map[string]*store.Customer
	reads     atomic.Int64
	fail      error
	gate      chan struct{}
}

func newFake() *fakeSource {
	return &fakeSource{keys: map[string]*store.Key{}, customers: map[string]*store.Customer{}}
}

func (f *fakeSource) GetKey(ctx context.Context, id string, _ bool) (*store.Key, error) {
	f.reads.Add(1)
	if f.gate != nil {
		<-f.gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	k, ok := f.keys[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	cp := *k
	return &cp, nil
}

func (f *fakeSource) GetCustomer(ctx context.Context, id string, _ bool) (*store.Customer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	c, ok := f.customers[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	cp := *c
	return &cp, nil
}

func (f *fakeSource) addKey(t testing.TB, customer string, exp *time.Time) (string, *store.Key) {
	t.Helper()
	secret, k, err := store.NewKey(customer, "", exp)
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.keys[k.ID] = k
	if f.customers[customer] == nil {
		f.customers[customer] = &store.Customer{ID: customer, Status: rules.CustomerActive, AllowedModels: []string{"*"}}
	}
	f.mu.Unlock()
	return secret, k
}

func errType(err error) apierror.Type {
	var e *apierror.Error
	if errors.As(err, &e) {
		return e.Type
	}
	return ""
}

var t0 = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

func TestAuthenticate(t *testing.T) {
	ctx := context.Background()
	src := newFake()
	c := NewCache(src, Config{TTL: time.Minute, NegativeTTL: 10 * time.Second})
	secret, k := src.addKey(t, "acme", nil)

	p, res, err := c.Authenticate(ctx, secret, t0)
	if err != nil || res != Miss || p.Customer.ID != "acme" || p.Key.ID != k.ID {
		t.Fatalf("first call: %v %v %v", p, res, err)
	}
	if _, res, err = c.Authenticate(ctx, secret, t0.Add(59*time.Second)); err != nil || res != Hit {
		t.Fatalf("second call: %v %v", res, err)
	}
	if n := src.reads.Load(); n != 1 {
		t.Fatalf("%d reads, want 1", n)
	}

	// Revocation is seen once the TTL has passed.
	src.mu.Lock()
	src.keys[k.ID].Status = rules.KeyRevoked
	src.mu.Unlock()
	if _, _, err = c.Authenticate(ctx, secret, t0.Add(30*time.Second)); err != nil {
		t.Fatalf("within TTL the cached key still works: %v", err)
	}
	if _, _, err = c.Authenticate(ctx, secret, t0.Add(61*time.Second)); errType(err) != apierror.KeyRevoked {
		t.Fatalf("after TTL: %v", err)
	}
}

func TestAuthenticateErrors(t *testing.T) {
	ctx := context.Background()
	src := newFake()
	c := NewCache(src, Config{})
	past := t0.Add(-time.Hour)
	expired, _ := src.addKey(t, "acme", &past)
	suspendedKey, _ := src.addKey(t, "sleepy", nil)
	src.customers["sleepy"].Status = rules.CustomerSuspended
	good, gk := src.addKey(t, "acme", nil)
	unknown, _, _, _ := rules.NewKey()
	// A well-formed key whose id exists but whose secret differs.
	forged := []byte(good)
	forged[len(rules.KeyPrefix)+rules.KeyIDLen+3] ^= 1 // breaks the secret (and the checksum)

	cases := []struct {
		name, key string
		want      apierror.Type
	}{
		{"missing", "", apierror.MissingKey},
		{"garbage", "hello", apierror.InvalidKey},
		{"forged", string(forged), apierror.InvalidKey},
		{"unknown", unknown, apierror.InvalidKey},
		{"expired", expired, apierror.KeyExpired},
		{"suspended", suspendedKey, apierror.CustomerSuspended},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := c.Authenticate(ctx, tc.key, t0); errType(err) != tc.want {
				t.Fatalf("got %v, want %s", err, tc.want)
			}
		})
	}
	_ = gk
}

func TestWrongSecretSameID(t *testing.T) {
	ctx := context.Background()
	src := newFake()
	c := NewCache(src, Config{})
	good, k := src.addKey(t, "acme", nil)
	if _, _, err := c.Authenticate(ctx, good, t0); err != nil {
		t.Fatal(err)
	}
	// Same id, different (well-formed) secret: must be refused even on a
	// cache hit.
	other, _, _, _ := rules.NewKey()
	body := rules.KeyPrefix + k.ID + other[len(rules.KeyPrefix)+rules.KeyIDLen:]
	id, err := rules.ParseKey(body)
	if err == nil && id == k.ID {
		t.Fatalf("constructed key unexpectedly valid")
	}
	if _, _, err := c.Authenticate(ctx, body, t0); errType(err) != apierror.InvalidKey {
		t.Fatalf("got %v", err)
	}
}

func TestNegativeCache(t *testing.T) {
	ctx := context.Background()
	src := newFake()
	c := NewCache(src, Config{NegativeTTL: 10 * time.Second})
	unknown, _, _, _ := rules.NewKey()
	for i := 0; i < 100; i++ {
		if _, _, err := c.Authenticate(ctx, unknown, t0.Add(time.Duration(i)*time.Millisecond)); errType(err) != apierror.InvalidKey {
			t.Fatal(err)
		}
	}
	if n := src.reads.Load(); n != 1 {
		t.Fatalf("%d reads for one unknown key, want 1", n)
	}
	_, _, _ = c.Authenticate(ctx, unknown, t0.Add(11*time.Second))
	if n := src.reads.Load(); n != 2 {
		t.Fatalf("%d reads after the negative TTL, want 2", n)
	}
}

func TestConcurrentMissesShareOneRead(t *testing.T) {
	ctx := context.Background()
	src := newFake()
	secret, _ := src.addKey(t, "acme", nil)
	src.gate = make(chan struct{})
	c := NewCache(src, Config{})
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := c.Authenticate(ctx, secret, t0)
			errs <- err
		}()
	}
	// Let every goroutine reach the flight, then release the one read.
	for c.Stats.Misses.Load() < 50 {
		time.Sleep(time.Millisecond)
	}
	close(src.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := src.reads.Load(); n != 1 {
		t.Fatalf("%d reads, want 1", n)
	}
}

func TestStaleServedWhileStoreDown(t *testing.T) {
	ctx := context.Background()
	src := newFake()
	secret, _ := src.addKey(t, "acme", nil)
	c := NewCache(src, Config{TTL: time.Minute, MaxStale: time.Hour})
	if _, _, err := c.Authenticate(ctx, secret, t0); err != nil {
		t.Fatal(err)
	}
	src.mu.Lock()
	src.fail = errors.New("connection refused")
	src.mu.Unlock()
	if _, _, err := c.Authenticate(ctx, secret, t0.Add(10*time.Minute)); err != nil {
		t.Fatalf("stale key refused while the store is down: %v", err)
	}
	if _, _, err := c.Authenticate(ctx, secret, t0.Add(2*time.Hour)); errType(err) != apierror.Unavailable {
		t.Fatalf("beyond MaxStale: %v", err)
	}
	unknown, _, _, _ := rules.NewKey()
	if _, _, err := c.Authenticate(ctx, unknown, t0); errType(err) != apierror.Unavailable {
		t.Fatalf("uncached key while the store is down: %v", err)
	}
}

func TestEvictionBoundsSize(t *testing.T) {
	ctx := context.Background()
	src := newFake()
	c := NewCache(src, Config{Size: 64})
	for i := 0; i < 500; i++ {
		secret, _ := src.addKey(t, "acme", nil)
		if _, _, err := c.Authenticate(ctx, secret, t0); err != nil {
			t.Fatal(err)
		}
	}
	if n := c.Len(); n > 64+shards {
		t.Fatalf("cache holds %d entries, bound is about 64", n)
	}
}

func TestHitDoesNotAllocate(t *testing.T) {
	ctx := context.Background()
	src := newFake()
	secret, _ := src.addKey(t, "acme", nil)
	c := NewCache(src, Config{})
	if _, _, err := c.Authenticate(ctx, secret, t0); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(1000, func() { _, _, _ = c.Authenticate(ctx, secret, t0) }); n != 0 {
		t.Fatalf("cache hit allocates %v times", n)
	}
}

func BenchmarkAuthenticateHit(b *testing.B) {
	ctx := context.Background()
	src := newFake()
	secret, _ := src.addKey(b, "acme", nil)
	c := NewCache(src, Config{})
	if _, _, err := c.Authenticate(ctx, secret, t0); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := c.Authenticate(ctx, secret, t0); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestInvalidate(t *testing.T) {
	ctx := context.Background()
	src := newFake()
	c := NewCache(src, Config{TTL: time.Hour})
	a, ka := src.addKey(t, "acme", nil)
	b, _ := src.addKey(t, "acme", nil)
	other, _ := src.addKey(t, "globex", nil)
	for _, k := range []string{a, b, other} {
		if _, _, err := c.Authenticate(ctx, k, t0); err != nil {
			t.Fatal(err)
		}
	}
	src.mu.Lock()
	src.keys[ka.ID].Status = rules.KeyRevoked
	src.customers["acme"].Status = rules.CustomerSuspended
	src.mu.Unlock()

	c.InvalidateKey(ka.ID)
	if _, _, err := c.Authenticate(ctx, a, t0); errType(err) != apierror.KeyRevoked {
		t.Fatalf("revoked key after InvalidateKey: %v", err)
	}
	if _, res, err := c.Authenticate(ctx, b, t0); err != nil || res != Hit {
		t.Fatalf("other key of the customer should still be cached: %v %v", res, err)
	}
	c.InvalidateCustomer("acme")
	if _, _, err := c.Authenticate(ctx, b, t0); errType(err) != apierror.CustomerSuspended {
		t.Fatalf("suspended customer after InvalidateCustomer: %v", err)
	}
	if _, res, err := c.Authenticate(ctx, other, t0); err != nil || res != Hit {
		t.Fatalf("another customer's key was dropped: %v %v", res, err)
	}
}

func BenchmarkAuthenticateHitSerial(b *testing.B) {
	ctx := context.Background()
	src := newFake()
	secret, _ := src.addKey(b, "acme", nil)
	c := NewCache(src, Config{})
	if _, _, err := c.Authenticate(ctx, secret, t0); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, _, err := c.Authenticate(ctx, secret, t0); err != nil {
			b.Fatal(err)
		}
	}
}

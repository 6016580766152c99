// Package auth validates Tollgate API keys on the data plane. A validated
// key is cached in process with its customer, so the hot path costs a parse,
// a hash and a map lookup, and no DynamoDB call; a short negative cache keeps
// floods of unknown keys off DynamoDB; concurrent misses for one key share one
// read.
package auth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/tollgate-dev/tollgate/internal/rules"
	"github.com/tollgate-dev/tollgate/internal/store"
	"github.com/tollgate-dev/tollgate/regional/apierror"
)

// Source reads key and customer records; *store.Store implements it.
type Source interface {
	GetKey(ctx context.Context, id string, consistent bool) (*store.Key, error)
	GetCustomer(ctx context.Context, id string, consistent bool) (*store.Customer, error)
}

// Config tunes a Cache. Every zero value means the documented default.
type Config struct {
	// TTL is how long a validated key is trusted without a DynamoDB read.
	// A revoked key stops working at most TTL after revocation. Default 5m.
	TTL time.Duration
	// NegativeTTL is how long an unknown key id is remembered. Default 10s.
	NegativeTTL time.Duration
	// MaxStale is how long past TTL an entry may still be used while
	// DynamoDB is unreachable (static stability). Default 1h; negative
	// disables it.
	MaxStale time.Duration
	// Size bounds the number of cached keys. Default 100,000.
	Size int
	// LookupTimeout bounds one DynamoDB read on a miss. Default 2s.
	LookupTimeout time.Duration
}

func (c *Config) defaults() {
	if c.TTL <= 0 {
		c.TTL = 5 * time.Minute
	}
	if c.NegativeTTL <= 0 {
		c.NegativeTTL = 10 * time.Second
	}
	if c.MaxStale == 0 {
		c.MaxStale = time.Hour
	}
	if c.Size <= 0 {
		c.Size = 100_000
	}
	if c.LookupTimeout <= 0 {
		c.LookupTimeout = 2 * time.Second
	}
}

// Principal is who a request runs as: a key and its customer, as read at
// Fetched. It is shared between requests and must not be modified.
type Principal struct {
	Key      *store.Key
	Customer *store.Customer
	hash     rules.KeyHash
	fetched  time.Time
	// notFound marks a negative entry.
	notFound bool
	// used is the CLOCK reference bit for eviction.
	used atomic.Bool
}

// Stats counts cache outcomes.
type Stats struct {
	Hits, Misses, NegativeHits, StaleServed, Lookups, LookupErrors atomic.Int64
}

const shards = 32

type shard struct {
	mu      sync.RWMutex
	entries map[string]*Principal
	// ring of ids for CLOCK eviction
	ring []string
	hand int
}

// Cache validates keys.
type Cache struct {
	cfg    Config
	src    Source
	shards [shards]shard
	group  singleflight.Group
	Stats  Stats
}

// NewCache returns a Cache reading misses from src.
func NewCache(src Source, cfg Config) *Cache {
	cfg.defaults()
	c := &Cache{cfg: cfg, src: src}
	per := cfg.Size/shards + 1
	for i := range c.shards {
		c.shards[i].entries = make(map[string]*Principal, per)
	}
	return c
}

// Result tells whether Authenticate was served from the cache.
type Result uint8

// Results of Authenticate.
const (
	Hit Result = iota
	Miss
)

func shardOf(id string) int {
	// FNV-1a over the id; ids are random base32, any mix will do.
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return int(h % shards)
}

// Authenticate validates a presented key at time now and returns its
// principal, or an *apierror.Error the client may see.
func (c *Cache) Authenticate(ctx context.Context, presented string, now time.Time) (*Principal, Result, error) {
	if presented == "" {
		return nil, Hit, apierror.New(apierror.MissingKey, "no API key: send it as 'Authorization: Bearer tg_…' (or set AWS_BEARER_TOKEN_BEDROCK for AWS SDKs)")
	}
	id, err := rules.ParseKey(presented)
	if err != nil {
		return nil, Hit, errInvalid
	}
	hash := rules.HashKey(presented)
	sh := &c.shards[shardOf(id)]
	sh.mu.RLock()
	p := sh.entries[id]
	sh.mu.RUnlock()
	if p != nil {
		age := now.Sub(p.fetched)
		fresh := age < c.cfg.TTL
		if p.notFound {
			if age < c.cfg.NegativeTTL {
				c.Stats.NegativeHits.Add(1)
				return nil, Hit, errInvalid
			}
		} else if fresh {
			p.used.Store(true)
			c.Stats.Hits.Add(1)
			return c.check(p, hash, now)
		}
	}
	c.Stats.Misses.Add(1)
	fp, err := c.load(ctx, id, now)
	if err != nil {
		// Static stability: DynamoDB is unreachable, but we validated
		// this key recently enough to keep trusting it.
		if p != nil && !p.notFound && c.cfg.MaxStale > 0 && now.Sub(p.fetched) < c.cfg.TTL+c.cfg.MaxStale {
			c.Stats.StaleServed.Add(1)
			return c.check(p, hash, now)
		}
		return nil, Miss, err
	}
	if fp.notFound {
		return nil, Miss, errInvalid
	}
	return pMiss(c.check(fp, hash, now))
}

func pMiss(p *Principal, _ Result, err error) (*Principal, Result, error) { return p, Miss, err }

var errInvalid = apierror.New(apierror.InvalidKey, "API key not recognised: check that you copied the whole key (tg_…) and that it belongs to this Tollgate deployment")

// check applies the key and customer rules to a principal.
func (c *Cache) check(p *Principal, hash rules.KeyHash, now time.Time) (*Principal, Result, error) {
	if !p.hash.Equal(hash) {
		return nil, Hit, errInvalid
	}
	k := p.Key
	if k.Status == rules.KeyRevoked {
		return nil, Hit, apierror.New(apierror.KeyRevoked, fmt.Sprintf("API key %s was revoked; create a new key or ask your administrator", k.Prefix))
	}
	if k.ExpiresAt != nil && !now.Before(*k.ExpiresAt) {
		return nil, Hit, apierror.New(apierror.KeyExpired, fmt.Sprintf("API key %s expired on %s; create a new key or ask your administrator", k.Prefix, k.ExpiresAt.UTC().Format("2006-01-02 15:04 MST")))
	}
	if p.Customer.Status != rules.CustomerActive {
		return nil, Hit, apierror.New(apierror.CustomerSuspended, fmt.Sprintf("customer %q is %s; ask your administrator to reactivate it", p.Customer.ID, p.Customer.Status))
	}
	return p, Hit, nil
}

// load reads a key and its customer, one read per id however many requests
// miss at once, and caches the outcome.
func (c *Cache) load(ctx context.Context, id string, now time.Time) (*Principal, error) {
	v, err, _ := c.group.Do(id, func() (any, error) {
		c.Stats.Lookups.Add(1)
		// The read must not be cancelled by the one request that
		// happens to lead the flight.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.LookupTimeout)
		defer cancel()
		p := &Principal{fetched: now}
		k, err := c.src.GetKey(lctx, id, false)
		switch {
		case errors.Is(err, store.ErrNotFound):
			p.notFound = true
		case errors.Is(err, rules.ErrUnknownSchema):
			c.Stats.LookupErrors.Add(1)
			return nil, err
		case err != nil:
			c.Stats.LookupErrors.Add(1)
			return nil, err
		default:
			cust, err := c.src.GetCustomer(lctx, k.CustomerID, false)
			if errors.Is(err, store.ErrNotFound) {
				p.notFound = true
				break
			}
			if err != nil {
				c.Stats.LookupErrors.Add(1)
				return nil, err
			}
			h, err := k.HashBytes()
			if err != nil {
				return nil, err
			}
			p.Key, p.Customer, p.hash = k, cust, h
		}
		c.put(id, p)
		return p, nil
	})
	if err != nil {
		if errors.Is(err, rules.ErrUnknownSchema) {
			return nil, apierror.New(apierror.Internal, "this key was written by a newer Tollgate release than the one serving this region; retry shortly, and report the request id if it persists")
		}
		return nil, apierror.New(apierror.Unavailable, "Tollgate cannot validate API keys right now (key store unreachable); retry in a few seconds")
	}
	return v.(*Principal), nil
}

func (c *Cache) put(id string, p *Principal) {
	sh := &c.shards[shardOf(id)]
	limit := c.cfg.Size/shards + 1
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, ok := sh.entries[id]; !ok {
		for len(sh.entries) >= limit {
			sh.evictOne()
		}
		// An invalidated id may still have its old ring slot; a second
		// one is harmless (the sweep removes slots without an entry).
		sh.ring = append(sh.ring, id)
	}
	sh.entries[id] = p
}

// evictOne runs the CLOCK hand: entries used since the last sweep get a
// second chance, the first unused one goes. Approximates LRU without
// taking a write lock on every hit.
func (sh *shard) evictOne() {
	for {
		if sh.hand >= len(sh.ring) {
			sh.hand = 0
		}
		id := sh.ring[sh.hand]
		p := sh.entries[id]
		if p != nil && p.used.Swap(false) {
			sh.hand++
			continue
		}
		delete(sh.entries, id)
		last := len(sh.ring) - 1
		sh.ring[sh.hand] = sh.ring[last]
		sh.ring = sh.ring[:last]
		return
	}
}

// InvalidateKey drops a key from the cache: the next use reads it again.
func (c *Cache) InvalidateKey(id string) {
	sh := &c.shards[shardOf(id)]
	sh.mu.Lock()
	delete(sh.entries, id) // its ring slot goes at the next eviction sweep
	sh.mu.Unlock()
}

// InvalidateCustomer drops every cached key of a customer. It walks the
// whole cache, which suits the rate of admin changes, not the request path.
func (c *Cache) InvalidateCustomer(customerID string) {
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		for id, p := range sh.entries {
			if p.Customer != nil && p.Customer.ID == customerID {
				delete(sh.entries, id)
			}
		}
		sh.mu.Unlock()
	}
}

// Len returns the number of cached entries.
func (c *Cache) Len() int {
	n := 0
	for i := range c.shards {
		c.shards[i].mu.RLock()
		n += len(c.shards[i].entries)
		c.shards[i].mu.RUnlock()
	}
	return n
}

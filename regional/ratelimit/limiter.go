package ratelimit

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/tollgate-dev/tollgate/internal/rules"
	"github.com/tollgate-dev/tollgate/regional/apierror"
)

// Defaults for the zero values of Config.
const (
	DefaultMaxWait           = 2 * time.Second
	DefaultSoftThreshold     = 0.2
	DefaultBurst             = 3 * time.Second
	DefaultTokenBurst        = 10 * time.Second
	DefaultHeartbeatInterval = 2 * time.Second
	DefaultHeartbeatTTL      = 10 * time.Second
	DefaultIdleEvict         = 5 * time.Minute
)

// Config configures a Limiter. Region and InstanceID are required; every
// other zero value means the documented default.
type Config struct {
	// Region is the region this instance serves.
	Region string
	// InstanceID names this process in its region's heartbeats. It must be
	// unique among the region's live processes.
	InstanceID string
	// Store keeps the heartbeats; *store.Store implements it. Nil means no
	// heartbeats: the instance count stays AssumedInstances (a deployment
	// with one instance per region, or unit tests).
	Store HeartbeatStore
	// Now is the clock of heartbeats and of the share bookkeeping. Admit
	// and Correct take the time as a parameter instead. Default time.Now.
	Now func() time.Time

	// MaxWait is the longest progressive-throttling delay, given to a
	// request that empties its bucket. Default 2s; negative disables
	// delays (requests in the soft zone pass at once).
	MaxWait time.Duration
	// SoftThreshold is the fill fraction of a bucket below which requests
	// are delayed, in (0, 1). Default 0.2.
	SoftThreshold float64
	// Burst sizes the requests bucket: it holds Burst's worth of the
	// (instance's share of the) requests-per-minute rate, i.e. a capacity
	// of RPM × share × Burst/1m requests, full when created. Default 3s.
	Burst time.Duration
	// TokenBurst sizes the tokens bucket the same way. It is larger than
	// Burst by default because a call's tokens are estimated and taken
	// before it runs (output at its max_tokens) and only returned by
	// Correct when it ends: the bucket must hold several calls in flight.
	// Default 10s.
	TokenBurst time.Duration

	// HeartbeatInterval is how often the instance writes its heartbeat and
	// recounts its region's live instances (one PutItem and one Query).
	// Default 2s.
	HeartbeatInterval time.Duration
	// HeartbeatTTL is how long a heartbeat keeps an instance counted. It
	// must exceed HeartbeatInterval, by enough to ride out a slow write
	// and the clock skew between instances. Default 10s.
	HeartbeatTTL time.Duration
	// AssumedInstances is the count of live instances in this region used
	// until the first successful recount (and forever without a Store).
	// Default 1.
	AssumedInstances int

	// Regions lists the regions where Tollgate serves, each weighing 1.
	// Region is always included. Ignored when RegionWeights is set.
	// Default: Region alone.
	Regions []string
	// RegionWeights gives each region where Tollgate serves its weight: a
	// region enforces weight/Σweights of every customer's limit. When set
	// it must include Region with a positive weight. Default: weight 1 for
	// each of Regions.
	RegionWeights map[string]float64

	// IdleEvict is how long a customer's buckets are kept after their last
	// use once they would have refilled. Default 5m.
	IdleEvict time.Duration
	// Logger receives heartbeat problems and share changes. The zero value
	// discards.
	Logger zerolog.Logger
	// Registerer receives the tollgate_ratelimit_* metrics; nil registers
	// none.
	Registerer prometheus.Registerer
}

func (c *Config) defaults() {
	if c.Now == nil {
		c.Now = time.Now
	}
	c.MaxWait = cmp.Or(c.MaxWait, DefaultMaxWait)
	c.SoftThreshold = cmp.Or(c.SoftThreshold, DefaultSoftThreshold)
	c.Burst = cmp.Or(c.Burst, DefaultBurst)
	c.TokenBurst = cmp.Or(c.TokenBurst, DefaultTokenBurst)
	c.HeartbeatInterval = cmp.Or(c.HeartbeatInterval, DefaultHeartbeatInterval)
	c.HeartbeatTTL = cmp.Or(c.HeartbeatTTL, DefaultHeartbeatTTL)
	c.AssumedInstances = cmp.Or(c.AssumedInstances, 1)
	c.IdleEvict = cmp.Or(c.IdleEvict, DefaultIdleEvict)
}

// weights returns the region weights the configuration describes.
func (c *Config) weights() map[string]float64 {
	if len(c.RegionWeights) > 0 {
		return c.RegionWeights
	}
	w := map[string]float64{c.Region: 1}
	for _, r := range c.Regions {
		if r != "" {
			w[r] = 1
		}
	}
	return w
}

func (c *Config) validate() error {
	var errs []error
	if c.Region == "" {
		errs = append(errs, errors.New("ratelimit: Region is required"))
	}
	if c.InstanceID == "" {
		errs = append(errs, errors.New("ratelimit: InstanceID is required"))
	}
	if c.SoftThreshold <= 0 || c.SoftThreshold >= 1 || math.IsNaN(c.SoftThreshold) {
		errs = append(errs, fmt.Errorf("ratelimit: soft threshold must be in (0, 1), got %g", c.SoftThreshold))
	}
	if c.Burst < 0 || c.TokenBurst < 0 {
		errs = append(errs, errors.New("ratelimit: bursts must be positive"))
	}
	if c.HeartbeatInterval < 0 || c.HeartbeatTTL <= c.HeartbeatInterval {
		errs = append(errs, fmt.Errorf("ratelimit: heartbeat TTL (%s) must exceed the heartbeat interval (%s)", c.HeartbeatTTL, c.HeartbeatInterval))
	}
	if c.AssumedInstances < 1 {
		errs = append(errs, fmt.Errorf("ratelimit: assumed instances must be at least 1, got %d", c.AssumedInstances))
	}
	w := c.weights()
	for r, v := range w {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			errs = append(errs, fmt.Errorf("ratelimit: weight of region %s must be a finite number ≥ 0, got %g", r, v))
		}
	}
	if c.Region != "" && !(w[c.Region] > 0) {
		errs = append(errs, fmt.Errorf("ratelimit: region weights must give the local region %s a positive weight", c.Region))
	}
	return errors.Join(errs...)
}

// shareState is an instance's current share of every customer's limit.
// It is replaced as a whole (atomically) when the instance count changes,
// and buckets remember the state they were sized with, so a bucket is
// resized exactly once per change by the next Admit that touches it.
type shareState struct {
	share     float64
	instances int
}

const numShards = 64

type bucketKey struct{ customer, model string }

// shard is one lock domain of the bucket map. The padding keeps two
// shards' locks off one cache line.
type shard struct {
	mu sync.RWMutex
	m  map[bucketKey]*bucket
	_  [32]byte
}

// Limiter enforces per-customer request and token rates on one instance,
// with this instance's share of each limit. It is safe for concurrent use.
type Limiter struct {
	cfg         Config
	epoch       time.Time
	regionShare float64
	// softFrac and maxWait are read on every Admit.
	softFrac float64
	maxWait  time.Duration

	state  atomic.Pointer[shareState]
	shards [numShards]shard
	m      *metrics

	// hb is the heartbeat loop's state.
	hb struct {
		sync.Mutex
		started      time.Time
		healthySince time.Time
		failing      bool
	}
}

// New returns a Limiter. It makes no remote call: Run (or Sync) writes the
// heartbeats and counts the region's instances.
func New(cfg Config) (*Limiter, error) {
	cfg.defaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	w := cfg.weights()
	var sum float64
	for _, v := range w {
		sum += v
	}
	l := &Limiter{
		cfg:         cfg,
		epoch:       cfg.Now(),
		regionShare: w[cfg.Region] / sum,
		softFrac:    cfg.SoftThreshold,
		maxWait:     max(cfg.MaxWait, 0),
	}
	l.hb.started = l.epoch
	for i := range l.shards {
		l.shards[i].m = make(map[bucketKey]*bucket)
	}
	l.m = newMetrics(cfg.Registerer, l)
	l.setInstances(cfg.AssumedInstances)
	return l, nil
}

// Share is the fraction of customerID's limits this instance enforces:
// its region's weight over the sum of weights, divided by the number of
// live instances in the region. Every customer has the same share today;
// the parameter keeps the API stable for per-customer shares.
func (l *Limiter) Share(customerID string) float64 { return l.state.Load().share }

// Instances is the number of live instances in this region the current
// share is based on.
func (l *Limiter) Instances() int { return l.state.Load().instances }

// RegionShare is the fraction of every limit this region enforces.
func (l *Limiter) RegionShare() float64 { return l.regionShare }

func (l *Limiter) setInstances(n int) {
	st := &shareState{share: l.regionShare / float64(n), instances: n}
	l.state.Store(st)
	l.m.share.Set(st.share)
	l.m.instances.Set(float64(n))
}

// shardOf picks a shard by FNV-1a of the customer id: all of a customer's
// buckets share a shard, and hashing costs no allocation.
func shardOf(customer string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(customer); i++ {
		h ^= uint32(customer[i])
		h *= 16777619
	}
	return h % numShards
}

// bucketFor returns the live bucket for k, creating it (full) if needed.
// The returned bucket is locked; the caller unlocks it.
func (l *Limiter) bucketFor(k bucketKey, t time.Duration) *bucket {
	sh := &l.shards[shardOf(k.customer)]
	for {
		sh.mu.RLock()
		b := sh.m[k]
		sh.mu.RUnlock()
		if b == nil {
			sh.mu.Lock()
			if b = sh.m[k]; b == nil {
				// Clone the keys: the caller's strings may be slices of a
				// larger buffer that the map would otherwise keep alive.
				k = bucketKey{strings.Clone(k.customer), strings.Clone(k.model)}
				b = &bucket{last: t, fresh: true}
				sh.m[k] = b
				l.m.buckets.Inc()
			}
			sh.mu.Unlock()
		}
		b.mu.Lock()
		if !b.evicted {
			return b
		}
		// Evicted between the lookup and the lock: look again.
		b.mu.Unlock()
	}
}

// lookup returns the locked live bucket for k, or nil.
func (l *Limiter) lookup(k bucketKey) *bucket {
	sh := &l.shards[shardOf(k.customer)]
	sh.mu.RLock()
	b := sh.m[k]
	sh.mu.RUnlock()
	if b == nil {
		return nil
	}
	b.mu.Lock()
	if b.evicted {
		b.mu.Unlock()
		return nil
	}
	return b
}

// Admit decides whether a call of customerID may go upstream now, and
// takes its request and its estimated tokens (EstimateTokens) from the
// customer's buckets. model is "" for the customer-wide buckets; pass a
// model id only to enforce a per-model override, with that override's
// limits in lim: each (customer, model) pair has buckets of its own. A zero
// limit is not enforced.
//
// On admission the error is nil and Decision.Wait says how long to hold
// the request before sending it (progressive throttling; usually zero). On
// refusal nothing is taken and the error is an *apierror.Error of type
// rate_limited with RetryAfter. In both cases the Decision carries the
// rate-limit headers. now is the request's time (no clock is read here).
func (l *Limiter) Admit(customerID, model string, lim rules.Limits, estTokens int64, now time.Time) (Decision, error) {
	rpm, tpm := lim.RequestsPerMinute, lim.TokensPerMinute
	if rpm <= 0 && tpm <= 0 {
		return Decision{}, nil
	}
	estTokens = max(estTokens, 0)
	t := now.Sub(l.epoch)
	st := l.state.Load()
	b := l.bucketFor(bucketKey{customerID, model}, t)
	b.update(t, st, rpm, tpm, l.cfg.Burst, l.cfg.TokenBurst)

	var d Decision
	reqOK, reqWait, reqRetry := b.req.check(1, l.softFrac, l.maxWait)
	tokOK, tokWait, tokRetry := b.tok.check(float64(estTokens), l.softFrac, l.maxWait)
	admitted := reqOK && tokOK
	if admitted {
		b.req.take(1)
		b.tok.take(float64(estTokens))
		d.Wait = max(reqWait, tokWait)
	}
	d.Requests = b.req.quota(rpm, st.share)
	d.Tokens = b.tok.quota(tpm, st.share)
	b.mu.Unlock()

	if admitted {
		if d.Wait > 0 {
			l.m.observeDelay(d.Wait, reqWait >= tokWait)
		}
		return d, nil
	}
	return d, l.reject(customerID, model, rpm, tpm, reqOK, reqRetry, tokRetry)
}

// reject builds the rate_limited error for the dimension with the longer
// retry time.
func (l *Limiter) reject(customer, model string, rpm, tpm int64, reqOK bool, reqRetry, tokRetry time.Duration) error {
	what, limit, retry := "requests", rpm, reqRetry
	if reqOK || tokRetry > reqRetry {
		what, limit, retry = "tokens", tpm, tokRetry
	}
	l.m.throttled.WithLabelValues(customer, what).Inc()
	secs := int(math.Ceil(retry.Seconds()))
	secs = max(secs, 1)
	forModel := ""
	if model != "" {
		forModel = " for model " + model
	}
	msg := fmt.Sprintf("customer %s exceeded %d %s per minute%s; retry after %d s or ask for a higher limit", customer, limit, what, forModel, secs)
	if what == "tokens" {
		msg += " (a call's tokens are estimated up front from its input size and max tokens; a lower max tokens setting admits it sooner)"
	}
	e := apierror.New(apierror.RateLimited, msg)
	e.RetryAfter = secs
	return e
}

// Correct replaces a call's estimated tokens with the exact count Bedrock
// reported, once the call has ended: the difference goes back into (or is
// taken from) the customer's tokens bucket. Pass actual 0 for a call that
// never reached Bedrock. model must be the one given to Admit.
func (l *Limiter) Correct(customerID, model string, estimated, actual int64, now time.Time) {
	if estimated == actual {
		return
	}
	b := l.lookup(bucketKey{customerID, model})
	if b == nil {
		return // never limited, or evicted: a fresh bucket is full anyway
	}
	if b.tpm > 0 {
		b.refill(now.Sub(l.epoch))
		b.tok.tokens = min(b.tok.tokens+float64(max(estimated, 0)-max(actual, 0)), b.tok.capacity)
	}
	b.mu.Unlock()
}

// sweep drops buckets unused for IdleEvict that would be full by now: a
// new bucket starts full, so dropping them changes nothing but memory.
func (l *Limiter) sweep(now time.Time) int {
	t := now.Sub(l.epoch)
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		for k, b := range sh.m {
			b.mu.Lock()
			if t-b.last >= l.cfg.IdleEvict && b.fullAt(t) {
				b.evicted = true
				delete(sh.m, k)
				n++
			}
			b.mu.Unlock()
		}
		sh.mu.Unlock()
	}
	l.m.buckets.Sub(float64(n))
	return n
}

package ratelimit

import (
	"math"
	"sync"
	"time"
)

// maxRetry bounds a computed retry time. Only a call estimated at many
// times the limit (its debt repaid at the limit's rate) comes near it.
const maxRetry = time.Hour

// bucket holds one (customer, model) pair's two token buckets. Times are
// durations since the limiter's epoch: cheaper than time.Time and immune to
// wall-clock steps when the caller passes monotonic times.
type bucket struct {
	mu sync.Mutex
	// evicted is set (under mu) when the sweeper removes the bucket, so
	// that a caller that found it just before does not update an orphan.
	evicted bool
	// fresh is true until the first configure, which fills the bucket.
	fresh bool
	// st, rpm and tpm are what the levels were sized for.
	st       *shareState
	rpm, tpm int64
	last     time.Duration
	req, tok level
}

// level is one token bucket. perMin, the refill rate per minute (this
// instance's share of the limit), is zero when the dimension has no limit.
// Amounts are float64 and rates per minute rather than per nanosecond, so
// that round numbers stay exact. tokens may be negative: a call larger than
// the whole bucket is admitted when the bucket is full and leaves a debt
// that refills first, so that it is not refused forever and the long-run
// rate still holds.
type level struct {
	tokens, capacity, perMin float64
}

// update accrues the time since the last call and resizes the levels when
// the share state or the limits changed. The change happened at an unknown
// moment since the last call, so that time accrues at the lower of the old
// and new rates. A grown bucket keeps its tokens (it refills to its new
// size at the new rate) and a shrunk one is clamped: resizing never grants
// free tokens. A new bucket, or a dimension that becomes limited, starts
// full.
func (b *bucket) update(t time.Duration, st *shareState, rpm, tpm int64, burst, tokenBurst time.Duration) {
	dt := t - b.last
	if dt > 0 {
		b.last = t
	} else {
		// The same instant, or a wall-clock step back: nothing accrues
		// and the later mark is kept.
		dt = 0
	}
	if b.st == st && b.rpm == rpm && b.tpm == tpm {
		b.req.add(dt, b.req.perMin)
		b.tok.add(dt, b.tok.perMin)
		return
	}
	oldReq, oldTok := b.req.perMin, b.tok.perMin
	b.st, b.rpm, b.tpm = st, rpm, tpm
	b.req.size(rpm, st.share, burst, b.fresh)
	b.tok.size(tpm, st.share, tokenBurst, b.fresh)
	b.fresh = false
	b.req.add(dt, min(oldReq, b.req.perMin))
	b.tok.add(dt, min(oldTok, b.tok.perMin))
}

// refill accrues the time since the last call at the current rates.
func (b *bucket) refill(t time.Duration) {
	if dt := t - b.last; dt > 0 {
		b.last = t
		b.req.add(dt, b.req.perMin)
		b.tok.add(dt, b.tok.perMin)
	}
}

func (v *level) size(perMinute int64, share float64, burst time.Duration, fresh bool) {
	if perMinute <= 0 {
		*v = level{}
		return
	}
	fill := fresh || v.perMin == 0
	v.perMin = float64(perMinute) * share
	v.capacity = v.perMin * float64(burst) / float64(time.Minute)
	if fill {
		v.tokens = v.capacity
	} else {
		v.tokens = min(v.tokens, v.capacity)
	}
}

func (v *level) add(dt time.Duration, perMin float64) {
	if perMin > 0 && dt > 0 {
		v.tokens = min(v.capacity, v.tokens+perMin*float64(dt)/float64(time.Minute))
	}
}

// after returns how long the level needs to accrue amount.
func (v *level) after(amount float64) time.Duration {
	ns := amount * float64(time.Minute) / v.perMin
	return time.Duration(math.Ceil(min(ns, float64(maxRetry))))
}

// check decides on a cost without taking it. The hard limit: the bucket
// must hold the cost (or, for a cost above the capacity, be full); if not,
// retry is how long until it does. The soft zone: a call that would leave
// the bucket below soft×capacity is admitted with a delay that grows with
// the square of the depth into the zone, from 0 at its top to maxWait when
// it empties the bucket. A full bucket never delays.
func (v *level) check(cost, soft float64, maxWait time.Duration) (ok bool, wait, retry time.Duration) {
	if v.perMin == 0 {
		return true, 0, 0
	}
	e := min(cost, v.capacity)
	if v.tokens < e {
		return false, 0, v.after(e - v.tokens)
	}
	if maxWait == 0 || v.tokens >= v.capacity {
		return true, 0, 0
	}
	zone := soft * v.capacity
	after := v.tokens - e
	if after >= zone {
		return true, 0, 0
	}
	x := (zone - after) / zone
	return true, time.Duration(x * x * float64(maxWait)), 0
}

func (v *level) take(cost float64) {
	if v.perMin > 0 {
		v.tokens -= cost
	}
}

// quota reports a level as header values: the customer's full limit, the
// remaining whole amount scaled from this instance's share to the whole
// customer (what could be sent right now if every instance looked like
// this one), and the time until the bucket is full again.
func (v *level) quota(limit int64, share float64) Quota {
	if v.perMin == 0 {
		return Quota{}
	}
	// Whole units first: a bucket that cannot pass one more request
	// reports 0, whatever the scaling.
	rem := int64(0)
	if v.tokens >= 1 {
		rem = min(int64(math.Floor(v.tokens)/share), limit)
	}
	return Quota{
		Limit:     limit,
		Remaining: rem,
		Reset:     v.after(v.capacity - v.tokens),
	}
}

// fullAt reports whether both levels would be full at t.
func (b *bucket) fullAt(t time.Duration) bool {
	dt := float64(t - b.last)
	full := func(v *level) bool {
		return v.perMin == 0 || v.tokens+v.perMin*dt/float64(time.Minute) >= v.capacity
	}
	return full(&b.req) && full(&b.tok)
}

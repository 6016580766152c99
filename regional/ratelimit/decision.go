package ratelimit

import (
	"context"
	"net/http"
	"strconv"
	"time"
)

// Response headers, in canonical form so that SetHeaders can assign them
// without canonicalising on every request.
const (
	HeaderLimitRequests     = "X-Ratelimit-Limit-Requests"
	HeaderRemainingRequests = "X-Ratelimit-Remaining-Requests"
	HeaderResetRequests     = "X-Ratelimit-Reset-Requests"
	HeaderLimitTokens       = "X-Ratelimit-Limit-Tokens"
	HeaderRemainingTokens   = "X-Ratelimit-Remaining-Tokens"
	HeaderResetTokens       = "X-Ratelimit-Reset-Tokens"
	// HeaderDelay tells a client that its request was held back by
	// progressive throttling, and for how long; only sent when it was.
	HeaderDelay = "X-Tollgate-Ratelimit-Delay"
)

// Quota is one limited dimension (requests or tokens) as reported to the
// client. The zero value means the dimension has no limit.
type Quota struct {
	// Limit is the customer's limit per minute (the whole limit, not this
	// instance's share).
	Limit int64
	// Remaining is how much more could be sent right now: this instance's
	// bucket level scaled to the whole customer (level ÷ share), at most
	// Limit. It counts the burst, not the rest of a minute.
	Remaining int64
	// Reset is the time until the bucket is full again.
	Reset time.Duration
}

// Decision is the outcome of Admit.
type Decision struct {
	// Wait is how long the caller must hold an admitted request before
	// sending it upstream: progressive throttling. Zero for most requests.
	Wait time.Duration
	// Requests and Tokens describe the two buckets after the decision.
	Requests, Tokens Quota
}

// Sleep waits for d.Wait, or until ctx ends (the client went away); it
// returns ctx's error in that case.
func (d Decision) Sleep(ctx context.Context) error {
	if d.Wait <= 0 {
		return nil
	}
	t := time.NewTimer(d.Wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SetHeaders sets the x-ratelimit-* headers for each limited dimension,
// and X-Tollgate-Ratelimit-Delay when the request was delayed. Limits are
// integers; reset and delay are seconds with millisecond precision and an
// "s" suffix ("0.25s", "3s"), which Go's time.ParseDuration and OpenAI-style
// clients read. It costs two allocations whatever the number of headers:
// one string holding every value and one slice backing every header's
// value list (plus the map's own growth).
func (d *Decision) SetHeaders(h http.Header) {
	if d.Requests.Limit == 0 && d.Tokens.Limit == 0 && d.Wait <= 0 {
		return
	}
	var (
		buf  [160]byte
		keys [7]string
		ends [7]int
		n    int
	)
	b := buf[:0]
	mark := func(key string) {
		keys[n], ends[n] = key, len(b)
		n++
	}
	if q := d.Requests; q.Limit > 0 {
		b = strconv.AppendInt(b, q.Limit, 10)
		mark(HeaderLimitRequests)
		b = strconv.AppendInt(b, q.Remaining, 10)
		mark(HeaderRemainingRequests)
		b = appendSeconds(b, q.Reset)
		mark(HeaderResetRequests)
	}
	if q := d.Tokens; q.Limit > 0 {
		b = strconv.AppendInt(b, q.Limit, 10)
		mark(HeaderLimitTokens)
		b = strconv.AppendInt(b, q.Remaining, 10)
		mark(HeaderRemainingTokens)
		b = appendSeconds(b, q.Reset)
		mark(HeaderResetTokens)
	}
	if d.Wait > 0 {
		b = appendSeconds(b, d.Wait)
		mark(HeaderDelay)
	}
	// One string for every value and one array for every value list; the
	// three-index slices keep an Add to one header from overwriting the
	// next one's value.
	s := string(b)
	vals := make([]string, n)
	start := 0
	for i := range n {
		vals[i] = s[start:ends[i]]
		h[keys[i]] = vals[i : i+1 : i+1]
		start = ends[i]
	}
}

// appendSeconds appends d in seconds, rounded up to the millisecond, with
// trailing zeros of the fraction dropped: "0.25s", "3s", "12.001s".
func appendSeconds(b []byte, d time.Duration) []byte {
	if d < 0 {
		d = 0
	}
	ms := (d + time.Millisecond - 1) / time.Millisecond
	b = strconv.AppendInt(b, int64(ms/1000), 10)
	if frac := int64(ms % 1000); frac > 0 {
		digits := [3]byte{byte('0' + frac/100), byte('0' + frac/10%10), byte('0' + frac%10)}
		n := 3
		for n > 0 && digits[n-1] == '0' {
			n--
		}
		b = append(b, '.')
		b = append(b, digits[:n]...)
	}
	return append(b, 's')
}

package ratelimit

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/rules"
)

// BenchmarkAdmit is the hot path: one customer's existing bucket, both
// dimensions limited, never refused.
func BenchmarkAdmit(b *testing.B) {
	l := newTest(b, nil)
	lim := rules.Limits{RequestsPerMinute: 1_000_000, TokensPerMinute: 1_000_000_000}
	now := t0
	if _, err := l.Admit("acme-corp", "", lim, 800, now); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Millisecond)
		if _, err := l.Admit("acme-corp", "", lim, 800, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAdmitParallel spreads 1,000 customers over every CPU, as a
// busy instance sees them.
func BenchmarkAdmitParallel(b *testing.B) {
	l := newTest(b, nil)
	lim := rules.Limits{RequestsPerMinute: 1_000_000, TokensPerMinute: 1_000_000_000}
	customers := make([]string, 1000)
	for i := range customers {
		customers[i] = "customer-" + strconv.Itoa(i)
		if _, err := l.Admit(customers[i], "", lim, 800, t0); err != nil {
			b.Fatal(err)
		}
	}
	var seq atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := int(seq.Add(7919))
		for pb.Next() {
			i++
			now := t0.Add(time.Duration(i) * time.Microsecond)
			if _, err := l.Admit(customers[i%len(customers)], "", lim, 800, now); err != nil {
				b.Fatal(err)
			}
		}
	})
}

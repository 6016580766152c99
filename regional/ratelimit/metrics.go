package ratelimit

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the tollgate_ratelimit_* series.
//
// Cardinality: only throttled_total has a customer label, and a series
// appears only for a customer that was actually refused (at most two per
// customer: requests, tokens); customer ids come from the admin API, not
// from clients, so the set is bounded by the number of customers. The
// share is one unlabelled gauge because every customer has the same share
// (region weight ÷ live instances); a per-customer gauge would repeat it
// once per customer. Delays are labelled only by the dimension.
type metrics struct {
	throttled   *prometheus.CounterVec
	delayedReq  prometheus.Counter
	delayedTok  prometheus.Counter
	delay       prometheus.Histogram
	share       prometheus.Gauge
	instances   prometheus.Gauge
	buckets     prometheus.Gauge
	heartbeatEr *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, l *Limiter) *metrics {
	const ns, sub = "tollgate", "ratelimit"
	delayed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "delayed_total",
		Help: "Requests admitted with a progressive-throttling delay, by the dimension that set it (requests, tokens).",
	}, []string{"reason"})
	m := &metrics{
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "throttled_total",
			Help: "Requests refused with rate_limited, by customer and exhausted dimension (requests, tokens).",
		}, []string{"customer", "reason"}),
		delayedReq: delayed.WithLabelValues("requests"),
		delayedTok: delayed.WithLabelValues("tokens"),
		delay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "delay_seconds",
			Help:    "Progressive-throttling delays given to admitted requests.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5},
		}),
		share: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "share",
			Help: "Fraction of every customer's limits this instance enforces: region weight share ÷ live instances in the region.",
		}),
		instances: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "live_instances",
			Help:        "Live instances counted in this instance's region (heartbeats).",
			ConstLabels: prometheus.Labels{"region": l.cfg.Region},
		}),
		buckets: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "buckets",
			Help: "(customer, model) bucket pairs held in memory.",
		}),
		heartbeatEr: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "heartbeat_errors_total",
			Help: "Failed heartbeat calls to DynamoDB, by operation (put, list, delete). The last known instance count stays in force meanwhile.",
		}, []string{"op"}),
	}
	if reg != nil {
		reg.MustRegister(m.throttled, delayed, m.delay, m.share, m.instances, m.buckets, m.heartbeatEr)
	}
	return m
}

func (m *metrics) observeDelay(d time.Duration, byRequests bool) {
	if byRequests {
		m.delayedReq.Inc()
	} else {
		m.delayedTok.Inc()
	}
	m.delay.Observe(d.Seconds())
}

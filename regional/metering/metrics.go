package metering

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate-dev/tollgate/internal/store"
)

// metrics are the tollgate_metering_* series. Labels are bounded: no
// customer or model labels (their cardinality is unbounded; usage per
// customer is in DynamoDB), only operation and error type, which come
// from fixed sets.
type metrics struct {
	events       *prometheus.CounterVec
	rejected     prometheus.Counter
	flushSeconds prometheus.Histogram
	flushes      *prometheus.CounterVec
	ddbCalls     *prometheus.CounterVec
	syncSeconds  prometheus.Histogram
	syncBatch    prometheus.Histogram
	syncErrors   prometheus.Counter
	gauges       []prometheus.Collector

	reg        prometheus.Registerer
	registered []prometheus.Collector
}

func newMetrics(m *Meter) *metrics {
	const ns, sub = "tollgate", "metering"
	mt := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "events_total",
			Help: "Usage events recorded (durable in the log), by operation and error type (none for successes).",
		}, []string{"operation", "error_type"}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "rejected_total",
			Help: "Usage events refused because the log backlog reached its limit.",
		}),
		flushSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "flush_duration_seconds",
			Help:    "Duration of flushes to DynamoDB.",
			Buckets: prometheus.ExponentialBuckets(0.002, 2, 13),
		}),
		flushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "flushes_total",
			Help: "Flushes to DynamoDB by result (ok, error).",
		}, []string{"result"}),
		ddbCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "dynamodb_calls_total",
			Help: "DynamoDB calls made by flushes, by operation (put, get) and result (ok, stale, not_found, error).",
		}, []string{"op", "result"}),
		syncSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "wal_sync_duration_seconds",
			Help:    "Duration of one write + fsync of a batch of log records.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 14),
		}),
		syncBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "wal_batch_records",
			Help:    "Records per fsync (group commit).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}),
		syncErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "wal_sync_errors_total",
			Help: "Failed log writes or fsyncs; after one the meter refuses events until restart.",
		}),
	}
	mt.gauges = []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "backlog_bytes",
			Help: "Bytes of usage log on disk not yet deleted after a flush.",
		}, func() float64 { return float64(m.wal.backlogBytes()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "backlog_limit_bytes",
			Help: "The backlog size at which new events are refused.",
		}, func() float64 { return float64(m.cfg.MaxBacklogBytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "oldest_unflushed_seconds",
			Help: "Age of the oldest recorded usage not yet in DynamoDB (0 when all is flushed).",
		}, func() float64 { return m.Stats().OldestUnflushed.Seconds() }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "wal_failed",
			Help: "1 when a log write failed and the meter refuses events until restart.",
		}, func() float64 {
			if m.wal.failure() != nil {
				return 1
			}
			return 0
		}),
	}
	return mt
}

func (mt *metrics) register(reg prometheus.Registerer) error {
	all := append([]prometheus.Collector{mt.events, mt.rejected, mt.flushSeconds, mt.flushes, mt.ddbCalls, mt.syncSeconds, mt.syncBatch, mt.syncErrors}, mt.gauges...)
	for _, c := range all {
		if err := reg.Register(c); err != nil {
			for _, r := range mt.registered {
				reg.Unregister(r)
			}
			mt.registered = nil
			return err
		}
		mt.registered = append(mt.registered, c)
	}
	mt.reg = reg
	return nil
}

func (mt *metrics) unregister() {
	for _, c := range mt.registered {
		mt.reg.Unregister(c)
	}
	mt.registered = nil
}

func (mt *metrics) event(operation, errorType string) {
	if errorType == "" {
		errorType = "none"
	}
	mt.events.WithLabelValues(labelValue(operation), labelValue(errorType)).Inc()
}

// labelValue keeps label values to a safe alphabet and length, so that a
// caller's bug cannot flood the metrics with series.
func labelValue(s string) string {
	if s == "" || len(s) > 64 {
		return "other"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return "other"
		}
	}
	return s
}

func (mt *metrics) flushDone(d time.Duration, err error) {
	mt.flushSeconds.Observe(d.Seconds())
	if err != nil {
		mt.flushes.WithLabelValues("error").Inc()
	} else {
		mt.flushes.WithLabelValues("ok").Inc()
	}
}

func (mt *metrics) ddbCall(op string, err error) {
	result := "ok"
	switch {
	case err == nil:
	case errors.Is(err, store.ErrStaleSequence):
		result = "stale"
	case errors.Is(err, store.ErrNotFound):
		result = "not_found"
	default:
		result = "error"
	}
	mt.ddbCalls.WithLabelValues(op, result).Inc()
}

func (mt *metrics) walSync(d time.Duration, records int, err error) {
	if err != nil {
		mt.syncErrors.Inc()
		return
	}
	mt.syncSeconds.Observe(d.Seconds())
	mt.syncBatch.Observe(float64(records))
}

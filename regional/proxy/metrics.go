package proxy

import (
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate-dev/tollgate/regional/apierror"
)

// Metrics are the data plane's Prometheus metrics.
type Metrics struct {
	requests       *prometheus.CounterVec
	latency        *prometheus.HistogramVec
	upstreamErrors *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them with reg (nil: not
// registered, for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tollgate_requests_total",
			Help: "Data-plane requests by operation, HTTP status and error type (empty on success).",
		}, []string{"operation", "status", "error_type"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tollgate_request_duration_seconds",
			Help:    "Data-plane request latency, whole streams included.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"operation"}),
		upstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tollgate_upstream_errors_total",
			Help: "Errors from Bedrock by region and Bedrock exception ('connection' when no answer came).",
		}, []string{"region", "type"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.latency, m.upstreamErrors)
	}
	return m
}

func (m *Metrics) observe(st *reqState, d time.Duration) {
	op := st.op.String()
	m.requests.WithLabelValues(op, strconv.Itoa(st.status), errorLabel(st.errType)).Inc()
	m.latency.WithLabelValues(op).Observe(d.Seconds())
}

// ownErrorTypes are the error types Tollgate itself produces.
var ownErrorTypes = func() map[string]bool {
	m := map[string]bool{"": true, "stream_cut": true, "client_closed": true}
	for _, t := range apierror.Types() {
		m[string(t)] = true
	}
	return m
}()

// errorLabel keeps metric labels bounded: Tollgate's own types as they
// are, Bedrock's exceptions by name (stream exception members such as
// "throttlingException" included), anything else as "other".
func errorLabel(t string) string {
	if ownErrorTypes[t] {
		return t
	}
	if t != "" && t[0] >= 'a' && t[0] <= 'z' {
		return metricErrorType(strings.ToUpper(t[:1]) + t[1:])
	}
	return metricErrorType(t)
}

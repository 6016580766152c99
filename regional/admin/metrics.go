package admin

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics counts admin requests by route pattern (a bounded set, never a
// raw path) and status, and audit records that could not be written.
type metrics struct {
	requests      *prometheus.CounterVec
	auditFailures prometheus.Counter
}

// newMetrics registers the admin API's metrics with reg; a nil reg keeps
// them unregistered (counted, never exported).
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{requests: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tollgate_admin_requests_total",
		Help: "Admin API requests by route and HTTP status.",
	}, []string{"route", "status"}),
		auditFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tollgate_admin_audit_failures_total",
			Help: "Admin changes whose audit record could not be written (the record is in the error log).",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.auditFailures} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *metrics) observe(route string, status int) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
}

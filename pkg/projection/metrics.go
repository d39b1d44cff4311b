package projection

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the runtime's Prometheus collectors; a nil *Metrics records nothing.
type Metrics struct {
	batchSize *prometheus.HistogramVec
	applyDur  *prometheus.HistogramVec
	events    *prometheus.CounterVec
}

// NewMetrics creates the collectors and registers them with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "strata_projection_batch_events",
			Help: "Events per committed batch.", Buckets: prometheus.ExponentialBuckets(1, 2, 12)}, []string{"projection"}),
		applyDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "strata_projection_batch_seconds",
			Help: "Time to apply and commit a batch.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}, []string{"projection"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strata_projection_events_total",
			Help: "Events applied and committed."}, []string{"projection"}),
	}
	if reg != nil {
		reg.MustRegister(m.batchSize, m.applyDur, m.events)
	}
	return m
}

func (m *Metrics) observeBatch(keyspace string, n int, d time.Duration) {
	if m == nil {
		return
	}
	m.batchSize.WithLabelValues(keyspace).Observe(float64(n))
	m.applyDur.WithLabelValues(keyspace).Observe(d.Seconds())
	m.events.WithLabelValues(keyspace).Add(float64(n))
}

package cluster

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the engine's per-partition Prometheus collectors. A nil *Metrics records
// nothing.
type Metrics struct {
	epoch    *prometheus.GaugeVec
	caughtUp *prometheus.CounterVec
	lag      *prometheus.GaugeVec
	rebuilds *prometheus.CounterVec
	rewrites *prometheus.CounterVec
}

// NewMetrics creates the collectors and registers them with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	p := []string{"partition"}
	m := &Metrics{
		epoch: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "strata_partition_owner_epoch", Help: "The owner epoch this instance holds for the partition (0 when it does not own it)."}, p),
		caughtUp: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_heads_catchup_events_total", Help: "Events applied to the Redis heads by catch-ups (takeover, recovery, rebuild after Redis lost data)."}, p),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "strata_heads_lag_events", Help: "Events the Redis heads were behind the log at the partition's last catch-up."}, p),
		rebuilds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_heads_rebuilds_total", Help: "Times the partition's heads were rebuilt because Redis lost its generation."}, p),
		rewrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_commit_client_aborts_total", Help: "Transactions the Kafka client aborted when asked to commit them; each group was written again."}, p),
	}
	if reg != nil {
		reg.MustRegister(m.epoch, m.caughtUp, m.lag, m.rebuilds, m.rewrites)
	}
	return m
}

func (m *Metrics) setEpoch(p int, e int64) {
	if m != nil {
		m.epoch.WithLabelValues(strconv.Itoa(p)).Set(float64(e))
	}
}

func (m *Metrics) caughtUpEvents(p, n int) {
	if m != nil {
		m.caughtUp.WithLabelValues(strconv.Itoa(p)).Add(float64(n))
		m.lag.WithLabelValues(strconv.Itoa(p)).Set(float64(n))
	}
}

func (m *Metrics) rebuilt(p int) {
	if m != nil {
		m.rebuilds.WithLabelValues(strconv.Itoa(p)).Inc()
	}
}

func (m *Metrics) clientAborted(p int) {
	if m != nil {
		m.rewrites.WithLabelValues(strconv.Itoa(p)).Inc()
	}
}

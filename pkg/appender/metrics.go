package appender

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the pipeline's Prometheus collectors. A nil *Metrics records nothing.
type Metrics struct {
	latency    *prometheus.HistogramVec
	conflicts  prometheus.Counter
	groupSize  prometheus.Histogram
	groupEvts  prometheus.Histogram
	aborted    prometheus.Counter
	uncertain  prometheus.Counter
	duplicates prometheus.Counter
	open       prometheus.Histogram
	owned      *prometheus.GaugeVec
}

// NewMetrics creates the collectors and registers them with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "strata_append_duration_seconds", Help: "Append latency, from queueing to answer, by outcome.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"outcome"}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_append_conflicts_total", Help: "Appends refused because the expected version did not hold."}),
		groupSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "strata_group_commit_appends", Help: "Appends per group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 11)}),
		groupEvts: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "strata_group_commit_events", Help: "Events per group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 13)}),
		aborted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_transaction_aborts_total", Help: "Group commits that failed and wrote nothing."}),
		uncertain: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_transaction_uncertain_total", Help: "Group commits whose outcome had to be recovered from the log."}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_append_duplicates_total", Help: "Retried appends answered with their original outcome."}),
		open: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "strata_partition_open_seconds", Help: "Time to take a partition over: fence earlier owners, catch the heads up, until it accepts writes.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 14)}),
		owned: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "strata_partition_owned", Help: "1 while this process writes the partition (0.5 while it is still opening it), else 0."},
			[]string{"partition"}),
	}
	if reg != nil {
		reg.MustRegister(m.latency, m.conflicts, m.groupSize, m.groupEvts, m.aborted, m.uncertain, m.duplicates, m.open, m.owned)
	}
	return m
}

func (m *Metrics) observeAppend(o *op) {
	if m == nil {
		return
	}
	outcome := "ok"
	switch {
	case o.err != nil:
		outcome = "error"
	case o.res.Duplicate:
		outcome = "duplicate"
		m.duplicates.Inc()
	}
	m.latency.WithLabelValues(outcome).Observe(time.Since(o.start).Seconds())
}

func (m *Metrics) observeGroup(appends, events int) {
	if m != nil {
		m.groupSize.Observe(float64(appends))
		m.groupEvts.Observe(float64(events))
	}
}

func (m *Metrics) incConflict() {
	if m != nil {
		m.conflicts.Inc()
	}
}

func (m *Metrics) incAborted() {
	if m != nil {
		m.aborted.Inc()
	}
}

func (m *Metrics) incUncertain() {
	if m != nil {
		m.uncertain.Inc()
	}
}

func (m *Metrics) observeOpen(p int, d time.Duration) {
	if m == nil {
		return
	}
	m.open.Observe(d.Seconds())
	m.owned.WithLabelValues(strconv.Itoa(p)).Set(1)
}

func (m *Metrics) setOwned(p int, v float64) {
	if m == nil {
		return
	}
	m.owned.WithLabelValues(strconv.Itoa(p)).Set(v)
}

package watchdog

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the watchdog's Prometheus metrics, on a registry of its own.
type Metrics struct {
	reg               *prometheus.Registry
	probeLatency      *prometheus.HistogramVec
	probeFailures     *prometheus.CounterVec
	nodeHealth        *prometheus.GaugeVec
	nodeVotesDown     *prometheus.GaugeVec
	failovers         *prometheus.CounterVec
	failoverTime      *prometheus.HistogramVec
	reports           *prometheus.CounterVec
	groupEpoch        *prometheus.GaugeVec
	reattachments     *prometheus.CounterVec
	refusals          *prometheus.CounterVec
	webhookDeliveries *prometheus.CounterVec
	webhookFailed     *prometheus.CounterVec
}

// RaftStats is what the metrics read from the Raft node at scrape time.
type RaftStats interface {
	State() string
	Stats() map[string]string
	LastContact() time.Time
	Voters() int
}

// healthValues are the values of warden_node_health.
var healthValues = map[string]float64{HealthUp: 1, HealthSDown: 0.5, HealthODown: 0, HealthUnknown: -1}

// NewMetrics registers every metric.
func NewMetrics(raft RaftStats) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		probeLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "warden_probe_latency_seconds", Help: "Round trip of this watchdog's probes (PING, ROLE, INFO) per node.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}, []string{"node"}),
		probeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "warden_probe_failures_total", Help: "Probes of a node that got no valid reply.",
		}, []string{"node"}),
		nodeHealth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "warden_node_health", Help: "Node health as the group sees it: 1 up, 0.5 subjectively down, 0 objectively down, -1 unknown.",
		}, []string{"group", "node"}),
		nodeVotesDown: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "warden_node_votes_down", Help: "Fresh watchdog reports that call the node down.",
		}, []string{"group", "node"}),
		failovers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "warden_failovers_total", Help: "Failovers and switchovers this member carried out as leader, by kind and outcome.",
		}, []string{"group", "kind", "outcome"}),
		failoverTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "warden_failover_duration_seconds", Help: "From the recorded begin of a failover to its recorded end.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"group", "kind"}),
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "warden_reports_received_total", Help: "Reports received while leading, per watchdog.",
		}, []string{"watchdog"}),
		groupEpoch: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "warden_group_epoch", Help: "The group's configuration epoch.",
		}, []string{"group"}),
		reattachments: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "warden_reattachments_total", Help: "Nodes made replicas of the current master by this member.",
		}, []string{"group"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "warden_failover_refusals_total", Help: "Failovers the votes called for but that were declined (window, maintenance, no candidate, master still heard).",
		}, []string{"group"}),
		webhookDeliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "warden_webhook_deliveries_total", Help: "Webhook POSTs by outcome (ok, error).",
		}, []string{"webhook", "outcome"}),
		webhookFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "warden_webhook_failed_total", Help: "Events a webhook gave up on.",
		}, []string{"webhook"}),
	}
	m.reg.MustRegister(m.webhookDeliveries, m.webhookFailed, m.probeLatency, m.probeFailures, m.nodeHealth, m.nodeVotesDown, m.failovers, m.failoverTime,
		m.reports, m.groupEpoch, m.reattachments, m.refusals,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if raft != nil {
		m.reg.MustRegister(newRaftCollector(raft))
	}
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// raftCollector reads the Raft node at scrape time.
type raftCollector struct {
	raft                                      RaftStats
	state, term, commit, applied, contact, vs *prometheus.Desc
}

func newRaftCollector(r RaftStats) *raftCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &raftCollector{
		raft:    r,
		state:   d("warden_raft_state", "1 for this member's current Raft state.", "state"),
		term:    d("warden_raft_term", "Current Raft term."),
		commit:  d("warden_raft_commit_index", "Raft commit index."),
		applied: d("warden_raft_applied_index", "Raft index applied to the state."),
		contact: d("warden_raft_last_contact_seconds", "Seconds since this member last heard from the leader (0 on the leader)."),
		vs:      d("warden_raft_voters", "Voting members in the Raft configuration."),
	}
}

func (c *raftCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.state, c.term, c.commit, c.applied, c.contact, c.vs} {
		ch <- d
	}
}

func (c *raftCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.raft.Stats()
	num := func(k string) float64 {
		v, _ := strconv.ParseFloat(st[k], 64)
		return v
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(c.term, num("term"))
	gauge(c.commit, num("commit_index"))
	gauge(c.applied, num("applied_index"))
	gauge(c.vs, float64(c.raft.Voters()))
	state := c.raft.State()
	for _, s := range []string{"Leader", "Follower", "Candidate", "Shutdown"} {
		v := 0.0
		if s == state {
			v = 1
		}
		gauge(c.state, v, s)
	}
	age := 0.0
	if state != "Leader" {
		if lc := c.raft.LastContact(); !lc.IsZero() {
			age = time.Since(lc).Seconds()
		}
	}
	gauge(c.contact, age)
}

func (m *Metrics) observeProbe(node string, ok bool, latency time.Duration) {
	if ok {
		m.probeLatency.WithLabelValues(node).Observe(latency.Seconds())
	} else {
		m.probeFailures.WithLabelValues(node).Inc()
	}
}

func (m *Metrics) observeView(v GroupView, epoch uint64) {
	m.groupEpoch.WithLabelValues(v.Group).Set(float64(epoch))
	for _, n := range v.Nodes {
		m.nodeHealth.WithLabelValues(v.Group, n.Addr).Set(healthValues[n.Health])
		m.nodeVotesDown.WithLabelValues(v.Group, n.Addr).Set(float64(n.VotesDown))
	}
}

func (m *Metrics) observeFailover(group, kind string, ok bool, took time.Duration) {
	outcome := "completed"
	if !ok {
		outcome = "failed"
	}
	m.failovers.WithLabelValues(group, kind, outcome).Inc()
	m.failoverTime.WithLabelValues(group, kind).Observe(took.Seconds())
}

// forgetGroup drops the series of a group that is no longer watched.
func (m *Metrics) forgetGroup(group string) {
	l := prometheus.Labels{"group": group}
	m.nodeHealth.DeletePartialMatch(l)
	m.nodeVotesDown.DeletePartialMatch(l)
	m.groupEpoch.DeletePartialMatch(l)
}

package watchdog

import (
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"warden/cluster"
	"warden/raftstore"
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
	// collectors are what reg holds, for MetricNames.
	collectors []prometheus.Collector
}

// RaftStats is what the metrics read from the Raft node at scrape time:
// its state and, through FSM, the replicated state (operations, clusters).
type RaftStats interface {
	State() string
	Stats() map[string]string
	LastContact() time.Time
	Voters() int
	FSM() *raftstore.FSM
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
	m.collectors = []prometheus.Collector{m.webhookDeliveries, m.webhookFailed, m.probeLatency, m.probeFailures, m.nodeHealth, m.nodeVotesDown,
		m.failovers, m.failoverTime, m.reports, m.groupEpoch, m.reattachments, m.refusals,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})}
	if raft != nil {
		m.collectors = append(m.collectors, newRaftCollector(raft))
		if f := raft.FSM(); f != nil {
			m.collectors = append(m.collectors, newStateCollector(f))
		}
	}
	m.reg.MustRegister(m.collectors...)
	return m
}

// fqName finds the name in a Desc's String(), the one place client_golang
// shows it.
var fqName = regexp.MustCompile(`fqName: ("(?:[^"\\]|\\.)*")`)

// MetricNames returns the name of every metric family a watchdog
// registers (warden's own, the Go runtime's and the process's), sorted.
// Histograms and summaries are named by family: their series add
// _bucket, _sum and _count.
func MetricNames() []string {
	cs := append(NewMetrics(nil).collectors, newRaftCollector(nil), newStateCollector(nil))
	ch := make(chan *prometheus.Desc)
	go func() {
		for _, c := range cs {
			c.Describe(ch)
		}
		close(ch)
	}()
	seen := map[string]bool{}
	for d := range ch {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			if name, err := strconv.Unquote(m[1]); err == nil {
				seen[name] = true
			}
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
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

// replicatedState is what the state collector reads from the FSM.
type replicatedState interface {
	Operations() []raftstore.Operation
	Clusters() []raftstore.Cluster
}

// stateCollector reads the replicated state at scrape time: every member
// exports the same values (as far as it has applied the log), nothing is
// kept twice. Series of a running operation carry its id and disappear
// when it ends.
type stateCollector struct {
	st replicatedState
	// running operations
	opsRunning, slotsPlanned, slotsMoved, keysMoved, bytesMoved, migrateSeconds, stepsDone, stepsPlanned, started *prometheus.Desc
	// finished operations, clusters
	opsFinished, clShards, clReplicas, clSlots, clEpoch, clFailover *prometheus.Desc
}

func newStateCollector(st replicatedState) *stateCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	op := []string{"id", "cluster", "kind"}
	return &stateCollector{
		st:             st,
		opsRunning:     d("warden_operations_running", "Topology operations running (at most one per cluster).", "cluster", "kind"),
		slotsPlanned:   d("warden_operation_slots_planned", "Slots the running operation is to move (0 until its plan knows).", op...),
		slotsMoved:     d("warden_operation_slots_moved_total", "Slots the running operation has moved.", op...),
		keysMoved:      d("warden_operation_keys_moved_total", "Keys the running operation has moved.", op...),
		bytesMoved:     d("warden_operation_bytes_moved_total", "Bytes of keys (as sampled) the running operation has moved.", op...),
		migrateSeconds: d("warden_operation_migrate_seconds_total", "Time the running operation has spent moving slots.", op...),
		stepsDone:      d("warden_operation_steps_done", "Steps of its plan the running operation has finished.", op...),
		stepsPlanned:   d("warden_operation_steps_planned", "Steps in the running operation's plan.", op...),
		started:        d("warden_operation_started_timestamp_seconds", "When the running operation began, in Unix seconds.", op...),
		opsFinished: d("warden_operations_finished", "Finished topology operations the state keeps (the newest "+strconv.Itoa(raftstore.FinishedOperationsKept)+"), by final state.",
			"cluster", "kind", "state"),
		clShards:   d("warden_cluster_shards", "Shards (masters with slots) in the cluster's recorded shard map.", "cluster"),
		clReplicas: d("warden_cluster_replicas", "Replicas in the cluster's recorded shard map.", "cluster"),
		clSlots:    d("warden_cluster_slots_assigned", "Slots the recorded shard map assigns to a master (16384 when all are covered).", "cluster"),
		clEpoch:    d("warden_cluster_epoch", "The cluster's epoch: failovers warden has forced in it.", "cluster"),
		clFailover: d("warden_cluster_failover_running", "1 while warden forces a failover in the cluster.", "cluster"),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.opsRunning, c.slotsPlanned, c.slotsMoved, c.keysMoved, c.bytesMoved, c.migrateSeconds,
		c.stepsDone, c.stepsPlanned, c.started, c.opsFinished, c.clShards, c.clReplicas, c.clSlots, c.clEpoch, c.clFailover} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	type key struct{ cluster, kind, state string }
	running, finished := map[key]int{}, map[key]int{}
	for _, o := range c.st.Operations() {
		if o.State != raftstore.OpRunning {
			finished[key{o.Cluster, o.Kind, o.State}]++
			continue
		}
		running[key{o.Cluster, o.Kind, ""}]++
		l := []string{o.ID, o.Cluster, o.Kind}
		gauge(c.slotsPlanned, float64(o.SlotsTotal), l...)
		counter(c.slotsMoved, float64(o.SlotsMoved), l...)
		counter(c.keysMoved, float64(o.KeysMoved), l...)
		counter(c.bytesMoved, float64(o.BytesMoved), l...)
		counter(c.migrateSeconds, o.MigrateSeconds, l...)
		gauge(c.stepsDone, float64(o.Cursor), l...)
		gauge(c.stepsPlanned, float64(len(o.Plan)), l...)
		gauge(c.started, float64(o.StartedAt.UnixNano())/1e9, l...)
	}
	for k, n := range running {
		gauge(c.opsRunning, float64(n), k.cluster, k.kind)
	}
	for k, n := range finished {
		gauge(c.opsFinished, float64(n), k.cluster, k.kind, k.state)
	}
	for _, cl := range c.st.Clusters() {
		var slots []cluster.SlotRange
		replicas := 0
		for _, sh := range cl.Shards {
			// The leader recorded the map from parsed views: a range that
			// does not parse counts as no slots.
			if rs, err := cluster.ParseSlots(sh.Slots); err == nil {
				slots = append(slots, rs...)
			}
			replicas += len(sh.Replicas)
		}
		running := 0.0
		if cl.Failover != nil {
			running = 1
		}
		gauge(c.clShards, float64(len(cl.Shards)), cl.Name)
		gauge(c.clReplicas, float64(replicas), cl.Name)
		gauge(c.clSlots, float64(cluster.CountSlots(slots)), cl.Name)
		gauge(c.clEpoch, float64(cl.Epoch), cl.Name)
		gauge(c.clFailover, running, cl.Name)
	}
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

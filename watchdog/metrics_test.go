package watchdog

import (
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"

	"warden/raftstore"
)

// fsmStats is a Raft node for the metrics: fixed stats, a real FSM.
type fsmStats struct{ fsm *raftstore.FSM }

var fixedStats = map[string]string{"term": "7", "commit_index": "42", "applied_index": "41"}

func (fsmStats) State() string            { return "Follower" }
func (fsmStats) Stats() map[string]string { return fixedStats }
func (fsmStats) LastContact() time.Time   { return time.Now().Add(-time.Second) }
func (fsmStats) Voters() int              { return 3 }
func (n fsmStats) FSM() *raftstore.FSM    { return n.fsm }

func (n fsmStats) apply(t *testing.T, cs ...raftstore.Command) {
	t.Helper()
	applyAll(t, n.fsm, cs...)
}

// applyAll applies commands to the FSM as Raft would, failing on an error.
func applyAll(t *testing.T, f *raftstore.FSM, cs ...raftstore.Command) {
	t.Helper()
	for _, c := range cs {
		b, err := raftstore.Encode(c)
		if err != nil {
			t.Fatalf("encode %T: %v", c, err)
		}
		if res := f.Apply(&raft.Log{Type: raft.LogCommand, Data: b}); res != nil {
			t.Fatalf("apply %T: %v", c, res)
		}
	}
}

// series renders the samples of the families whose names start with one of
// prefixes as `name{label="value",...} value`, sorted, with the type of
// the family after the value.
func series(t *testing.T, m *Metrics, prefixes ...string) []string {
	t.Helper()
	fams, err := m.reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var out []string
	for _, f := range fams {
		keep := false
		for _, p := range prefixes {
			keep = keep || strings.HasPrefix(f.GetName(), p)
		}
		if !keep {
			continue
		}
		for _, mt := range f.GetMetric() {
			var ls []string
			for _, lp := range mt.GetLabel() {
				ls = append(ls, lp.GetName()+"="+strconv.Quote(lp.GetValue()))
			}
			v := mt.GetGauge().GetValue()
			if f.GetType() == dto.MetricType_COUNTER {
				v = mt.GetCounter().GetValue()
			}
			out = append(out, f.GetName()+"{"+strings.Join(ls, ",")+"} "+strconv.FormatFloat(v, 'g', -1, 64)+" "+strings.ToLower(f.GetType().String()))
		}
	}
	sort.Strings(out)
	return out
}

func opPlan(n int) []raftstore.OpStep {
	plan := make([]raftstore.OpStep, n)
	for i := range plan {
		plan[i] = raftstore.OpStep{Kind: raftstore.StepMigrate, Detail: "step " + strconv.Itoa(i)}
	}
	return plan
}

// The operations and cluster metrics are read from the FSM at scrape time:
// built here by applying the commands the leader would, and read back
// with their names, labels, values and types.
func TestMetricsOperationsAndClusters(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 500e6, time.UTC)
	n := fsmStats{raftstore.NewFSM()}
	n.apply(t,
		&raftstore.ClustersEnsure{Clusters: []raftstore.ClusterSpec{{Name: "a", Seeds: []string{"10.0.0.1:7000"}}, {Name: "b", Seeds: []string{"10.0.1.1:7000"}}}, At: at},
		&raftstore.ClusterShards{Cluster: "a", At: at, Shards: []raftstore.ShardRecord{
			{MasterID: "m1", MasterAddr: "10.0.0.1:7000", Slots: "0-8191", Replicas: []string{"r1@10.0.0.4:7000"}},
			{MasterID: "m2", MasterAddr: "10.0.0.2:7000", Slots: "8192-16000", Replicas: []string{"r2@10.0.0.5:7000", "r3@10.0.0.6:7000"}},
		}},
		&raftstore.ClusterFailoverBegin{Cluster: "a", Failover: raftstore.ClusterFailover{Mode: "force", ShardMaster: "m1", From: "10.0.0.1:7000", To: "10.0.0.4:7000"}, At: at},
		// b: a rebalance done, one failed, then an add_shard running.
		&raftstore.OpBegin{Operation: raftstore.Operation{Cluster: "b", Kind: raftstore.OpRebalance, Plan: opPlan(1)}, At: at},
		&raftstore.OpEnd{ID: "b-op1", State: raftstore.OpDone, At: at},
		&raftstore.OpBegin{Operation: raftstore.Operation{Cluster: "b", Kind: raftstore.OpRebalance, Plan: opPlan(1)}, At: at},
		&raftstore.OpEnd{ID: "b-op2", State: raftstore.OpFailed, Error: "no", At: at},
		&raftstore.OpBegin{Operation: raftstore.Operation{Cluster: "b", Kind: raftstore.OpAddShard, Plan: opPlan(4)}, At: at},
		&raftstore.OpProgress{ID: "b-op3", Cursor: 2, SlotsTotal: 4096, SlotsMoved: 1024, KeysMoved: 50000, BytesMoved: 6400000, MigrateSeconds: 12.5, At: at},
		// a: an operation running too.
		&raftstore.OpBegin{Operation: raftstore.Operation{Cluster: "a", Kind: raftstore.OpRemoveShard, Plan: opPlan(2)}, At: at},
	)
	m := NewMetrics(n)
	started := strconv.FormatFloat(float64(at.UnixNano())/1e9, 'g', -1, 64)
	want := []string{
		`warden_cluster_epoch{cluster="a"} 1 gauge`,
		`warden_cluster_epoch{cluster="b"} 0 gauge`,
		`warden_cluster_failover_running{cluster="a"} 1 gauge`,
		`warden_cluster_failover_running{cluster="b"} 0 gauge`,
		`warden_cluster_replicas{cluster="a"} 3 gauge`,
		`warden_cluster_replicas{cluster="b"} 0 gauge`,
		`warden_cluster_shards{cluster="a"} 2 gauge`,
		`warden_cluster_shards{cluster="b"} 0 gauge`,
		`warden_cluster_slots_assigned{cluster="a"} 16001 gauge`,
		`warden_cluster_slots_assigned{cluster="b"} 0 gauge`,
		`warden_operation_bytes_moved_total{cluster="a",id="a-op4",kind="remove_shard"} 0 counter`,
		`warden_operation_bytes_moved_total{cluster="b",id="b-op3",kind="add_shard"} 6.4e+06 counter`,
		`warden_operation_keys_moved_total{cluster="a",id="a-op4",kind="remove_shard"} 0 counter`,
		`warden_operation_keys_moved_total{cluster="b",id="b-op3",kind="add_shard"} 50000 counter`,
		`warden_operation_migrate_seconds_total{cluster="a",id="a-op4",kind="remove_shard"} 0 counter`,
		`warden_operation_migrate_seconds_total{cluster="b",id="b-op3",kind="add_shard"} 12.5 counter`,
		`warden_operation_slots_moved_total{cluster="a",id="a-op4",kind="remove_shard"} 0 counter`,
		`warden_operation_slots_moved_total{cluster="b",id="b-op3",kind="add_shard"} 1024 counter`,
		`warden_operation_slots_planned{cluster="a",id="a-op4",kind="remove_shard"} 0 gauge`,
		`warden_operation_slots_planned{cluster="b",id="b-op3",kind="add_shard"} 4096 gauge`,
		`warden_operation_started_timestamp_seconds{cluster="a",id="a-op4",kind="remove_shard"} ` + started + ` gauge`,
		`warden_operation_started_timestamp_seconds{cluster="b",id="b-op3",kind="add_shard"} ` + started + ` gauge`,
		`warden_operation_steps_done{cluster="a",id="a-op4",kind="remove_shard"} 0 gauge`,
		`warden_operation_steps_done{cluster="b",id="b-op3",kind="add_shard"} 2 gauge`,
		`warden_operation_steps_planned{cluster="a",id="a-op4",kind="remove_shard"} 2 gauge`,
		`warden_operation_steps_planned{cluster="b",id="b-op3",kind="add_shard"} 4 gauge`,
		`warden_operations_finished{cluster="b",kind="rebalance",state="done"} 1 gauge`,
		`warden_operations_finished{cluster="b",kind="rebalance",state="failed"} 1 gauge`,
		`warden_operations_running{cluster="a",kind="remove_shard"} 1 gauge`,
		`warden_operations_running{cluster="b",kind="add_shard"} 1 gauge`,
	}
	if got := series(t, m, "warden_operation", "warden_cluster_"); !reflect.DeepEqual(got, want) {
		t.Errorf("series:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Nothing is kept between scrapes: an operation's series leave with it,
	// and it is counted among the finished.
	n.apply(t, &raftstore.OpEnd{ID: "b-op3", State: raftstore.OpCancelled, At: at},
		&raftstore.OpEnd{ID: "a-op4", State: raftstore.OpDone, At: at},
		&raftstore.ClusterFailoverEnd{Cluster: "a", ID: "a-c1", OK: true, At: at})
	want = []string{
		`warden_operations_finished{cluster="a",kind="remove_shard",state="done"} 1 gauge`,
		`warden_operations_finished{cluster="b",kind="add_shard",state="cancelled"} 1 gauge`,
		`warden_operations_finished{cluster="b",kind="rebalance",state="done"} 1 gauge`,
		`warden_operations_finished{cluster="b",kind="rebalance",state="failed"} 1 gauge`,
	}
	if got := series(t, m, "warden_operation"); !reflect.DeepEqual(got, want) {
		t.Errorf("after the ends:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	got := series(t, m, "warden_cluster_failover_running", "warden_cluster_epoch")
	if want := []string{
		`warden_cluster_epoch{cluster="a"} 1 gauge`, `warden_cluster_epoch{cluster="b"} 0 gauge`,
		`warden_cluster_failover_running{cluster="a"} 0 gauge`, `warden_cluster_failover_running{cluster="b"} 0 gauge`,
	}; !reflect.DeepEqual(got, want) {
		t.Errorf("after the cluster failover:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// The Raft gauges come from the node's stats at scrape time.
func TestMetricsRaft(t *testing.T) {
	m := NewMetrics(fsmStats{raftstore.NewFSM()})
	got := series(t, m, "warden_raft_")
	for _, w := range []string{
		`warden_raft_applied_index{} 41 gauge`,
		`warden_raft_commit_index{} 42 gauge`,
		`warden_raft_state{state="Follower"} 1 gauge`,
		`warden_raft_state{state="Leader"} 0 gauge`,
		`warden_raft_term{} 7 gauge`,
		`warden_raft_voters{} 3 gauge`,
	} {
		if !contains(got, w) {
			t.Errorf("missing %s in\n%s", w, strings.Join(got, "\n"))
		}
	}
	var contact float64
	for _, s := range got {
		if f := strings.Fields(s); strings.HasPrefix(s, "warden_raft_last_contact_seconds{}") {
			contact, _ = strconv.ParseFloat(f[1], 64)
		}
	}
	if contact < 1 || contact > 60 {
		t.Errorf("warden_raft_last_contact_seconds %v, want about 1 (a follower that heard from the leader a second ago)", contact)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// MetricNames lists every family, those with no series yet included, and
// docs/api.md lists the same warden_* metrics.
func TestMetricNames(t *testing.T) {
	names := MetricNames()
	if !sort.StringsAreSorted(names) {
		t.Errorf("not sorted: %v", names)
	}
	for _, w := range []string{"warden_probe_latency_seconds", "warden_webhook_failed_total", "warden_raft_state",
		"warden_operation_keys_moved_total", "warden_cluster_slots_assigned", "go_goroutines", "process_resident_memory_bytes"} {
		if !contains(names, w) {
			t.Errorf("MetricNames lacks %s: %v", w, names)
		}
	}
	var own []string
	for _, n := range names {
		if strings.HasPrefix(n, "warden_") {
			own = append(own, n)
		}
	}
	doc, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, mm := range regexp.MustCompile("(?m)^\\| `(warden_[a-z_]+)` \\|").FindAllStringSubmatch(string(doc), -1) {
		documented[mm[1]] = true
	}
	for _, n := range own {
		if !documented[n] {
			t.Errorf("%s is registered but not in the GET /metrics table of docs/api.md", n)
		}
		delete(documented, n)
	}
	for n := range documented {
		t.Errorf("docs/api.md lists %s, which is not registered", n)
	}
}

// Every warden metric, each with a sample, passes promlint (counters end
// in _total, units are base units, help is given).
func TestMetricsLint(t *testing.T) {
	n := fsmStats{raftstore.NewFSM()}
	at := time.Now()
	n.apply(t, &raftstore.ClustersEnsure{Clusters: []raftstore.ClusterSpec{{Name: "c", Seeds: []string{"10.0.0.1:7000"}}}, At: at},
		&raftstore.OpBegin{Operation: raftstore.Operation{Cluster: "c", Kind: raftstore.OpRebalance, Plan: opPlan(1)}, At: at},
		&raftstore.OpEnd{ID: "c-op1", State: raftstore.OpDone, At: at},
		&raftstore.OpBegin{Operation: raftstore.Operation{Cluster: "c", Kind: raftstore.OpRebalance, Plan: opPlan(1)}, At: at})
	m := NewMetrics(n)
	m.observeProbe("n:1", true, time.Millisecond)
	m.observeProbe("n:1", false, 0)
	m.observeView(GroupView{Group: "g", Nodes: []NodeView{{Addr: "n:1", Health: HealthUp}}}, 1)
	m.observeFailover("g", "failover", true, time.Second)
	m.reports.WithLabelValues("w1").Inc()
	m.reattachments.WithLabelValues("g").Inc()
	m.refusals.WithLabelValues("g").Inc()
	m.webhookDeliveries.WithLabelValues("h", "ok").Inc()
	m.webhookFailed.WithLabelValues("h").Inc()
	fams, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var own []*dto.MetricFamily
	seen := map[string]bool{}
	for _, f := range fams {
		if strings.HasPrefix(f.GetName(), "warden_") {
			own = append(own, f)
			seen[f.GetName()] = true
		}
	}
	for _, name := range MetricNames() {
		if strings.HasPrefix(name, "warden_") && !seen[name] {
			t.Errorf("%s has no sample here: give it one so that it is linted", name)
		}
	}
	problems, err := promlint.NewWithMetricFamilies(own).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

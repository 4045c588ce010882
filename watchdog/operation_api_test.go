package watchdog

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"warden/cluster"
	"warden/e2e"
	"warden/raftstore"
)

// The topology operation routes are tested on a single member, as the rest
// of the API (http_test.go). Nothing runs the operations: one the API
// accepts is recorded in Raft and stays at its first step, so the Redis
// nodes it names are left as they were and serve the next case. What the
// handlers ask of Redis (is a new node empty and alone, is the cluster
// healthy, what does it look like) goes to real redis-server processes.

// opState is what a refused request must leave alone: everything state
// holds, and the operations and clusters.
func (m *apiMember) opState(t *testing.T) string {
	t.Helper()
	fsm := m.node.FSM()
	b, err := json.Marshal(map[string]any{"operations": fsm.Operations(), "clusters": fsm.Clusters()})
	if err != nil {
		t.Fatal(err)
	}
	return m.state(t) + string(b)
}

// refuses sends a call, expects the error, and checks that no operation
// was recorded and nothing else changed.
func (m *apiMember) refuses(t *testing.T, method, target, body string, code int, contains string) {
	t.Helper()
	before := m.opState(t)
	m.call(method, target, body).expectError(t, code, contains)
	if after := m.opState(t); after != before {
		t.Errorf("a refused %s %s changed the state:\nbefore %s\nafter  %s", method, target, before, after)
	}
}

type refusal struct {
	name, body string
	code       int
	msg        string
}

func (m *apiMember) refusesAll(t *testing.T, method, target string, cases []refusal) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { m.refuses(t, method, target, c.body, c.code, c.msg) })
	}
}

// accepts sends a call that starts an operation and checks the answer: 202,
// the operation as recorded, running at its first step, requested through
// the API of w1.
func (m *apiMember) accepts(t *testing.T, method, target, body string) OperationStatus {
	t.Helper()
	var st OperationStatus
	m.call(method, target, body).expect(t, 202).into(t, &st)
	o, ok := m.node.FSM().Operation(st.ID)
	if !ok {
		t.Fatalf("%s %s answered operation %q, which the state does not hold", method, target, st.ID)
	}
	if st.State != raftstore.OpRunning || st.Cursor != 0 || st.StepNumber != 1 || st.Steps != len(o.Plan) || st.Step != o.Plan[0].Kind ||
		st.RequestedBy != "api" || st.Leader != "w1" || st.CancelRequested || st.ETASeconds != nil {
		t.Errorf("new operation %+v", st)
	}
	got, _ := json.Marshal(st.Operation)
	want, _ := json.Marshal(o)
	if string(got) != string(want) {
		t.Errorf("answered operation differs from the recorded one:\nanswered %s\nrecorded %s", got, want)
	}
	return st
}

// endOperation ends a running operation (as cancelled), which frees its
// cluster for the next.
func (m *apiMember) endOperation(t *testing.T, id string) {
	t.Helper()
	m.apply(t, &raftstore.OpEnd{ID: id, State: raftstore.OpCancelled, At: time.Now()})
}

// beginOperation records an operation as the leader would, without the API.
func (m *apiMember) beginOperation(t *testing.T, clusterName, kind string, plan ...raftstore.OpStep) raftstore.Operation {
	t.Helper()
	if len(plan) == 0 {
		plan = []raftstore.OpStep{{Kind: raftstore.StepVerify, Detail: "verify"}}
	}
	m.apply(t, &raftstore.OpBegin{Operation: raftstore.Operation{Cluster: clusterName, Kind: kind, Plan: plan, RequestedBy: "test"}, At: time.Now()})
	o, ok := m.node.FSM().RunningOperation(clusterName)
	if !ok {
		t.Fatalf("no operation runs on %s after OpBegin", clusterName)
	}
	return o
}

// ensureClusters records the clusters (ClustersEnsure is taken once).
func (m *apiMember) ensureClusters(t *testing.T, specs ...raftstore.ClusterSpec) {
	t.Helper()
	m.apply(t, &raftstore.ClustersEnsure{Clusters: specs, At: time.Now()})
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func stepKinds(plan []raftstore.OpStep) string {
	var out []string
	for _, s := range plan {
		out = append(out, s.Kind)
	}
	return strings.Join(out, ",")
}

// movedSlots sums a migrate step's moves, checking each move's count
// against its slots.
func movedSlots(t *testing.T, st raftstore.OpStep) int {
	t.Helper()
	if st.Kind != raftstore.StepMigrate {
		t.Fatalf("step %+v is not a migrate step", st)
	}
	n := 0
	for _, mv := range st.Moves {
		rs, err := cluster.ParseSlots(mv.Slots)
		if err != nil || cluster.CountSlots(rs) != mv.Count || mv.Count == 0 {
			t.Errorf("move %+v: slots %q hold %d slots (%v)", mv, mv.Slots, cluster.CountSlots(rs), err)
		}
		n += mv.Count
	}
	return n
}

// Redis nodes.

// opClusterArgs start a node in cluster mode as the e2e harness does.
var opClusterArgs = []string{"--cluster-enabled", "yes", "--cluster-node-timeout", "1000", "--cluster-config-file", e2e.ClusterConfigFile}

// startNodes starts n redis-server processes at once with args, each
// killed (by its pid) when t ends.
func startNodes(t *testing.T, n int, args ...string) []*e2e.Redis {
	t.Helper()
	if _, err := e2e.RedisServerPath(); err != nil {
		t.Skipf("the topology operations ask real Redis: %v", err)
	}
	dir := t.TempDir()
	out := make([]*e2e.Redis, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range out {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = e2e.StartRedis(t.Context(), e2e.RedisOptions{Dir: filepath.Join(dir, strconv.Itoa(i)), Args: args})
		}()
	}
	wg.Wait()
	for _, r := range out {
		if r != nil {
			t.Cleanup(func() {
				if err := r.Kill(); err != nil {
					t.Errorf("kill redis %s: %v", r.Addr, err)
				}
			})
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return out
}

func addrsOf(rs []*e2e.Redis) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Addr
	}
	return out
}

func redisDo(t *testing.T, addr string, args ...any) any {
	t.Helper()
	c := e2e.NewRedisClient(addr, "")
	defer c.Close()
	v, err := c.Do(t.Context(), args...).Result()
	if err != nil {
		t.Fatalf("%v on %s: %v", args, addr, err)
	}
	return v
}

func nodeID(t *testing.T, addr string) string {
	t.Helper()
	id, _ := redisDo(t, addr, "CLUSTER", "MYID").(string)
	if len(id) != 40 {
		t.Fatalf("CLUSTER MYID on %s: %q", addr, id)
	}
	return id
}

// meet makes each of addrs meet to.
func meet(t *testing.T, to string, addrs ...string) {
	t.Helper()
	host, port, _ := net.SplitHostPort(to)
	for _, a := range addrs {
		redisDo(t, a, "CLUSTER", "MEET", host, port)
	}
}

// waitSettled polls until every node of addrs knows all of addrs and no
// other node, none in handshake or flagged failing, and all views agree on
// slots and roles: what the handlers call healthy. (cluster_state:ok would
// take 2 s more: a new master waits that long before it says ok.)
func waitSettled(t *testing.T, addrs []string) {
	t.Helper()
	err := e2e.WaitFor(t.Context(), 10*time.Second, fmt.Sprintf("%s to agree", strings.Join(addrs, ", ")), func() (bool, error) {
		views := map[string][]cluster.Node{}
		for _, a := range addrs {
			text, err := e2e.ClusterNodesText(t.Context(), a)
			if err != nil {
				return false, err
			}
			nodes, err := cluster.ParseNodes(text)
			if err != nil {
				return false, err
			}
			if len(nodes) != len(addrs) {
				return false, fmt.Errorf("%s knows %d nodes, want %d", a, len(nodes), len(addrs))
			}
			for _, n := range nodes {
				if n.Flags.Handshake || n.Flags.NoAddr || n.Flags.Failing() {
					return false, fmt.Errorf("%s sees %s flagged %s", a, n.Addr, n.Flags)
				}
			}
			views[a] = nodes
		}
		if d := cluster.Compare(views); len(d) > 0 {
			return false, fmt.Errorf("views disagree: %s", d[0])
		}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// opCluster is a running Redis Cluster: m1 serves 0-8191 with replica r1,
// m2 serves 8192-16383.
type opCluster struct {
	m1, m2, r1 string
	id         map[string]string // address → node id
}

func (c opCluster) addrs() []string { return []string{c.m1, c.m2, c.r1} }

func startOpCluster(t *testing.T) opCluster {
	t.Helper()
	ns := startNodes(t, 3, opClusterArgs...)
	c := opCluster{m1: ns[0].Addr, m2: ns[1].Addr, r1: ns[2].Addr, id: map[string]string{}}
	for i, a := range c.addrs() {
		c.id[a] = nodeID(t, a)
		redisDo(t, a, "CLUSTER", "SET-CONFIG-EPOCH", i+1)
	}
	redisDo(t, c.m1, "CLUSTER", "ADDSLOTSRANGE", 0, 8191)
	redisDo(t, c.m2, "CLUSTER", "ADDSLOTSRANGE", 8192, 16383)
	meet(t, c.m1, c.m2, c.r1)
	waitSettled(t, c.addrs())
	redisDo(t, c.r1, "CLUSTER", "REPLICATE", c.id[c.m1])
	waitSettled(t, c.addrs())
	return c
}

// openSlot marks slot 0 migrating on m1 until the returned func closes it:
// the cluster is then unhealthy for a topology change.
func (c opCluster) openSlot(t *testing.T) (closeSlot func()) {
	t.Helper()
	redisDo(t, c.m1, "CLUSTER", "SETSLOT", 0, "MIGRATING", c.id[c.m2])
	return func() { redisDo(t, c.m1, "CLUSTER", "SETSLOT", 0, "STABLE") }
}

// Operations: list, one, cancel, and what is derived from the record.

func TestOperationStatus(t *testing.T) {
	plan := []raftstore.OpStep{{Kind: raftstore.StepMeet}, {Kind: raftstore.StepMigrate}, {Kind: raftstore.StepVerify}}
	eta := func(v float64) *float64 { return &v }
	for _, c := range []struct {
		name string
		op   raftstore.Operation
		want OperationStatus
	}{
		{"new", raftstore.Operation{State: raftstore.OpRunning, Plan: plan},
			OperationStatus{Step: raftstore.StepMeet, StepNumber: 1, Steps: 3}},
		{"migrating", raftstore.Operation{State: raftstore.OpRunning, Plan: plan, Cursor: 1,
			SlotsTotal: 100, SlotsMoved: 25, KeysMoved: 1000, BytesMoved: 50000, MigrateSeconds: 10},
			OperationStatus{Step: raftstore.StepMigrate, StepNumber: 2, Steps: 3, KeysPerSec: 100, BytesPerSec: 5000, ETASeconds: eta(30)}},
		{"rates and eta rounded", raftstore.Operation{State: raftstore.OpRunning, Plan: plan, Cursor: 1,
			SlotsTotal: 10, SlotsMoved: 7, KeysMoved: 10, BytesMoved: 11, MigrateSeconds: 3},
			OperationStatus{Step: raftstore.StepMigrate, StepNumber: 2, Steps: 3, KeysPerSec: 3, BytesPerSec: 4, ETASeconds: eta(1.3)}},
		{"no slot moved yet: no eta", raftstore.Operation{State: raftstore.OpRunning, Plan: plan, Cursor: 1, SlotsTotal: 10, MigrateSeconds: 2},
			OperationStatus{Step: raftstore.StepMigrate, StepNumber: 2, Steps: 3}},
		{"every slot moved: no eta", raftstore.Operation{State: raftstore.OpRunning, Plan: plan, Cursor: 1,
			SlotsTotal: 10, SlotsMoved: 10, KeysMoved: 40, MigrateSeconds: 4},
			OperationStatus{Step: raftstore.StepMigrate, StepNumber: 2, Steps: 3, KeysPerSec: 10}},
		{"no time measured: no rate", raftstore.Operation{State: raftstore.OpRunning, Plan: plan, Cursor: 1, SlotsTotal: 10, SlotsMoved: 5, KeysMoved: 9},
			OperationStatus{Step: raftstore.StepMigrate, StepNumber: 2, Steps: 3}},
		{"done", raftstore.Operation{State: raftstore.OpDone, Plan: plan, Cursor: 3,
			SlotsTotal: 10, SlotsMoved: 10, KeysMoved: 40, BytesMoved: 80, MigrateSeconds: 4},
			OperationStatus{Step: "", StepNumber: 3, Steps: 3, KeysPerSec: 10, BytesPerSec: 20}},
		{"cancelled mid-migration: no eta", raftstore.Operation{State: raftstore.OpCancelled, Plan: plan, Cursor: 1,
			SlotsTotal: 10, SlotsMoved: 5, KeysMoved: 5, MigrateSeconds: 5},
			OperationStatus{Step: raftstore.StepMigrate, StepNumber: 2, Steps: 3, KeysPerSec: 1}},
		{"no plan", raftstore.Operation{State: raftstore.OpRunning},
			OperationStatus{Step: "", StepNumber: 0, Steps: 0}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.want.Operation = c.op
			if got := operationStatus(c.op); jsonOf(t, got) != jsonOf(t, c.want) {
				t.Errorf("operationStatus:\ngot  %s\nwant %s", jsonOf(t, got), jsonOf(t, c.want))
			}
		})
	}
}

func TestAPIOperations(t *testing.T) {
	m := newLeader(t, apiToken)
	m.ensureClusters(t, raftstore.ClusterSpec{Name: "a", Seeds: []string{"10.0.1.1:7000"}}, raftstore.ClusterSpec{Name: "b", Seeds: []string{"10.0.2.1:7000"}})
	var list struct {
		Operations []OperationStatus `json:"operations"`
	}
	rep := m.call("GET", "/v1/operations", "").expect(t, 200)
	if !strings.Contains(string(rep.body), `"operations": []`) {
		t.Errorf("no operations should be an empty list: %s", rep.body)
	}

	a := m.beginOperation(t, "a", raftstore.OpRebalance,
		raftstore.OpStep{Kind: raftstore.StepMigrate, Detail: "move 100 slots"}, raftstore.OpStep{Kind: raftstore.StepVerify, Detail: "verify"})
	m.apply(t, &raftstore.OpProgress{ID: a.ID, SlotsTotal: 100, SlotsMoved: 25, KeysMoved: 1000, BytesMoved: 50000, MigrateSeconds: 10, At: time.Now()})
	b := m.beginOperation(t, "b", raftstore.OpRemoveShard)
	m.apply(t, &raftstore.OpEnd{ID: b.ID, State: raftstore.OpDone, At: time.Now()})
	c := m.beginOperation(t, "c", raftstore.OpCreate)

	m.call("GET", "/v1/operations", "").expect(t, 200).into(t, &list)
	if got := len(list.Operations); got != 3 || list.Operations[0].ID != a.ID || list.Operations[1].ID != b.ID || list.Operations[2].ID != c.ID {
		t.Fatalf("GET /v1/operations: %+v", list.Operations)
	}
	for _, q := range []struct {
		query string
		ids   []string
	}{
		{"?cluster=a", []string{a.ID}},
		{"?cluster=b&consistent=1", []string{b.ID}},
		{"?cluster=c", []string{c.ID}},
		{"?cluster=nope", nil},
	} {
		list.Operations = nil
		m.call("GET", "/v1/operations"+q.query, "").expect(t, 200).into(t, &list)
		var ids []string
		for _, o := range list.Operations {
			ids = append(ids, o.ID)
		}
		if fmt.Sprint(ids) != fmt.Sprint(q.ids) || list.Operations == nil {
			t.Errorf("GET /v1/operations%s: %v, want %v", q.query, ids, q.ids)
		}
	}

	t.Run("one operation with what is derived", func(t *testing.T) {
		var raw map[string]any
		m.call("GET", "/v1/operations/"+a.ID, "").expect(t, 200).into(t, &raw)
		for k, want := range map[string]any{
			"id": a.ID, "cluster": "a", "kind": raftstore.OpRebalance, "state": raftstore.OpRunning, "step": raftstore.StepMigrate,
			"step_number": 1.0, "steps": 2.0, "keys_per_sec": 100.0, "bytes_per_sec": 5000.0, "eta_seconds": 30.0,
			"slots_total": 100.0, "slots_moved": 25.0, "requested_by": "test",
		} {
			if raw[k] != want {
				t.Errorf("%s = %v, want %v", k, raw[k], want)
			}
		}
		var done map[string]any
		m.call("GET", "/v1/operations/"+b.ID+"?consistent=1", "").expect(t, 200).into(t, &done)
		if done["state"] != raftstore.OpDone || done["step"] != "" || done["step_number"] != 1.0 || done["steps"] != 1.0 {
			t.Errorf("finished operation %v", done)
		}
		if _, ok := done["eta_seconds"]; ok {
			t.Errorf("a finished operation has an eta: %v", done)
		}
		m.refuses(t, "GET", "/v1/operations/nope", "", 404, `operation "nope"`)
	})

	t.Run("cancel", func(t *testing.T) {
		var st OperationStatus
		m.call("POST", "/v1/operations/"+a.ID+"/cancel", "").expect(t, 202).into(t, &st)
		if st.ID != a.ID || !st.CancelRequested || st.State != raftstore.OpRunning || st.Step != raftstore.StepMigrate {
			t.Errorf("cancel answer %+v", st)
		}
		if o, _ := m.node.FSM().Operation(a.ID); !o.CancelRequested || o.State != raftstore.OpRunning {
			t.Errorf("after cancel the state holds %+v", o)
		}
		if e := lastEntry(t, m); e.Kind != "operation" || e.By != "api" || e.Message != a.ID+": cancel requested" {
			t.Errorf("history after cancel: %+v", e)
		}
		// Asking again while it winds down is harmless.
		m.call("POST", "/v1/operations/"+a.ID+"/cancel", "").expect(t, 202)
		m.apply(t, &raftstore.OpEnd{ID: a.ID, State: raftstore.OpCancelled, At: time.Now()})

		m.refuses(t, "POST", "/v1/operations/"+a.ID+"/cancel", "", 409, "operation "+a.ID+" is already cancelled")
		m.refuses(t, "POST", "/v1/operations/"+b.ID+"/cancel", "", 409, "operation "+b.ID+" is already done")
		m.refuses(t, "POST", "/v1/operations/nope/cancel", "", 404, `operation "nope"`)
	})
}

// Create.

func TestAPIClusterCreate(t *testing.T) {
	m := newLeader(t, apiToken)
	m.ensureClusters(t, raftstore.ClusterSpec{Name: "old", Seeds: []string{"10.0.1.1:7000"}})
	m.addGroup(t, "g", "10.0.0.1:6379", "10.0.0.2:6379")
	a, b, c, d := "10.0.9.1:7000", "10.0.9.2:7000", "10.0.9.3:7000", "10.0.9.4:7000"
	body := func(name string, masters []string, replicas map[string][]string, slots map[string]string) string {
		return jsonOf(t, CreateClusterRequest{Name: name, Masters: masters, Replicas: replicas, Slots: slots})
	}
	abc := []string{a, b, c}
	// Validation comes before any question to Redis: these addresses are
	// never dialled.
	m.refusesAll(t, "POST", "/v1/clusters", []refusal{
		{"null", `null`, 400, `name ""`},
		{"no name", body("", abc, nil, nil), 400, `name ""`},
		{"bad name", body("a/b", abc, nil, nil), 400, "may hold only letters"},
		{"no masters", `{"name":"n"}`, 400, "masters lists 0 nodes"},
		{"two masters", body("n", abc[:2], nil, nil), 400, "masters lists 2 nodes; a Redis Cluster needs at least 3"},
		{"master not host:port", body("n", []string{a, "10.0.9.2", c}, nil, nil), 400, `masters[1]: "10.0.9.2" is not host:port`},
		{"master without host", body("n", []string{a, b, ":7000"}, nil, nil), 400, `masters[2]: ":7000" has no host`},
		{"master port out of range", body("n", []string{"10.0.9.1:0", b, c}, nil, nil), 400, `masters[0]: "10.0.9.1:0" has port "0"`},
		{"master twice", body("n", []string{a, b, a}, nil, nil), 400, "masters[2]: " + a + " is already listed in masters[0]"},
		{"replica that is a master", body("n", abc, map[string][]string{a: {b}}, nil), 400,
			"replicas[" + a + "][0]: " + b + " is already listed in masters[1]"},
		{"replica of two masters", body("n", abc, map[string][]string{a: {d}, b: {d}}, nil), 400,
			"replicas[" + b + "][0]: " + d + " is already listed in replicas[" + a + "][0]"},
		{"replica twice", body("n", abc, map[string][]string{a: {d, d}}, nil), 400,
			"replicas[" + a + "][1]: " + d + " is already listed in replicas[" + a + "][0]"},
		{"bad replica address", body("n", abc, map[string][]string{a: {"x"}}, nil), 400, "replicas[" + a + "][0]: \"x\" is not host:port"},
		{"replicas of a non-master", body("n", abc, map[string][]string{d: {"10.0.9.5:7000"}}, nil), 400, `replicas: "` + d + `" is not one of masters`},
		{"replicas of a replica", body("n", abc, map[string][]string{a: {d}, d: {"10.0.9.5:7000"}}, nil), 400, `replicas: "` + d + `" is not one of masters`},
		{"slots of a non-master", body("n", abc, nil, map[string]string{a: "0-5000", b: "5001-10000", c: "10001-16383", d: "1"}), 400,
			`slots: "` + d + `" is not one of masters`},
		{"slots overlap", body("n", abc, nil, map[string]string{a: "0-5000", b: "5000-10000", c: "10001-16383"}), 400,
			"slots: slot 5000 is given to both " + a + " and " + b},
		{"slot missing", body("n", abc, nil, map[string]string{a: "0-5000", b: "5001-10000", c: "10001-16382"}), 400,
			"slots: slot 16383 is given to no master (all 16384 must be)"},
		{"master without slots", body("n", abc, nil, map[string]string{a: "0-10000", b: "10001-16383"}), 400,
			"slots: master " + c + " is given no slot"},
		{"master with empty slots", body("n", abc, nil, map[string]string{a: "0-10000", b: "10001-16383", c: ""}), 400,
			"slots: master " + c + " is given no slot"},
		{"slot out of range", body("n", abc, nil, map[string]string{a: "0-5000", b: "5001-10000", c: "10001-16384"}), 400,
			"slots[" + c + "]"},
		{"slots not a range", body("n", abc, nil, map[string]string{a: "0-5000", b: "5001-10000", c: "x"}), 400,
			"slots[" + c + "]"},
		{"masters not a list", `{"name":"n","masters":"` + a + `"}`, 400, "cannot unmarshal string"},
		{"replicas a list", `{"name":"n","masters":["` + a + `","` + b + `","` + c + `"],"replicas":["` + d + `"]}`, 400, "cannot unmarshal array"},
		{"slots a number", `{"name":"n","masters":["` + a + `","` + b + `","` + c + `"],"slots":{"` + a + `":1}}`, 400, "cannot unmarshal number"},
		{"unknown field", `{"name":"n","masters":["` + a + `","` + b + `","` + c + `"],"replica":{}}`, 400, `unknown field "replica"`},
		// Past validation, before Redis.
		{"cluster exists", body("old", abc, nil, nil), 409, `cluster "old" already exists`},
		{"node of a group", body("n", []string{"10.0.0.2:6379", a, b}, nil, nil), 409, "10.0.0.2:6379 is a node of group g"},
		{"node of a cluster", body("n", []string{"10.0.1.1:7000", a, b}, nil, nil), 409, "10.0.1.1:7000 is already a node of cluster old"},
	})
	m.rejectsBadBodies(t, "POST", "/v1/clusters", body("n", abc, nil, nil), true)

	t.Run("a create of the name already running", func(t *testing.T) {
		o := m.beginOperation(t, "pending", raftstore.OpCreate)
		m.refuses(t, "POST", "/v1/clusters", body("pending", abc, nil, nil), 409, "operation "+o.ID+" is already creating cluster pending")
		m.endOperation(t, o.ID)
	})

	// The new nodes themselves: fresh ones, and each kind of node that may
	// not join.
	ns := addrsOf(startNodes(t, 7, opClusterArgs...))
	fresh, known, replica, serving := ns[:4], ns[4], ns[5], ns[6]
	plain := startNodes(t, 1)[0].Addr
	keys := startNodes(t, 1, append([]string{"--enable-debug-command", "local"}, opClusterArgs...)...)[0].Addr
	redisDo(t, keys, "DEBUG", "POPULATE", 3)
	meet(t, known, replica)
	waitSettled(t, []string{known, replica})
	redisDo(t, replica, "CLUSTER", "REPLICATE", nodeID(t, known))
	redisDo(t, serving, "CLUSTER", "ADDSLOTSRANGE", 0, 99)
	refused := refusedAddrs(t, 1)[0]
	_, freshPort, _ := net.SplitHostPort(fresh[0])
	f1, f2, f3, f4 := fresh[0], fresh[1], fresh[2], fresh[3]
	m.refusesAll(t, "POST", "/v1/clusters", []refusal{
		{"nothing listening", body("n", []string{f1, f2, refused}, nil, nil), 400, refused + " does not answer"},
		{"not in cluster mode", body("n", []string{f1, plain, f2}, nil, nil), 400, plain + " does not run in cluster mode (cluster-enabled no)"},
		{"holds keys", body("n", []string{keys, f1, f2}, nil, nil), 409, keys + " holds 3 keys; a node joining a cluster must be empty"},
		{"knows another node", body("n", []string{f1, f2, known}, nil, nil), 409, known + " already knows 1 other nodes"},
		{"a replica", body("n", []string{f1, f2, f3}, map[string][]string{f1: {replica}}, nil), 409, replica + " is a replica of "},
		{"serves slots", body("n", []string{f1, serving, f2}, nil, nil), 409, serving + " already serves slots 0-99"},
		{"the same node twice", body("n", []string{f1, f2, "localhost:" + freshPort}, nil, nil), 400,
			f1 + " and localhost:" + freshPort + " are the same node"},
	})

	t.Run("accepted", func(t *testing.T) {
		st := m.accepts(t, "POST", "/v1/clusters", body("new", []string{f1, f2, f3}, map[string][]string{f1: {f4}}, nil))
		if st.Cluster != "new" || st.Kind != raftstore.OpCreate {
			t.Errorf("operation %+v", st)
		}
		if got, want := stepKinds(st.Plan), "assign_slots,set_epochs,meet,wait_known,replicate,verify"; got != want {
			t.Errorf("plan %s, want %s", got, want)
		}
		wantSlots := map[string]string{f1: "0-5461", f2: "5462-10922", f3: "10923-16383"}
		if jsonOf(t, st.Request.Slots) != jsonOf(t, wantSlots) || fmt.Sprint(st.Request.Masters) != fmt.Sprint([]string{f1, f2, f3}) ||
			fmt.Sprint(st.Request.Replicas[f1]) != fmt.Sprint([]string{f4}) {
			t.Errorf("request %+v", st.Request)
		}
		wantNodes := []raftstore.OpNode{{ID: nodeID(t, f1), Addr: f1}, {ID: nodeID(t, f4), Addr: f4, Master: nodeID(t, f1)},
			{ID: nodeID(t, f2), Addr: f2}, {ID: nodeID(t, f3), Addr: f3}}
		if jsonOf(t, st.Nodes) != jsonOf(t, wantNodes) {
			t.Errorf("nodes %+v, want %+v", st.Nodes, wantNodes)
		}
		if e := lastEntry(t, m); e.Kind != "operation" || e.Group != "new" || !strings.HasPrefix(e.Message, st.ID+" started: create on cluster new") {
			t.Errorf("history: %+v", e)
		}
		if _, ok := m.node.FSM().Cluster("new"); ok {
			t.Error("the cluster is recorded before the operation ends")
		}
		m.refuses(t, "POST", "/v1/clusters", body("new", []string{f1, f2, f3}, nil, nil), 409, "operation "+st.ID+" is already creating cluster new")
		m.endOperation(t, st.ID)
	})

	t.Run("accepted with slots and no replica", func(t *testing.T) {
		slots := map[string]string{f1: "0-99, 16000-16383", f2: "100-8000", f3: "8001-15999"}
		st := m.accepts(t, "POST", "/v1/clusters", body("new2", []string{f1, f2, f3}, nil, slots))
		if got, want := stepKinds(st.Plan), "assign_slots,set_epochs,meet,wait_known,verify"; got != want {
			t.Errorf("plan %s, want %s", got, want)
		}
		want := map[string]string{f1: "0-99,16000-16383", f2: "100-8000", f3: "8001-15999"}
		if jsonOf(t, st.Request.Slots) != jsonOf(t, want) || len(st.Request.Replicas) != 0 {
			t.Errorf("request %+v", st.Request)
		}
		m.endOperation(t, st.ID)
	})
}

// Shards: add and remove.

func TestAPIShards(t *testing.T) {
	m := newLeader(t, apiToken)
	lc := startOpCluster(t)
	// A node that met no other does not know its own address unless told.
	solo := startNodes(t, 1, append([]string{"--cluster-announce-ip", "127.0.0.1"}, opClusterArgs...)...)[0].Addr
	redisDo(t, solo, "CLUSTER", "ADDSLOTSRANGE", 0, 16383)
	dead := refusedAddrs(t, 1)[0]
	m.ensureClusters(t, raftstore.ClusterSpec{Name: "live", Seeds: lc.addrs()}, raftstore.ClusterSpec{Name: "solo", Seeds: []string{solo}},
		raftstore.ClusterSpec{Name: "dead", Seeds: []string{dead}}, raftstore.ClusterSpec{Name: "busy", Seeds: []string{"10.0.5.1:7000"}})
	busy := m.beginOperation(t, "busy", raftstore.OpRebalance)
	fresh := addrsOf(startNodes(t, 2, opClusterArgs...))
	f1, f2 := fresh[0], fresh[1]
	refused := refusedAddrs(t, 1)[0]

	t.Run("add", func(t *testing.T) {
		add := func(master string, replicas ...string) string {
			return jsonOf(t, AddShardRequest{Master: master, Replicas: replicas})
		}
		m.refusesAll(t, "POST", "/v1/clusters/live/shards", []refusal{
			{"no master", `{}`, 400, `master: "" is not host:port`},
			{"master not host:port", add("10.0.9.1"), 400, `master: "10.0.9.1" is not host:port`},
			{"master port out of range", add("10.0.9.1:65536"), 400, `master: "10.0.9.1:65536" has port "65536"`},
			{"bad replica", add(f1, "x:y"), 400, `replicas[0]: "x:y" has port "y"`},
			{"replica is the master", add(f1, f2, f1), 400, "replicas[1]: " + f1 + " is already listed in master"},
			{"master a list", `{"master":["` + f1 + `"]}`, 400, "cannot unmarshal array"},
			{"force a string", `{"master":"` + f1 + `","force":"yes"}`, 400, "cannot unmarshal string"},
			{"node of the cluster", add(lc.r1), 409, lc.r1 + " is already a node of cluster live"},
			{"nothing listening", add(refused), 400, refused + " does not answer"},
		})
		m.rejectsBadBodies(t, "POST", "/v1/clusters/live/shards", add(f1), true)
		m.refuses(t, "POST", "/v1/clusters/nope/shards", add(f1), 404, `cluster "nope"`)
		m.refuses(t, "POST", "/v1/clusters/busy/shards", add(f1), 409, "operation "+busy.ID+" (rebalance) is running on cluster busy")
		m.refuses(t, "POST", "/v1/clusters/dead/shards", add(f1), 409, "cluster dead: no node answers CLUSTER NODES")
		closeSlot := lc.openSlot(t)
		m.refuses(t, "POST", "/v1/clusters/live/shards", add(f1), 409, "cluster live is not healthy (slot 0 is migrating on "+lc.m1+"); fix it first or pass force")
		forced := m.accepts(t, "POST", "/v1/clusters/live/shards", jsonOf(t, AddShardRequest{Master: f1, Force: true}))
		closeSlot()
		if !forced.Request.Force {
			t.Errorf("forced request %+v", forced.Request)
		}
		m.refuses(t, "POST", "/v1/clusters/live/shards", add(f1), 409, "operation "+forced.ID+" (add_shard) is running on cluster live")
		m.endOperation(t, forced.ID)

		st := m.accepts(t, "POST", "/v1/clusters/live/shards", add(f1, f2))
		if st.Cluster != "live" || st.Kind != raftstore.OpAddShard || st.Request.Master != f1 || fmt.Sprint(st.Request.Nodes) != fmt.Sprint([]string{f2}) || st.Request.Force {
			t.Errorf("operation %+v", st)
		}
		if got, want := stepKinds(st.Plan), "meet,wait_known,replicate,migrate,verify"; got != want {
			t.Fatalf("plan %s, want %s", got, want)
		}
		id1 := nodeID(t, f1)
		if want := []raftstore.OpNode{{ID: id1, Addr: f1}, {ID: nodeID(t, f2), Addr: f2, Master: id1}}; jsonOf(t, st.Nodes) != jsonOf(t, want) {
			t.Errorf("nodes %+v, want %+v", st.Nodes, want)
		}
		mig := st.Plan[3]
		if n := movedSlots(t, mig); n != 5461 && n != 5462 {
			t.Errorf("the new master gets %d slots, want a third", n)
		}
		for _, mv := range mig.Moves {
			if mv.To != id1 || mv.ToAddr != f1 || mv.FromAddr != map[string]string{lc.id[lc.m1]: lc.m1, lc.id[lc.m2]: lc.m2}[mv.From] {
				t.Errorf("move %+v", mv)
			}
		}
		m.endOperation(t, st.ID)
	})

	t.Run("remove", func(t *testing.T) {
		m.refuses(t, "DELETE", "/v1/clusters/live/shards/"+lc.m2+"?force=maybe", "", 400, `query force="maybe" is not true or false`)
		m.refuses(t, "DELETE", "/v1/clusters/nope/shards/"+lc.m2, "", 404, `cluster "nope"`)
		m.refuses(t, "DELETE", "/v1/clusters/busy/shards/10.0.5.1:7000", "", 409, "operation "+busy.ID+" (rebalance) is running on cluster busy")
		m.refuses(t, "DELETE", "/v1/clusters/dead/shards/"+dead, "", 409, "cluster dead: no node answers CLUSTER NODES")
		m.refuses(t, "DELETE", "/v1/clusters/live/shards/10.0.9.9:7000", "", 404, `no master of cluster live has id or address "10.0.9.9:7000"`)
		m.refuses(t, "DELETE", "/v1/clusters/live/shards/"+lc.r1, "", 404, `no master of cluster live has id or address "`+lc.r1+`"`)
		m.refuses(t, "DELETE", "/v1/clusters/solo/shards/"+solo, "", 409, solo+" is the last master of cluster solo; it cannot be removed")
		closeSlot := lc.openSlot(t)
		m.refuses(t, "DELETE", "/v1/clusters/live/shards/"+lc.m2, "", 409, "cluster live is not healthy (slot 0 is migrating on "+lc.m1+")")
		forced := m.accepts(t, "DELETE", "/v1/clusters/live/shards/"+lc.m2+"?force=true", "")
		closeSlot()
		if !forced.Request.Force {
			t.Errorf("forced request %+v", forced.Request)
		}
		m.endOperation(t, forced.ID)

		// By address: m2's slots go to m1.
		st := m.accepts(t, "DELETE", "/v1/clusters/live/shards/"+lc.m2, "")
		if st.Kind != raftstore.OpRemoveShard || st.Request.Master != lc.m2 || st.Request.Force {
			t.Errorf("operation %+v", st)
		}
		if got, want := stepKinds(st.Plan), "migrate,forget,verify_gone,verify"; got != want {
			t.Fatalf("plan %s, want %s", got, want)
		}
		want := []raftstore.OpMove{{From: lc.id[lc.m2], FromAddr: lc.m2, To: lc.id[lc.m1], ToAddr: lc.m1, Slots: "8192-16383", Count: 8192}}
		if jsonOf(t, st.Plan[0].Moves) != jsonOf(t, want) {
			t.Errorf("moves %+v, want %+v", st.Plan[0].Moves, want)
		}
		if wantNodes := []raftstore.OpNode{{ID: lc.id[lc.m2], Addr: lc.m2}}; jsonOf(t, st.Nodes) != jsonOf(t, wantNodes) {
			t.Errorf("nodes %+v", st.Nodes)
		}
		m.endOperation(t, st.ID)

		// By id: m1 goes with its replica.
		st = m.accepts(t, "DELETE", "/v1/clusters/live/shards/"+lc.id[lc.m1], "")
		if st.Request.Master != lc.m1 || fmt.Sprint(st.Plan[1].Nodes) != fmt.Sprint([]string{lc.m1, lc.r1}) {
			t.Errorf("operation %+v", st)
		}
		wantNodes := []raftstore.OpNode{{ID: lc.id[lc.m1], Addr: lc.m1}, {ID: lc.id[lc.r1], Addr: lc.r1, Master: lc.id[lc.m1]}}
		if jsonOf(t, st.Nodes) != jsonOf(t, wantNodes) {
			t.Errorf("nodes %+v, want %+v", st.Nodes, wantNodes)
		}
		if n := movedSlots(t, st.Plan[0]); n != 8192 {
			t.Errorf("%d slots move off m1, want 8192", n)
		}
		m.endOperation(t, st.ID)
	})
}

// Replicas: add and remove.

func TestAPIReplicas(t *testing.T) {
	m := newLeader(t, apiToken)
	lc := startOpCluster(t)
	dead := refusedAddrs(t, 1)[0]
	m.ensureClusters(t, raftstore.ClusterSpec{Name: "live", Seeds: lc.addrs()}, raftstore.ClusterSpec{Name: "dead", Seeds: []string{dead}},
		raftstore.ClusterSpec{Name: "busy", Seeds: []string{"10.0.5.1:7000"}})
	busy := m.beginOperation(t, "busy", raftstore.OpAddShard)
	fresh := addrsOf(startNodes(t, 2, opClusterArgs...))
	f1, f2 := fresh[0], fresh[1]
	refused := refusedAddrs(t, 1)[0]
	reps := func(addrs ...string) string { return jsonOf(t, ReplicasRequest{Replicas: addrs}) }

	t.Run("add", func(t *testing.T) {
		target := "/v1/clusters/live/shards/" + lc.m2 + "/replicas"
		m.refusesAll(t, "POST", target, []refusal{
			{"no replicas", `{}`, 400, "replicas must list at least one address"},
			{"empty list", reps(), 400, "replicas must list at least one address"},
			{"bad address", reps(f1, "10.0.9.1"), 400, `replicas[1]: "10.0.9.1" is not host:port`},
			{"twice", reps(f1, f1), 400, "replicas[1]: " + f1 + " is already listed in replicas[0]"},
			{"not a list", `{"replicas":"` + f1 + `"}`, 400, "cannot unmarshal string"},
			{"node of the cluster", reps(lc.r1), 409, lc.r1 + " is already a node of cluster live"},
			{"nothing listening", reps(refused), 400, refused + " does not answer"},
		})
		m.rejectsBadBodies(t, "POST", target, reps(f1), true)
		m.refuses(t, "POST", "/v1/clusters/nope/shards/"+lc.m2+"/replicas", reps(f1), 404, `cluster "nope"`)
		m.refuses(t, "POST", "/v1/clusters/busy/shards/10.0.5.1:7000/replicas", reps(f1), 409, "operation "+busy.ID+" (add_shard) is running on cluster busy")
		m.refuses(t, "POST", "/v1/clusters/dead/shards/"+dead+"/replicas", reps(f1), 409, "cluster dead: no node answers CLUSTER NODES")
		m.refuses(t, "POST", "/v1/clusters/live/shards/10.0.9.9:7000/replicas", reps(f1), 404, `no master of cluster live has id or address "10.0.9.9:7000"`)
		m.refuses(t, "POST", "/v1/clusters/live/shards/"+lc.r1+"/replicas", reps(f1), 404, `no master of cluster live has id or address "`+lc.r1+`"`)
		closeSlot := lc.openSlot(t)
		m.refuses(t, "POST", target, reps(f1), 409, "cluster live is not healthy (slot 0 is migrating on "+lc.m1+")")
		forced := m.accepts(t, "POST", target, jsonOf(t, ReplicasRequest{Replicas: []string{f1}, Force: true}))
		closeSlot()
		m.refuses(t, "POST", target, reps(f1), 409, "operation "+forced.ID+" (add_replicas) is running on cluster live")
		m.endOperation(t, forced.ID)

		st := m.accepts(t, "POST", "/v1/clusters/live/shards/"+lc.id[lc.m2]+"/replicas", reps(f1, f2))
		if st.Kind != raftstore.OpAddReplicas || st.Request.Master != lc.m2 || fmt.Sprint(st.Request.Nodes) != fmt.Sprint([]string{f1, f2}) {
			t.Errorf("operation %+v", st)
		}
		if got, want := stepKinds(st.Plan), "meet,wait_known,replicate,verify"; got != want {
			t.Errorf("plan %s, want %s", got, want)
		}
		want := []raftstore.OpNode{{ID: nodeID(t, f1), Addr: f1, Master: lc.id[lc.m2]}, {ID: nodeID(t, f2), Addr: f2, Master: lc.id[lc.m2]}}
		if jsonOf(t, st.Nodes) != jsonOf(t, want) {
			t.Errorf("nodes %+v, want %+v", st.Nodes, want)
		}
		m.endOperation(t, st.ID)
	})

	t.Run("remove", func(t *testing.T) {
		target := "/v1/clusters/live/shards/" + lc.m1 + "/replicas"
		m.refusesAll(t, "DELETE", target, []refusal{
			{"no replicas", `{}`, 400, "replicas must list at least one address or id"},
			{"empty list", reps(), 400, "replicas must list at least one address or id"},
			{"not a list", `{"replicas":{}}`, 400, "cannot unmarshal object"},
			{"not a replica of the master", reps(f1), 404, `replicas[0]: "` + f1 + `" is not a replica of ` + lc.m1},
			{"the master itself", reps(lc.r1, lc.m1), 404, `replicas[1]: "` + lc.m1 + `" is not a replica of ` + lc.m1},
		})
		m.rejectsBadBodies(t, "DELETE", target, reps(lc.r1), true)
		m.refuses(t, "DELETE", "/v1/clusters/live/shards/"+lc.m2+"/replicas", reps(lc.r1), 404, `replicas[0]: "`+lc.r1+`" is not a replica of `+lc.m2)
		m.refuses(t, "DELETE", "/v1/clusters/nope/shards/"+lc.m1+"/replicas", reps(lc.r1), 404, `cluster "nope"`)
		m.refuses(t, "DELETE", "/v1/clusters/busy/shards/10.0.5.1:7000/replicas", reps("10.0.5.2:7000"), 409, "operation "+busy.ID+" (add_shard) is running on cluster busy")
		m.refuses(t, "DELETE", "/v1/clusters/dead/shards/"+dead+"/replicas", reps(refused), 409, "cluster dead: no node answers CLUSTER NODES")
		m.refuses(t, "DELETE", "/v1/clusters/live/shards/10.0.9.9:7000/replicas", reps(lc.r1), 404, `no master of cluster live has id or address "10.0.9.9:7000"`)
		closeSlot := lc.openSlot(t)
		m.refuses(t, "DELETE", target, reps(lc.r1), 409, "cluster live is not healthy (slot 0 is migrating on "+lc.m1+")")
		forced := m.accepts(t, "DELETE", target, jsonOf(t, ReplicasRequest{Replicas: []string{lc.r1}, Force: true}))
		closeSlot()
		m.endOperation(t, forced.ID)

		for _, name := range []string{lc.r1, lc.id[lc.r1]} {
			st := m.accepts(t, "DELETE", target, reps(name))
			if st.Kind != raftstore.OpRemoveReplicas || st.Request.Master != lc.m1 || fmt.Sprint(st.Request.Nodes) != fmt.Sprint([]string{lc.r1}) {
				t.Errorf("operation %+v", st)
			}
			if got, want := stepKinds(st.Plan), "forget,verify_gone"; got != want {
				t.Errorf("plan %s, want %s", got, want)
			}
			if want := []raftstore.OpNode{{ID: lc.id[lc.r1], Addr: lc.r1, Master: lc.id[lc.m1]}}; jsonOf(t, st.Nodes) != jsonOf(t, want) {
				t.Errorf("nodes %+v, want %+v", st.Nodes, want)
			}
			m.endOperation(t, st.ID)
		}
	})
}

// Rebalance.

func TestAPIRebalance(t *testing.T) {
	m := newLeader(t, apiToken)
	lc := startOpCluster(t)
	dead := refusedAddrs(t, 1)[0]
	m.ensureClusters(t, raftstore.ClusterSpec{Name: "live", Seeds: lc.addrs()}, raftstore.ClusterSpec{Name: "dead", Seeds: []string{dead}})
	const target = "/v1/clusters/live/rebalance"
	id1, id2 := lc.id[lc.m1], lc.id[lc.m2]

	m.refusesAll(t, "POST", target, []refusal{
		{"negative threshold", `{"threshold_pct":-1}`, 400, "threshold_pct -1 must be from 0 to 100"},
		{"threshold over 100", `{"threshold_pct":100.5}`, 400, "threshold_pct 100.5 must be from 0 to 100"},
		{"negative weight", `{"weights":{"` + lc.m1 + `":-0.5}}`, 400, "weights[" + lc.m1 + "]: -0.5 must be a number >= 0"},
		{"weight of a replica", `{"weights":{"` + lc.r1 + `":2}}`, 400, `weights: "` + lc.r1 + `" is not a working master of cluster live`},
		{"weight of a stranger", `{"weights":{"10.0.9.9:7000":2}}`, 400, `weights: "10.0.9.9:7000" is not a working master of cluster live`},
		{"every weight zero", `{"weights":{"` + lc.m1 + `":0,"` + id2 + `":0}}`, 400, "all weights are zero"},
		{"weight too large for a number", `{"weights":{"` + lc.m1 + `":1e999}}`, 400, "body"},
		{"weight a string", `{"weights":{"` + lc.m1 + `":"2"}}`, 400, "cannot unmarshal string"},
		{"threshold a string", `{"threshold_pct":"2"}`, 400, "cannot unmarshal string"},
		{"dry_run a number", `{"dry_run":1}`, 400, "cannot unmarshal number"},
	})
	m.rejectsBadBodies(t, "POST", target, `{"dry_run":true}`, false)
	m.refuses(t, "POST", "/v1/clusters/nope/rebalance", "", 404, `cluster "nope"`)
	m.refuses(t, "POST", "/v1/clusters/dead/rebalance", "", 409, "cluster dead: no node answers CLUSTER NODES")

	t.Run("NaN and infinite weights", func(t *testing.T) {
		// JSON has no NaN: planRebalance is asked directly, with the live view.
		l, err := m.s.readLive(t.Context(), lc.addrs())
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
			_, _, err := planRebalance(l, "live", RebalanceRequest{Weights: map[string]float64{lc.m1: w}})
			if code, _ := statusOf(err); code != 400 || err == nil || !strings.Contains(err.Error(), "weights["+lc.m1+"]: "+fmt.Sprint(w)) {
				t.Errorf("weight %v: %d %v", w, code, err)
			}
		}
		nan := math.NaN()
		_, _, err = planRebalance(l, "live", RebalanceRequest{ThresholdPct: &nan})
		if code, _ := statusOf(err); code != 400 || !strings.Contains(err.Error(), "threshold_pct NaN") {
			t.Errorf("threshold NaN: %d %v", code, err)
		}
	})

	t.Run("balanced: nothing to do", func(t *testing.T) {
		for _, b := range []string{"", `{}`, `null`, `{"dry_run":true}`} {
			before := m.opState(t)
			var p RebalancePlan
			m.call("POST", target, b).expect(t, 200).into(t, &p)
			if !p.Balanced || p.SlotsToMove != 0 || len(p.Moves) != 0 || p.Moves == nil || p.ThresholdPc != 2 || len(p.Problems) != 0 ||
				p.Current[id1] != 8192 || p.Current[id2] != 8192 || p.Targets[id1] != 8192 || p.Addrs[id1] != lc.m1 || p.Addrs[id2] != lc.m2 {
				t.Errorf("body %q: plan %+v", b, p)
			}
			if m.opState(t) != before {
				t.Errorf("body %q: a rebalance with nothing to do changed the state", b)
			}
		}
	})

	weighted := `{"weights":{"` + lc.m2 + `":3},"threshold_pct":0}`
	t.Run("dry run", func(t *testing.T) {
		before := m.opState(t)
		var p RebalancePlan
		m.call("POST", target, `{"weights":{"`+lc.m2+`":3},"threshold_pct":0,"dry_run":true}`).expect(t, 200).into(t, &p)
		want := []raftstore.OpMove{{From: id1, FromAddr: lc.m1, To: id2, ToAddr: lc.m2, Slots: "4096-8191", Count: 4096}}
		if p.Balanced || p.SlotsToMove != 4096 || jsonOf(t, p.Moves) != jsonOf(t, want) || p.Targets[id1] != 4096 || p.Targets[id2] != 12288 ||
			p.Weights[id2] != 3 || p.ThresholdPc != 0 {
			t.Errorf("plan %+v", p)
		}
		if m.opState(t) != before {
			t.Error("a dry run changed the state")
		}
	})

	t.Run("unhealthy", func(t *testing.T) {
		closeSlot := lc.openSlot(t)
		defer closeSlot()
		m.refuses(t, "POST", target, weighted, 409, "cluster live is not healthy (slot 0 is migrating on "+lc.m1+"); fix it first or pass force")
		var p RebalancePlan
		m.call("POST", target, `{"weights":{"`+lc.m2+`":3},"dry_run":true}`).expect(t, 200).into(t, &p)
		if len(p.Problems) != 1 || p.Problems[0] != "slot 0 is migrating on "+lc.m1 {
			t.Errorf("a dry run should list the problems: %+v", p.Problems)
		}
		forced := m.accepts(t, "POST", target, `{"weights":{"`+lc.m2+`":3},"force":true}`)
		if !forced.Request.Force {
			t.Errorf("forced request %+v", forced.Request)
		}
		m.endOperation(t, forced.ID)
	})

	t.Run("accepted", func(t *testing.T) {
		st := m.accepts(t, "POST", target, weighted)
		if st.Kind != raftstore.OpRebalance || st.Request.Weights[lc.m2] != 3 || st.Request.ThresholdPct != 0 || st.Request.Force {
			t.Errorf("operation %+v", st)
		}
		if got, want := stepKinds(st.Plan), "migrate,verify"; got != want {
			t.Fatalf("plan %s, want %s", got, want)
		}
		if n := movedSlots(t, st.Plan[0]); n != 4096 {
			t.Errorf("%d slots move, want 4096", n)
		}
		m.refuses(t, "POST", target, weighted, 409, "operation "+st.ID+" (rebalance) is running on cluster live; wait for it or cancel it")
		// A dry run is still answered while an operation runs.
		m.call("POST", target, `{"dry_run":true}`).expect(t, 200)
		m.endOperation(t, st.ID)
	})
}

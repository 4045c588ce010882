package cluster

import (
	"errors"
	"reflect"
	"testing"
)

func ids(nodes []Node) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.ID)
	}
	return out
}

type shardSummary struct {
	Master   string
	Replicas []string
	Slots    string
}

func summarize(t *Topology) []shardSummary {
	var out []shardSummary
	for _, sh := range t.Shards {
		out = append(out, shardSummary{sh.Master.ID, ids(sh.Replicas), FormatSlots(sh.Slots)})
	}
	return out
}

func TestTopologyRealViews(t *testing.T) {
	type want struct {
		myself        string
		shards        []shardSummary
		coverage      string
		failedSlots   string
		open          []OpenSlot
		noReplica     []string
		failed        []string
		noAddr        []string
		orphans       []string
		owners        map[int]string // slot -> owner ID, "" none
		nodes         int
		checkFailFlag bool
	}
	steadyShards := []shardSummary{
		{id17714, []string{id17717}, "0-5460"},
		{id17715, []string{id17718}, "5461-10922"},
		{id17716, []string{id17719}, "10923-16383"},
	}
	movedShards := []shardSummary{
		{id17714, []string{id17717}, "0-99,101-5460"},
		{id17715, []string{id17718}, "100,5461-10922"},
		{id17716, []string{id17719}, "10923-16383"},
	}
	afterFailover := []shardSummary{
		{id17714, []string{id17717}, "0-99,101-5460"},
		{id17715, []string{id17718}, "100,5461-10922"},
		{id17719, nil, "10923-16383"},
		{id17716, nil, ""},
	}
	rejoined := []shardSummary{
		{id17714, []string{id17717}, "0-99,101-5460"},
		{id17715, []string{id17718}, "100,5461-10922"},
		{id17719, []string{id17716}, "10923-16383"},
	}
	moves := []OpenSlot{{100, id17714, id17715}, {101, id17714, id17715}, {6000, id17715, id17714}}
	tests := []struct {
		fixture string
		want    want
	}{
		{"steady/nodes-17714.txt", want{myself: id17714, shards: steadyShards, nodes: 6,
			owners: map[int]string{0: id17714, KeySlot("foo"): id17716, KeySlot("bar"): id17714, 16383: id17716}}},
		{"steady/nodes-17718.txt", want{myself: id17718, shards: steadyShards, nodes: 6}},
		{"open-slots/nodes-17714.txt", want{myself: id17714, shards: steadyShards, open: moves, nodes: 6}},
		{"open-slots/nodes-17715.txt", want{myself: id17715, shards: steadyShards, open: moves, nodes: 6}},
		{"open-slots/nodes-17716.txt", want{myself: id17716, shards: steadyShards, nodes: 6}},
		{"moved-slot/nodes-17719.txt", want{myself: id17719, shards: movedShards, nodes: 6,
			owners: map[int]string{99: id17714, 100: id17715, 101: id17714}}},
		{"pfail/nodes-17715.txt", want{myself: id17715, shards: movedShards, failed: []string{id17716}, nodes: 6}},
		{"pfail/nodes-17714.txt", want{myself: id17714, shards: movedShards, nodes: 6}},
		{"failover/nodes-17714.txt", want{myself: id17714, shards: afterFailover, nodes: 6,
			noReplica: []string{id17719}, failed: []string{id17716}, checkFailFlag: true}},
		{"rejoined/nodes-17716.txt", want{myself: id17716, shards: rejoined, nodes: 6}},
		{"noaddr/nodes-17714.txt", want{myself: id17714, shards: rejoined, nodes: 6,
			noReplica: []string{id17715}, noAddr: []string{id17718}}},
		{"noaddr-later/nodes-17719.txt", want{myself: id17719, shards: rejoined, nodes: 6,
			noReplica: []string{id17715}, noAddr: []string{id17718}}},
		{"master-down/nodes-17714.txt", want{myself: id17714, shards: rejoined, nodes: 6,
			failedSlots: "100,5461-10922", noReplica: []string{id17715}, failed: []string{id17715},
			noAddr: []string{id17718}, checkFailFlag: true}},
		{"handshake/nodes-17714.txt", want{myself: id17714, shards: rejoined, nodes: 7}},
		{"fresh-node/nodes-17718.txt", want{myself: "96aeb6fabd0024c446f60f8f8725f254825a8d3c", nodes: 1, coverage: "0-16383",
			shards: []shardSummary{{"96aeb6fabd0024c446f60f8f8725f254825a8d3c", nil, ""}}}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			topo := topologyFixture(t, tt.fixture)
			w := tt.want
			if topo.Myself != w.myself {
				t.Errorf("Myself = %s, want %s", topo.Myself, w.myself)
			}
			if len(topo.Nodes) != w.nodes {
				t.Errorf("%d nodes, want %d", len(topo.Nodes), w.nodes)
			}
			if got := summarize(topo); !reflect.DeepEqual(got, w.shards) {
				t.Errorf("shards\n got %v\nwant %v", got, w.shards)
			}
			if got := FormatSlots(topo.Coverage()); got != w.coverage {
				t.Errorf("Coverage() = %q, want %q", got, w.coverage)
			}
			if got := FormatSlots(topo.FailedSlots()); got != w.failedSlots {
				t.Errorf("FailedSlots() = %q, want %q", got, w.failedSlots)
			}
			if got := topo.OpenSlots(); !reflect.DeepEqual(got, w.open) {
				t.Errorf("OpenSlots() = %v, want %v", got, w.open)
			}
			if got := ids(topo.MastersWithoutReplica()); !reflect.DeepEqual(got, w.noReplica) {
				t.Errorf("MastersWithoutReplica() = %v, want %v", got, w.noReplica)
			}
			failed := topo.FailedNodes()
			if got := ids(failed); !reflect.DeepEqual(got, w.failed) {
				t.Errorf("FailedNodes() = %v, want %v", got, w.failed)
			}
			for _, n := range failed {
				if w.checkFailFlag && !n.Flags.Fail {
					t.Errorf("%s flagged %s, want fail", n.ID, n.Flags)
				}
			}
			if got := ids(topo.NoAddrNodes()); !reflect.DeepEqual(got, w.noAddr) {
				t.Errorf("NoAddrNodes() = %v, want %v", got, w.noAddr)
			}
			if got := ids(topo.Orphans); !reflect.DeepEqual(got, w.orphans) {
				t.Errorf("Orphans = %v, want %v", got, w.orphans)
			}
			for slot, id := range w.owners {
				n, ok := topo.Owner(slot)
				if n.ID != id || ok != (id != "") {
					t.Errorf("Owner(%d) = %s, %v; want %s", slot, n.ID, ok, id)
				}
			}
		})
	}
}

// The noaddr-later views were taken 20 s after the node lost its address,
// with a 3 s node timeout: no view flags it fail? or fail.
func TestNoAddrNodeIsNeverFlaggedFailing(t *testing.T) {
	for name, view := range viewsFixture(t, "noaddr-later") {
		for _, n := range view {
			if n.Flags.NoAddr && n.Flags.Failing() {
				t.Errorf("%s flags the noaddr node %s", name, n.Flags)
			}
		}
	}
}

func TestTopologyHandBuilt(t *testing.T) {
	a, b, c, d := hid('a'), hid('b'), hid('c'), hid('d')
	nodes, err := ParseNodes(
		a + " 10.0.0.1:6379@16379 myself,master - 0 0 1 connected 0-8000\n" +
			b + " 10.0.0.2:6379@16379 master - 0 0 2 connected 8001-9000 10000-16383\n" +
			c + " 10.0.0.3:6379@16379 slave,fail? " + a + " 0 0 1 connected\n" +
			d + " 10.0.0.4:6379@16379 slave " + hid('e') + " 0 0 5 connected\n")
	if err != nil {
		t.Fatal(err)
	}
	topo, err := NewTopology(nodes)
	if err != nil {
		t.Fatal(err)
	}
	if got := FormatSlots(topo.Coverage()); got != "9001-9999" {
		t.Errorf("Coverage() = %q", got)
	}
	if got := ids(topo.MastersWithoutReplica()); !reflect.DeepEqual(got, []string{a, b}) {
		t.Errorf("MastersWithoutReplica() = %v (a's only replica is fail?)", got)
	}
	if got := ids(topo.Orphans); !reflect.DeepEqual(got, []string{d}) {
		t.Errorf("Orphans = %v", got)
	}
	if _, ok := topo.Owner(9500); ok {
		t.Error("slot 9500 has no owner")
	}
	if _, ok := topo.Owner(-1); ok {
		t.Error("slot -1 has an owner")
	}
	if _, ok := topo.Owner(SlotCount); ok {
		t.Error("slot 16384 has an owner")
	}
	if _, ok := topo.Node(hid('e')); ok {
		t.Error("node e is not in the view")
	}
}

func TestNewTopologyInconsistent(t *testing.T) {
	a, b := hid('a'), hid('b')
	node := func(id, flags string, slots ...SlotRange) Node {
		n := Node{ID: id, IP: "127.0.0.1", Port: 7000, Slots: slots}
		n.Flags, _ = parseFlags(flags)
		return n
	}
	tests := []struct {
		name  string
		nodes []Node
	}{
		{"same id twice", []Node{node(a, "master"), node(a, "master")}},
		{"two myself", []Node{node(a, "myself,master"), node(b, "myself,master")}},
		{"slot served twice", []Node{node(a, "master", SlotRange{0, 10}), node(b, "master", SlotRange{10, 20})}},
		{"master and slave", []Node{node(a, "master,slave")}},
		{"replica with slots", []Node{node(a, "slave", SlotRange{0, 0})}},
		{"slot out of range", []Node{node(a, "master", SlotRange{16000, 16384})}},
		{"negative slot", []Node{node(a, "master", SlotRange{-1, 3})}},
		{"range reversed", []Node{node(a, "master", SlotRange{3, 1})}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewTopology(tt.nodes); !errors.Is(err, ErrInconsistent) {
				t.Errorf("error %v, want ErrInconsistent", err)
			}
		})
	}
	if topo, err := NewTopology(nil); err != nil || topo.Myself != "" || len(topo.Coverage()) != 1 {
		t.Errorf("empty view: %v, %v", topo, err)
	}
}

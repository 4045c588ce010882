package cluster

import (
	"errors"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// shardReply builds one CLUSTER SHARDS entry the way go-redis returns it
// over RESP2: a flat key/value list.
func shardReply(slots []int64, nodes ...[]any) []any {
	s := make([]any, len(slots))
	for i, v := range slots {
		s[i] = v
	}
	ns := make([]any, len(nodes))
	for i, n := range nodes {
		ns[i] = n
	}
	return []any{"slots", s, "nodes", ns}
}

// nodeReply builds a node of a CLUSTER SHARDS entry with the keys in the
// order Redis 7.0 sends them; hostname only when not "".
func nodeReply(id string, port int64, ip, hostname, role string, offset int64, health string) []any {
	n := []any{"id", id, "port", port, "ip", ip, "endpoint", ip}
	if hostname != "" {
		n = append(n, "hostname", hostname)
	}
	return append(n, "role", role, "replication-offset", offset, "health", health)
}

// toRESP3 turns flat key/value lists (RESP2 shape) into map[any]any (the
// RESP3 shape go-redis returns), recursively, leaving the slots list alone.
func toRESP3(v any) any {
	switch x := v.(type) {
	case []any:
		if len(x) > 0 {
			if _, isKey := x[0].(string); isKey && len(x)%2 == 0 {
				m := map[any]any{}
				for i := 0; i < len(x); i += 2 {
					m[x[i]] = toRESP3(x[i+1])
				}
				return m
			}
		}
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = toRESP3(e)
		}
		return out
	}
	return v
}

func TestParseShards(t *testing.T) {
	a, b, c, d := hid('a'), hid('b'), hid('c'), hid('d')
	reply := []any{
		shardReply([]int64{0, 99, 101, 5460},
			nodeReply(a, 7000, "127.0.0.1", "node-a.example", "master", 1234, "online"),
			nodeReply(b, 7003, "127.0.0.1", "", "replica", 1234, "online")),
		shardReply([]int64{100, 100, 5461, 16383},
			nodeReply(c, 7001, "127.0.0.1", "", "master", 99, "online"),
			nodeReply(d, 7004, "127.0.0.1", "", "replica", 0, "loading")),
	}
	want := []Shard{{
		Slots: []SlotRange{{0, 99}, {101, 5460}},
		Nodes: []ShardNode{
			{ID: a, Port: 7000, IP: "127.0.0.1", Endpoint: "127.0.0.1", Hostname: "node-a.example", Role: RoleMaster, ReplicationOffset: 1234, Health: HealthOnline},
			{ID: b, Port: 7003, IP: "127.0.0.1", Endpoint: "127.0.0.1", Role: RoleReplica, ReplicationOffset: 1234, Health: HealthOnline},
		},
	}, {
		Slots: []SlotRange{{100, 100}, {5461, 16383}},
		Nodes: []ShardNode{
			{ID: c, Port: 7001, IP: "127.0.0.1", Endpoint: "127.0.0.1", Role: RoleMaster, ReplicationOffset: 99, Health: HealthOnline},
			{ID: d, Port: 7004, IP: "127.0.0.1", Endpoint: "127.0.0.1", Role: RoleReplica, Health: HealthLoading},
		},
	}}
	t.Run("RESP2", func(t *testing.T) {
		got, err := ParseShards(reply)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v, %v\nwant %+v", got, err, want)
		}
		m, ok := got[0].Master()
		if !ok || m.ID != a || m.Addr() != "127.0.0.1:7000" {
			t.Errorf("Master() = %+v, %v", m, ok)
		}
	})
	t.Run("RESP3 maps", func(t *testing.T) {
		got, err := ParseShards(toRESP3(reply))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v, %v\nwant %+v", got, err, want)
		}
	})
	t.Run("map[string]any and int", func(t *testing.T) {
		r := []any{map[string]any{
			"slots": []any{0, 16383},
			"nodes": []any{map[string]any{"id": a, "port": 7000, "ip": "10.0.0.1", "role": "master", "shard-id": "ignored"}},
		}}
		got, err := ParseShards(r)
		wantOne := []Shard{{Slots: []SlotRange{{0, 16383}}, Nodes: []ShardNode{{ID: a, Port: 7000, IP: "10.0.0.1", Role: RoleMaster}}}}
		if err != nil || !reflect.DeepEqual(got, wantOne) {
			t.Fatalf("got %+v, %v", got, err)
		}
	})
	t.Run("TLS only, unknown keys, empty slots, no master", func(t *testing.T) {
		r := []any{
			[]any{"slots", []any{}, "nodes", []any{
				[]any{"id", a, "tls-port", int64(7443), "ip", "::1", "endpoint", "::1", "role", "replica", "replication-offset", int64(5), "health", "fail", "future", []any{"x"}},
			}},
		}
		got, err := ParseShards(r)
		if err != nil {
			t.Fatal(err)
		}
		n := got[0].Nodes[0]
		if len(got[0].Slots) != 0 || n.TLSPort != 7443 || n.Port != 0 || n.Addr() != "[::1]:7443" || n.Health != HealthFail {
			t.Errorf("got %+v", got)
		}
		if _, ok := got[0].Master(); ok {
			t.Error("a shard of one replica has no master")
		}
	})
	t.Run("noaddr node has no port", func(t *testing.T) {
		r := []any{shardReply(nil, []any{"id", a, "ip", "", "endpoint", "", "role", "replica", "replication-offset", int64(0), "health", "loading"})}
		got, err := ParseShards(r)
		if err != nil || got[0].Nodes[0].Addr() != "" {
			t.Errorf("got %+v, %v", got, err)
		}
	})
	t.Run("empty reply", func(t *testing.T) {
		got, err := ParseShards([]any{})
		if err != nil || got != nil {
			t.Errorf("got %v, %v", got, err)
		}
	})
}

func TestParseShardsErrors(t *testing.T) {
	a := hid('a')
	node := func(kv ...any) []any {
		n := []any{"id", a, "port", int64(7000), "ip", "127.0.0.1", "role", "master"}
		for i := 0; i < len(kv); i += 2 {
			replaced := false
			for j := 0; j < len(n); j += 2 {
				if n[j] == kv[i] {
					n[j+1], replaced = kv[i+1], true
				}
			}
			if !replaced {
				n = append(n, kv[i], kv[i+1])
			}
		}
		return n
	}
	one := func(n []any) []any { return []any{shardReply([]int64{0, 16383}, n)} }
	tests := []struct {
		name         string
		reply        any
		where, field string
	}{
		{"nil reply", nil, "", "reply"},
		{"a string", "ERR This instance has cluster support disabled", "", "reply"},
		{"shard not a map", []any{"slots"}, "shard 1", ""},
		{"shard odd list", []any{[]any{"slots", []any{}, "nodes"}}, "shard 1", ""},
		{"key not a string", []any{[]any{int64(1), []any{}}}, "shard 1", "key"},
		{"duplicate key", []any{[]any{"slots", []any{}, "slots", []any{}, "nodes", []any{}}}, "shard 1", "slots"},
		{"slots missing", []any{[]any{"nodes", []any{}}}, "shard 1", "slots"},
		{"slots not a list", []any{[]any{"slots", "0-5", "nodes", []any{}}}, "shard 1", "slots"},
		{"slots odd", []any{shardReply([]int64{0})}, "shard 1", "slots"},
		{"slot a string", []any{[]any{"slots", []any{"0", "5"}, "nodes", []any{}}}, "shard 1", "slots"},
		{"slot too big", []any{shardReply([]int64{0, 16384})}, "shard 1", "slots"},
		{"slot negative", []any{shardReply([]int64{-1, 5})}, "shard 1", "slots"},
		{"slots reversed", []any{shardReply([]int64{9, 5})}, "shard 1", "slots"},
		{"nodes missing", []any{[]any{"slots", []any{}}}, "shard 1", "nodes"},
		{"nodes not a list", []any{[]any{"slots", []any{}, "nodes", int64(3)}}, "shard 1", "nodes"},
		{"node not a map", []any{[]any{"slots", []any{}, "nodes", []any{"x"}}}, "shard 1 node 1", ""},
		{"id missing", []any{shardReply(nil, []any{"role", "master"})}, "shard 1 node 1", "id"},
		{"id not hex", one(node("id", "node-1")), "shard 1 node 1", "id"},
		{"id not a string", one(node("id", int64(1))), "shard 1 node 1", "id"},
		{"port a string", one(node("port", "7000")), "shard 1 node 1", "port"},
		{"port too big", one(node("port", int64(65536))), "shard 1 node 1", "port"},
		{"tls-port negative", one(node("tls-port", int64(-1))), "shard 1 node 1", "tls-port"},
		{"ip a number", one(node("ip", int64(127))), "shard 1 node 1", "ip"},
		{"role missing", []any{shardReply(nil, []any{"id", a})}, "shard 1 node 1", "role"},
		{"role unknown", one(node("role", "slave")), "shard 1 node 1", "role"},
		{"offset a string", one(node("replication-offset", "12")), "shard 1 node 1", "replication-offset"},
		{"health nil", one(node("health", nil)), "shard 1 node 1", "health"},
		{"second shard bad", []any{shardReply(nil), []any{"slots", []any{}, "nodes", []any{[]any{"id"}}}}, "shard 2 node 1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseShards(tt.reply)
			if err == nil {
				t.Fatalf("no error; parsed %+v", got)
			}
			var pe *ParseError
			if !errors.As(err, &pe) || !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not a ParseError wrapping ErrMalformed", err)
			}
			if pe.Where != tt.where || pe.Field != tt.field {
				t.Errorf("error names %q field %q, want %q field %q (%v)", pe.Where, pe.Field, tt.where, tt.field, err)
			}
		})
	}
}

// TestParseShardsRealOutput parses every captured CLUSTER SHARDS reply and,
// where the same node's CLUSTER NODES was captured alongside, checks that
// both describe the same shards.
func TestParseShardsRealOutput(t *testing.T) {
	for _, name := range shardFixtures(t) {
		t.Run(name, func(t *testing.T) {
			shards := shardsFixture(t, name)
			if len(shards) == 0 {
				t.Fatal("no shards")
			}
			for _, sh := range shards {
				if _, ok := sh.Master(); !ok {
					t.Errorf("shard %+v has no master", sh)
				}
			}
			if len(filepath.Base(name)) != len("shards-17714.resp") {
				return // resp3, just-created, endpoint-hostname: no CLUSTER NODES from that moment
			}
			nodesName := strings.Replace(strings.Replace(name, "shards-", "nodes-", 1), ".resp", ".txt", 1)
			compareShardsWithTopology(t, shards, topologyFixture(t, nodesName))
		})
	}
}

func compareShardsWithTopology(t *testing.T, shards []Shard, topo *Topology) {
	t.Helper()
	if len(shards) != len(topo.Shards) {
		t.Fatalf("CLUSTER SHARDS has %d shards, CLUSTER NODES %d", len(shards), len(topo.Shards))
	}
	for _, sh := range shards {
		m, _ := sh.Master()
		var view *ShardView
		for i := range topo.Shards {
			if topo.Shards[i].Master.ID == m.ID {
				view = &topo.Shards[i]
			}
		}
		if view == nil {
			t.Errorf("master %s not a master in CLUSTER NODES", m.ID)
			continue
		}
		if !reflect.DeepEqual(MergeSlots(sh.Slots), view.Slots) {
			t.Errorf("master %s: SHARDS slots %v, NODES slots %v", m.ID, sh.Slots, view.Slots)
		}
		var a, b []string
		for _, n := range sh.Nodes {
			a = append(a, n.ID)
			node, _ := topo.Node(n.ID)
			if (n.Health == HealthFail) != node.Flags.Fail {
				t.Errorf("node %s: health %q but flags %s", n.ID, n.Health, node.Flags)
			}
			if n.IP != node.IP || n.Hostname != node.Hostname || (n.Port != node.Port && !node.Flags.NoAddr) {
				t.Errorf("node %s: SHARDS %s:%d %q, NODES %s:%d %q", n.ID, n.IP, n.Port, n.Hostname, node.IP, node.Port, node.Hostname)
			}
		}
		b = append(b, view.Master.ID)
		for _, r := range view.Replicas {
			b = append(b, r.ID)
		}
		sort.Strings(a)
		sort.Strings(b)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("master %s: SHARDS nodes %v, NODES nodes %v", m.ID, a, b)
		}
	}
}

func TestParseShardsRealDetails(t *testing.T) {
	find := func(shards []Shard, id string) ShardNode {
		for _, sh := range shards {
			for _, n := range sh.Nodes {
				if n.ID == id {
					return n
				}
			}
		}
		t.Fatalf("node %s not in the reply", id)
		return ShardNode{}
	}
	t.Run("RESP3 equals RESP2 in shape after parsing", func(t *testing.T) {
		shards := shardsFixture(t, "steady/shards-17714-resp3.resp")
		if len(shards) != 3 {
			t.Fatalf("%d shards", len(shards))
		}
		if n := find(shards, id17714); n.Role != RoleMaster || n.Port != 17714 || n.Health != HealthOnline {
			t.Errorf("%+v", n)
		}
	})
	t.Run("just created: a healthy replica reported loading", func(t *testing.T) {
		n := find(shardsFixture(t, "steady/shards-17717-just-created.resp"), id17719)
		if n.Health != HealthLoading || n.ReplicationOffset != 0 {
			t.Errorf("%+v", n)
		}
	})
	t.Run("noaddr: no port, empty ip", func(t *testing.T) {
		n := find(shardsFixture(t, "noaddr/shards-17715.resp"), id17718)
		if n.Port != 0 || n.IP != "" || n.Endpoint != "" || n.Addr() != "" || n.Health != HealthLoading {
			t.Errorf("%+v", n)
		}
	})
	t.Run("endpoint ? without hostname", func(t *testing.T) {
		shards := shardsFixture(t, "hostname/shards-17716-endpoint-hostname.resp")
		if n := find(shards, id17716); n.Endpoint != "?" || n.Hostname != "" {
			t.Errorf("%+v", n)
		}
		if n := find(shards, id17714); n.Endpoint != "node-a.warden.test" || n.Hostname != "node-a.warden.test" {
			t.Errorf("%+v", n)
		}
	})
	t.Run("failed master after failover: its own shard, no slots", func(t *testing.T) {
		for _, sh := range shardsFixture(t, "failover/shards-17714.resp") {
			if m, _ := sh.Master(); m.ID == id17716 && (len(sh.Slots) != 0 || m.Health != HealthFail) {
				t.Errorf("%+v", sh)
			}
		}
	})
}

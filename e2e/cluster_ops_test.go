package e2e

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"warden/cluster"
	"warden/config"
)

// Topology operations run by three real watchdogs on real Redis Cluster
// nodes: create a cluster from empty nodes, add a shard and remove it
// again under load, a leader killed in the middle of a reshard, a cancel
// in the middle of one, and requests refused without changing anything.
//
// These tests are long (removing a shard waits out Redis's 60 s ban on
// forgotten nodes) and run under -short too: CI runs them all.

const (
	// opsKeys is how many mixed keys the data tests load.
	opsKeys = 200_000
	// opsEnd bounds an operation that moves a quarter of the data, or
	// that waits out the forget ban window.
	opsEnd = 4 * time.Minute
	// opsWriteEvery paces the background writer.
	opsWriteEvery = 2 * time.Millisecond
	// opsHold is how long a result must keep holding when checked again.
	opsHold = 5 * time.Second
)

// startEmptyNodes starts n empty cluster-mode nodes under dir, killed when
// t ends (their log tails printed first when t failed).
func startEmptyNodes(t *testing.T, dir string, n int) *RedisCluster {
	t.Helper()
	rc, err := StartEmptyNodes(t.Context(), ClusterOptions{Dir: filepath.Join(dir, "empty"), NodeTimeout: clusterNodeTimeout}, n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, r := range rc.Nodes {
				t.Logf("----- redis %s (pid %d, running %v): last 30 lines of %s\n%s", r.Addr, r.Pid(), r.Running(), r.LogPath, Tail(r.LogPath, 30))
			}
		}
		if err := rc.Close(); err != nil {
			t.Errorf("stop the empty nodes: %v", err)
		}
	})
	return rc
}

// startOp begins an operation through w and fails t unless it is
// accepted (202).
func startOp(t *testing.T, w *Warden, method, path string, body any) Operation {
	t.Helper()
	o, err := w.API.StartOperation(t.Context(), method, path, body)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s %s through %s: %s; plan:", method, path, w.ID, o)
	for i, st := range o.Plan {
		t.Logf("  %d. %s: %s", i+1, st.Kind, truncate(st.Detail, 300))
	}
	return o
}

// waitOpState waits until the operation has ended and fails t unless it
// ended in state.
func waitOpState(t *testing.T, ws []*Warden, id, state string, timeout time.Duration) Operation {
	t.Helper()
	o, err := WaitOperation(t.Context(), ws, id, timeout, fmt.Sprintf("operation %s to end %s", id, state), func(o Operation) error {
		if o.State != state {
			return fmt.Errorf("state %s", o.State)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ended after %v: %s", o.Took().Round(time.Millisecond), o)
	return o
}

// waitMidMigration waits until the operation has moved some of its slots
// but not all, and returns it.
func waitMidMigration(t *testing.T, ws []*Warden, id string) Operation {
	t.Helper()
	o, err := WaitOperation(t.Context(), ws, id, opsEnd, fmt.Sprintf("operation %s to have moved some slots but not all", id), func(o Operation) error {
		if o.SlotsMoved == 0 || o.SlotsMoved >= o.SlotsTotal {
			return fmt.Errorf("%d of %d slots moved", o.SlotsMoved, o.SlotsTotal)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%v (a migration too short for the test? load more data)", err)
	}
	return o
}

// topologyOf writes what every node of addrs says of the cluster's
// membership, roles and slots, to compare before and after.
func topologyOf(ctx context.Context, addrs []string) (string, error) {
	var b strings.Builder
	for _, a := range addrs {
		t, err := ClusterTopology(ctx, a)
		if err != nil {
			return "", err
		}
		var lines []string
		for _, n := range t.Nodes {
			lines = append(lines, fmt.Sprintf("%s %s master=%v of=%s slots=%s open=%v%v", short8(n.ID), n.Addr, n.Flags.Master, short8(n.MasterID),
				cluster.FormatSlots(n.Slots), n.Migrating, n.Importing))
		}
		sort.Strings(lines)
		fmt.Fprintf(&b, "%s: %s\n", a, strings.Join(lines, ", "))
	}
	return b.String(), nil
}

// refusal is a request that must be refused and change nothing.
type refusal struct {
	name         string
	method, path string
	body         any
	code         int
	// msg: strings the error message must hold.
	msg []string
}

// opIDs lists the ids of the operations every watchdog of ws knows, once
// they all list the same.
func opIDs(ctx context.Context, ws []*Warden) (string, error) {
	var ids string
	err := WaitFor(ctx, clusterSettle, "every watchdog to list the same operations", func() (bool, error) {
		var seen []string
		for _, w := range ws {
			ops, err := w.API.Operations(ctx)
			if err != nil {
				return false, err
			}
			var l []string
			for _, o := range ops {
				l = append(l, o.ID)
			}
			seen = append(seen, fmt.Sprint(l))
		}
		for _, x := range seen[1:] {
			if x != seen[0] {
				return false, fmt.Errorf("they list %v", seen)
			}
		}
		ids = seen[0]
		return true, nil
	})
	return ids, err
}

// expectRefused sends each request through w and checks that it is
// refused with the code and a message naming the problem, that no
// watchdog of ws records an operation and that same (what must not
// change) still gives what it gave before.
func expectRefused(t *testing.T, ws []*Warden, w *Warden, cases []refusal, same func() (string, error)) {
	t.Helper()
	ctx := t.Context()
	for _, c := range cases {
		before, err := same()
		if err != nil {
			t.Fatal(err)
		}
		opsBefore, err := opIDs(ctx, ws)
		if err != nil {
			t.Fatal(err)
		}
		code, err := w.API.Send(ctx, c.method, c.path, c.body, nil)
		var ae *APIError
		switch {
		case err == nil:
			t.Errorf("%s: %s %s answered %d, want %d", c.name, c.method, c.path, code, c.code)
		case !errors.As(err, &ae):
			t.Errorf("%s: %v", c.name, err)
		case ae.HTTPStatus != c.code:
			t.Errorf("%s: %v; want HTTP %d", c.name, err, c.code)
		default:
			for _, m := range c.msg {
				if !strings.Contains(ae.Message, m) {
					t.Errorf("%s: message %q does not name %q", c.name, ae.Message, m)
				}
			}
			t.Logf("%s: HTTP %d %s: %s", c.name, ae.HTTPStatus, ae.Code, ae.Message)
		}
		if opsAfter, err := opIDs(ctx, ws); err != nil {
			t.Fatal(err)
		} else if opsAfter != opsBefore {
			t.Errorf("%s: the watchdogs list operations %s, %s before the request", c.name, opsAfter, opsBefore)
		}
		after, err := same()
		if err != nil {
			t.Fatal(err)
		}
		if after != before {
			t.Errorf("%s changed the nodes:\nbefore:\n%s\nafter:\n%s", c.name, before, after)
		}
	}
}

// waitEven waits until every node of addrs sees masters masters, each
// serving within tolPct percent of an even share of the slots.
func waitEven(t *testing.T, addrs []string, masters int, tolPct float64) {
	t.Helper()
	err := WaitFor(t.Context(), clusterSettle, fmt.Sprintf("every node to see %d masters within %v%% of an even share", masters, tolPct), func() (bool, error) {
		err := Even(t.Context(), addrs, masters, tolPct)
		return err == nil, err
	})
	if err != nil {
		t.Error(err)
	}
}

// holdsFor checks cond again and again for d: polled, and failing at the
// first check that does not hold.
func holdsFor(ctx context.Context, d time.Duration, what string, cond func() error) error {
	end := time.Now().Add(d)
	checks := 0
	for {
		checks++
		if err := cond(); err != nil {
			return fmt.Errorf("%s stopped holding after %d checks: %w", what, checks, err)
		}
		if time.Now().After(end) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// checkMap checks that every node of addrs sees exactly the masters
// asked, each serving its slots with exactly its replicas, and says
// cluster_state:ok.
func checkMap(ctx context.Context, addrs, masters []string, replicas map[string][]string, slots []cluster.SlotRange) error {
	for _, a := range addrs {
		if ok, err := ClusterStateOK(ctx, a); !ok {
			return err
		}
		t, err := ClusterTopology(ctx, a)
		if err != nil {
			return err
		}
		if len(t.Nodes) != len(addrs) || len(t.Shards) != len(masters) {
			return fmt.Errorf("%s knows %d nodes in %d shards, want %d in %d", a, len(t.Nodes), len(t.Shards), len(addrs), len(masters))
		}
		for i, m := range masters {
			var sh *cluster.ShardView
			for j := range t.Shards {
				if t.Shards[j].Master.Addr == m {
					sh = &t.Shards[j]
				}
			}
			if sh == nil {
				return fmt.Errorf("%s does not see %s lead a shard", a, m)
			}
			if got, want := cluster.FormatSlots(sh.Slots), slots[i].String(); got != want {
				return fmt.Errorf("%s sees %s serve %s, want %s", a, m, got, want)
			}
			var got []string
			for _, r := range sh.Replicas {
				got = append(got, r.Addr)
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(replicas[m]))
			if !slices.Equal(got, want) {
				return fmt.Errorf("%s sees replicas %v follow %s, want %v", a, got, m, want)
			}
		}
	}
	return nil
}

// TestClusterOpsCreate: three watchdogs watching no cluster create one
// from six empty nodes, with a replica map redis-cli would not choose.
// Requests that cannot be carried out are refused first, changing
// nothing; once the cluster exists, so are requests against it.
func TestClusterOpsCreate(t *testing.T) {
	// Watchdogs configured with no group and no cluster; the sandbox's one
	// standalone node, watched by nobody, stands for a node not in
	// cluster mode.
	sb := newSandbox(t, true, SandboxOptions{RedisNodes: 1, Configure: func(c *config.Config) { c.Groups = nil }})
	ctx := t.Context()
	empty := startEmptyNodes(t, sb.Dir, 7)
	n := empty.Addrs()
	nodes, keyNode := n[:6], n[6]
	// A node holding a key: it serves every slot a moment (a cluster of
	// one), takes the key, then gives the slots up and keeps the key.
	const key = "left-over"
	if err := clusterDo(ctx, keyNode, "CLUSTER", "ADDSLOTSRANGE", 0, cluster.SlotCount-1); err != nil {
		t.Fatal(err)
	}
	if err := WaitFor(ctx, clusterSettle, "a cluster of one node to take a key", func() (bool, error) {
		err := clusterDo(ctx, keyNode, "SET", key, "v")
		return err == nil, err
	}); err != nil {
		t.Fatal(err)
	}
	if err := clusterDo(ctx, keyNode, "CLUSTER", "DELSLOTSRANGE", 0, cluster.SlotCount-1); err != nil {
		t.Fatal(err)
	}
	// Every call goes to a follower, which forwards it to the leader.
	w := sb.Wardens[1]
	if l, err := WaitForLeader(ctx, sb.Wardens, opsStart); err != nil {
		t.Fatal(err)
	} else if w == l {
		w = sb.Wardens[2]
	}

	masters := nodes[:3]
	// A's replica is the last node, B's and C's the two before it, in
	// reverse: redis-cli would give A the fourth node.
	replicas := map[string][]string{masters[0]: {nodes[5]}, masters[1]: {nodes[4]}, masters[2]: {nodes[3]}}
	req := map[string]any{"name": "made", "masters": masters, "replicas": replicas}
	// with is req with some fields set otherwise: name, value, ...
	with := func(kv ...any) map[string]any {
		out := maps.Clone(req)
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i].(string)] = kv[i+1]
		}
		return out
	}
	// withMaster3 is req with addr as the third master (and no replica
	// of its own).
	withMaster3 := func(addr string) map[string]any {
		return with("masters", []string{masters[0], masters[1], addr}, "replicas", map[string][]string{masters[0]: {nodes[5]}})
	}
	t.Run("RefusedBeforeCreate", func(t *testing.T) {
		untouched := func() (string, error) {
			var b strings.Builder
			for _, a := range nodes {
				if ok, err := Alone(ctx, a); !ok {
					return "", err
				}
			}
			keys, err := sb.Redis[0].DBSize(ctx)
			if err != nil {
				return "", err
			}
			fmt.Fprintf(&b, "standalone node %d keys; ", keys)
			top, err := topologyOf(ctx, []string{keyNode})
			if err != nil {
				return "", err
			}
			kc := NewRedisClient(keyNode, "")
			defer kc.Close()
			v, err := kc.Get(ctx, key).Result()
			fmt.Fprintf(&b, "key node: %s=%q (%v); %s", key, v, err, top)
			if _, err := getCluster(ctx, w, "made"); !IsNotFound(err) {
				return "", fmt.Errorf("GET /v1/clusters/made: %v; want 404", err)
			}
			return b.String(), nil
		}
		noSlot := map[string]string{masters[0]: "0-5000", masters[1]: "5001-10000", masters[2]: "10001-16000"}
		expectRefused(t, sb.Wardens, w, []refusal{
			{name: "malformed JSON", method: "POST", path: "/v1/clusters", body: []byte(`{"name":"made","masters":[`), code: 400, msg: []string{"body"}},
			{name: "an unknown field", method: "POST", path: "/v1/clusters", body: with("replica", replicas), code: 400, msg: []string{`unknown field "replica"`}},
			{name: "two masters", method: "POST", path: "/v1/clusters", body: with("masters", masters[:2]), code: 400, msg: []string{"masters lists 2 nodes", "at least 3 masters"}},
			{name: "slots not all covered", method: "POST", path: "/v1/clusters", body: with("slots", noSlot), code: 400, msg: []string{"slot 16001 is given to no master"}},
			{name: "a node holding keys", method: "POST", path: "/v1/clusters", body: withMaster3(keyNode), code: 409,
				msg: []string{keyNode, "holds 1 keys"}},
			{name: "a node not in cluster mode", method: "POST", path: "/v1/clusters", body: withMaster3(sb.Redis[0].Addr), code: 400,
				msg: []string{sb.Redis[0].Addr, "cluster mode"}},
			{name: "a replica of no master", method: "POST", path: "/v1/clusters", body: with("replicas", map[string][]string{nodes[3]: {nodes[4]}}), code: 400,
				msg: []string{nodes[3], "is not one of masters"}},
		}, untouched)
	})
	if t.Failed() {
		t.FailNow()
	}

	var op Operation
	t.Run("Create", func(t *testing.T) {
		op = startOp(t, w, "POST", "/v1/clusters", req)
		op = waitOpState(t, sb.Wardens, op.ID, OpDone, 2*time.Minute)
		even, err := cluster.EvenSlots(3)
		if err != nil {
			t.Fatal(err)
		}
		if err := WaitFor(ctx, clusterSettle, "every node to see the map asked and say cluster_state:ok", func() (bool, error) {
			err := checkMap(ctx, nodes, masters, replicas, even)
			return err == nil, err
		}); err != nil {
			t.Fatal(err)
		}
		for _, x := range sb.Wardens {
			err := WaitFor(ctx, clusterSettle, fmt.Sprintf("%s to show cluster made", x.ID), func() (bool, error) {
				cs, err := getCluster(ctx, x, "made")
				if err != nil {
					return false, err
				}
				if cs.View == nil || len(cs.View.Shards) != 3 || cs.View.State != "ok" {
					return false, fmt.Errorf("view: %s", cs.View)
				}
				return true, nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("cluster made created in %v: %v", op.Took().Round(time.Millisecond), even)
	})
	if t.Failed() {
		t.FailNow()
	}

	t.Run("RefusedOnCluster", func(t *testing.T) {
		free, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		nobody := Addr(free)
		id, err := NodeID(ctx, masters[0])
		if err != nil {
			t.Fatal(err)
		}
		unknownID := strings.Repeat("0", 40)
		unchanged := func() (string, error) { return topologyOf(ctx, nodes) }
		expectRefused(t, sb.Wardens, w, []refusal{
			{name: "add-shard: nothing listening", method: "POST", path: "/v1/clusters/made/shards", body: map[string]any{"master": nobody}, code: 400,
				msg: []string{nobody, "does not answer"}},
			{name: "add-shard: malformed JSON", method: "POST", path: "/v1/clusters/made/shards", body: []byte(`{"master":}`), code: 400, msg: []string{"body"}},
			{name: "add-shard: a node of the cluster", method: "POST", path: "/v1/clusters/made/shards", body: map[string]any{"master": nodes[3]}, code: 409,
				msg: []string{nodes[3], "already a node of cluster made"}},
			{name: "add-shard: unknown cluster", method: "POST", path: "/v1/clusters/nosuch/shards", body: map[string]any{"master": keyNode}, code: 404,
				msg: []string{"nosuch"}},
			{name: "remove: unknown master id", method: "DELETE", path: "/v1/clusters/made/shards/" + unknownID, code: 404,
				msg: []string{unknownID, "no master of cluster made"}},
			{name: "remove: a replica, not a master", method: "DELETE", path: "/v1/clusters/made/shards/" + nodes[5], code: 404,
				msg: []string{nodes[5], "no master of cluster made"}},
			{name: "rebalance: weight of a non-master", method: "POST", path: "/v1/clusters/made/rebalance", body: map[string]any{"weights": map[string]float64{nodes[5]: 2}}, code: 400,
				msg: []string{nodes[5], "not a working master"}},
			{name: "rebalance: negative weight", method: "POST", path: "/v1/clusters/made/rebalance", body: map[string]any{"weights": map[string]float64{id: -1}}, code: 400,
				msg: []string{"weights[" + id + "]", ">= 0"}},
			{name: "cancel: a finished operation", method: "POST", path: "/v1/operations/" + op.ID + "/cancel", code: 409,
				msg: []string{op.ID, "already done"}},
		}, unchanged)
		// Removing the last master cannot be asked of a cluster of three
		// masters: the cluster needs a majority to run at all.
	})
}

// startLoadedEnv starts a cluster of three shards watched by three
// watchdogs, loads opsKeys mixed keys (values padded to pad bytes), and
// starts two empty nodes to make a shard of.
func startLoadedEnv(t *testing.T, pad int) (*clusterEnv, *RedisCluster) {
	t.Helper()
	e := startClusterEnv(t)
	e.waitView(t, e.ws, clusterStart, "every watchdog to see 3 shards of 6 nodes, each with an up replica", fullView(3, 1))
	extra := startEmptyNodes(t, e.dir, 2)
	c := newClusterClient(e.rc.Addrs())
	defer c.Close()
	began := time.Now()
	if err := LoadMixed(t.Context(), c, 0, opsKeys, pad); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d mixed keys loaded in %v", opsKeys, time.Since(began).Round(time.Millisecond))
	return e, extra
}

// TestClusterOpsAddRemoveShard: 200,000 keys of every type over all
// slots and a writer that never stops; a shard (master and replica) is
// added, then removed. The slots end even, no key is lost or changed (nor
// its TTL), the writer sees no error, the removed nodes are forgotten by
// every node for good and left reset.
func TestClusterOpsAddRemoveShard(t *testing.T) {
	e, extra := startLoadedEnv(t, 0)
	ctx := t.Context()
	all := append(e.rc.Addrs(), extra.Addrs()...)
	wr := StartWriter(ctx, newClusterClient(e.rc.Addrs()), "wr", opsWriteEvery)
	defer wr.Stop()
	var seen WriterStats
	checkWriter := func(stage string) {
		t.Helper()
		st := wr.Stats()
		t.Logf("writer after %s: %d writes acknowledged, %d errors", stage, st.Acked, st.Errors)
		if n := st.Errors - seen.Errors; n > 0 {
			t.Errorf("the writer got %d errors (after its client's own retries) during %s (failed attempts by node: %v; removed nodes %v):\n%s\n...\nthe last: %s",
				n, stage, st.FailedOn, extra.Addrs(), strings.Join(st.First[min(seen.Errors, len(st.First)):], "\n"), st.Last)
		}
		seen = st
		c := newClusterClient(e.rc.Addrs())
		defer c.Close()
		if err := wr.Check(ctx, c); err != nil {
			t.Errorf("after %s: %v", stage, err)
		}
	}
	checkData := func(stage string) {
		t.Helper()
		began := time.Now()
		c := newClusterClient(e.rc.Addrs())
		defer c.Close()
		if err := CheckMixed(ctx, c, 0, opsKeys, 1, 0); err != nil {
			t.Errorf("after %s: %v", stage, err)
		} else {
			t.Logf("after %s: all %d mixed keys read back with their type, value and TTL in %v", stage, opsKeys, time.Since(began).Round(time.Millisecond))
		}
	}

	newMaster, newReplica := extra.Nodes[0].Addr, extra.Nodes[1].Addr
	add := startOp(t, e.ws[1], "POST", "/v1/clusters/main/shards", map[string]any{"master": newMaster, "replicas": []string{newReplica}})
	add = waitOpState(t, e.ws, add.ID, OpDone, opsEnd)
	if err := e.rc.WaitStateOK(ctx, all, clusterSettle); err != nil {
		t.Fatal(err)
	}
	waitEven(t, all, 4, 1)
	if err := NoOpenSlot(ctx, all); err != nil {
		t.Error(err)
	}
	if m, up, err := ReplicaOf(ctx, newReplica); err != nil || m != newMaster || !up {
		t.Errorf("%s replicates %q (link up %v, %v), want %s", newReplica, m, up, err, newMaster)
	}
	t.Logf("add-shard: %v, %d slots and %d keys moved, %.0f keys/s (%.0f bytes/s) over %.1f s of migration",
		add.Took().Round(time.Millisecond), add.SlotsMoved, add.KeysMoved, add.KeysPerSec, add.BytesPerSec, add.MigrateSeconds)
	checkData("add-shard")
	checkWriter("add-shard")

	ids := make([]string, 2)
	for i, a := range []string{newMaster, newReplica} {
		id, err := NodeID(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	rm := startOp(t, e.ws[2], "DELETE", "/v1/clusters/main/shards/"+ids[0], nil)
	rm = waitOpState(t, e.ws, rm.ID, OpDone, opsEnd)
	if rm.Took() < 60*time.Second {
		t.Errorf("remove-shard took %v: less than Redis's 60 s ban window", rm.Took())
	}
	t.Logf("remove-shard: %v, %d slots and %d keys moved", rm.Took().Round(time.Millisecond), rm.SlotsMoved, rm.KeysMoved)
	remaining := e.rc.Addrs()
	// Forgotten for good: no remaining node lists the removed ids or
	// addresses, and the removed nodes stay reset (nothing re-attaches
	// them), now and a while after.
	gone := append(slices.Clone(ids), extra.Addrs()...)
	forgotten := func() error {
		s, err := Listing(ctx, remaining, gone)
		if err == nil && s != "" {
			err = errors.New(s)
		}
		if err != nil {
			return err
		}
		for _, r := range extra.Nodes {
			if !r.Running() {
				return fmt.Errorf("removed node %s is not running", r.Addr)
			}
			if ok, err := Alone(ctx, r.Addr); !ok {
				return fmt.Errorf("removed node %s is not reset: %w", r.Addr, err)
			}
		}
		return nil
	}
	if err := holdsFor(ctx, opsHold, "the removed nodes to stay forgotten and reset", forgotten); err != nil {
		t.Error(err)
	}
	if err := e.rc.WaitStateOK(ctx, remaining, clusterSettle); err != nil {
		t.Fatal(err)
	}
	waitEven(t, remaining, 3, 1)
	if err := NoOpenSlot(ctx, remaining); err != nil {
		t.Error(err)
	}
	checkData("remove-shard")
	wr.Stop()
	checkWriter("remove-shard")
}

// TestClusterOpsLeaderKilledAndCancel shares one cluster and its data
// between a reshard whose leader is killed halfway and a reshard
// cancelled halfway (then finished by a rebalance).
func TestClusterOpsLeaderKilledAndCancel(t *testing.T) {
	// Larger values: the migration lasts long enough to be caught halfway.
	const pad = 64
	e, extra := startLoadedEnv(t, pad)
	ctx := t.Context()
	all := append(e.rc.Addrs(), extra.Addrs()...)
	noneLost := func(stage string) {
		t.Helper()
		n, err := MastersKeys(ctx, all[0])
		if err != nil {
			t.Fatal(err)
		}
		if n != opsKeys {
			t.Errorf("after %s the masters hold %d keys, want %d", stage, n, opsKeys)
		}
		c := newClusterClient(all)
		defer c.Close()
		if err := CheckMixed(ctx, c, 0, opsKeys, 7, pad); err != nil {
			t.Errorf("after %s: %v", stage, err)
		}
	}
	settled := func(stage string) {
		t.Helper()
		if err := NoOpenSlot(ctx, all); err != nil {
			t.Errorf("after %s: %v", stage, err)
		}
		if err := e.rc.WaitStateOK(ctx, all, clusterSettle); err != nil {
			t.Errorf("after %s: %v", stage, err)
		}
	}

	t.Run("LeaderKilledMidReshard", func(t *testing.T) {
		leader, err := WaitForLeader(ctx, e.ws, clusterStart)
		if err != nil {
			t.Fatal(err)
		}
		follower := others(e.ws, leader)[0]
		op := startOp(t, follower, "POST", "/v1/clusters/main/shards", map[string]any{"master": extra.Nodes[0].Addr, "replicas": []string{extra.Nodes[1].Addr}})

		// One operation at a time: the second is refused, naming the first.
		unchanged := func() (string, error) { return "", nil }
		expectRefused(t, e.ws, follower, []refusal{
			{name: "a rebalance during the add-shard", method: "POST", path: "/v1/clusters/main/rebalance", body: map[string]any{}, code: 409,
				msg: []string{op.ID, "is running on cluster main"}},
			{name: "a remove-shard during the add-shard", method: "DELETE", path: "/v1/clusters/main/shards/" + e.rc.Nodes[0].Addr, code: 409,
				msg: []string{op.ID, "is running on cluster main"}},
		}, unchanged)

		mid := waitMidMigration(t, e.ws, op.ID)
		killed, pid := time.Now(), leader.Pid()
		if err := leader.Kill(); err != nil {
			t.Fatal(err)
		}
		t.Logf("SIGKILL to leader %s (pid %d) in the middle: %s", leader.ID, pid, mid)
		survivors := others(e.ws, leader)
		next, err := WaitForLeader(ctx, survivors, clusterSettle)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("new leader %s %v after the kill", next.ID, time.Since(killed).Round(time.Millisecond))
		op = waitOpState(t, survivors, op.ID, OpDone, opsEnd)
		if op.EndedAt.Before(killed) {
			t.Errorf("the operation ended at %v, before the leader was killed at %v", op.EndedAt, killed)
		}
		if log, err := os.ReadFile(next.LogPath); err != nil || !strings.Contains(string(log), "resuming the operation at its cursor") {
			t.Errorf("%s's log does not say it resumed the operation (%v)", next.ID, err)
		}
		settled("the add-shard")
		waitEven(t, all, 4, 1)
		noneLost("the add-shard")
		if err := leader.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := WaitForLeader(ctx, e.ws, clusterSettle); err != nil {
			t.Fatal(err)
		}
	})
	if t.Failed() {
		t.FailNow()
	}

	t.Run("CancelMidRebalance", func(t *testing.T) {
		drained := extra.Nodes[0].Addr
		op := startOp(t, e.ws[0], "POST", "/v1/clusters/main/rebalance", map[string]any{"weights": map[string]float64{drained: 0}})
		mid := waitMidMigration(t, e.ws, op.ID)
		var cancelled Operation
		if code, err := e.ws[1].API.Send(ctx, "POST", "/v1/operations/"+op.ID+"/cancel", nil, &cancelled); err != nil || code != http.StatusAccepted {
			t.Fatalf("cancel: HTTP %d, %v; want 202", code, err)
		}
		t.Logf("cancel asked at %s; answer: %s", mid, cancelled)
		if !cancelled.CancelRequested {
			t.Errorf("the answer to cancel does not say cancel_requested: %s", cancelled)
		}
		op = waitOpState(t, e.ws, op.ID, OpCancelled, opsEnd)
		if op.SlotsMoved == 0 || op.SlotsMoved >= op.SlotsTotal {
			t.Errorf("cancelled with %d of %d slots moved: not in the middle", op.SlotsMoved, op.SlotsTotal)
		}
		settled("the cancel")
		noneLost("the cancel")
		counts, err := SlotsByMaster(ctx, all[0])
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("slots per master after the cancel: %v", counts)

		opsBefore, err := opIDs(ctx, e.ws)
		if err != nil {
			t.Fatal(err)
		}
		var plan RebalancePlan
		if code, err := e.ws[2].API.Send(ctx, "POST", "/v1/clusters/main/rebalance", map[string]any{"dry_run": true}, &plan); err != nil || code != http.StatusOK {
			t.Fatalf("dry run: HTTP %d, %v; want 200", code, err)
		}
		if plan.Balanced || plan.SlotsToMove == 0 {
			t.Fatalf("dry run after the cancel: balanced %v, %d slots to move; want a plan", plan.Balanced, plan.SlotsToMove)
		}
		var moves []string
		for _, m := range plan.Moves {
			moves = append(moves, fmt.Sprintf("%d from %s to %s", m.Count, m.FromAddr, m.ToAddr))
		}
		t.Logf("dry run: %d slots to move (%s), targets %v", plan.SlotsToMove, strings.Join(moves, ", "), plan.Targets)
		if opsAfter, err := opIDs(ctx, e.ws); err != nil || opsAfter != opsBefore {
			t.Errorf("operations %s after a dry run, %s before (%v)", opsAfter, opsBefore, err)
		}
		fin := startOp(t, e.ws[2], "POST", "/v1/clusters/main/rebalance", map[string]any{})
		fin = waitOpState(t, e.ws, fin.ID, OpDone, opsEnd)
		if fin.SlotsMoved != plan.SlotsToMove {
			t.Errorf("the rebalance moved %d slots, the dry run planned %d", fin.SlotsMoved, plan.SlotsToMove)
		}
		settled("the rebalance")
		waitEven(t, all, 4, 2)
		noneLost("the rebalance")
	})
}

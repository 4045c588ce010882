package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"warden/cluster"
	"warden/config"
)

// Redis Cluster under three real watchdogs: six redis-server nodes (three
// masters, three replicas, cluster-node-timeout 1s) created with
// redis-cli, and watchdogs configured with one seed node only.

const (
	clusterName = "main"
	// clusterNodeTimeout is every node's cluster-node-timeout.
	clusterNodeTimeout = time.Second
	// clusterStart bounds the watchdogs' first full view (election, first
	// probes, discovery of the nodes the seed names).
	clusterStart = 30 * time.Second
	// clusterSettle bounds a failover, by the cluster or by warden, and
	// a node's return.
	clusterSettle = 30 * time.Second
)

// clusterEnv is a Redis Cluster and the watchdogs that watch it.
type clusterEnv struct {
	rc      *RedisCluster
	ws      []*Warden
	configs []string
	dir     string
}

// startClusterEnv starts a cluster of 3 masters with 1 replica each and
// three watchdogs whose only seed is the cluster's first node; everything
// is stopped when t ends, with the logs printed first when t failed.
func startClusterEnv(t *testing.T) *clusterEnv {
	t.Helper()
	bin := needWarden(t)
	keep := os.Getenv("WARDEN_E2E_KEEP") == "1"
	dir := t.TempDir()
	if keep {
		d, err := os.MkdirTemp("", "warden-cluster-")
		if err != nil {
			t.Fatal(err)
		}
		dir = d
	}
	began := time.Now()
	e, err := newClusterEnv(t.Context(), bin, dir, "debug")
	if e != nil {
		t.Cleanup(func() {
			for _, w := range e.ws {
				if tail := raceReport(w.LogPath); tail != "" {
					t.Errorf("watchdog %s reported a data race (%s):\n%s", w.ID, w.LogPath, tail)
				}
			}
			if t.Failed() {
				t.Logf("cluster directory %s\n%s", dir, e.logTails(80, 20))
			}
			if err := e.close(); err != nil {
				t.Errorf("stop the cluster and the watchdogs: %v", err)
			}
			if keep {
				t.Logf("kept %s", dir)
			}
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cluster of %d nodes and 3 watchdogs up in %v", len(e.rc.Nodes), time.Since(began).Round(time.Millisecond))
	return e
}

// newClusterEnv starts the cluster and the watchdogs (logging at
// logLevel) under dir. On error it returns what it started, if anything,
// for the caller to close.
func newClusterEnv(ctx context.Context, bin, dir, logLevel string) (*clusterEnv, error) {
	rc, err := StartCluster(ctx, ClusterOptions{Dir: filepath.Join(dir, "redis"), NodeTimeout: clusterNodeTimeout})
	if err != nil {
		return nil, err
	}
	e := &clusterEnv{dir: dir, rc: rc}
	return e, e.startWardens(ctx, bin, []string{rc.Nodes[0].Addr}, logLevel)
}

// close kills every watchdog and node it started.
func (e *clusterEnv) close() error {
	var errs []error
	for _, w := range e.ws {
		errs = append(errs, w.Kill())
	}
	if e.rc != nil {
		errs = append(errs, e.rc.Close())
	}
	return errors.Join(errs...)
}

// startWardens writes three watchdog configurations watching the cluster
// through seeds (from config.Default(), validated by config.Parse) and
// starts the watchdogs together.
func (e *clusterEnv) startWardens(ctx context.Context, bin string, seeds []string, logLevel string) error {
	const n = 3
	ports, err := FreePorts(2 * n)
	if err != nil {
		return err
	}
	var boot []string
	for i := 0; i < n; i++ {
		boot = append(boot, fmt.Sprintf("w%d=%s", i+1, Addr(ports[i])))
	}
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("w%d", i+1)
		c := config.Default()
		c.ID = id
		c.DataDir = filepath.Join(e.dir, id)
		c.Raft.Bind = Addr(ports[i])
		c.Raft.Bootstrap = boot
		c.HTTP.Listen = Addr(ports[n+i])
		c.Log.Level = logLevel
		c.Clusters = []config.ClusterConfig{{Name: clusterName, Seeds: seeds}}
		b, err := c.Marshal()
		if err != nil {
			return fmt.Errorf("marshal config of %s: %w", id, err)
		}
		if _, err := config.Parse(b); err != nil {
			return fmt.Errorf("generated config of %s does not parse: %w\n%s", id, err, b)
		}
		p := filepath.Join(e.dir, id+".yaml")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
		e.configs = append(e.configs, p)
	}
	ws := make([]*Warden, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, p := range e.configs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ws[i], errs[i] = StartWarden(ctx, bin, p, filepath.Join(e.dir, fmt.Sprintf("w%d.log", i+1)))
		}()
	}
	wg.Wait()
	for _, w := range ws {
		if w != nil {
			e.ws = append(e.ws, w)
		}
	}
	return errors.Join(errs...)
}

// logTails returns the end of every watchdog's log and every node's log.
func (e *clusterEnv) logTails(wardenLines, redisLines int) string {
	var b strings.Builder
	for _, w := range e.ws {
		fmt.Fprintf(&b, "----- %s (pid %d, running %v): last %d lines above debug of %s\n%s\n", w.ID, w.Pid(), w.Running(), wardenLines, w.LogPath, tailAboveDebug(w.LogPath, wardenLines))
	}
	if e.rc != nil {
		for _, r := range e.rc.Nodes {
			fmt.Fprintf(&b, "----- redis %s (pid %d, running %v): last %d lines of %s\n%s\n", r.Addr, r.Pid(), r.Running(), redisLines, r.LogPath, Tail(r.LogPath, redisLines))
		}
	}
	return b.String()
}

// tailAboveDebug is Tail without the watchdog's debug lines.
func tailAboveDebug(path string, n int) string {
	var keep []string
	for _, l := range strings.Split(Tail(path, 20*n), "\n") {
		if !strings.Contains(l, "\tDEBUG\t") {
			keep = append(keep, l)
		}
	}
	if len(keep) > n {
		keep = keep[len(keep)-n:]
	}
	return strings.Join(keep, "\n")
}

// clusterStatus is GET /v1/clusters/{name}, as docs/api.md names it.
type clusterStatus struct {
	Name         string           `json:"name"`
	Seeds        []string         `json:"seeds"`
	Epoch        uint64           `json:"epoch"`
	View         *clusterView     `json:"view"`
	Recorded     []clusterRecord  `json:"recorded_shards"`
	Failover     *clusterFailover `json:"failover"`
	LastFailover *clusterFailover `json:"last_failover"`
}

type clusterView struct {
	Reporters     []string           `json:"reporters"`
	Nodes         []clusterViewNode  `json:"nodes"`
	Shards        []clusterViewShard `json:"shards"`
	Uncovered     string             `json:"uncovered_slots"`
	OpenSlots     []string           `json:"open_slots"`
	NoReplica     []string           `json:"masters_without_replica"`
	Disagreements []string           `json:"disagreements"`
	NodeTimeoutMs int64              `json:"node_timeout_ms"`
	MastersUp     int                `json:"masters_up"`
	MastersTotal  int                `json:"masters_total"`
	State         string             `json:"state"`
}

type clusterViewNode struct {
	ID       string `json:"id"`
	Addr     string `json:"addr"`
	Role     string `json:"role"`
	MasterID string `json:"master_id"`
	Slots    string `json:"slots"`
	Health   string `json:"health"`
	Offset   int64  `json:"offset"`
}

type clusterViewShard struct {
	MasterID   string   `json:"master_id"`
	MasterAddr string   `json:"master_addr"`
	Slots      string   `json:"slots"`
	SlotCount  int      `json:"slot_count"`
	Health     string   `json:"health"`
	Replicas   []string `json:"replicas"`
	UpReplicas int      `json:"up_replicas"`
}

type clusterRecord struct {
	MasterID   string   `json:"master_id"`
	MasterAddr string   `json:"master_addr"`
	Replicas   []string `json:"replicas"`
	Slots      string   `json:"slots"`
}

type clusterFailover struct {
	ID      string `json:"id"`
	Mode    string `json:"mode"`
	From    string `json:"from"`
	To      string `json:"to"`
	ToID    string `json:"to_id"`
	OK      bool   `json:"ok"`
	Error   string `json:"error"`
	BeganAt string `json:"began_at"`
	EndedAt string `json:"ended_at"`
}

// node returns the view's entry for addr.
func (v *clusterView) node(addr string) (clusterViewNode, bool) {
	for _, n := range v.Nodes {
		if n.Addr == addr {
			return n, true
		}
	}
	return clusterViewNode{}, false
}

// shardOf returns the shard whose master is addr.
func (v *clusterView) shardOf(addr string) (clusterViewShard, bool) {
	for _, s := range v.Shards {
		if s.MasterAddr == addr {
			return s, true
		}
	}
	return clusterViewShard{}, false
}

func (v *clusterView) String() string {
	if v == nil {
		return "no view"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "state %s, masters up %d/%d, reporters %v;", v.State, v.MastersUp, v.MastersTotal, v.Reporters)
	for _, s := range v.Shards {
		fmt.Fprintf(&b, " shard %s %s %s replicas %v (%d up);", s.MasterAddr, s.Slots, s.Health, s.Replicas, s.UpReplicas)
	}
	for _, n := range v.Nodes {
		fmt.Fprintf(&b, " node %s %s %s %s offset %d;", n.Addr, n.Role, n.Health, short8(n.ID), n.Offset)
	}
	if v.Uncovered != "" {
		fmt.Fprintf(&b, " uncovered %s;", v.Uncovered)
	}
	if len(v.OpenSlots) > 0 {
		fmt.Fprintf(&b, " open %v;", v.OpenSlots)
	}
	if len(v.Disagreements) > 0 {
		fmt.Fprintf(&b, " disagreements %v;", v.Disagreements)
	}
	return b.String()
}

func short8(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// getCluster is GET /v1/clusters/{name} on w.
func getCluster(ctx context.Context, w *Warden, name string) (clusterStatus, error) {
	var cs clusterStatus
	err := w.API.get(ctx, "/v1/clusters/"+name, &cs)
	return cs, err
}

// waitView polls every watchdog of ws until each one's view of the
// cluster satisfies ok, and returns the last view seen.
func (e *clusterEnv) waitView(t *testing.T, ws []*Warden, timeout time.Duration, what string, ok func(clusterStatus) error) clusterStatus {
	t.Helper()
	cs, err := waitClusterView(t.Context(), ws, timeout, what, ok)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// waitClusterView is waitView that returns its error.
func waitClusterView(ctx context.Context, ws []*Warden, timeout time.Duration, what string, ok func(clusterStatus) error) (clusterStatus, error) {
	var got clusterStatus
	err := WaitFor(ctx, timeout, what, func() (bool, error) {
		for _, w := range ws {
			cs, err := getCluster(ctx, w, clusterName)
			if err != nil {
				return false, fmt.Errorf("%s: %w", w.ID, err)
			}
			if cs.View == nil {
				return false, fmt.Errorf("%s: no view", w.ID)
			}
			if err := ok(cs); err != nil {
				return false, fmt.Errorf("%s: %w (view: %s)", w.ID, err, cs.View)
			}
			got = cs
		}
		return true, nil
	})
	return got, err
}

// fullView checks that a view shows masters shards and every node up,
// each shard with replicas up replicas, all slots covered, nothing open.
func fullView(masters, replicas int) func(clusterStatus) error {
	return func(cs clusterStatus) error {
		v := cs.View
		if len(v.Shards) != masters || len(v.Nodes) != masters*(1+replicas) {
			return fmt.Errorf("%d shards and %d nodes, want %d and %d", len(v.Shards), len(v.Nodes), masters, masters*(1+replicas))
		}
		for _, n := range v.Nodes {
			if n.Health != "up" {
				return fmt.Errorf("node %s is %s", n.Addr, n.Health)
			}
		}
		for _, s := range v.Shards {
			if s.Health != "up" || s.UpReplicas != replicas || len(s.Replicas) != replicas {
				return fmt.Errorf("shard %s (%s): health %s, replicas %v, %d up", s.MasterAddr, s.Slots, s.Health, s.Replicas, s.UpReplicas)
			}
		}
		if v.Uncovered != "" || len(v.OpenSlots) > 0 || v.State != "ok" {
			return fmt.Errorf("state %s, uncovered %q, open %v", v.State, v.Uncovered, v.OpenSlots)
		}
		return nil
	}
}

// TestClusterDiscovery: watchdogs given one seed find all six nodes;
// `warden cluster status` shows the shards and nodes on every member, and
// `warden cluster failover --shard <short ID>` asked of a follower hands
// the shard over gracefully.
func TestClusterDiscovery(t *testing.T) {
	e := startClusterEnv(t)
	ctx := t.Context()
	cs := e.waitView(t, e.ws, clusterStart, "every watchdog to see 3 shards of 6 nodes, each with an up replica", fullView(3, 1))
	t.Logf("view: %s", cs.View)

	// Every member answers the CLI with the shards and the nodes.
	for i, w := range e.ws {
		res := opsRun(t, w.HTTPAddr, "cluster", "status", clusterName)
		if res.code != 0 {
			t.Fatalf("%s", res)
		}
		if i == 0 {
			t.Logf("%s", res)
		}
		for _, s := range cs.View.Shards {
			line := fmt.Sprintf("%s  %s (%d)", short8(s.MasterID), s.Slots, s.SlotCount)
			if !strings.Contains(res.stdout, line) || !strings.Contains(res.stdout, s.Replicas[0]+" (1/1 up)") {
				t.Errorf("%s: no line for shard %s (%q, replica %s up):\n%s", w.ID, s.MasterAddr, line, s.Replicas[0], res.stdout)
			}
		}
		for _, a := range e.rc.Addrs() {
			if !strings.Contains(res.stdout, a) {
				t.Errorf("%s: node %s missing:\n%s", w.ID, a, res.stdout)
			}
		}
	}
	// The summary line comes from the leader's latest view, which a slow
	// report can leave a vote short for a moment: poll.
	healthy := regexp.MustCompile(`(?m)^main\s+ok\s+3\s+3/3\s+6/6\s+0\s+-$`)
	if err := WaitFor(ctx, clusterSettle, "warden cluster status to list a healthy cluster main", func() (bool, error) {
		res := opsMust(t, e.ws[1].HTTPAddr, "cluster", "status")
		if !healthy.MatchString(res.stdout) {
			return false, fmt.Errorf("status:\n%s", res.stdout)
		}
		return true, nil
	}); err != nil {
		t.Error(err)
	}

	// A graceful failover asked of a follower, the shard named by the
	// start of its master's ID as status prints it.
	shard := cs.View.Shards[0]
	since := lastEventSeq(t, e.ws[0])
	follower := e.ws[0]
	if l, err := LeaderOf(ctx, e.ws); err == nil {
		follower = others(e.ws, l)[0]
	}
	res := opsMust(t, follower.HTTPAddr, "cluster", "failover", clusterName, "--shard", short8(shard.MasterID))
	if !strings.Contains(res.stdout, fmt.Sprintf("graceful failover of %s's shard begun: %s -> %s", clusterName, shard.MasterAddr, shard.Replicas[0])) {
		t.Errorf("unexpected answer:\n%s", res.stdout)
	}
	e.waitEvent(t, since, "cluster_failover_completed", clusterSettle, nil)
	if err := e.rc.Node(shard.MasterAddr).WaitForReplica(ctx, shard.Replicas[0], clusterSettle); err != nil {
		t.Fatal(err)
	}
	cs = e.waitView(t, e.ws, clusterSettle, fmt.Sprintf("every watchdog to see %s lead the shard with replica %s", shard.Replicas[0], shard.MasterAddr), func(cs clusterStatus) error {
		if err := fullView(3, 1)(cs); err != nil {
			return err
		}
		if s, ok := cs.View.shardOf(shard.Replicas[0]); !ok || s.Slots != shard.Slots || s.Replicas[0] != shard.MasterAddr {
			return fmt.Errorf("shard of %s: %+v", shard.Replicas[0], s)
		}
		return nil
	})
	if lf := cs.LastFailover; lf == nil || !lf.OK || lf.Mode != "graceful" || lf.To != shard.Replicas[0] || cs.Epoch != 1 {
		t.Errorf("epoch %d, last failover %+v; want 1 and an ok graceful failover to %s", cs.Epoch, lf, shard.Replicas[0])
	}
	e.noEvent(t, since, "cluster_failover_observed")
}

// lastEventSeq is the sequence number of the newest event w knows.
func lastEventSeq(t *testing.T, w *Warden) uint64 {
	t.Helper()
	p, err := getEvents(t.Context(), w, "limit=1")
	if err != nil {
		t.Fatal(err)
	}
	return p.Last
}

// clusterEvents returns the events of the cluster after seq, from the
// first watchdog of ws that answers.
func clusterEvents(ctx context.Context, ws []*Warden, since uint64) ([]hookEvent, error) {
	var errs []error
	for _, w := range ws {
		p, err := getEvents(ctx, w, fmt.Sprintf("since=%d&limit=10000", since))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", w.ID, err))
			continue
		}
		var out []hookEvent
		for _, ev := range p.Events {
			if ev.Group == clusterName {
				out = append(out, ev)
			}
		}
		return out, nil
	}
	return nil, errors.Join(errs...)
}

// waitEvent polls until an event of kind for the cluster, after since,
// satisfies match (nil: any), and returns it.
func (e *clusterEnv) waitEvent(t *testing.T, since uint64, kind string, timeout time.Duration, match func(hookEvent) bool) hookEvent {
	t.Helper()
	var got hookEvent
	err := WaitFor(t.Context(), timeout, fmt.Sprintf("a %s event of cluster %s", kind, clusterName), func() (bool, error) {
		evs, err := clusterEvents(t.Context(), e.ws, since)
		if err != nil {
			return false, err
		}
		var kinds []string
		for _, ev := range evs {
			if ev.Kind == kind && (match == nil || match(ev)) {
				got = ev
				return true, nil
			}
			kinds = append(kinds, ev.Kind)
		}
		return false, fmt.Errorf("events so far: %v", kinds)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("event %s: %s", got, got.Message)
	return got
}

// noEvent fails t when an event of kind for the cluster follows since.
func (e *clusterEnv) noEvent(t *testing.T, since uint64, kind string) {
	t.Helper()
	evs, err := clusterEvents(t.Context(), e.ws, since)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Kind == kind {
			t.Errorf("unexpected event %s: %s", ev, ev.Message)
		}
	}
}

// waitPromoted polls the running nodes of the cluster until every one of
// them names the nodes at addrs masters serving slots and says
// cluster_state:ok.
func (e *clusterEnv) waitPromoted(t *testing.T, addrs []string, timeout time.Duration) {
	t.Helper()
	if err := waitServing(t.Context(), e.rc, addrs, timeout, PollInterval); err != nil {
		t.Fatal(err)
	}
}

// waitServing is waitPromoted that polls every interval and returns its
// error.
func waitServing(ctx context.Context, rc *RedisCluster, addrs []string, timeout, every time.Duration) error {
	return WaitEvery(ctx, timeout, every, fmt.Sprintf("every running node to see %v serve slots and say cluster_state:ok", addrs), func() (bool, error) {
		return serving(ctx, rc, addrs)
	})
}

// serving reports whether every running node of rc says cluster_state:ok
// and names the nodes at addrs masters serving slots, not failing.
func serving(ctx context.Context, rc *RedisCluster, addrs []string) (bool, error) {
	for _, r := range rc.Running() {
		if ok, err := ClusterStateOK(ctx, r.Addr); !ok {
			return false, err
		}
		topo, err := ClusterTopology(ctx, r.Addr)
		if err != nil {
			return false, err
		}
		for _, a := range addrs {
			served := false
			for _, sh := range topo.Shards {
				if sh.Master.Addr == a && len(sh.Slots) > 0 && !sh.Master.Flags.Failing() {
					served = true
				}
			}
			if !served {
				return false, fmt.Errorf("%s does not see %s serve slots", r.Addr, a)
			}
		}
	}
	return true, nil
}

// TestClusterFailsOverByItself: one master of three is killed; the cluster
// fails its shard over by itself and warden only records it. The old
// master, restarted with its nodes.conf, becomes a replica and the
// watchdogs' views show it so.
func TestClusterFailsOverByItself(t *testing.T) {
	e := startClusterEnv(t)
	ctx := t.Context()
	cs := e.waitView(t, e.ws, clusterStart, "every watchdog to see 3 shards of 6 nodes, each with an up replica", fullView(3, 1))
	old := e.rc.Nodes[1] // a master, not the seed
	s, ok := cs.View.shardOf(old.Addr)
	if !ok || len(s.Replicas) != 1 {
		t.Fatalf("%s leads no shard with one replica: %s", old.Addr, cs.View)
	}
	replica := s.Replicas[0]
	since := lastEventSeq(t, e.ws[0])

	began := time.Now()
	if err := old.Kill(); err != nil {
		t.Fatal(err)
	}
	e.waitPromoted(t, []string{replica}, clusterSettle)
	t.Logf("the cluster failed %s over to %s by itself %v after the kill", old.Addr, replica, time.Since(began).Round(time.Millisecond))
	e.waitEvent(t, since, "cluster_failover_observed", clusterSettle, func(ev hookEvent) bool { return strings.Contains(ev.Message, replica) })

	if err := old.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	cs = e.waitView(t, e.ws, clusterSettle, fmt.Sprintf("every watchdog to see %s as a replica of %s", old.Addr, replica), func(cs clusterStatus) error {
		if err := fullView(3, 1)(cs); err != nil {
			return err
		}
		s, ok := cs.View.shardOf(replica)
		if !ok || len(s.Replicas) != 1 || s.Replicas[0] != old.Addr {
			return fmt.Errorf("no shard of %s with replica %s", replica, old.Addr)
		}
		if n, _ := cs.View.node(old.Addr); n.Role != "replica" {
			return fmt.Errorf("%s is %s", old.Addr, n.Role)
		}
		return nil
	})
	if ri, err := old.Role(ctx); err != nil || ri.Role != "slave" || ri.Master != replica {
		t.Errorf("ROLE on %s: %+v, %v; want a replica of %s", old.Addr, ri, err, replica)
	}
	e.noEvent(t, since, "cluster_failover_started")
	if cs.Epoch != 0 || cs.LastFailover != nil {
		t.Errorf("warden records epoch %d and last failover %+v; it forced nothing", cs.Epoch, cs.LastFailover)
	}
}

// clusterKeys is how many keys the data tests write.
const clusterKeys = 300

func clusterKey(i int) string { return fmt.Sprintf("ck:%d", i) }

// writeClusterKeys writes clusterKeys keys, each on the master that serves
// its slot in via's view, then sends WAIT 1 on each master's connection:
// every write is on a replica before the call returns. It returns how many
// keys each master took.
func writeClusterKeys(ctx context.Context, via string) (map[string]int, error) {
	topo, err := ClusterTopology(ctx, via)
	if err != nil {
		return nil, err
	}
	byMaster := map[string][]string{}
	for i := 0; i < clusterKeys; i++ {
		k := clusterKey(i)
		owner, ok := topo.Owner(cluster.KeySlot(k))
		if !ok {
			return nil, fmt.Errorf("no owner of slot %d (key %s) in %s's view", cluster.KeySlot(k), k, via)
		}
		byMaster[owner.Addr] = append(byMaster[owner.Addr], k)
	}
	counts := map[string]int{}
	for addr, keys := range byMaster {
		c := NewRedisClient(addr, "")
		conn := c.Conn()
		var wait *redis.Cmd
		_, err := conn.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range keys {
				p.Set(ctx, k, "v-"+k, 0)
			}
			wait = p.Do(ctx, "WAIT", 1, 2000)
			return nil
		})
		conn.Close()
		c.Close()
		if err != nil {
			return nil, fmt.Errorf("SET %d keys and WAIT 1 on %s: %w", len(keys), addr, err)
		}
		if n, err := wait.Int64(); err != nil || n < 1 {
			return nil, fmt.Errorf("WAIT 1 on %s after %d SETs: %d replicas acknowledged, %v", addr, len(keys), n, err)
		}
		counts[addr] = len(keys)
	}
	return counts, nil
}

// newClusterClient returns a go-redis cluster client seeded with addrs.
func newClusterClient(addrs []string) *redis.ClusterClient {
	return redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:                    addrs,
		Protocol:                 2,
		DisableIdentity:          true,
		DialTimeout:              time.Second,
		ReadTimeout:              time.Second,
		WriteTimeout:             time.Second,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
}

// checkClusterKeys reads every key writeClusterKeys wrote through a
// cluster client seeded with addrs.
func checkClusterKeys(ctx context.Context, addrs []string) error {
	c := newClusterClient(addrs)
	defer c.Close()
	cmds := make([]*redis.StringCmd, clusterKeys)
	_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range cmds {
			cmds[i] = p.Get(ctx, clusterKey(i))
		}
		return nil
	})
	var missing []string
	for i, cmd := range cmds {
		k := clusterKey(i)
		if v, err := cmd.Result(); err != nil || v != "v-"+k {
			missing = append(missing, fmt.Sprintf("%s (slot %d): %q %v", k, cluster.KeySlot(k), v, err))
		}
	}
	if len(missing) > 0 {
		if len(missing) > 5 {
			missing = append(missing[:5], fmt.Sprintf("and %d more", len(missing)-5))
		}
		return fmt.Errorf("%d of %d keys not read back: %s", len(cmds)-0, clusterKeys, strings.Join(missing, "; "))
	}
	return err
}

// TestClusterMajorityLost: two masters of three are killed, the watchdogs'
// only seed among them. The cluster cannot fail over by itself (no
// majority of masters to vote); warden forces TAKEOVER on a replica, the
// cluster answers again, and every key written before the kill and
// acknowledged by a replica is there.
func TestClusterMajorityLost(t *testing.T) {
	e := startClusterEnv(t)
	ctx := t.Context()
	cs := e.waitView(t, e.ws, clusterStart, "every watchdog to see 3 shards of 6 nodes, each with an up replica", fullView(3, 1))
	counts, err := writeClusterKeys(ctx, e.rc.Nodes[0].Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d keys written, per master: %v", clusterKeys, counts)
	cs = e.waitView(t, e.ws[:1], clusterSettle, "replication offsets in the view", func(cs clusterStatus) error {
		for _, n := range cs.View.Nodes {
			if n.Offset == 0 {
				return fmt.Errorf("node %s offset 0", n.Addr)
			}
		}
		return nil
	})
	t.Logf("view: %s", cs.View)
	if len(counts) != 3 {
		t.Fatalf("the keys went to %d masters, want 3", len(counts))
	}
	victims := []*Redis{e.rc.Nodes[0], e.rc.Nodes[2]} // the watchdogs' only seed among them
	var replicas []string
	for _, v := range victims {
		s, ok := cs.View.shardOf(v.Addr)
		if !ok || len(s.Replicas) != 1 {
			t.Fatalf("%s leads no shard with one replica: %s", v.Addr, cs.View)
		}
		replicas = append(replicas, s.Replicas[0])
	}
	since := lastEventSeq(t, e.ws[0])

	began := time.Now()
	for _, v := range victims {
		if err := v.Kill(); err != nil {
			t.Fatal(err)
		}
	}
	e.waitPromoted(t, replicas, clusterSettle)
	took := time.Since(began)
	t.Logf("SIGKILL of %s and %s to cluster_state:ok on every survivor, %s and %s serving: %v",
		victims[0].Addr, victims[1].Addr, replicas[0], replicas[1], took.Round(time.Millisecond))
	ev := e.waitEvent(t, since, "cluster_failover_started", clusterSettle, func(ev hookEvent) bool { return ev.Details["mode"] == "takeover" })
	if ev.Node != replicas[0] && ev.Node != replicas[1] {
		t.Errorf("takeover on %s, want %s or %s", ev.Node, replicas[0], replicas[1])
	}
	var survivors []string
	for _, r := range e.rc.Running() {
		survivors = append(survivors, r.Addr)
	}
	if err := checkClusterKeys(ctx, survivors); err != nil {
		t.Fatal(err)
	}
	t.Logf("all %d keys read back through a cluster client", clusterKeys)
}

// clusterDo sends one command to the node at addr.
func clusterDo(ctx context.Context, addr string, args ...any) error {
	c := NewRedisClient(addr, "")
	defer c.Close()
	if err := c.Do(ctx, args...).Err(); err != nil {
		return fmt.Errorf("%v on %s: %w", args, addr, err)
	}
	return nil
}

// TestClusterOpenSlot: a slot left half-migrated (MIGRATING on its owner,
// IMPORTING on another master) shows in the view's open slots, and a
// cluster_slot_open event follows once it has lasted the bound (2 × node
// timeout); closed by hand, it leaves the view.
func TestClusterOpenSlot(t *testing.T) {
	e := startClusterEnv(t)
	ctx := t.Context()
	cs := e.waitView(t, e.ws, clusterStart, "every watchdog to see 3 shards of 6 nodes, each with an up replica", fullView(3, 1))
	const slot = 100
	src, dst := slotOwnerAndOther(t, e, cs, slot)
	since := lastEventSeq(t, e.ws[0])
	opened := time.Now()
	if err := clusterDo(ctx, dst.MasterAddr, "CLUSTER", "SETSLOT", slot, "IMPORTING", src.ID); err != nil {
		t.Fatal(err)
	}
	if err := clusterDo(ctx, src.Addr, "CLUSTER", "SETSLOT", slot, "MIGRATING", dst.MasterID); err != nil {
		t.Fatal(err)
	}
	onBoth := func(cs clusterStatus) error {
		var on []string
		for _, o := range cs.View.OpenSlots {
			if strings.HasPrefix(o, fmt.Sprintf("%d on ", slot)) {
				on = append(on, o)
			}
		}
		if len(on) != 2 || !strings.Contains(strings.Join(on, " "), src.Addr) || !strings.Contains(strings.Join(on, " "), dst.MasterAddr) {
			return fmt.Errorf("open slots %v, want slot %d on %s and on %s", cs.View.OpenSlots, slot, src.Addr, dst.MasterAddr)
		}
		return nil
	}
	cs = e.waitView(t, e.ws, clusterSettle, fmt.Sprintf("every watchdog to report slot %d open on both masters", slot), onBoth)
	t.Logf("open slots in the view after %v: %v", time.Since(opened).Round(time.Millisecond), cs.View.OpenSlots)
	ev := e.waitEvent(t, since, "cluster_slot_open", clusterSettle, func(ev hookEvent) bool { return strings.Contains(ev.Message, fmt.Sprintf("%d on ", slot)) })
	bound := 2 * clusterNodeTimeout
	if after := ev.At.Sub(opened); after < bound {
		t.Errorf("cluster_slot_open %v after the slot was opened, before the bound %v", after, bound)
	} else {
		t.Logf("cluster_slot_open %v after the slot was opened (bound %v)", after.Round(time.Millisecond), bound)
	}

	for _, a := range []string{src.Addr, dst.MasterAddr} {
		if err := clusterDo(ctx, a, "CLUSTER", "SETSLOT", slot, "STABLE"); err != nil {
			t.Fatal(err)
		}
	}
	e.waitView(t, e.ws, clusterSettle, "every watchdog to report no open slot", fullView(3, 1))
}

// TestClusterResetMasterReattached: a master is killed and the cluster
// fails its shard over by itself; the node comes back on the same port
// without its nodes.conf (a new ID that knows nobody and serves nothing).
// warden meets it with the cluster and makes it a replica of its old
// shard's new master.
func TestClusterResetMasterReattached(t *testing.T) {
	e := startClusterEnv(t)
	ctx := t.Context()
	cs := e.waitView(t, e.ws, clusterStart, "every watchdog to see 3 shards of 6 nodes, each with an up replica", fullView(3, 1))
	old := e.rc.Nodes[1]
	s, ok := cs.View.shardOf(old.Addr)
	if !ok || len(s.Replicas) != 1 {
		t.Fatalf("%s leads no shard with one replica: %s", old.Addr, cs.View)
	}
	replica := s.Replicas[0]
	since := lastEventSeq(t, e.ws[0])
	if err := old.Kill(); err != nil {
		t.Fatal(err)
	}
	e.waitPromoted(t, []string{replica}, clusterSettle)
	e.waitEvent(t, since, "cluster_failover_observed", clusterSettle, func(ev hookEvent) bool { return strings.Contains(ev.Message, replica) })

	restarted := time.Now()
	if err := e.rc.RestartEmpty(ctx, old); err != nil {
		t.Fatal(err)
	}
	topo, err := ClusterTopology(ctx, old.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if len(topo.Nodes) != 1 {
		t.Fatalf("the restarted node knows %d nodes, want only itself", len(topo.Nodes))
	}
	newID := topo.Myself
	ev := e.waitEvent(t, since, "cluster_node_reattached", clusterSettle, func(ev hookEvent) bool { return ev.Node == old.Addr })
	t.Logf("re-attached %v after the restart: %s", ev.At.Sub(restarted).Round(time.Millisecond), ev.Message)
	if err := old.WaitForReplica(ctx, replica, clusterSettle); err != nil {
		t.Fatal(err)
	}
	cs = e.waitView(t, e.ws, clusterSettle, fmt.Sprintf("every watchdog to see %s (new ID %s) as the replica of %s", old.Addr, short8(newID), replica), func(cs clusterStatus) error {
		n, ok := cs.View.node(old.Addr)
		if !ok || n.ID != newID || n.Role != "replica" || n.Health != "up" {
			return fmt.Errorf("node %s: %+v", old.Addr, n)
		}
		s, ok := cs.View.shardOf(replica)
		if !ok || s.UpReplicas != 1 || len(s.Replicas) != 1 || s.Replicas[0] != old.Addr {
			return fmt.Errorf("shard of %s: %+v", replica, s)
		}
		return nil
	})
	e.noEvent(t, since, "cluster_failover_started")
}

// TestClusterFixClosesOpenSlot: a reshard of one slot stopped halfway
// (marks on both masters, some keys moved, some not) is finished by
// `warden cluster fix`: no mark left, the slot served by the target, and
// every key readable.
func TestClusterFixClosesOpenSlot(t *testing.T) {
	e := startClusterEnv(t)
	ctx := t.Context()
	cs := e.waitView(t, e.ws, clusterStart, "every watchdog to see 3 shards of 6 nodes, each with an up replica", fullView(3, 1))
	const slot = 100
	src, dst := slotOwnerAndOther(t, e, cs, slot)
	// Twenty keys of the slot on its owner.
	var keys []string
	for i := 0; len(keys) < 20; i++ {
		if k := fmt.Sprintf("fix:%d", i); cluster.KeySlot(k) == slot {
			keys = append(keys, k)
		}
	}
	owner := NewRedisClient(src.Addr, "")
	defer owner.Close()
	for _, k := range keys {
		if err := owner.Set(ctx, k, "v-"+k, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// Open the slot and move half of the keys, as an interrupted reshard.
	if err := clusterDo(ctx, dst.MasterAddr, "CLUSTER", "SETSLOT", slot, "IMPORTING", src.ID); err != nil {
		t.Fatal(err)
	}
	if err := clusterDo(ctx, src.Addr, "CLUSTER", "SETSLOT", slot, "MIGRATING", dst.MasterID); err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(dst.MasterAddr, ":")
	args := []any{"MIGRATE", host, port, "", 0, 5000, "KEYS"}
	for _, k := range keys[:10] {
		args = append(args, k)
	}
	if err := clusterDo(ctx, src.Addr, args...); err != nil {
		t.Fatal(err)
	}
	e.waitView(t, e.ws, clusterSettle, "the open slot in the view", func(cs clusterStatus) error {
		if len(cs.View.OpenSlots) != 2 {
			return fmt.Errorf("open slots %v", cs.View.OpenSlots)
		}
		return nil
	})

	res := opsMust(t, e.ws[0].HTTPAddr, "cluster", "fix", clusterName)
	if !strings.Contains(res.stdout, "1 open slots closed") || !strings.Contains(res.stdout, "10 keys moved") {
		t.Fatalf("warden cluster fix:\n%s", res.stdout)
	}
	e.waitView(t, e.ws, clusterSettle, "every watchdog to report no open slot", fullView(3, 1))
	topo, err := ClusterTopology(ctx, e.rc.Nodes[0].Addr)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := topo.Owner(slot); !ok || o.ID != dst.MasterID {
		t.Fatalf("slot %d served by %+v, want %s", slot, o, dst.MasterAddr)
	}
	c := newClusterClient(e.rc.Addrs())
	defer c.Close()
	for _, k := range keys {
		v, err := c.Get(ctx, k).Result()
		if err != nil || v != "v-"+k {
			t.Fatalf("key %s after the fix: %q, %v", k, v, err)
		}
	}
}

// slotOwnerAndOther returns the master serving slot and another shard, to
// move the slot to.
func slotOwnerAndOther(t *testing.T, e *clusterEnv, cs clusterStatus, slot int) (cluster.Node, clusterViewShard) {
	t.Helper()
	topo, err := ClusterTopology(t.Context(), e.rc.Nodes[0].Addr)
	if err != nil {
		t.Fatal(err)
	}
	src, ok := topo.Owner(slot)
	if !ok {
		t.Fatalf("nobody serves slot %d", slot)
	}
	for _, s := range cs.View.Shards {
		if s.MasterID != src.ID {
			return src, s
		}
	}
	t.Fatalf("no shard other than %s's", src.Addr)
	return src, clusterViewShard{}
}

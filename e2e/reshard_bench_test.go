//go:build bench

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"warden/cluster"
)

// reshardBenchCommand reproduces the reshard benchmark.
const reshardBenchCommand = "go test -tags bench -count=1 -timeout 60m -run '^TestReshardBench$' -v ./e2e"

const (
	// reshardKeys is how many keys the cluster holds (WARDEN_BENCH_RESHARD_KEYS).
	reshardKeys = 1_000_000
	// reshardValueLen is every value's length in bytes.
	reshardValueLen = 100
	// reshardNodeTimeoutDefault is every node's cluster-node-timeout unless
	// WARDEN_BENCH_RESHARD_NODE_TIMEOUT says otherwise: long enough that no
	// master is failed over while MIGRATE keeps it busy. It also sets how
	// long a new master waits before it says cluster_state:ok (at most 5 s),
	// a wait both tools spend.
	reshardNodeTimeoutDefault = 5 * time.Second
	// reshardLoadBatch is how many SETs go in one pipeline while loading.
	reshardLoadBatch = 10_000
	// reshardBound bounds one reshard, by either tool.
	reshardBound = 10 * time.Minute
	// reshardPoll is how often the operation's state, and for redis-cli
	// whether every node knows the new node, are polled.
	reshardPoll = 20 * time.Millisecond
	// reshardProbeKeys is how many keys the cluster of the "right away"
	// run holds: enough for every slot to have keys to move.
	reshardProbeKeys = 50_000
	// reshardSample is how many keys are read back after each reshard.
	reshardSample = 5_000
)

// The cases of the benchmark (WARDEN_BENCH_RESHARD_CASES).
const (
	reshardWarden = "warden"
	reshardCLI    = "redis-cli"
	reshardCLI100 = "redis-cli-p100"
)

// TestReshardBench measures, side by side in one run, adding a fourth shard
// to a Redis Cluster of three masters (no replicas, cluster-node-timeout
// 5s, no persistence) that holds 1,000,000 keys of 100 bytes spread over
// every slot:
//
//   - warden: POST /v1/clusters/{name}/shards to one of three watchdogs,
//     timed until GET /v1/operations/{id} says done (meet, wait, migrate,
//     verify);
//   - redis-cli: `redis-cli --cluster add-node`, a polling wait until every
//     node lists the new node and it says cluster_state:ok, then
//     `redis-cli --cluster rebalance --cluster-use-empty-masters`, timed
//     from the start of add-node until rebalance returns;
//   - redis-cli-p100: the same with `--cluster-pipeline 100`.
//
// Every trial gets a fresh cluster; the cases rotate which runs first.
// Keys moved are the new master's DBSIZE at the end. Before the trials, two
// untimed runs on small clusters record what rebalance does when a script
// runs it without the full wait.
//
// Environment: WARDEN_BENCH_TRIALS (default 3), WARDEN_BENCH_RESHARD_KEYS
// (default 1000000), WARDEN_BENCH_RESHARD_CASES (default
// warden,redis-cli,redis-cli-p100), WARDEN_BENCH_OUT_RESHARD (default
// ../BENCHMARKS.md, appended to).
func TestReshardBench(t *testing.T) {
	trials, err := reshardEnvInt("WARDEN_BENCH_TRIALS", 3)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := reshardEnvInt("WARDEN_BENCH_RESHARD_KEYS", reshardKeys)
	if err != nil {
		t.Fatal(err)
	}
	cases := strings.Split(envOr("WARDEN_BENCH_RESHARD_CASES", reshardWarden+","+reshardCLI+","+reshardCLI100), ",")
	var bin string
	for _, c := range cases {
		switch c {
		case reshardWarden:
			bin = needWarden(t)
		case reshardCLI, reshardCLI100:
		default:
			t.Fatalf("WARDEN_BENCH_RESHARD_CASES: unknown case %q (want %s, %s, %s)", c, reshardWarden, reshardCLI, reshardCLI100)
		}
	}
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Fatal(ErrRedisCLIMissing)
	}
	out := envOr("WARDEN_BENCH_OUT_RESHARD", "../BENCHMARKS.md")
	ctx := t.Context()
	loadBefore := reshardLoadAvg()

	var probes [2]string
	for i, entryKnows := range []bool{false, true} {
		if probes[i], err = reshardRightAway(ctx, t.TempDir(), entryKnows); err != nil {
			t.Errorf("rebalance without the wait (entry node knows the new node first: %v): %v", entryKnows, err)
		}
		t.Logf("rebalance without the wait (entry node knows the new node first: %v): %s", entryKnows, probes[i])
	}

	results := map[string][]reshardTrial{}
	failed := map[string]int{}
	for i := 0; i < trials; i++ {
		order := slices.Clone(cases)
		for range i % len(order) { // rotate: no case always runs first
			order = append(order[1:], order[0])
		}
		for pos, c := range order {
			var m reshardTrial
			var err error
			switch c {
			case reshardWarden:
				m, err = reshardByWarden(ctx, bin, t.TempDir(), keys)
			case reshardCLI:
				m, err = reshardByCLI(ctx, t.TempDir(), keys, 0)
			case reshardCLI100:
				m, err = reshardByCLI(ctx, t.TempDir(), keys, 100)
			}
			if err != nil {
				failed[c]++
				t.Errorf("trial %d, %s: %v", i+1, c, err)
				continue
			}
			m.trial, m.position = i+1, pos+1
			results[c] = append(results[c], m)
			t.Logf("trial %d, %s: %s", i+1, c, m.summary())
			t.Logf("trial %d, %s: CPU %v; commands by time inside Redis: %s", i+1, c, m.cpu, m.stats.top(8))
		}
	}
	report := reshardReport(keys, trials, cases, results, failed, probes, [2]string{loadBefore, reshardLoadAvg()})
	t.Logf("\n%s", report)
	if err := reshardAppend(out, report); err != nil {
		t.Fatal(err)
	}
	t.Logf("appended to %s", out)
}

// reshardAppend appends s to the file at path, creating it when missing.
func reshardAppend(path, s string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(s)
	return errors.Join(err, f.Close())
}

// reshardLoadAvg returns the machine's load averages over 1, 5 and 15
// minutes: the benchmark shares the CPUs with whatever else runs.
func reshardLoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], ", ")
}

func reshardEnvInt(key string, def int) (int, error) {
	s := os.Getenv(key)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s=%q: want a positive integer", key, s)
	}
	return n, nil
}

// reshardPhase is one timed part of a reshard.
type reshardPhase struct {
	name string
	took time.Duration
}

func (p reshardPhase) String() string { return fmt.Sprintf("%s %.2f s", p.name, p.took.Seconds()) }

// reshardTrial is one measured reshard.
type reshardTrial struct {
	trial, position int
	keys            int64         // the new master's DBSIZE at the end
	total           time.Duration // the whole operation
	move            time.Duration // the data movement alone: warden's migrate_seconds, redis-cli's rebalance
	phases          []reshardPhase
	slots           []int // slots per master at the end, the new master last
	stats           reshardCmdStats
	cpu             []reshardPhase // CPU time of the processes during the reshard
	notes           []string
}

func (m reshardTrial) rate() float64     { return float64(m.keys) / m.total.Seconds() }
func (m reshardTrial) moveRate() float64 { return float64(m.keys) / m.move.Seconds() }

func (m reshardTrial) phaseText() string {
	var ps []string
	for _, p := range m.phases {
		ps = append(ps, p.String())
	}
	return strings.Join(ps, ", ")
}

func (m reshardTrial) summary() string {
	other := ""
	for _, c := range m.cpu {
		if c.name == "other processes" {
			other = fmt.Sprintf("; other processes' CPU meanwhile %.2f s", c.took.Seconds())
		}
	}
	return fmt.Sprintf("%s keys in %.2f s = %s keys/s (data movement %.2f s = %s keys/s; %s); slots %v%s",
		reshardThousands(m.keys), m.total.Seconds(), reshardThousands(int64(m.rate())),
		m.move.Seconds(), reshardThousands(int64(m.moveRate())), m.phaseText(), m.slots, other)
}

// reshardEnv is a three-master cluster and the empty node to add.
type reshardEnv struct {
	rc    *RedisCluster
	spare *Redis
	keys  int
}

func (e *reshardEnv) close() error {
	var errs []error
	for _, r := range append(slices.Clone(e.rc.Nodes), e.spare) {
		if r != nil {
			errs = append(errs, r.Kill())
		}
	}
	return errors.Join(errs...)
}

// procs returns the processes to account for: the three masters as
// "sources", the fourth as "new master", and this test process.
func (e *reshardEnv) procs() *reshardProcs {
	p := &reshardProcs{}
	for _, r := range e.rc.Nodes {
		p.add("sources", r.Pid())
	}
	p.add("new master", e.spare.Pid())
	p.add("benchmark", os.Getpid())
	return p
}

// all returns the four nodes' addresses, the new node last.
func (e *reshardEnv) all() []string { return append(e.rc.Addrs(), e.spare.Addr) }

// reshardStart starts four cluster-mode nodes, makes the first three a
// cluster of masters without replicas with `redis-cli --cluster create`,
// and loads keys keys into it. The fourth node stays empty and alone.
// On error it returns what it started, if anything, for the caller to close.
func reshardStart(ctx context.Context, dir string, keys int) (*reshardEnv, error) {
	ports, err := FreePorts(4)
	if err != nil {
		return nil, err
	}
	args := []string{
		"--cluster-enabled", "yes",
		"--cluster-node-timeout", strconv.FormatInt(reshardNodeTimeout().Milliseconds(), 10),
		"--cluster-config-file", ClusterConfigFile,
	}
	nodes := make([]*Redis, len(ports))
	errs := make([]error, len(ports))
	var wg sync.WaitGroup
	for i, p := range ports {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nodes[i], errs[i] = StartRedis(ctx, RedisOptions{Port: p, Dir: filepath.Join(dir, fmt.Sprintf("node-%d", p)), Args: args})
		}()
	}
	wg.Wait()
	e := &reshardEnv{rc: &RedisCluster{NodeTimeout: reshardNodeTimeout(), Dir: dir}, spare: nodes[3], keys: keys}
	for _, r := range nodes[:3] {
		if r != nil {
			e.rc.Nodes = append(e.rc.Nodes, r)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return e, err
	}
	create := append([]string{"--cluster", "create"}, e.rc.Addrs()...)
	create = append(create, "--cluster-replicas", "0", "--cluster-yes")
	if out, _, err := reshardRedisCLI(ctx, time.Minute, create...); err != nil {
		return e, fmt.Errorf("redis-cli %s: %w\n%s", strings.Join(create, " "), err, out)
	}
	if err := e.rc.WaitHealthy(ctx, e.rc.Addrs(), time.Minute); err != nil {
		return e, err
	}
	return e, reshardLoad(ctx, e.rc.Nodes[0].Addr, keys)
}

func reshardKey(i int) string { return fmt.Sprintf("key:%07d", i) }

// reshardFiller pads every value to reshardValueLen bytes.
var reshardFiller = strings.Repeat("v", reshardValueLen-8)

// reshardValue is key i's value: its number on 8 bytes, then filler.
func reshardValue(i int) string { return fmt.Sprintf("%08d", i) + reshardFiller }

// reshardClient returns a client for bulk work: long timeouts, no retries.
func reshardClient(addr string) *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr:                     addr,
		Protocol:                 2,
		DisableIdentity:          true,
		DialTimeout:              time.Second,
		ReadTimeout:              30 * time.Second,
		WriteTimeout:             30 * time.Second,
		MaxRetries:               -1,
		PoolSize:                 2,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
}

// reshardLoad writes keys keys, each straight to the master serving its
// slot in via's view, one pipelined connection per master, all masters at
// once; then checks that the masters hold them all.
func reshardLoad(ctx context.Context, via string, keys int) error {
	topo, err := ClusterTopology(ctx, via)
	if err != nil {
		return err
	}
	byOwner := map[string][]int{}
	for i := range keys {
		owner, ok := topo.Owner(cluster.KeySlot(reshardKey(i)))
		if !ok {
			return fmt.Errorf("no owner of the slot of %s in %s's view", reshardKey(i), via)
		}
		byOwner[owner.Addr] = append(byOwner[owner.Addr], i)
	}
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for addr, idx := range byOwner {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := reshardClient(addr)
			defer c.Close()
			for len(idx) > 0 {
				n := min(len(idx), reshardLoadBatch)
				_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
					for _, i := range idx[:n] {
						p.Set(ctx, reshardKey(i), reshardValue(i), 0)
					}
					return nil
				})
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("SET %d keys on %s: %w", n, addr, err))
					mu.Unlock()
					return
				}
				idx = idx[n:]
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	var addrs []string
	for a := range byOwner {
		addrs = append(addrs, a)
	}
	total, _, err := reshardDBSizes(ctx, addrs)
	if err != nil {
		return err
	}
	if total != int64(keys) {
		return fmt.Errorf("loaded %d keys, the masters hold %d", keys, total)
	}
	return nil
}

// reshardDBSizes returns DBSIZE of each node and their sum.
func reshardDBSizes(ctx context.Context, addrs []string) (int64, []int64, error) {
	var total int64
	sizes := make([]int64, len(addrs))
	for i, a := range addrs {
		c := NewRedisClient(a, "")
		n, err := c.DBSize(ctx).Result()
		c.Close()
		if err != nil {
			return 0, nil, fmt.Errorf("DBSIZE on %s: %w", a, err)
		}
		sizes[i] = n
		total += n
	}
	return total, sizes, nil
}

// reshardRedisCLI runs redis-cli with args, bounded by limit, and returns
// its output and the CPU time it used.
func reshardRedisCLI(ctx context.Context, limit time.Duration, args ...string) (string, time.Duration, error) {
	cctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	cmd := exec.CommandContext(cctx, "redis-cli", args...)
	out, err := cmd.CombinedOutput()
	var cpu time.Duration
	if cmd.ProcessState != nil {
		cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	return string(out), cpu, err
}

// reshardANSI matches redis-cli's colour codes.
var reshardANSI = regexp.MustCompile("\x1b\\[[0-9;]*m")

// reshardErrLines returns the lines of redis-cli's output that report a
// failure, or that nothing was done.
func reshardErrLines(out string) []string {
	var bad []string
	for _, l := range strings.Split(reshardANSI.ReplaceAllString(out, ""), "\n") {
		if strings.Contains(l, "[ERR]") || strings.Contains(l, "ERR ") || strings.Contains(l, "CLUSTERDOWN") ||
			strings.Contains(l, "*** ") || strings.Contains(l, "don't agree") || strings.Contains(l, "No rebalancing needed") {
			bad = append(bad, strings.TrimSpace(l))
		}
	}
	return bad
}

// reshardMyID returns the node id of the node at addr.
func reshardMyID(ctx context.Context, addr string) (string, error) {
	topo, err := ClusterTopology(ctx, addr)
	if err != nil {
		return "", err
	}
	return topo.Myself, nil
}

// reshardKnown reports whether every node of addrs lists the node at
// added settled (out of handshake, with an address) and says
// cluster_state:ok. Asked of all four nodes, it is what an operator's
// script waits for between add-node and rebalance.
func reshardKnown(ctx context.Context, addrs []string, added string) (bool, error) {
	for _, a := range addrs {
		topo, err := ClusterTopology(ctx, a)
		if err != nil {
			return false, err
		}
		listed := false
		for _, n := range topo.Nodes {
			if n.Flags.Handshake || n.Flags.NoAddr {
				return false, fmt.Errorf("%s lists %s %s flagged %s", a, n.ID[:8], n.Addr, n.Flags)
			}
			listed = listed || n.Addr == added
		}
		if !listed {
			return false, fmt.Errorf("%s does not list %s", a, added)
		}
		if ok, err := ClusterStateOK(ctx, a); !ok {
			return false, err
		}
	}
	return true, nil
}

// reshardSlots waits until every node of addrs says cluster_state:ok and
// all give the same slot count per master, and returns the counts in the
// order of addrs.
func reshardSlots(ctx context.Context, addrs []string) ([]int, error) {
	var counts []int
	err := WaitFor(ctx, 30*time.Second, "every node to say cluster_state:ok and agree on the slot map", func() (bool, error) {
		counts = nil
		for i, a := range addrs {
			if ok, err := ClusterStateOK(ctx, a); !ok {
				return false, err
			}
			topo, err := ClusterTopology(ctx, a)
			if err != nil {
				return false, err
			}
			seen := make([]int, len(addrs))
			for _, sh := range topo.Shards {
				if j := slices.Index(addrs, sh.Master.Addr); j >= 0 {
					seen[j] = cluster.CountSlots(sh.Slots)
				}
			}
			if i == 0 {
				counts = seen
			} else if !slices.Equal(seen, counts) {
				return false, fmt.Errorf("%s sees slots %v, %s sees %v", a, seen, addrs[0], counts)
			}
		}
		return true, nil
	})
	return counts, err
}

// reshardVerify checks the cluster after a reshard: every node ok and in
// agreement, the four masters holding every key, a sample of keys read back
// with their values through a cluster client, and (when even) every master
// within 1% of an even share of the slots. It returns the slot counts and
// the new master's DBSIZE.
func reshardVerify(ctx context.Context, e *reshardEnv, even bool) ([]int, int64, error) {
	addrs := e.all()
	slots, err := reshardSlots(ctx, addrs)
	if err != nil {
		return nil, 0, err
	}
	total, sizes, err := reshardDBSizes(ctx, addrs)
	if err != nil {
		return slots, 0, err
	}
	if total != int64(e.keys) {
		return slots, 0, fmt.Errorf("the masters hold %d keys (%v), want %d", total, sizes, e.keys)
	}
	if even {
		share := float64(cluster.SlotCount) / float64(len(addrs))
		for i, n := range slots {
			if d := float64(n) - share; d > share/100 || d < -share/100 {
				return slots, 0, fmt.Errorf("master %s serves %d slots, more than 1%% from %.0f (slots %v)", addrs[i], n, share, slots)
			}
		}
	}
	c := newClusterClient(addrs)
	defer c.Close()
	idx := make([]int, min(reshardSample, e.keys))
	for i := range idx {
		idx[i] = rand.IntN(e.keys)
	}
	cmds := make([]*redis.StringCmd, len(idx))
	_, err = c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range idx {
			cmds[i] = p.Get(ctx, reshardKey(k))
		}
		return nil
	})
	for i, cmd := range cmds {
		if v, err := cmd.Result(); err != nil || v != reshardValue(idx[i]) {
			return slots, 0, fmt.Errorf("key %s read back as %q, %v", reshardKey(idx[i]), truncate(v, 20), err)
		}
	}
	if err != nil {
		return slots, 0, err
	}
	return slots, sizes[len(sizes)-1], nil
}

// reshardCmdStats sums INFO commandstats over the nodes.
type reshardCmdStats map[string]reshardCmdStat

type reshardCmdStat struct {
	calls int64
	usec  int64
}

// top lists the n commands that took the most time inside Redis.
func (s reshardCmdStats) top(n int) string {
	names := make([]string, 0, len(s))
	for k := range s {
		if k != "all" {
			names = append(names, k)
		}
	}
	slices.SortFunc(names, func(a, b string) int { return int(s[b].usec - s[a].usec) })
	var out []string
	for _, k := range names[:min(n, len(names))] {
		out = append(out, fmt.Sprintf("%s %d calls %.3f s", k, s[k].calls, float64(s[k].usec)/1e6))
	}
	return strings.Join(out, ", ")
}

// reshardResetStats clears every node's command statistics.
func reshardResetStats(ctx context.Context, addrs []string) error {
	for _, a := range addrs {
		if err := clusterDo(ctx, a, "CONFIG", "RESETSTAT"); err != nil {
			return err
		}
	}
	return nil
}

// reshardReadStats adds up the nodes' INFO commandstats; "all" is every
// command together.
func reshardReadStats(ctx context.Context, addrs []string) (reshardCmdStats, error) {
	out := reshardCmdStats{}
	for _, a := range addrs {
		c := NewRedisClient(a, "")
		s, err := c.Info(ctx, "commandstats").Result()
		c.Close()
		if err != nil {
			return nil, fmt.Errorf("INFO commandstats on %s: %w", a, err)
		}
		for _, line := range strings.Split(s, "\n") {
			name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
			name, isCmd := strings.CutPrefix(name, "cmdstat_")
			if !ok || !isCmd {
				continue
			}
			var st reshardCmdStat
			for _, kv := range strings.Split(rest, ",") {
				k, v, _ := strings.Cut(kv, "=")
				n, _ := strconv.ParseInt(v, 10, 64)
				switch k {
				case "calls":
					st.calls = n
				case "usec":
					st.usec = n
				}
			}
			for _, key := range []string{name, "all"} {
				cur := out[key]
				cur.calls += st.calls
				cur.usec += st.usec
				out[key] = cur
			}
		}
	}
	return out, nil
}

// reshardCPU returns the CPU time (user and system) pid has used.
func reshardCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}

// reshardProcs names groups of processes whose CPU time is measured.
type reshardProcs struct {
	names []string
	pids  map[string][]int
}

func (p *reshardProcs) add(name string, pids ...int) {
	if p.pids == nil {
		p.pids = map[string][]int{}
	}
	if _, ok := p.pids[name]; !ok {
		p.names = append(p.names, name)
	}
	p.pids[name] = append(p.pids[name], pids...)
}

// reshardMachine is the pseudo-pid under which read records the CPU time
// the whole machine has been busy.
const reshardMachine = -1

// reshardBusy returns the CPU time all processes of the machine have used,
// user and system as /proc/PID/stat counts them: the first line of
// /proc/stat without idle, iowait, interrupts (which no process is
// charged for) and steal.
func reshardBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 4 {
		return 0
	}
	var busy int64
	for _, v := range f[1:4] {
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	return time.Duration(busy) * time.Second / 100 // USER_HZ
}

// read returns the CPU time of every process of every group, and under
// reshardMachine the machine's.
func (p *reshardProcs) read() map[int]time.Duration {
	out := map[int]time.Duration{reshardMachine: reshardBusy()}
	for _, pids := range p.pids {
		for _, pid := range pids {
			out[pid] = reshardCPU(pid)
		}
	}
	return out
}

// since returns each group's CPU time between two readings and, last,
// what the rest of the machine used meanwhile ("other processes": the
// machine's busy time less every group's and less extra, CPU time of
// children already reaped). A group named "of which ..." is a part of
// another and not subtracted twice.
func (p *reshardProcs) since(before, after map[int]time.Duration, extra time.Duration) []reshardPhase {
	var out []reshardPhase
	others := after[reshardMachine] - before[reshardMachine] - extra
	for _, name := range p.names {
		var d time.Duration
		for _, pid := range p.pids[name] {
			d += after[pid] - before[pid]
		}
		out = append(out, reshardPhase{name, d})
		if !strings.HasPrefix(name, "of which") {
			others -= d
		}
	}
	return append(out, reshardPhase{"other processes", max(0, others)})
}

// reshardRightAway runs what a script without the full wait does, on a
// small cluster: add-node, then rebalance at once (entry false) or as soon
// as the entry node lists the new node (entry true). It returns what
// rebalance said and what it left.
func reshardRightAway(ctx context.Context, dir string, entryKnows bool) (string, error) {
	e, err := reshardStart(ctx, dir, reshardProbeKeys)
	if e != nil {
		defer e.close()
	}
	if err != nil {
		return "", err
	}
	entry := e.rc.Nodes[0].Addr
	if out, _, err := reshardRedisCLI(ctx, time.Minute, "--cluster", "add-node", e.spare.Addr, entry); err != nil {
		return "", fmt.Errorf("redis-cli --cluster add-node: %w\n%s", err, out)
	}
	if entryKnows {
		err := WaitEvery(ctx, time.Minute, reshardPoll, entry+" to list "+e.spare.Addr, func() (bool, error) {
			return reshardKnown(ctx, []string{entry}, e.spare.Addr)
		})
		if err != nil {
			return "", err
		}
	}
	out, _, err := reshardRedisCLI(ctx, reshardBound, "--cluster", "rebalance", entry, "--cluster-use-empty-masters")
	status := "exit 0"
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		status = fmt.Sprintf("exit %d", ee.ExitCode())
	case err != nil:
		return "", err
	}
	lines := reshardErrLines(out)
	if len(lines) > 3 {
		lines = append(lines[:3], fmt.Sprintf("(%d more such lines)", len(lines)-3))
	}
	said := "`" + strings.Join(lines, "` / `") + "`"
	if len(lines) == 0 {
		said = "no error line"
	}
	n, _, _ := reshardDBSizes(ctx, []string{e.spare.Addr})
	var open []string
	for _, a := range e.all() {
		topo, err := ClusterTopology(ctx, a)
		if err != nil {
			continue
		}
		for _, o := range topo.OpenSlots() {
			open = append(open, fmt.Sprint(o.Slot))
		}
	}
	slices.Sort(open)
	left := "no slot left open"
	if len(open) > 0 {
		left = fmt.Sprintf("slot %s left open (MIGRATING/IMPORTING)", strings.Join(slices.Compact(open), ", "))
	}
	return fmt.Sprintf("%s, %s; the new node then held %s of %s keys, %s", status, said,
		reshardThousands(n), reshardThousands(reshardProbeKeys), left), nil
}

// reshardByCLI is one redis-cli trial: add-node, wait, rebalance; pipeline
// 0 leaves --cluster-pipeline at its default (10).
func reshardByCLI(ctx context.Context, dir string, keys, pipeline int) (reshardTrial, error) {
	e, err := reshardStart(ctx, dir, keys)
	if e != nil {
		defer e.close()
	}
	if err != nil {
		return reshardTrial{}, err
	}
	entry, addrs := e.rc.Nodes[0].Addr, e.all()
	procs := e.procs()
	if err := reshardResetStats(ctx, addrs); err != nil {
		return reshardTrial{}, err
	}
	cpu0 := procs.read()

	start := time.Now()
	out, cliCPU, err := reshardRedisCLI(ctx, time.Minute, "--cluster", "add-node", e.spare.Addr, entry)
	if err != nil {
		return reshardTrial{}, fmt.Errorf("redis-cli --cluster add-node: %w\n%s", err, out)
	}
	added := time.Now()
	err = WaitEvery(ctx, time.Minute, reshardPoll, fmt.Sprintf("every node to list %s and say cluster_state:ok", e.spare.Addr), func() (bool, error) {
		return reshardKnown(ctx, addrs, e.spare.Addr)
	})
	if err != nil {
		return reshardTrial{}, err
	}
	known := time.Now()
	args := []string{"--cluster", "rebalance", entry, "--cluster-use-empty-masters"}
	if pipeline > 0 {
		args = append(args, "--cluster-pipeline", strconv.Itoa(pipeline))
	}
	out, rebCPU, err := reshardRedisCLI(ctx, reshardBound, args...)
	end := time.Now()
	if err != nil {
		return reshardTrial{}, fmt.Errorf("redis-cli %s: %w\n%s", strings.Join(args, " "), err, reshardTail(out, 20))
	}
	if bad := reshardErrLines(out); len(bad) > 0 {
		return reshardTrial{}, fmt.Errorf("redis-cli %s reported: %s", strings.Join(args, " "), strings.Join(bad, "; "))
	}

	m := reshardTrial{total: end.Sub(start), move: end.Sub(known), phases: []reshardPhase{
		{"add-node", added.Sub(start)}, {"wait until known", known.Sub(added)}, {"rebalance", end.Sub(known)},
	}}
	m.cpu = append(procs.since(cpu0, procs.read(), cliCPU+rebCPU), reshardPhase{"redis-cli", cliCPU + rebCPU})
	if m.stats, err = reshardReadStats(ctx, addrs); err != nil {
		return m, err
	}
	if m.slots, m.keys, err = reshardVerify(ctx, e, false); err != nil {
		return m, err
	}
	return m, nil
}

// reshardOp is GET /v1/operations/{id}, the fields the benchmark reads.
type reshardOp struct {
	ID             string   `json:"id"`
	State          string   `json:"state"`
	Error          string   `json:"error"`
	Errors         []string `json:"errors"`
	Leader         string   `json:"leader"`
	StepNumber     int      `json:"step_number"`
	Steps          int      `json:"steps"`
	SlotsTotal     int      `json:"slots_total"`
	SlotsMoved     int      `json:"slots_moved"`
	KeysMoved      int64    `json:"keys_moved"`
	KeysPerSec     float64  `json:"keys_per_sec"`
	MigrateSeconds float64  `json:"migrate_seconds"`
	Plan           []struct {
		Kind   string `json:"kind"`
		Detail string `json:"detail"`
	} `json:"plan"`
}

// reshardPost sends body as JSON to path on the watchdog behind c and
// decodes a 2xx answer into out.
func reshardPost(ctx context.Context, c *Client, path string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Base+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	// The watchdog checks the new node and reads the cluster before it
	// answers: more than the client's usual 2 s may pass.
	resp, err := (&http.Client{Timeout: 30 * time.Second, Transport: c.HTTP.Transport}).Do(req)
	if err != nil {
		return fmt.Errorf("POST %s%s: %w", c.Base, path, err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("POST %s%s: read body: %w", c.Base, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s%s: HTTP %d: %s", c.Base, path, resp.StatusCode, truncate(string(rb), 500))
	}
	if err := json.Unmarshal(rb, out); err != nil {
		return fmt.Errorf("POST %s%s: decode %q: %w", c.Base, path, truncate(string(rb), 200), err)
	}
	return nil
}

// reshardByWarden is one warden trial: three watchdogs watch the cluster;
// one is asked to add the shard and polled until the operation ends.
func reshardByWarden(ctx context.Context, bin, dir string, keys int) (reshardTrial, error) {
	e, err := reshardStart(ctx, dir, keys)
	if e != nil {
		defer e.close()
	}
	if err != nil {
		return reshardTrial{}, err
	}
	ce := &clusterEnv{dir: dir, rc: e.rc}
	defer func() { // before the nodes
		for _, w := range ce.ws {
			w.Kill()
		}
	}()
	if err := ce.startWardens(ctx, bin, []string{e.rc.Nodes[0].Addr}, "info"); err != nil {
		return reshardTrial{}, err
	}
	if _, err := waitClusterView(ctx, ce.ws, clusterStart, "every watchdog to see the 3 masters", fullView(3, 0)); err != nil {
		return reshardTrial{}, err
	}
	addrs := e.all()
	procs := e.procs()
	for _, w := range ce.ws {
		procs.add("watchdogs", w.Pid())
	}
	if err := reshardResetStats(ctx, addrs); err != nil {
		return reshardTrial{}, err
	}
	w := ce.ws[0]
	cpu0 := procs.read()

	start := time.Now()
	var op reshardOp
	if err := reshardPost(ctx, w.API, "/v1/clusters/"+clusterName+"/shards", map[string]any{"master": e.spare.Addr, "replicas": []string{}}, &op); err != nil {
		return reshardTrial{}, err
	}
	seen := map[int]time.Time{1: start} // when each step was first seen running
	err = WaitEvery(ctx, reshardBound, reshardPoll, "operation "+op.ID+" to end", func() (bool, error) {
		if err := w.API.get(ctx, "/v1/operations/"+op.ID, &op); err != nil {
			return false, err
		}
		if _, ok := seen[op.StepNumber]; !ok && op.State == "running" {
			seen[op.StepNumber] = time.Now()
		}
		return op.State != "running", fmt.Errorf("step %d of %d, %d of %d slots moved", op.StepNumber, op.Steps, op.SlotsMoved, op.SlotsTotal)
	})
	end := time.Now()
	if err != nil {
		return reshardTrial{}, fmt.Errorf("%w\n%s", err, ce.logTails(30, 5))
	}
	if op.State != "done" {
		return reshardTrial{}, fmt.Errorf("operation %s ended %s: %s\n%s", op.ID, op.State, op.Error, ce.logTails(30, 5))
	}
	cpu1 := procs.read()
	for _, x := range ce.ws {
		if x.ID == op.Leader {
			procs.add("of which the leader", x.Pid())
		}
	}

	m := reshardTrial{total: end.Sub(start), move: time.Duration(op.MigrateSeconds * float64(time.Second))}
	// A step shorter than a poll was never seen running: it shows as 0 s,
	// its time counted in the step before.
	next := end
	for k := op.Steps; k >= 1; k-- {
		if _, ok := seen[k]; !ok {
			seen[k] = next
		}
		next = seen[k]
	}
	for k := 1; k <= op.Steps; k++ {
		from, to := seen[k], end
		if k < op.Steps {
			to = seen[k+1]
		}
		name := fmt.Sprint(k)
		if k <= len(op.Plan) {
			name = op.Plan[k-1].Kind
		}
		m.phases = append(m.phases, reshardPhase{name, to.Sub(from)})
	}
	m.cpu = procs.since(cpu0, cpu1, 0)
	if m.stats, err = reshardReadStats(ctx, addrs); err != nil {
		return m, err
	}
	if m.slots, m.keys, err = reshardVerify(ctx, e, true); err != nil {
		return m, err
	}
	if m.keys != op.KeysMoved {
		m.notes = append(m.notes, fmt.Sprintf("the operation counts %d keys moved, the new master holds %d", op.KeysMoved, m.keys))
	}
	if len(op.Errors) > 0 {
		m.notes = append(m.notes, fmt.Sprintf("%d errors survived, the first: %s", len(op.Errors), op.Errors[0]))
	}
	return m, nil
}

// reshardTail returns the last n lines of s.
func reshardTail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// reshardThousands formats n with commas: 1,000,000.
func reshardThousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	if n < 0 {
		return "-" + reshardThousands(-n)
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func reshardMedian(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// reshardCol returns f of every trial.
func reshardCol(ms []reshardTrial, f func(reshardTrial) float64) []float64 {
	out := make([]float64, len(ms))
	for i, m := range ms {
		out[i] = f(m)
	}
	return out
}

var reshardCaseNames = map[string]string{
	reshardWarden: "warden: `POST /v1/clusters/{name}/shards` until done",
	reshardCLI:    "redis-cli: `add-node`, wait, `rebalance --cluster-use-empty-masters` (pipeline 10, the default)",
	reshardCLI100: "redis-cli: the same with `--cluster-pipeline 100`",
}

var reshardMoveNames = map[string]string{
	reshardWarden: "migrate step (`keys_moved / migrate_seconds`)",
	reshardCLI:    "`rebalance` alone",
	reshardCLI100: "`rebalance` alone",
}

func reshardReport(keys, trials int, cases []string, results map[string][]reshardTrial, failed map[string]int, probes, load [2]string) string {
	var b strings.Builder
	redisVersion, err := RedisVersion()
	if err != nil {
		redisVersion = "unknown (" + err.Error() + ")"
	}
	fmt.Fprintf(&b, "\n## Adding a fourth shard: warden and redis-cli --cluster (%s)\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "Measured on %s; load average (1, 5, 15 min) %s at the start of the run, %s at its end.\n\n", machineLine(redisVersion), load[0], load[1])
	fmt.Fprintf(&b, "Reproduce with `make bench`, or this part alone with `%s`\n(`WARDEN_BENCH_TRIALS`, `WARDEN_BENCH_RESHARD_KEYS`, `WARDEN_BENCH_RESHARD_NODE_TIMEOUT`, `WARDEN_BENCH_RESHARD_CASES` and `WARDEN_BENCH_OUT_RESHARD` change the run).\n\n", reshardBenchCommand)
	fmt.Fprintf(&b, `Each trial starts a fresh cluster on loopback: three redis-server masters
without replicas (cluster-node-timeout %v, no persistence) made a cluster by
`+"`redis-cli --cluster create --cluster-replicas 0`"+`, loaded with %s keys
(`+"`key:0000000`"+` …) of %d-byte values, pipelined straight to the master of each
key's slot (about %d keys in every slot), and one empty cluster-mode node.

- warden: three watchdogs (config.Default(), one seed) watch the cluster;
  once all three see it whole, `+"`POST /v1/clusters/main/shards`"+` with
  `+"`{\"master\": NEW, \"replicas\": []}`"+` goes to one of them, and the clock runs
  until `+"`GET /v1/operations/{id}`"+` (polled every %v) says `+"`done`"+`: meet,
  wait until known, migrate, verify. Its own migrate step is timed too
  (`+"`migrate_seconds`"+`).
- redis-cli (no watchdogs): the clock runs from the start of
  `+"`redis-cli --cluster add-node NEW ENTRY`"+`, through a wait polled every %v
  until every node lists all four nodes settled and says `+"`cluster_state:ok`"+`
  (what an operator's script must wait for: see below), until
  `+"`redis-cli --cluster rebalance ENTRY --cluster-use-empty-masters`"+` returns.

Keys moved are the new master's DBSIZE at the end. After every reshard: every
node says `+"`cluster_state:ok`"+` and agrees on the slot map, the four masters
hold all %s keys, %s random keys read back with their values through a
cluster client, and for warden every master serves within 1%% of 4096 slots.
The cases rotate which runs first in each trial.

`, reshardNodeTimeout(), reshardThousands(int64(keys)), reshardValueLen, keys/cluster.SlotCount, reshardPoll, reshardPoll, reshardThousands(int64(keys)), reshardThousands(int64(min(reshardSample, keys))))

	b.WriteString("| case | trials | keys moved (median) | median seconds | median keys/s | keys/s min – max | data movement alone: median seconds, keys/s |\n|---|---|---|---|---|---|---|\n")
	for _, c := range cases {
		ms := results[c]
		n := fmt.Sprint(len(ms))
		if failed[c] > 0 {
			n = fmt.Sprintf("%d (+%d failed)", len(ms), failed[c])
		}
		if len(ms) == 0 {
			fmt.Fprintf(&b, "| %s | %s | – | – | – | – | – |\n", reshardCaseNames[c], n)
			continue
		}
		rates := reshardCol(ms, reshardTrial.rate)
		fmt.Fprintf(&b, "| %s | %s | %s | %.2f s | %s | %s – %s | %s: %.2f s, %s |\n", reshardCaseNames[c], n,
			reshardThousands(int64(reshardMedian(reshardCol(ms, func(m reshardTrial) float64 { return float64(m.keys) })))),
			reshardMedian(reshardCol(ms, func(m reshardTrial) float64 { return m.total.Seconds() })),
			reshardThousands(int64(reshardMedian(rates))), reshardThousands(int64(slices.Min(rates))), reshardThousands(int64(slices.Max(rates))),
			reshardMoveNames[c], reshardMedian(reshardCol(ms, func(m reshardTrial) float64 { return m.move.Seconds() })),
			reshardThousands(int64(reshardMedian(reshardCol(ms, reshardTrial.moveRate)))))
	}
	b.WriteString("\n")
	if ws := results[reshardWarden]; len(ws) > 0 {
		for _, c := range []string{reshardCLI, reshardCLI100} {
			cs := results[c]
			if len(cs) == 0 {
				continue
			}
			ratio := reshardMedian(reshardCol(ws, reshardTrial.rate)) / reshardMedian(reshardCol(cs, reshardTrial.rate))
			move := reshardMedian(reshardCol(ws, reshardTrial.moveRate)) / reshardMedian(reshardCol(cs, reshardTrial.moveRate))
			verdict := "met"
			if ratio < 3 {
				verdict = "not met"
			}
			what := "redis-cli"
			if c == reshardCLI100 {
				what = "redis-cli with `--cluster-pipeline 100`"
				fmt.Fprintf(&b, "warden / %s, keys/s (medians): **%.2f×**; data movement alone: %.2f×.\n\n", what, ratio, move)
				continue
			}
			fmt.Fprintf(&b, "warden / %s, keys/s (medians): **%.2f×** (target: at least 3×, %s); data movement alone (migrate step / rebalance): %.2f×.\n\n", what, ratio, verdict, move)
		}
		if cs := results[reshardCLI]; len(cs) > 0 {
			// Everything before warden's migrate step: the same wait
			// redis-cli's side has.
			before := reshardMedian(reshardCol(ws, func(m reshardTrial) float64 {
				d := 0.0
				for _, p := range m.phases {
					if p.name == "migrate" {
						break
					}
					d += p.took.Seconds()
				}
				return d
			}))
			total := reshardMedian(reshardCol(cs, func(m reshardTrial) float64 { return m.total.Seconds() }))
			fmt.Fprintf(&b, `Both sides wait about 5 s before the first key can move: Redis lets a master
that counted itself in a minority (the new node, until it has learned the other
masters) say `+"`cluster_state:ok`"+` only min(cluster-node-timeout, 5 s) later, and
until then it answers CLUSTERDOWN to the RESTORE-ASKING that MIGRATE sends it
(by hand: the new node says ok 1.1 s after add-node with cluster-node-timeout
1s, 5.1 s with 5s). warden spends %.2f s (median) before its migrate step, so
even a migration that took no time would give at most %.2f× redis-cli's keys/s
on the whole operation (its median %.2f s / %.2f s).

`, before, total/before, total, before)
		}
	}

	b.WriteString("### Where the time goes (medians over the trials)\n\n")
	b.WriteString("| case | phases | data movement: ms per slot and worker | CPU time during the reshard | MIGRATE calls, keys per call, time inside MIGRATE on the sources | RESTORE-ASKING on the new master | CLUSTER SETSLOT calls | GETKEYSINSLOT calls | MEMORY USAGE calls | all commands: time inside Redis |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, c := range cases {
		ms := results[c]
		if len(ms) == 0 {
			continue
		}
		var phases []string
		for i, p := range ms[0].phases {
			med := reshardMedian(reshardCol(ms, func(m reshardTrial) float64 {
				if i < len(m.phases) {
					return m.phases[i].took.Seconds()
				}
				return 0
			}))
			phases = append(phases, fmt.Sprintf("%s %.2f s", p.name, med))
		}
		var cpus []string
		for i, p := range ms[0].cpu {
			med := reshardMedian(reshardCol(ms, func(m reshardTrial) float64 { return m.cpu[i].took.Seconds() }))
			cpus = append(cpus, fmt.Sprintf("%s %.2f s", p.name, med))
		}
		stat := func(name string, f func(reshardCmdStat) float64) float64 {
			return reshardMedian(reshardCol(ms, func(m reshardTrial) float64 { return f(m.stats[name]) }))
		}
		calls := func(s reshardCmdStat) float64 { return float64(s.calls) }
		secs := func(s reshardCmdStat) float64 { return float64(s.usec) / 1e6 }
		migCalls := stat("migrate", calls)
		perCall := 0.0
		if migCalls > 0 {
			perCall = reshardMedian(reshardCol(ms, func(m reshardTrial) float64 { return float64(m.keys) })) / migCalls
		}
		// warden runs one worker per source master (three here), redis-cli
		// moves one slot at a time.
		workers := 1.0
		if c == reshardWarden {
			workers = 3
		}
		perSlot := reshardMedian(reshardCol(ms, func(m reshardTrial) float64 { return m.move.Seconds() })) * workers / (float64(cluster.SlotCount) / 4) * 1000
		fmt.Fprintf(&b, "| %s | %s | %.2f | %s | %s, %.1f, %.2f s | %.2f s | %s | %s | %s | %.2f s |\n", c, strings.Join(phases, "; "), perSlot, strings.Join(cpus, "; "),
			reshardThousands(int64(migCalls)), perCall, stat("migrate", secs), stat("restore-asking", secs),
			reshardThousands(int64(stat("cluster|setslot", calls))), reshardThousands(int64(stat("cluster|getkeysinslot", calls))),
			reshardThousands(int64(stat("memory|usage", calls))), stat("all", secs))
	}
	b.WriteString(`
Phases: warden's as the operation's cursor moved (polled; a step shorter
than a poll shows as 0 s, its time counted in the step before), redis-cli's
as timed around each command. Per slot: the data movement's time × workers
(warden moves with one worker per source master, three here; redis-cli one
slot at a time) / 4096 slots moved. CPU time is user + system from /proc of
the three source masters, the new master, the watchdogs (all three), the
redis-cli processes and the benchmark's own process; "other processes" is
what the rest of the machine used meanwhile (/proc/stat's user + system
less all those): other work on the machine slows both sides. Command counts
and times are INFO commandstats summed over the four nodes, reset just
before the clock starts (the watchdogs' own probes are included).

`)
	fmt.Fprintf(&b, `Without the wait, `+"`rebalance`"+` does not do the job (two extra runs, untimed, on
clusters of %s keys):

- run right after `+"`add-node`"+`: %s;
- run as soon as the entry node lists the new node: %s.
`, reshardThousands(reshardProbeKeys), probes[0], probes[1])

	b.WriteString("\n### Every trial\n\n")
	for i := 1; i <= trials; i++ {
		for _, c := range cases {
			for _, m := range results[c] {
				if m.trial != i {
					continue
				}
				fmt.Fprintf(&b, "- trial %d, %s (ran %s): %s", i, c, reshardOrdinal(m.position), m.summary())
				if len(m.notes) > 0 {
					fmt.Fprintf(&b, "; %s", strings.Join(m.notes, "; "))
				}
				b.WriteString("\n")
			}
		}
	}
	return b.String()
}

func reshardOrdinal(n int) string {
	switch n {
	case 1:
		return "first"
	case 2:
		return "second"
	case 3:
		return "third"
	}
	return fmt.Sprintf("#%d", n)
}

// reshardNodeTimeout is the nodes' cluster-node-timeout for this run.
func reshardNodeTimeout() time.Duration {
	if v := os.Getenv("WARDEN_BENCH_RESHARD_NODE_TIMEOUT"); v != "" {
		if d, err := time.ParseDuration(v); err == nil && d >= 500*time.Millisecond {
			return d
		}
	}
	return reshardNodeTimeoutDefault
}

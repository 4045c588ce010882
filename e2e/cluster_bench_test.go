//go:build bench

package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// clusterBenchCommand reproduces the cluster benchmark. Its name holds no
// "Benchmark": `make bench` runs -run 'Benchmark|TestFailoverBenchmark',
// an unanchored pattern, and is not meant to run this one too.
const clusterBenchCommand = "go test -tags bench -count=1 -timeout 30m -run 'TestClusterFailoverBench$' -v ./e2e"

// TestClusterFailoverBench measures, side by side in one run, on fresh
// clusters of 3 masters and 3 replicas (cluster-node-timeout 1s):
//
//   - warden: SIGKILL of two masters of three until every surviving node
//     says cluster_state:ok with the two replicas serving (warden forces
//     TAKEOVER: the cluster cannot elect without a majority of masters);
//   - Redis Cluster alone, one master killed: until the same holds for its
//     replica (the cluster's own failover);
//   - Redis Cluster alone, two masters killed: that it has not recovered,
//     and what every survivor's cluster_state is, after WARDEN_BENCH_CLUSTER_WAIT.
//
// It appends a Markdown section to WARDEN_BENCH_OUT_CLUSTER (default
// ../BENCHMARKS.md). WARDEN_BENCH_TRIALS sets the trials per case
// (default 5); WARDEN_BENCH_CLUSTER_WAIT the watch of the unrecovered case
// (default 10s).
func TestClusterFailoverBench(t *testing.T) {
	bin := needWarden(t)
	trials := 5
	if s := os.Getenv("WARDEN_BENCH_TRIALS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("WARDEN_BENCH_TRIALS=%q: want a positive integer", s)
		}
		trials = n
	}
	watch, err := time.ParseDuration(envOr("WARDEN_BENCH_CLUSTER_WAIT", "10s"))
	if err != nil || watch < time.Second {
		t.Fatalf("WARDEN_BENCH_CLUSTER_WAIT: want a duration of at least 1s")
	}
	out := envOr("WARDEN_BENCH_OUT_CLUSTER", "../BENCHMARKS.md")

	var withWarden, alone []clusterTrial
	var stuck []stuckTrial
	failed := map[string]int{}
	kinds := []string{caseWarden, caseAlone, caseStuck}
	for i := 0; i < trials; i++ {
		order := slices.Clone(kinds)
		for range i % len(order) { // rotate: no case always runs first
			order = append(order[1:], order[0])
		}
		for _, k := range order {
			dir := t.TempDir()
			var err error
			switch k {
			case caseWarden:
				var m clusterTrial
				if m, err = benchWardenTakeover(t, bin, dir); err == nil {
					withWarden = append(withWarden, m)
					t.Logf("trial %d, %s: recovered after %v (%s)", i+1, k, m.recovered.Round(time.Millisecond), m.note)
				}
			case caseAlone:
				var m clusterTrial
				if m, err = benchClusterAlone(t, dir); err == nil {
					alone = append(alone, m)
					t.Logf("trial %d, %s: recovered after %v", i+1, k, m.recovered.Round(time.Millisecond))
				}
			case caseStuck:
				var m stuckTrial
				if m, err = benchClusterStuck(t, dir, watch); err == nil {
					stuck = append(stuck, m)
					t.Logf("trial %d, %s: recovered %v; after %v: %s", i+1, k, m.recovered, watch, strings.Join(m.states, ", "))
				}
			}
			if err != nil {
				failed[k]++
				t.Errorf("trial %d, %s: %v", i+1, k, err)
			}
		}
	}
	report := clusterBenchReport(trials, watch, withWarden, alone, stuck, failed)
	t.Logf("\n%s", report)
	f, err := os.OpenFile(out, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(report); err != nil {
		f.Close()
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("appended to %s", out)
}

const (
	caseWarden = "warden, 2 of 3 masters killed"
	caseAlone  = "Redis Cluster alone, 1 of 3 masters killed"
	caseStuck  = "Redis Cluster alone, 2 of 3 masters killed"
)

// clusterTrial is one measured recovery.
type clusterTrial struct {
	recovered time.Duration // SIGKILL until every survivor is ok with the replicas serving
	note      string        // what warden did
}

// stuckTrial is one watch of the unrecoverable case.
type stuckTrial struct {
	recovered bool     // some poll saw the cluster recovered (never expected)
	states    []string // each survivor's cluster_state at the end
	allFail   bool
}

// benchPause waits a random 0 to 1 s, so that the kill falls at a random
// point of the probing and gossip periods.
func benchPause(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Duration(rand.Int64N(int64(time.Second)))):
		return nil
	}
}

// replicasOf returns, from addr's view, the replica of each master in
// masters.
func replicasOf(ctx context.Context, addr string, masters []*Redis) ([]string, error) {
	topo, err := ClusterTopology(ctx, addr)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range masters {
		found := ""
		for _, sh := range topo.Shards {
			if sh.Master.Addr == m.Addr && len(sh.Replicas) == 1 {
				found = sh.Replicas[0].Addr
			}
		}
		if found == "" {
			return nil, fmt.Errorf("%s is not a master with one replica in %s's view", m.Addr, addr)
		}
		out = append(out, found)
	}
	return out, nil
}

// killAndMeasure kills victims and polls every benchPoll until every
// survivor says cluster_state:ok and names their replicas the masters.
func killAndMeasure(ctx context.Context, rc *RedisCluster, victims []*Redis) (time.Duration, error) {
	replicas, err := replicasOf(ctx, rc.Nodes[len(rc.Nodes)-1].Addr, victims)
	if err != nil {
		return 0, err
	}
	if err := benchPause(ctx); err != nil {
		return 0, err
	}
	start := time.Now()
	for _, v := range victims {
		if err := v.Kill(); err != nil {
			return 0, err
		}
	}
	if err := waitServing(ctx, rc, replicas, 60*time.Second, benchPoll); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

func benchWardenTakeover(t *testing.T, bin, dir string) (clusterTrial, error) {
	ctx := t.Context()
	e, err := newClusterEnv(ctx, bin, dir, "info")
	if e != nil {
		defer e.close()
	}
	if err != nil {
		return clusterTrial{}, err
	}
	if _, err := waitClusterView(ctx, e.ws, 30*time.Second, "every watchdog to see the whole cluster", fullView(3, 1)); err != nil {
		return clusterTrial{}, err
	}
	p, err := getEvents(ctx, e.ws[0], "limit=1")
	if err != nil {
		return clusterTrial{}, err
	}
	d, err := killAndMeasure(ctx, e.rc, []*Redis{e.rc.Nodes[1], e.rc.Nodes[2]})
	if err != nil {
		return clusterTrial{}, fmt.Errorf("%w\n%s", err, e.logTails(30, 10))
	}
	// What warden did and what it saw the cluster do: the record of the
	// cluster's own failover may follow the recovery by a probe or two.
	var did []string
	err = WaitFor(ctx, 10*time.Second, "events accounting for both shards", func() (bool, error) {
		evs, err := clusterEvents(ctx, e.ws, p.Last)
		if err != nil {
			return false, err
		}
		did, err = nil, nil
		shards := 0
		for _, ev := range evs {
			switch ev.Kind {
			case "cluster_failover_started":
				did = append(did, ev.Details["mode"]+" on "+ev.Node)
				shards++
			case "cluster_failover_observed":
				did = append(did, "then "+strings.TrimPrefix(ev.Message, "the "))
				shards += strings.Count(ev.Message, "; ") + 1
			}
		}
		return shards >= 2, fmt.Errorf("so far: %v", did)
	})
	if err != nil {
		return clusterTrial{}, err
	}
	if !slices.ContainsFunc(did, func(s string) bool { return strings.HasPrefix(s, "takeover ") }) {
		return clusterTrial{}, fmt.Errorf("recovered, but warden forced no TAKEOVER: %v", did)
	}
	return clusterTrial{recovered: d, note: strings.Join(did, "; ")}, nil
}

func benchClusterAlone(t *testing.T, dir string) (clusterTrial, error) {
	ctx := t.Context()
	rc, err := StartCluster(ctx, ClusterOptions{Dir: filepath.Join(dir, "redis"), NodeTimeout: clusterNodeTimeout})
	if err != nil {
		return clusterTrial{}, err
	}
	defer rc.Close()
	d, err := killAndMeasure(ctx, rc, []*Redis{rc.Nodes[1]})
	return clusterTrial{recovered: d}, err
}

func benchClusterStuck(t *testing.T, dir string, watch time.Duration) (stuckTrial, error) {
	ctx := t.Context()
	rc, err := StartCluster(ctx, ClusterOptions{Dir: filepath.Join(dir, "redis"), NodeTimeout: clusterNodeTimeout})
	if err != nil {
		return stuckTrial{}, err
	}
	defer rc.Close()
	victims := []*Redis{rc.Nodes[1], rc.Nodes[2]}
	replicas, err := replicasOf(ctx, rc.Nodes[0].Addr, victims)
	if err != nil {
		return stuckTrial{}, err
	}
	if err := benchPause(ctx); err != nil {
		return stuckTrial{}, err
	}
	for _, v := range victims {
		if err := v.Kill(); err != nil {
			return stuckTrial{}, err
		}
	}
	var m stuckTrial
	// Watch the whole time: the cluster must not recover at any moment.
	err = WaitEvery(ctx, watch, 100*time.Millisecond, "the end of the watch", func() (bool, error) {
		if ok, _ := serving(ctx, rc, replicas); ok {
			m.recovered = true
		}
		return false, nil
	})
	if err != nil && !errors.Is(err, ErrTimeout) {
		return m, err
	}
	m.allFail = true
	for _, r := range rc.Running() {
		info, err := ClusterInfo(ctx, r.Addr)
		if err != nil {
			return m, err
		}
		st := info["cluster_state"]
		m.states = append(m.states, fmt.Sprintf("%s %s (slots pfail %s, fail %s)", r.Addr, st, info["cluster_slots_pfail"], info["cluster_slots_fail"]))
		if st != "fail" {
			m.allFail = false
		}
	}
	return m, nil
}

func durations(ms []clusterTrial) []time.Duration {
	ds := make([]time.Duration, len(ms))
	for i, m := range ms {
		ds[i] = m.recovered
	}
	slices.Sort(ds)
	return ds
}

func medianDur(ds []time.Duration) time.Duration {
	n := len(ds)
	if n%2 == 1 {
		return ds[n/2]
	}
	return (ds[n/2-1] + ds[n/2]) / 2
}

func clusterBenchReport(trials int, watch time.Duration, withWarden, alone []clusterTrial, stuck []stuckTrial, failed map[string]int) string {
	var b strings.Builder
	redisVersion, err := RedisVersion()
	if err != nil {
		redisVersion = "unknown (" + err.Error() + ")"
	}
	fmt.Fprintf(&b, "\n## Redis Cluster: recovery with and without warden (%s)\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "Measured on %s.\n\n", machineLine(redisVersion))
	fmt.Fprintf(&b, "Reproduce with `%s`\n(`WARDEN_BENCH_TRIALS`, `WARDEN_BENCH_CLUSTER_WAIT` and `WARDEN_BENCH_OUT_CLUSTER` change the run).\n\n", clusterBenchCommand)
	fmt.Fprintf(&b, `Each trial starts a fresh cluster on loopback: six redis-server nodes
(cluster-node-timeout 1s, no persistence) made 3 masters with 1 replica each by
`+"`redis-cli --cluster create --cluster-replicas 1`"+`; for warden, three watchdogs
(config.Default(): probe_interval 200ms, down_after 1s, node_strategy majority,
required_watchdogs 2) given one node as seed, and started only once every
watchdog sees all six nodes. After a random pause of 0 to 1 s the masters are
killed with SIGKILL. The clock runs until every surviving node says
`+"`cluster_state:ok`"+` and names the killed masters' replicas masters of their slots
(every survivor polled every 5 ms). The three cases rotate which runs first.

`)
	b.WriteString("| case | trials | median | min | max |\n|---|---|---|---|---|\n")
	row := func(name string, ms []clusterTrial, k string) {
		n := fmt.Sprint(len(ms))
		if failed[k] > 0 {
			n = fmt.Sprintf("%d (+%d failed)", len(ms), failed[k])
		}
		if len(ms) == 0 {
			fmt.Fprintf(&b, "| %s | %s | – | – | – |\n", name, n)
			return
		}
		ds := durations(ms)
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", name, n, secs(medianDur(ds)), secs(ds[0]), secs(ds[len(ds)-1]))
	}
	row("warden: 2 of 3 masters killed (TAKEOVER)", withWarden, caseWarden)
	row("Redis Cluster alone: 1 of 3 masters killed (its own failover)", alone, caseAlone)
	never, allFail := 0, 0
	for _, m := range stuck {
		if !m.recovered {
			never++
		}
		if m.allFail {
			allFail++
		}
	}
	n := fmt.Sprint(len(stuck))
	if failed[caseStuck] > 0 {
		n = fmt.Sprintf("%d (+%d failed)", len(stuck), failed[caseStuck])
	}
	fmt.Fprintf(&b, "| Redis Cluster alone: 2 of 3 masters killed | %s | not recovered after %v in %d of %d trials; every survivor `cluster_state:fail` in %d | | |\n",
		n, watch, never, len(stuck), allFail)
	b.WriteString(`
With warden the clock includes, by design, down_after (1 s) for the
watchdogs' vote and then down_after plus cluster-node-timeout (2 s) more, left
to the cluster to fail the shard over by itself, before warden forces TAKEOVER
on one replica; a "then" in a trial below means that this restored a majority
of masters and the cluster elected the other replica by itself.
`)
	b.WriteString("\n### Every trial\n\n")
	for i, m := range withWarden {
		fmt.Fprintf(&b, "- warden %d: %s — %s\n", i+1, secs(m.recovered), m.note)
	}
	for i, m := range alone {
		fmt.Fprintf(&b, "- Redis Cluster alone, 1 master killed %d: %s\n", i+1, secs(m.recovered))
	}
	for i, m := range stuck {
		verdict := "not recovered"
		if m.recovered {
			verdict = "RECOVERED"
		}
		fmt.Fprintf(&b, "- Redis Cluster alone, 2 masters killed %d: %s within %v; then %s\n", i+1, verdict, watch, strings.Join(m.states, "; "))
	}
	return b.String()
}

//go:build bench

package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestFailoverBenchmark measures, side by side in one run, how long warden
// and Redis Sentinel take from SIGKILL of the master until the new master
// is announced and accepts a write. Every trial gets fresh Redis nodes and
// fresh watchdogs or sentinels. `make bench` runs it; environment:
//
//	WARDEN_BENCH_TRIALS      trials per system and down_after (default 5)
//	WARDEN_BENCH_DOWN_AFTER  comma-separated down_after values (default 1s,5s)
//	WARDEN_BENCH_SYSTEMS     comma-separated systems (default sentinel,warden)
//	WARDEN_BENCH_OUT         Markdown report (default ../BENCHMARKS.md)
func TestFailoverBenchmark(t *testing.T) {
	trials := 5
	if s := os.Getenv("WARDEN_BENCH_TRIALS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("WARDEN_BENCH_TRIALS=%q: want a positive integer", s)
		}
		trials = n
	}
	var downs []time.Duration
	for _, s := range strings.Split(envOr("WARDEN_BENCH_DOWN_AFTER", "1s,5s"), ",") {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil || d < 500*time.Millisecond {
			t.Fatalf("WARDEN_BENCH_DOWN_AFTER: %q is not a duration of at least 500ms", s)
		}
		downs = append(downs, d)
	}
	systems := strings.Split(envOr("WARDEN_BENCH_SYSTEMS", sysSentinel+","+sysWarden), ",")
	var bin string
	for _, s := range systems {
		switch s {
		case sysWarden:
			bin = needWarden(t)
		case sysSentinel:
			if _, _, err := SentinelCommand("x"); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("WARDEN_BENCH_SYSTEMS: unknown system %q (want sentinel, warden)", s)
		}
	}
	out := envOr("WARDEN_BENCH_OUT", "../BENCHMARKS.md")

	var results []benchResult
	for _, d := range downs {
		res := map[string]*benchResult{}
		for _, s := range systems {
			res[s] = &benchResult{system: s, downAfter: d}
		}
		for i := 0; i < trials; i++ {
			order := slices.Clone(systems)
			if i%2 == 1 {
				slices.Reverse(order) // neither side always runs first
			}
			for _, s := range order {
				var m measurement
				var err error
				switch s {
				case sysSentinel:
					m, err = sentinelTrial(t, d)
				case sysWarden:
					m, err = wardenTrial(t, bin, d)
				}
				r := res[s]
				if err != nil {
					t.Errorf("%s, down_after %v, trial %d: %v", s, d, i+1, err)
					r.failed++
					continue
				}
				t.Logf("%-8s down_after %v trial %d: announced after %v, writable after %v", s, d, i+1, m.announced.Round(time.Millisecond), m.writable.Round(time.Millisecond))
				r.trials = append(r.trials, m)
			}
		}
		for _, s := range systems {
			results = append(results, *res[s])
		}
	}
	report := benchReport(results, trials)
	t.Logf("\n%s", report)
	if err := os.WriteFile(out, []byte(report), 0o644); err != nil {
		t.Fatalf("write %s: %v", out, err)
	}
	t.Logf("wrote %s", out)
}

const (
	sysSentinel = "sentinel"
	sysWarden   = "warden"

	// benchPoll is how often the announcement and the write are tried.
	benchPoll = 5 * time.Millisecond
)

type measurement struct {
	announced time.Duration // SIGKILL until a new master is announced
	writable  time.Duration // SIGKILL until a SET on it succeeds
}

type benchResult struct {
	system    string
	downAfter time.Duration
	trials    []measurement
	failed    int
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// sentinelTrial runs three sentinels (quorum 2) over a fresh group, kills
// the master and measures until any sentinel announces a new master that
// accepts a SET.
func sentinelTrial(t *testing.T, downAfter time.Duration) (measurement, error) {
	ctx := t.Context()
	sb, err := NewSandbox(ctx, SandboxOptions{})
	if err != nil {
		return measurement{}, err
	}
	defer sb.Close()
	var ss []*Sentinel
	defer func() {
		for _, s := range ss {
			s.Kill()
		}
	}()
	for i := 0; i < 3; i++ {
		s, err := StartSentinel(ctx, SentinelOptions{
			Dir:             sb.path(fmt.Sprintf("sentinel-%d", i+1)),
			MasterName:      sb.Group,
			Master:          sb.Redis[0].Addr,
			Quorum:          2,
			DownAfter:       downAfter,
			FailoverTimeout: 10 * time.Second,
			ParallelSyncs:   1,
		})
		if err != nil {
			return measurement{}, err
		}
		ss = append(ss, s)
	}
	for _, s := range ss {
		if err := s.WaitReady(ctx, 2, 2, 30*time.Second); err != nil {
			return measurement{}, err
		}
	}
	old := sb.Redis[0].Addr
	m, err := measureFailover(ctx, sb.Redis[0], downAfter, func(ctx context.Context) (string, error) {
		var errs []error
		for _, s := range ss {
			a, err := s.MasterAddr(ctx)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if a != old {
				return a, nil
			}
		}
		return "", errors.Join(errs...)
	})
	if err != nil {
		for _, s := range ss {
			t.Logf("sentinel %s log:\n%s", s.Addr, Tail(s.LogPath, 30))
		}
	}
	return m, err
}

// wardenTrial runs three watchdogs over a fresh group, kills the master and
// measures until any watchdog announces a new master that accepts a SET.
func wardenTrial(t *testing.T, bin string, downAfter time.Duration) (measurement, error) {
	ctx := t.Context()
	sb, err := NewSandbox(ctx, SandboxOptions{WardenBinary: bin, DownAfter: downAfter, LogLevel: "info"})
	if err != nil {
		return measurement{}, err
	}
	defer sb.Close()
	if _, err := WaitForAgreement(ctx, sb.Wardens, sb.Group, 30*time.Second); err != nil {
		return measurement{}, err
	}
	// Every watchdog has probed every node: the same footing as the
	// sentinels, which have seen every replica.
	if err := WaitAllUp(ctx, sb.Wardens, sb.Group, sb.RedisAddrs(), 30*time.Second); err != nil {
		return measurement{}, err
	}
	old := sb.Redis[0].Addr
	m, err := measureFailover(ctx, sb.Redis[0], downAfter, func(ctx context.Context) (string, error) {
		var errs []error
		for _, w := range sb.Wardens {
			g, err := w.API.Group(ctx, sb.Group)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if g.Master != "" && g.Master != old {
				return g.Master, nil
			}
		}
		return "", errors.Join(errs...)
	})
	if err != nil {
		t.Logf("%s", sb.LogTails(40))
	}
	return m, err
}

// measureFailover kills master and polls announce every benchPoll until it
// returns a new address, then tries SET on that address every benchPoll
// until one succeeds.
func measureFailover(ctx context.Context, master *Redis, downAfter time.Duration, announce func(context.Context) (string, error)) (measurement, error) {
	timeout := downAfter + 60*time.Second
	// Kill at a random moment, not right after the state everyone agreed on
	// was first seen: both systems probe on a fixed period, and a kill in a
	// fixed phase of it would favour one of them.
	select {
	case <-ctx.Done():
		return measurement{}, ctx.Err()
	case <-time.After(time.Duration(rand.Int64N(int64(time.Second)))):
	}
	start := time.Now()
	if err := master.Kill(); err != nil {
		return measurement{}, err
	}
	var m measurement
	var addr string
	err := WaitEvery(ctx, timeout, benchPoll, "a new master to be announced", func() (bool, error) {
		qctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		a, err := announce(qctx)
		if a == "" {
			return false, err
		}
		addr = a
		return true, nil
	})
	if err != nil {
		return m, err
	}
	m.announced = time.Since(start)
	c := NewRedisClient(addr, "")
	defer c.Close()
	err = WaitEvery(ctx, timeout, benchPoll, "SET to succeed on the announced master "+addr, func() (bool, error) {
		qctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if err := c.Set(qctx, "bench:probe", start.UnixNano(), 0).Err(); err != nil {
			return false, err
		}
		return true, nil
	})
	if err != nil {
		return m, err
	}
	m.writable = time.Since(start)
	return m, nil
}

func benchReport(results []benchResult, trials int) string {
	var b strings.Builder
	redisVersion, err := RedisVersion()
	if err != nil {
		redisVersion = "unknown (" + err.Error() + ")"
	}
	fmt.Fprintf(&b, "# Failover time: warden and Redis Sentinel side by side\n\n")
	fmt.Fprintf(&b, "Measured %s on %s.\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), machineLine(redisVersion))
	fmt.Fprintf(&b, "Reproduce with `make bench` (that is `go test -tags bench -count=1 -run TestFailoverBenchmark -v ./e2e`;\n")
	fmt.Fprintf(&b, "`WARDEN_BENCH_TRIALS`, `WARDEN_BENCH_DOWN_AFTER`, `WARDEN_BENCH_SYSTEMS` and `WARDEN_BENCH_OUT` change the run).\n\n")
	b.WriteString(`## Method

Each trial starts a fresh group on loopback: one redis-server master and two
replicas (no persistence), watched either by three warden watchdogs
(probe_interval 200ms, node_strategy majority, required_watchdogs 2,
failover strategy offset, parallel_syncs 1) or by three Redis Sentinels
(quorum 2, parallel-syncs 1, failover-timeout 10s), with the same down_after
(Sentinel's down-after-milliseconds). Once every watchdog or sentinel sees
the master and both replicas, and after a further random pause of 0 to 1 s
(so that the kill falls at a random point of either system's probing
period), the master is killed with SIGKILL. The clock
runs from the kill until the new master is announced (every 5 ms, each of
the three is asked: ` + "`GET /v1/groups/{name}`" + ` for warden,
` + "`SENTINEL get-master-addr-by-name`" + ` for Sentinel; the first that names a
new master counts) and a ` + "`SET`" + ` on the announced address succeeds (tried
every 5 ms). The two systems alternate which runs first in each trial.

`)
	b.WriteString("| down_after | system | trials | median | min | max | median − down_after | median announced | warden / Sentinel (median) |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range results {
		ratio := ""
		if r.system == sysWarden {
			for _, o := range results {
				if o.system == sysSentinel && o.downAfter == r.downAfter && len(o.trials) > 0 && len(r.trials) > 0 {
					ratio = fmt.Sprintf("%.2f", float64(median(r.trials, writable))/float64(median(o.trials, writable)))
				}
			}
		}
		name := "Redis Sentinel"
		if r.system == sysWarden {
			name = "warden"
		}
		n := fmt.Sprintf("%d", len(r.trials))
		if r.failed > 0 {
			n = fmt.Sprintf("%d (+%d failed)", len(r.trials), r.failed)
		}
		if len(r.trials) == 0 {
			fmt.Fprintf(&b, "| %v | %s | %s | – | – | – | – | – | %s |\n", r.downAfter, name, n, ratio)
			continue
		}
		med := median(r.trials, writable)
		fmt.Fprintf(&b, "| %v | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.downAfter, name, n,
			secs(med), secs(minOf(r.trials, writable)), secs(maxOf(r.trials, writable)),
			secs(med-r.downAfter), secs(median(r.trials, announced)), ratio)
	}
	b.WriteString("\nTimes are from SIGKILL of the master until a SET on the announced new master succeeds, except \"median announced\" (until the announcement alone).\n\n")
	b.WriteString("## Every trial (announced / writable)\n\n")
	for _, r := range results {
		var parts []string
		for _, m := range r.trials {
			parts = append(parts, fmt.Sprintf("%s / %s", secs(m.announced), secs(m.writable)))
		}
		fmt.Fprintf(&b, "- down_after %v, %s: %s\n", r.downAfter, r.system, strings.Join(parts, "; "))
	}
	return b.String()
}

func writable(m measurement) time.Duration  { return m.writable }
func announced(m measurement) time.Duration { return m.announced }

func sorted(ms []measurement, f func(measurement) time.Duration) []time.Duration {
	ds := make([]time.Duration, len(ms))
	for i, m := range ms {
		ds[i] = f(m)
	}
	slices.Sort(ds)
	return ds
}

func median(ms []measurement, f func(measurement) time.Duration) time.Duration {
	ds := sorted(ms, f)
	n := len(ds)
	if n%2 == 1 {
		return ds[n/2]
	}
	return (ds[n/2-1] + ds[n/2]) / 2
}

func minOf(ms []measurement, f func(measurement) time.Duration) time.Duration {
	return sorted(ms, f)[0]
}

func maxOf(ms []measurement, f func(measurement) time.Duration) time.Duration {
	ds := sorted(ms, f)
	return ds[len(ds)-1]
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3f s", d.Seconds()) }

func machineLine(redisVersion string) string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel := "unknown"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%d CPUs (nproc; %s), Linux %s, %s/%s, redis-server %s, %s",
		runtime.NumCPU(), cpu, kernel, runtime.GOOS, runtime.GOARCH, redisVersion, runtime.Version())
}

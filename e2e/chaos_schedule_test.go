//go:build chaos

package e2e

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// TestChaosFault runs every fault of the catalogue once, each in a fresh
// environment, held 4 s, and checks its invariants (ChaosEnv.RunEpisode).
func TestChaosFault(t *testing.T) {
	for _, name := range Faults() {
		t.Run(name, func(t *testing.T) {
			e := startChaosEnv(t, ChaosEnvOptions{})
			runEpisodes(t, e, mustEpisode(t, name, 4*time.Second))
		})
	}
}

// TestChaosFaultVsSentinel runs each fault of the Redis nodes alone against
// warden and against Redis Sentinel (down-after 1 s, failover-timeout 10 s),
// each in a fresh environment, held 4 s, with the same checker. warden must
// hold every invariant; Sentinel's outcome is reported beside it.
func TestChaosFaultVsSentinel(t *testing.T) {
	if _, _, err := SentinelCommand("x"); err != nil {
		t.Skipf("the comparison needs Redis Sentinel: %v", err)
	}
	var lines []string
	for _, name := range RedisFaults() {
		for _, sentinel := range []bool{true, false} {
			system := "warden"
			if sentinel {
				system = "sentinel"
			}
			t.Run(name+"/"+system, func(t *testing.T) {
				e := startChaosEnv(t, ChaosEnvOptions{Sentinel: sentinel})
				ep := mustEpisode(t, name, 4*time.Second)
				res, err := e.RunEpisode(t.Context(), ep)
				if herr := e.P.Heal(); herr != nil {
					t.Error(herr)
				}
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				t.Log(res)
				lines = append(lines, fmt.Sprintf("%s, %s: %v", name, system, res))
				if len(res.Violations) > 0 && !sentinel {
					t.Errorf("%s: invariants violated: %v", name, res.Violations)
				}
			})
		}
	}
	t.Log("side by side:\n" + strings.Join(lines, "\n"))
}

// TestChaosFlappingMaster is the flapping link: the master cut off
// from the watchdogs and its replicas and let back every second for a
// minute, with block_after 1 minute: at most one failover.
func TestChaosFlappingMaster(t *testing.T) {
	e := startChaosEnv(t, ChaosEnvOptions{BlockAfter: time.Minute, Settle: 90 * time.Second})
	hold := time.Duration(chaosEnvInt(t, "WARDEN_CHAOS_FLAP_SECONDS", 60)) * time.Second
	res := runEpisodes(t, e, mustEpisode(t, FaultMasterFlap, hold))
	t.Logf("flapping for %v: %d failover(s)", hold, res[0].Promotions)
}

// TestChaosRandom is the randomized schedule: WARDEN_CHAOS_RUNS faults
// (default 20) drawn from the catalogue with lengths of 1–4 s, one after
// the other in one environment, each healed and checked before the next.
// The schedule follows from WARDEN_CHAOS_SEED (default: drawn and
// printed), so a failing schedule is replayed with the seed it printed.
// `make chaos RUNS=200 SEED=...` sets both.
func TestChaosRandom(t *testing.T) {
	runs := chaosEnvInt(t, "WARDEN_CHAOS_RUNS", 20)
	seed := chaosEnvInt(t, "WARDEN_CHAOS_SEED", rand.Uint64()%1_000_000_000+1)
	t.Logf("randomized schedule: %d runs, seed %d (replay: make chaos RUNS=%d SEED=%d)", runs, seed, runs, seed)
	rng := rand.New(rand.NewPCG(seed, 0x77617264656e))
	e := startChaosEnv(t, ChaosEnvOptions{})
	counts := map[string]int{}
	var promotions, plainAcked, plainLost, waitAcked, waitLost, violations int
	var worstSplit, worstConverge time.Duration
	for i := 1; i <= int(runs); i++ {
		name, hold := pick(rng), randomHold(rng)
		ep, err := NewEpisode(name, hold, rng)
		if err != nil {
			t.Fatal(err)
		}
		res, err := e.RunEpisode(t.Context(), ep)
		if herr := e.P.Heal(); herr != nil {
			t.Error(herr)
		}
		if err != nil {
			t.Fatalf("run %d of %d (seed %d): %s held %v: %v", i, runs, seed, name, hold.Round(time.Millisecond), err)
		}
		t.Logf("run %d/%d: %v (held %v)", i, runs, res, hold.Round(time.Millisecond))
		if len(res.Violations) > 0 {
			violations++
			t.Errorf("run %d of %d (seed %d): %s held %v: invariants violated: %v", i, runs, seed, name, hold.Round(time.Millisecond), res.Violations)
		}
		counts[name]++
		promotions += res.Promotions
		plainAcked += res.PlainAcked
		plainLost += res.PlainLost
		waitAcked += res.WAITAcked
		waitLost += res.WAITLost
		worstSplit = max(worstSplit, res.SplitBrain)
		worstConverge = max(worstConverge, res.Converged)
	}
	t.Logf("randomized schedule, seed %d: %d runs, %d with invariant violations; %d failovers; plain writes lost %d of %d, WAIT writes lost %d of %d; longest split brain %v; slowest convergence %v; faults drawn: %v",
		seed, runs, violations, promotions, plainLost, plainAcked, waitLost, waitAcked, worstSplit, worstConverge.Round(time.Millisecond), counts)
}

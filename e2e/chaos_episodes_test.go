package e2e

import (
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"
)

// startChaosEnv starts a ChaosEnv closed when the test ends, with logs of
// the watchdogs on failure.
func startChaosEnv(t *testing.T, o ChaosEnvOptions) *ChaosEnv {
	t.Helper()
	o.WardenBinary, o.Dir = needWarden(t), t.TempDir()
	if o.Logf == nil {
		o.Logf = t.Logf
	}
	p := newPartitioner(t)
	e, err := StartChaosEnv(t.Context(), p, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(e.Logs(150))
		}
		e.Close()
	})
	return e
}

// runEpisodes runs each episode in e and fails the test on any violation.
func runEpisodes(t *testing.T, e *ChaosEnv, eps ...*Episode) []EpisodeResult {
	t.Helper()
	var out []EpisodeResult
	for _, ep := range eps {
		res, err := e.RunEpisode(t.Context(), ep)
		if herr := e.P.Heal(); herr != nil {
			t.Error(herr)
		}
		if err != nil {
			t.Fatalf("%s: %v", ep.Name, err)
		}
		t.Log(res)
		if len(res.Violations) > 0 {
			t.Errorf("%s held %v: invariants violated: %v", ep.Name, ep.Hold, res.Violations)
		}
		out = append(out, res)
	}
	return out
}

func mustEpisode(t *testing.T, name string, hold time.Duration) *Episode {
	t.Helper()
	ep, err := NewEpisode(name, hold, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	return ep
}

// TestChaosWatchdogPartitionShort is the watchdogs' own partition that
// `make test` runs: the Raft leader cut off from the two other watchdogs
// while the master dies. The majority side fails over, the old leader
// steps down and acts on nothing, and after the heal the three members
// hold the same state. `make chaos` runs every fault on its own
// (TestChaosFault) and the randomized schedule.
func TestChaosWatchdogPartitionShort(t *testing.T) {
	e := startChaosEnv(t, ChaosEnvOptions{})
	res := runEpisodes(t, e, mustEpisode(t, FaultLeaderIsolatedKill, 4*time.Second))
	if res[0].Promotions != 1 {
		t.Errorf("the majority side made %d promotion(s) while the master was dead for 4 s, want 1", res[0].Promotions)
	}
}

// chaosEnvInt reads a positive integer from the environment variable name,
// or def.
func chaosEnvInt(t *testing.T, name string, def uint64) uint64 {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 {
		t.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}

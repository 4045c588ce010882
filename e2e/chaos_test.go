package e2e

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"warden/config"
)

// newPartitioner returns a Partitioner removed when the test ends, or
// skips the test when iptables cannot be used here.
func newPartitioner(t *testing.T) *Partitioner {
	t.Helper()
	p, err := NewPartitioner()
	if errors.Is(err, ErrIptablesUnusable) {
		t.Skipf("chaos tests cut loopback traffic with iptables, which is not usable here (`make iptables` installs Debian's package; root is needed): %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("removing iptables chain %s: %v", p.Chain, err)
		}
	})
	return p
}

// chaosVariant is one system under the isolated-master scenario.
type chaosVariant struct {
	name, system string
	configure    func(*config.Config)
	redisArgs    []string
}

var (
	variantSentinel = chaosVariant{name: "sentinel", system: ChaosSentinel}
	variantWarden   = chaosVariant{name: "warden", system: ChaosWarden}
	// warden with failover.fence off: what the fence is worth.
	variantWardenNoFence = chaosVariant{name: "warden-fence-off", system: ChaosWarden,
		configure: func(c *config.Config) { c.Failover.Fence = false }}
)

// isolatedMaster runs the isolated-master scenario trials times for each
// variant (Sentinel and warden among them), the variants
// alternating which runs first, and checks warden's promise over the
// summed figures: it loses at most half the plain writes Sentinel loses,
// and no write a replica acknowledged (WAIT).
func isolatedMaster(t *testing.T, isolation time.Duration, trials int, pinned bool, variants ...chaosVariant) {
	runChaos(t, IsolatedMasterOptions{Isolation: isolation, PinnedClient: pinned}, trials, variants...)
}

// runChaos runs the scenario base describes trials times for each variant,
// as isolatedMaster says.
func runChaos(t *testing.T, base IsolatedMasterOptions, trials int, variants ...chaosVariant) {
	bin := needWarden(t)
	if _, _, err := SentinelCommand("x"); err != nil {
		t.Skipf("the comparison needs Redis Sentinel: %v", err)
	}
	p := newPartitioner(t)
	sums := map[string]*IsolatedMasterResult{}
	for trial := 1; trial <= trials; trial++ {
		order := slices.Clone(variants)
		if trial%2 == 0 {
			slices.Reverse(order)
		}
		for _, v := range order {
			dir := t.TempDir()
			o := base
			o.System, o.Name, o.WardenBinary, o.Dir = v.system, v.name, bin, dir
			o.Configure, o.RedisArgs, o.Logf = v.configure, v.redisArgs, t.Logf
			res, err := RunIsolatedMaster(t.Context(), p, o)
			// The rules go whatever happened, before the next run.
			if herr := p.Heal(); herr != nil {
				t.Error(herr)
			}
			if err != nil {
				for _, f := range []string{"w1.log", "w2.log", "w3.log", "sentinel-1/sentinel.log", "sentinel-2/sentinel.log"} {
					if _, serr := os.Stat(filepath.Join(dir, f)); serr == nil {
						t.Logf("----- %s\n%s", f, Tail(filepath.Join(dir, f), 40))
					}
				}
				t.Fatalf("%s, trial %d: %v", v.name, trial, err)
			}
			t.Logf("trial %d: %v; lost, for example: %q", trial, res, res.LostSample)
			sum := sums[v.name]
			if sum == nil {
				sum = &IsolatedMasterResult{System: v.name}
				sums[v.name] = sum
			}
			sum.PlainAcked += res.PlainAcked
			sum.PlainLost += res.PlainLost
			sum.WAITAcked += res.WAITAcked
			sum.WAITLost += res.WAITLost
		}
	}
	scenario := fmt.Sprintf("master isolated for %v, client pinned %v", base.Isolation, base.PinnedClient)
	if base.RestartEmpty {
		scenario = fmt.Sprintf("master restarted empty, %v watched", base.Isolation)
	}
	for _, v := range variants {
		r := sums[v.name]
		t.Logf("%s, %d trial(s), %s: plain writes lost %d of %d (%.1f %%), WAIT writes lost %d of %d",
			scenario, trials, v.name, r.PlainLost, r.PlainAcked, pct(r.PlainLost, r.PlainAcked), r.WAITLost, r.WAITAcked)
	}
	w, s := sums[variantWarden.name], sums[variantSentinel.name]
	if w.WAITLost > 0 {
		t.Errorf("warden lost %d WAIT-acknowledged writes, want 0", w.WAITLost)
	}
	if 2*w.PlainLost > s.PlainLost {
		t.Errorf("warden lost %d plain writes, Sentinel %d: want at most half of Sentinel's", w.PlainLost, s.PlainLost)
	}
}

func pct(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

// TestChaosIsolatedMasterShort is the short isolated-master scenario (3 s,
// one trial) that `make test` runs; `make chaos` runs the 6 s one of the
// issue.
func TestChaosIsolatedMasterShort(t *testing.T) {
	isolatedMaster(t, 3*time.Second, 1, false, variantSentinel, variantWarden)
}

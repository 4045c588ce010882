//go:build chaos

package e2e

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// TestChaosIsolatedMaster is the central scenario: the master cut
// off from the watchdogs (or sentinels) and its replicas, not from the
// application, for 6 s, with down_after 1 s. Redis Sentinel, warden, and
// warden with failover.fence off (for the figure only: what the fence is
// worth) run WARDEN_CHAOS_TRIALS times each (default 3). `make chaos` runs
// it.
func TestChaosIsolatedMaster(t *testing.T) {
	isolatedMaster(t, 6*time.Second, chaosTrials(t), false, variantSentinel, variantWarden, variantWardenNoFence)
}

// TestChaosIsolatedMasterPinnedClient is the isolated master with an
// application that never follows a failover: a plain client of the first
// master's address. What it loses is bounded only by how soon the old
// master stops acknowledging writes alone: warden's write fence.
func TestChaosIsolatedMasterPinnedClient(t *testing.T) {
	isolatedMaster(t, 6*time.Second, chaosTrials(t), true, variantSentinel, variantWarden, variantWardenNoFence)
}

// TestChaosMasterRestartedEmpty: the master (no persistence) is killed and
// started again at once, empty, well within down_after, while a failover
// client writes. Sentinel lets the replicas resync from the empty master;
// warden must fail over instead: the same verdict as the isolated master
// (at most half of Sentinel's plain writes lost, no WAIT write lost).
func TestChaosMasterRestartedEmpty(t *testing.T) {
	runChaos(t, IsolatedMasterOptions{Isolation: 8 * time.Second, RestartEmpty: true}, chaosTrials(t), variantSentinel, variantWarden)
}

// chaosTrials is WARDEN_CHAOS_TRIALS, default 3.
func chaosTrials(t *testing.T) int {
	trials := 3
	if s := os.Getenv("WARDEN_CHAOS_TRIALS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("WARDEN_CHAOS_TRIALS=%q: want a positive integer", s)
		}
		trials = n
	}
	return trials
}

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
	trials := 3
	if s := os.Getenv("WARDEN_CHAOS_TRIALS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("WARDEN_CHAOS_TRIALS=%q: want a positive integer", s)
		}
		trials = n
	}
	isolatedMaster(t, 6*time.Second, trials, variantSentinel, variantWarden, variantWardenNoFence)
}

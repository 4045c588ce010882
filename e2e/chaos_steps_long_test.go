//go:build chaos

package e2e

import "testing"

// TestChaosLeaderKilledAtEachStep kills the leader (a failpoint) at each
// step of a failover in turn: right after the begin is recorded, before the
// promotion, and after the first replica was repointed. The kill right
// after the promotion is TestChaosLeaderKilledAfterPromote, which `make
// test` runs too. `make chaos` runs them all.
func TestChaosLeaderKilledAtEachStep(t *testing.T) {
	for _, fp := range []string{"failover.after_begin", "failover.before_promote", "failover.during_repoint"} {
		t.Run(fp, func(t *testing.T) { leaderKilledAt(t, fp) })
	}
}

//go:build chaos

package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"warden/config"
)

// The wall clock of this machine jumps (an NTP step, an operator's
// date -s) while warden watches a group. Linux has no per-process wall
// clock and Go binaries ignore libfaketime, so the jump is host-wide: the
// three watchdogs, the Redis nodes and this test all see it. The jumps are
// kept small (minutes) so that the test certificates (valid from an hour
// before their creation) stay valid, and the clock is always put back.

// clockJumper moves CLOCK_REALTIME and puts it back precisely: the true
// time is the wall time at its creation plus the monotonic time elapsed
// since, which no jump touches.
type clockJumper struct {
	start  time.Time // wall and monotonic reading at creation
	offset time.Duration
}

// newClockJumper returns a jumper whose Cleanup restores the clock, or
// skips the test when the clock may not be set here (EPERM: not root, or
// no CAP_SYS_TIME).
func newClockJumper(t *testing.T) *clockJumper {
	t.Helper()
	j := &clockJumper{start: time.Now()}
	if err := j.set(0); err != nil {
		if errors.Is(err, syscall.EPERM) {
			t.Skipf("the clock-jump chaos test sets this machine's wall clock (settimeofday), which needs root or CAP_SYS_TIME: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := j.set(0); err != nil {
			t.Errorf("RESTORING THE WALL CLOCK FAILED (it is off by %s; fix it by hand): %v", j.offset, err)
			return
		}
		t.Logf("wall clock restored: off by %s from the true time", time.Now().Round(0).Sub(j.truth()).Round(time.Microsecond))
	})
	return j
}

// truth is what the wall clock would read had it never been moved.
func (j *clockJumper) truth() time.Time { return j.start.Round(0).Add(time.Since(j.start)) }

// set puts the wall clock at the true time plus offset.
func (j *clockJumper) set(offset time.Duration) error {
	tv := syscall.NsecToTimeval(j.truth().Add(offset).UnixNano())
	if err := syscall.Settimeofday(&tv); err != nil {
		return fmt.Errorf("settimeofday: %w", err)
	}
	j.offset = offset
	return nil
}

// jump moves the wall clock by d (on top of the jumps in force).
func (j *clockJumper) jump(t *testing.T, d time.Duration) {
	t.Helper()
	before := time.Now().Round(0)
	if err := j.set(j.offset + d); err != nil {
		t.Fatal(err)
	}
	t.Logf("wall clock jumped by %s: %s -> %s", d, before.Format(time.TimeOnly), time.Now().Round(0).Format(time.TimeOnly))
}

// raftLeaderTerm returns the leader and term every member of ws reports,
// or an error when they disagree or one has none.
func raftLeaderTerm(ctx context.Context, ws []*Warden) (string, uint64, error) {
	var leader string
	var term uint64
	for i, w := range ws {
		st, err := w.API.Status(ctx)
		if err != nil {
			return "", 0, fmt.Errorf("%s: %w", w.ID, err)
		}
		if st.LeaderID == "" || st.Term == 0 {
			return "", 0, fmt.Errorf("%s knows no leader (term %d)", w.ID, st.Term)
		}
		if i > 0 && (st.LeaderID != leader || st.Term != term) {
			return "", 0, fmt.Errorf("%s says leader %s term %d, %s says leader %s term %d", ws[0].ID, leader, term, w.ID, st.LeaderID, st.Term)
		}
		leader, term = st.LeaderID, st.Term
	}
	return leader, term, nil
}

// holdFor checks, every PollInterval for d, that check passes; it returns
// the first failure.
func holdFor(ctx context.Context, d time.Duration, what string, check func() error) error {
	var failed error
	err := WaitFor(ctx, d, what, func() (bool, error) {
		failed = check()
		return failed != nil, nil
	})
	if failed != nil {
		return failed
	}
	if errors.Is(err, ErrTimeout) {
		return nil
	}
	return err
}

// clockRun is one clock-jump scenario on a group of 3 Redis nodes and 3
// watchdogs.
type clockRun struct {
	t          *testing.T
	sb         *Sandbox
	blockAfter time.Duration
	leader     string
	term       uint64
}

func startClockRun(t *testing.T, blockAfter time.Duration) *clockRun {
	t.Helper()
	sb, _ := startGroupWith(t, SandboxOptions{Configure: func(c *config.Config) { c.Failover.BlockAfter = config.Duration(blockAfter) }})
	return &clockRun{t: t, sb: sb, blockAfter: blockAfter}
}

// killMaster kills the master the watchdogs agree on and returns its
// address and when it was killed.
func (r *clockRun) killMaster() (string, time.Time) {
	r.t.Helper()
	g, err := WaitForAgreement(r.t.Context(), r.sb.Wardens, r.sb.Group, settleTimeout)
	if err != nil {
		r.t.Fatal(err)
	}
	killed := time.Now()
	if err := r.sb.Node(g.Master).Kill(); err != nil {
		r.t.Fatal(err)
	}
	r.t.Logf("killed master %s (epoch %d)", g.Master, g.Epoch)
	return g.Master, killed
}

// firstFailover kills the master, waits for the promotion (polled every
// 50 ms: the moment it is seen is within a poll of its apply) and for its
// end on every member, and records the Raft leader and term. It returns
// when the promotion was seen.
func (r *clockRun) firstFailover() time.Time {
	r.t.Helper()
	ctx := r.t.Context()
	old, killed := r.killMaster()
	g, err := WaitForMaster(ctx, r.sb.Wardens, r.sb.Group, old, failoverTimeout)
	if err != nil {
		r.t.Fatal(err)
	}
	promoted := time.Now()
	r.t.Logf("first failover: %s promoted (epoch %d) %s after the kill", g.Master, g.Epoch, promoted.Sub(killed).Round(time.Millisecond))
	waitFailoverRecorded(r.t, r.sb.Wardens, r.sb.Group, old)
	if r.leader, r.term, err = raftLeaderTerm(ctx, r.sb.Wardens); err != nil {
		r.t.Fatal(err)
	}
	r.t.Logf("raft leader %s, term %d", r.leader, r.term)
	return promoted
}

// sameLeadership checks that the jumps cost no election.
func (r *clockRun) sameLeadership() {
	r.t.Helper()
	leader, term, err := raftLeaderTerm(r.t.Context(), r.sb.Wardens)
	if err != nil {
		r.t.Fatal(err)
	}
	if leader != r.leader || term != r.term {
		r.t.Fatalf("raft leadership changed across the clock jump: leader %s term %d, was %s term %d", leader, term, r.leader, r.term)
	}
	r.t.Logf("raft leader %s, term %d: unchanged", leader, term)
}

// refusal returns the anti-flapping refusal recorded for the group, if
// any.
func (r *clockRun) refusal() (hookEvent, bool, error) {
	p, err := getEvents(r.t.Context(), r.sb.Wardens[0], "since=0")
	if err != nil {
		return hookEvent{}, false, err
	}
	for _, e := range p.Events {
		if e.Kind == "failover_refused" && e.Group == r.sb.Group && strings.Contains(e.Message, "anti-flapping") {
			return e, true, nil
		}
	}
	return hookEvent{}, false, nil
}

// waitRefusal waits for the anti-flapping refusal and logs it.
func (r *clockRun) waitRefusal(timeout time.Duration) {
	r.t.Helper()
	var ev hookEvent
	err := WaitFor(r.t.Context(), timeout, "an anti-flapping failover_refused event", func() (bool, error) {
		e, ok, err := r.refusal()
		ev = e
		return ok, err
	})
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Logf("refused: %s", ev.Message)
}

// secondFailover waits until a member reports a master other than old and
// returns when that was seen.
func (r *clockRun) secondFailover(old string, timeout time.Duration) time.Time {
	r.t.Helper()
	g, err := WaitForMaster(r.t.Context(), r.sb.Wardens, r.sb.Group, old, timeout)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Logf("second failover: %s promoted (epoch %d)", g.Master, g.Epoch)
	return time.Now()
}

// TestChaosClock: a wall-clock jump must neither shorten nor stretch the
// anti-flapping window (failover.block_after), which warden measures on
// each member's monotonic clock from its apply of the promotion, and
// must cost no Raft election. `make chaos` runs it (root: it sets the
// machine's clock, and always puts it back).
func TestChaosClock(t *testing.T) {
	// Forward: with the clock 2 minutes ahead, a wall-clock window
	// (last promotion + 1 min) would look long over: a second promotion
	// would follow the second kill at once.
	t.Run("forward", func(t *testing.T) {
		const blockAfter, jump, hold = time.Minute, 2 * time.Minute, 15 * time.Second
		r := startClockRun(t, blockAfter)
		j := newClockJumper(t)
		promoted := r.firstFailover()
		j.jump(t, jump)
		old, _ := r.killMaster()
		ctx := t.Context()
		err := holdFor(ctx, hold, "no second promotion", func() error {
			for _, w := range r.sb.Wardens {
				g, err := w.API.Group(ctx, r.sb.Group)
				if err != nil {
					continue // one slow answer is not a promotion
				}
				if g.Master != old || g.FailingOver() {
					return fmt.Errorf("%s: promoted again %s after the first promotion, inside the %s window: master %s epoch %d status %s",
						w.ID, time.Since(promoted).Round(time.Millisecond), blockAfter, g.Master, g.Epoch, g.Status)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("no second promotion for %s after the kill (%s after the first promotion)", hold, time.Since(promoted).Round(time.Millisecond))
		r.waitRefusal(settleTimeout)
		// The API shows what is left of the window on the (jumped) wall
		// clock: at most block_after.
		g, err := r.sb.Wardens[0].API.Group(ctx, r.sb.Group)
		if err != nil {
			t.Fatal(err)
		}
		if g.BlockedUntil == nil {
			t.Fatalf("GET /v1/groups/%s shows no blocked_until inside the window", r.sb.Group)
		}
		if left := time.Until(*g.BlockedUntil); left <= 0 || left > blockAfter {
			t.Fatalf("blocked_until %s is %s from the wall clock, want within (0, %s]", g.BlockedUntil.Format(time.RFC3339Nano), left, blockAfter)
		}
		// The window closes block_after after the first promotion, by the
		// monotonic clock: not at once (a wall-clock window would be long
		// over), not 2 minutes later.
		err = WaitFor(ctx, blockAfter+failoverTimeout, "the anti-flapping window to close", func() (bool, error) {
			g, err := r.sb.Wardens[0].API.Group(ctx, r.sb.Group)
			return err == nil && g.BlockedUntil == nil, err
		})
		if err != nil {
			t.Fatal(err)
		}
		took := time.Since(promoted)
		t.Logf("MEASURED forward %s: no promotion inside the window; window closed %s after the first promotion (block_after %s)", jump, took.Round(time.Millisecond), blockAfter)
		if took < blockAfter-time.Second || took > blockAfter+2*time.Second {
			t.Fatalf("the window closed %s after the promotion, want %s (± a poll)", took, blockAfter)
		}
		// By then the last replica has been cut from its master for longer
		// than 10 × down_after: too stale to promote (the ranking's rule,
		// clock or no clock). Say what warden decided.
		if p, err := getEvents(ctx, r.sb.Wardens[0], "since=0"); err == nil {
			for _, e := range p.Events {
				if e.Kind == "failover_refused" && !strings.Contains(e.Message, "anti-flapping") {
					t.Logf("after the window: %s", e.Message)
				}
			}
		}
		r.sameLeadership()
	})

	// Backward: with the clock 10 minutes behind, a wall-clock window
	// would block failover for 10 minutes more (and the views, older than
	// the group's last change by the wall clock, would not count).
	t.Run("backward", func(t *testing.T) {
		const blockAfter, jump = 5 * time.Second, -10 * time.Minute
		r := startClockRun(t, blockAfter)
		j := newClockJumper(t)
		promoted := r.firstFailover()
		j.jump(t, jump)
		old, _ := r.killMaster()
		second := r.secondFailover(old, blockAfter+failoverTimeout)
		took := second.Sub(promoted)
		t.Logf("MEASURED backward %s: second promotion %s after the first (block_after %s)", jump, took.Round(time.Millisecond), blockAfter)
		if took < blockAfter-time.Second {
			t.Fatalf("second promotion %s after the first, inside the %s window", took, blockAfter)
		}
		// The refusal is there when the kill was seen before the window
		// ended (the first failover's end is awaited before the kill).
		if e, ok, err := r.refusal(); err != nil {
			t.Fatal(err)
		} else if ok {
			t.Logf("refused first: %s", e.Message)
		} else {
			t.Logf("no refusal: the second kill was detected after the %s window", blockAfter)
		}
		r.sameLeadership()
	})
}

package raftstore

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"
	"time"
)

// snapshotBytes is what a snapshot of f persists.
func snapshotBytes(t *testing.T, f *FSM) []byte {
	t.Helper()
	s, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var out sink
	if err := s.Persist(&out); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// promoted applies a failover of g whose commands carry the wall-clock
// stamp stamp, as a leader whose clock is off would write them.
func promoted(t *testing.T, stamp time.Time) *FSM {
	t.Helper()
	f := NewFSM()
	mustApply(t, f, 1, &GroupsEnsure{Groups: []GroupSpec{{Name: "g", Nodes: []string{"a:1", "b:1"}}}, At: stamp})
	mustApply(t, f, 2, &MasterDiscovered{Group: "g", Master: "a:1", Epoch: 0, At: stamp})
	mustApply(t, f, 3, &FailoverBegin{Group: "g", Failover: Failover{Epoch: 1, From: "a:1", To: "b:1"}, At: stamp})
	mustApply(t, f, 4, &FailoverPromoted{Group: "g", Epoch: 1, At: stamp})
	mustApply(t, f, 5, &FailoverEnd{Group: "g", Epoch: 1, OK: true, At: stamp})
	return f
}

// The anti-flapping window runs from this member's apply, whatever the
// wall-clock stamp in the command says.
func TestBlockedForIgnoresTheWallClockStamp(t *testing.T) {
	const window = time.Minute
	for _, skew := range []time.Duration{-time.Hour, 0, time.Hour} {
		before := time.Now()
		f := promoted(t, before.Add(skew))
		after := time.Now()
		g, _ := f.Group("g")
		if g.PromotedLocal.Before(before) || g.PromotedLocal.After(after) || g.UpdatedLocal.Before(g.PromotedLocal) {
			t.Fatalf("skew %s: local stamps %s / %s not taken at apply (%s..%s)", skew, g.PromotedLocal, g.UpdatedLocal, before, after)
		}
		if !g.LastPromotionAt.Equal(before.Add(skew)) {
			t.Fatalf("skew %s: the wall-clock stamp %s is not kept for display", skew, g.LastPromotionAt)
		}
		now := time.Now()
		if left := g.BlockedFor(window, now); left > window || left < window-now.Sub(before) {
			t.Fatalf("skew %s: %s left of a %s window just after the promotion", skew, left, window)
		}
		if left := g.BlockedFor(window, g.PromotedLocal.Add(window-time.Nanosecond)); left != time.Nanosecond {
			t.Fatalf("skew %s: a nanosecond before the end, %s left", skew, left)
		}
		if left := g.BlockedFor(window, g.PromotedLocal.Add(window)); left != 0 {
			t.Fatalf("skew %s: at the end, %s left", skew, left)
		}
	}
}

// Without local stamps (a group built by hand), a wall-clock stamp ahead
// of now counts as now: the window never lasts longer than its length.
func TestBlockedForWallClockFallbackIsBounded(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	g := Group{LastPromotionAt: now.Add(time.Hour)}
	if left := g.BlockedFor(time.Minute, now); left != time.Minute {
		t.Fatalf("stamp an hour ahead: %s left", left)
	}
	g = Group{LastPromotionAt: now.Add(-30 * time.Second)}
	if left := g.BlockedFor(time.Minute, now); left != 30*time.Second {
		t.Fatalf("stamp 30s ago: %s left", left)
	}
	if left := (&Group{}).BlockedFor(time.Minute, now); left != 0 {
		t.Fatalf("no promotion: %s left", left)
	}
}

// What the FSM persists does not depend on when it applied the commands,
// and a restore restarts every window at the restore.
func TestLocalStampsStayOutOfSnapshots(t *testing.T) {
	stamp := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a := snapshotBytes(t, promoted(t, stamp))
	b := snapshotBytes(t, promoted(t, stamp))
	if !bytes.Equal(a, b) {
		t.Fatalf("two members applying the same log persist different states:\n%s\n%s", a, b)
	}
	r := NewFSM()
	before := time.Now()
	if err := r.Restore(io.NopCloser(bytes.NewReader(a))); err != nil {
		t.Fatal(err)
	}
	g, _ := r.Group("g")
	if g.PromotedLocal.Before(before) || g.UpdatedLocal.Before(before) {
		t.Fatalf("restored stamps %s / %s are older than the restore at %s", g.PromotedLocal, g.UpdatedLocal, before)
	}
	if left := g.BlockedFor(time.Minute, g.PromotedLocal); left != time.Minute {
		t.Fatalf("a window restored from a promotion recorded in %s: %s left at the restore, want all of it", stamp, left)
	}
	evs, _ := r.EventsSince(0, 0)
	if len(evs) == 0 || evs[0].Recorded().Before(before) {
		t.Fatalf("restored events not stamped at the restore: %+v", evs)
	}
}

// ForgotLocal moves only when ForgotAt does: every later progress carries
// the same ForgotAt again.
func TestForgotLocalFollowsForgotAt(t *testing.T) {
	f := withCluster(t)
	mustApply(t, f, 5, &OpBegin{Operation: addShardOp(), At: at})
	o, _ := f.Operation("c-op1")
	if !o.Forgot().IsZero() {
		t.Fatalf("forgot before any forget: %s", o.Forgot())
	}
	forgot := at.Add(time.Hour)
	mustApply(t, f, 6, &OpProgress{ID: "c-op1", ForgotAt: &forgot, At: at})
	o, _ = f.Operation("c-op1")
	first := o.ForgotLocal
	if first.IsZero() || !o.Forgot().Equal(first) {
		t.Fatalf("ForgotLocal %s after the forget", first)
	}
	mustApply(t, f, 7, &OpProgress{ID: "c-op1", Cursor: 1, ForgotAt: &forgot, At: at})
	if o, _ = f.Operation("c-op1"); o.ForgotLocal != first {
		t.Fatalf("a progress with the same ForgotAt moved ForgotLocal from %s to %s", first, o.ForgotLocal)
	}
}

// The retry wait after a failed forced cluster failover runs from the
// local apply of its end.
func TestClusterFailoverEndedIsLocal(t *testing.T) {
	f := withCluster(t)
	stamp := time.Now().Add(-time.Hour)
	mustApply(t, f, 5, &ClusterFailoverBegin{Cluster: "c", Failover: ClusterFailover{Mode: ModeForce, ShardMaster: "m1"}, At: stamp})
	before := time.Now()
	mustApply(t, f, 6, &ClusterFailoverEnd{Cluster: "c", ID: "c-c1", OK: false, Error: "x", At: stamp})
	c, _ := f.Cluster("c")
	if e := c.LastFailover.Ended(); e.Before(before) || c.ChangedAt().Before(before) {
		t.Fatalf("ended %s, changed %s: not the apply moment (after %s)", e, c.ChangedAt(), before)
	}
}

package watchdog

import (
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"warden/raftstore"
)

func decideAt(now time.Time, g raftstore.Group, age time.Duration) Decision {
	var rs []Report
	for _, w := range []string{"w1", "w2", "w3"} {
		rs = append(rs, Report{From: w, Seq: 1, Obs: masterDead(), ReceivedAt: now.Add(-age)})
	}
	return Decide(Input{Now: now, Params: params(), Group: g, Trusted: true, Reports: rs})
}

func blocked(d Decision) bool {
	return len(d.Actions) == 1 && d.Actions[0].Refusal && strings.Contains(d.Actions[0].Reason, "anti-flapping")
}

// The anti-flapping window runs block_after from this member's apply of
// the promotion, whatever wall-clock stamp the leader wrote (a leader an
// hour ahead or behind, or a jump since).
func TestAntiFlappingWindowIgnoresWallClockStamp(t *testing.T) {
	p := params()
	for _, skew := range []time.Duration{-time.Hour, 0, time.Hour} {
		now := time.Now() // with its monotonic reading, as in the service
		g := group()
		g.UpdatedLocal = now.Add(-2 * p.BlockAfter)
		g.LastPromotionAt = now.Add(skew)
		g.PromotedLocal = now.Add(-p.BlockAfter + time.Millisecond)
		if d := decideAt(now, g, 0); !blocked(d) {
			t.Fatalf("skew %s, 1ms before the window ends: %s, want blocked", skew, kinds(d))
		}
		g.PromotedLocal = now.Add(-p.BlockAfter)
		if d := decideAt(now, g, 0); kinds(d) != "failover" {
			t.Fatalf("skew %s, at the window's end: %s, want failover", skew, kinds(d))
		}
	}
}

// The same through the FSM: the promotion is applied with a wall-clock
// stamp an hour off; the window still ends exactly block_after after the
// apply, measured on the monotonic clock.
func TestAntiFlappingWindowFromFSMApply(t *testing.T) {
	p := params()
	for _, skew := range []time.Duration{-time.Hour, time.Hour} {
		f := raftstore.NewFSM()
		stamp := time.Now().Add(skew)
		for i, c := range []raftstore.Command{
			&raftstore.GroupsEnsure{Groups: []raftstore.GroupSpec{{Name: "g", Nodes: []string{nA, nB, nC}}}, At: stamp},
			&raftstore.MasterDiscovered{Group: "g", Master: nB, Epoch: 0, At: stamp},
			&raftstore.FailoverBegin{Group: "g", Failover: raftstore.Failover{Epoch: 1, From: nB, To: nA}, At: stamp},
			&raftstore.FailoverPromoted{Group: "g", Epoch: 1, RunID: "run-a", At: stamp},
			&raftstore.FailoverEnd{Group: "g", Epoch: 1, OK: true, At: stamp},
		} {
			b, err := raftstore.Encode(c)
			if err != nil {
				t.Fatal(err)
			}
			if res := f.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: b}); res != nil {
				t.Fatalf("apply %T: %v", c, res)
			}
		}
		g, _ := f.Group("g")
		end := g.PromotedLocal.Add(p.BlockAfter)
		if d := decideAt(end.Add(-time.Millisecond), g, 0); !blocked(d) {
			t.Fatalf("skew %s, 1ms before block_after after the apply: %s, want blocked", skew, kinds(d))
		}
		if d := decideAt(end, g, 0); kinds(d) != "failover" {
			t.Fatalf("skew %s, block_after after the apply: %s, want failover", skew, kinds(d))
		}
	}
}

// Views are weighed against the group's last change as this member
// applied it, not against the leader's wall-clock UpdatedAt: a stamp an
// hour ahead (the leader's clock, or one from before a backward jump)
// must not make every view look older than the change for an hour.
func TestViewsAgainstLocalChange(t *testing.T) {
	now := time.Now()
	g := group()
	g.UpdatedAt, g.UpdatedLocal = now.Add(time.Hour), now.Add(-time.Second)
	if d := decideAt(now, g, 0); kinds(d) != "failover" {
		t.Fatalf("change stamped an hour ahead, applied a second ago: %s, want failover", kinds(d))
	}
	g.UpdatedAt, g.UpdatedLocal = now.Add(-time.Hour), now.Add(-50*time.Millisecond)
	if d := decideAt(now, g, 100*time.Millisecond); kinds(d) != "note" {
		t.Fatalf("views taken before the change applied here: %s, want a note (waiting)", kinds(d))
	}
}

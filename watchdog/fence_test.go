package watchdog

import (
	"strings"
	"testing"
	"time"

	"warden/config"
)

// TestDecideFence: the write fence of a healthy master, as decided from
// the views, the mode and how long the master has been without a replica.
func TestDecideFence(t *testing.T) {
	gone := func() map[string]Obs { return map[string]Obs{nA: master(100), nB: down(), nC: down()} }
	syncing := func() map[string]Obs {
		m := gone()
		m[nB] = lost(nA, 50) // back, resyncing: not attached yet
		return m
	}
	oneLeft := func() map[string]Obs { m := gone(); m[nC] = replica(nA, 100); return m }
	otherMaster := func() map[string]Obs { m := gone(); m[nC] = replica(nB, 100); return m }
	starting := func() map[string]Obs { return map[string]Obs{nA: master(100), nB: failing(), nC: failing()} }
	halfGone := func() map[string]Obs { m := gone(); m[nC] = failing(); return m }
	lostAt := func(ago time.Duration) FenceState { return FenceState{Master: nA, ReplicasLostAt: t0.Add(-ago)} }
	cases := []struct {
		name   string
		mode   string
		prev   FenceState
		obs    func() map[string]Obs
		kinds  string
		lostAt time.Time // Decision.Fence.ReplicasLostAt
		reason string    // substring of the fence action's (or note's) reason
	}{
		{"off: nothing", config.FenceOff, FenceState{}, healthy, "", time.Time{}, ""},
		{"no mode is off", "", lostAt(time.Hour), gone, "", time.Time{}, ""},
		{"replicas attached: fence", config.FenceOn, FenceState{}, healthy, "fence", time.Time{}, "is attached"},
		{"one replica left is enough", config.FenceOn, lostAt(time.Hour), oneLeft, "fence", time.Time{}, nC + " is attached"},
		{"strict fences too", config.FenceStrict, FenceState{}, healthy, "fence", time.Time{}, "is attached"},
		{"replicas just lost: start counting, keep the fence", config.FenceOn, FenceState{}, gone, "", t0, ""},
		{"lost for less than down_after: wait", config.FenceOn, lostAt(900 * time.Millisecond), gone, "", t0.Add(-900 * time.Millisecond), ""},
		{"lost for down_after: lift", config.FenceOn, lostAt(time.Second), gone, "unfence", t0.Add(-time.Second), "every replica of 10.0.0.1:6379 down for 1s"},
		{"lost long ago, counted for another master: start afresh", config.FenceOn, FenceState{Master: nB, ReplicasLostAt: t0.Add(-time.Hour)}, gone, "", t0, ""},
		{"a time in the future is not trusted", config.FenceOn, lostAt(-time.Hour), gone, "", t0, ""},
		{"strict keeps the fence", config.FenceStrict, lostAt(time.Hour), gone, "note", t0.Add(-time.Hour), "mode strict"},
		{"a resyncing replica is not attached, but not gone: no count", config.FenceOn, lostAt(2 * time.Second), syncing, "", time.Time{}, ""},
		{"a replica of another node is not gone: no count", config.FenceOn, lostAt(2 * time.Second), otherMaster, "reattach", time.Time{}, ""},
		{"replicas failing their first probes are not gone yet", config.FenceOn, lostAt(2 * time.Second), starting, "", time.Time{}, ""},
		{"one replica down, one failing: not all gone", config.FenceOn, lostAt(2 * time.Second), halfGone, "", time.Time{}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := params()
			p.FenceMaxLag = 1
			rs := []Report{rep("w1", 0, c.obs()), rep("w2", 0, c.obs()), rep("w3", 0, c.obs())}
			d := Decide(Input{Now: t0, Params: p, Group: group(), Trusted: true, Reports: rs, FenceMode: c.mode, Fence: c.prev})
			if got := kinds(d); got != c.kinds {
				for _, a := range d.Actions {
					t.Logf("action: %s", a)
				}
				t.Fatalf("actions %q, want %q", got, c.kinds)
			}
			if !d.Fence.ReplicasLostAt.Equal(c.lostAt) {
				t.Errorf("replicas lost at %v, want %v", d.Fence.ReplicasLostAt, c.lostAt)
			}
			if d.Fence.Master != nA {
				t.Errorf("fence state counted for %q, want %s", d.Fence.Master, nA)
			}
			for _, a := range d.Actions {
				if a.Kind == ActReattach {
					continue
				}
				if a.Kind != ActNote && (a.Node != nA || a.Group != "g") {
					t.Errorf("%s on %s of %s, want the master %s of g", a.Kind, a.Node, a.Group, nA)
				}
				if a.Kind == ActFence && a.MaxLag != 1 {
					t.Errorf("fence with max lag %d, want 1", a.MaxLag)
				}
				if !strings.Contains(a.Reason, c.reason) {
					t.Errorf("reason %q does not say %q", a.Reason, c.reason)
				}
			}
		})
	}
}

// TestDecideFenceOnlyForAHealthyMaster: a master that is down, or a group
// waiting for views, gets no fence action and keeps its count.
func TestDecideFenceOnlyForAHealthyMaster(t *testing.T) {
	prev := FenceState{Master: nA, ReplicasLostAt: t0.Add(-time.Hour)}
	rs := []Report{rep("w1", 0, masterDead()), rep("w2", 0, masterDead()), rep("w3", 0, masterDead())}
	d := Decide(Input{Now: t0, Params: params(), Group: group(), Trusted: true, Reports: rs, FenceMode: config.FenceOn, Fence: prev})
	if _, ok := find(d, ActUnfence); ok || kinds(d) != "failover" {
		t.Errorf("master down: actions %q, want only failover", kinds(d))
	}
	if d.Fence != prev {
		t.Errorf("fence state %+v, want the previous one %+v", d.Fence, prev)
	}
}

// TestDecideReattachesAMasterSeenByOneWatchdog: a node that claims master
// is demoted as soon as any watchdog reaches it; a stray replica waits for
// a majority.
func TestDecideReattachesAMasterSeenByOneWatchdog(t *testing.T) {
	seenBy := func(n string, o Obs) []Report {
		one := healthy()
		one[n] = o
		other := healthy()
		other[n] = failing()
		return []Report{rep("w1", 0, one), rep("w2", 0, other), rep("w3", 0, other)}
	}
	d := Decide(Input{Now: t0, Params: params(), Group: group(), Trusted: true, Reports: seenBy(nC, master(150))})
	if a, ok := find(d, ActReattach); !ok || a.Node != nC || a.Master != nA {
		t.Errorf("old master seen by one watchdog: actions %q, want a re-attach of %s", kinds(d), nC)
	}
	d = Decide(Input{Now: t0, Params: params(), Group: group(), Trusted: true, Reports: seenBy(nC, replica(nB, 100))})
	if _, ok := find(d, ActReattach); ok {
		t.Errorf("stray replica seen by one watchdog: actions %q, want none", kinds(d))
	}
}

func TestReplicaAcked(t *testing.T) {
	cases := []struct {
		name string
		info map[string]string
		lag  int
		want bool
	}{
		{"online, acknowledged this second", map[string]string{"role": "master", "connected_slaves": "1",
			"slave0": "ip=127.0.0.1,port=6380,state=online,offset=100,lag=0"}, 1, true},
		{"online, lag at the limit", map[string]string{"slave0": "ip=127.0.0.1,port=6380,state=online,offset=100,lag=1"}, 1, false},
		{"a larger max lag", map[string]string{"slave0": "ip=127.0.0.1,port=6380,state=online,offset=100,lag=1"}, 3, true},
		{"still syncing", map[string]string{"slave0": "ip=127.0.0.1,port=6380,state=wait_bgsave,offset=0,lag=0"}, 1, false},
		{"the second replica is the fresh one", map[string]string{
			"slave0": "ip=127.0.0.1,port=6380,state=online,offset=100,lag=7",
			"slave1": "ip=127.0.0.1,port=6381,state=online,offset=100,lag=0"}, 1, true},
		{"no replica", map[string]string{"role": "master", "connected_slaves": "0", "slave_read_only": "1"}, 1, false},
		{"a replica's own fields are not replicas", map[string]string{"slave_repl_offset": "100", "slave_priority": "100"}, 1, false},
	}
	for _, c := range cases {
		if got := replicaAcked(c.info, c.lag); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

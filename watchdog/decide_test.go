package watchdog

import (
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"warden/config"
	"warden/raftstore"
)

const (
	nA = "10.0.0.1:6379"
	nB = "10.0.0.2:6379"
	nC = "10.0.0.3:6379"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func params() Params {
	return Params{
		Members: 3, Required: 2, NodeStrategy: config.StrategyMajority, FailoverStrategy: config.FailoverOffset,
		ProbeInterval: 200 * time.Millisecond, DownAfter: time.Second, BlockAfter: time.Minute,
		FreshnessInterval: 600 * time.Millisecond,
	}
}

func group() raftstore.Group {
	return raftstore.Group{
		Name: "g", Nodes: []string{nA, nB, nC}, Master: nA, MasterRunID: "run-a", Epoch: 3,
		Status: raftstore.StatusOK, UpdatedAt: t0.Add(-time.Hour),
	}
}

func master(offset int64) Obs {
	return Obs{Up: true, Known: true, Role: RoleMaster, Offset: offset, RunID: "run-a", LastIOSec: -1, LinkDownSec: -1, Replicas: 2}
}

func replica(of string, offset int64) Obs {
	return Obs{Up: true, Known: true, Role: RoleReplica, MasterAddr: of, LinkUp: true, LastIOSec: 0, LinkDownSec: -1,
		Offset: offset, Priority: 100, RunID: "run-" + of, LatencyMs: 1}
}

func down() Obs    { return Obs{Known: true, Down: true, FailingForMs: 1500, Err: "connection refused"} }
func failing() Obs { return Obs{Known: true, FailingForMs: 300, Err: "connection refused"} }

// lost is a replica whose link to its master is down.
func lost(of string, offset int64) Obs {
	o := replica(of, offset)
	o.LinkUp, o.LastIOSec, o.LinkDownSec = false, -1, 2
	return o
}

func rep(from string, age time.Duration, obs map[string]Obs) Report {
	return Report{From: from, Seq: 1, Obs: obs, ReceivedAt: t0.Add(-age)}
}

func healthy() map[string]Obs {
	return map[string]Obs{nA: master(100), nB: replica(nA, 100), nC: replica(nA, 100)}
}

func masterDead() map[string]Obs {
	return map[string]Obs{nA: down(), nB: lost(nA, 100), nC: lost(nA, 90)}
}

func kinds(d Decision) string {
	var ks []string
	for _, a := range d.Actions {
		ks = append(ks, string(a.Kind))
	}
	return strings.Join(ks, ",")
}

func find(d Decision, k ActionKind) (Action, bool) {
	for _, a := range d.Actions {
		if a.Kind == k {
			return a, true
		}
	}
	return Action{}, false
}

func TestDecide(t *testing.T) {
	type tc struct {
		name    string
		p       func(*Params)
		g       func(*raftstore.Group)
		trusted bool
		maint   map[string]raftstore.NodeMaintenance
		reports []Report
		kinds   string // comma-separated action kinds expected, exactly
		check   func(t *testing.T, d Decision)
	}
	three := func(obs func() map[string]Obs) []Report {
		return []Report{rep("w1", 0, obs()), rep("w2", 0, obs()), rep("w3", 0, obs())}
	}
	failoverTo := func(to string, epoch uint64) func(t *testing.T, d Decision) {
		return func(t *testing.T, d Decision) {
			a, ok := find(d, ActFailover)
			if !ok {
				t.Fatalf("no failover in %s", kinds(d))
			}
			if a.To != to || a.From != nA || a.Epoch != epoch {
				t.Fatalf("failover %s -> %s epoch %d, want %s -> %s epoch %d", a.From, a.To, a.Epoch, nA, to, epoch)
			}
		}
	}
	cases := []tc{
		{name: "steady state does nothing", trusted: true, reports: three(healthy), kinds: ""},
		{name: "untrusted recorded master confirmed", reports: three(healthy), kinds: "trust"},
		{name: "majority down fails over to the most advanced replica", trusted: true, reports: three(masterDead),
			kinds: "failover", check: failoverTo(nB, 4)},
		{name: "one of three down is only sdown", trusted: true,
			reports: []Report{rep("w1", 0, masterDead()), rep("w2", 0, healthy()), rep("w3", 0, healthy())},
			kinds:   "", check: func(t *testing.T, d Decision) {
				if h := d.View.node(nA).Health; h != HealthSDown {
					t.Fatalf("health %s, want sdown", h)
				}
			}},
		{name: "failing but not yet down_after is not a vote", trusted: true,
			reports: []Report{
				rep("w1", 0, map[string]Obs{nA: failing(), nB: replica(nA, 1), nC: replica(nA, 1)}),
				rep("w2", 0, map[string]Obs{nA: failing(), nB: replica(nA, 1), nC: replica(nA, 1)}),
				rep("w3", 0, map[string]Obs{nA: failing(), nB: replica(nA, 1), nC: replica(nA, 1)}),
			}, kinds: ""},
		{name: "two survivors of three still fail over (leader died with the master)", trusted: true,
			reports: []Report{rep("w2", 0, masterDead()), rep("w3", 0, masterDead())}, kinds: "failover", check: failoverTo(nB, 4)},
		{name: "a lone watchdog never fails over", trusted: true,
			reports: []Report{rep("w3", 0, masterDead())}, kinds: "note"},
		{name: "a lone watchdog with required 1 still needs a majority", trusted: true, p: func(p *Params) { p.Required = 1 },
			reports: []Report{rep("w3", 0, masterDead())}, kinds: ""},
		{name: "stale reports do not count", trusted: true,
			reports: []Report{rep("w1", 0, masterDead()), rep("w2", time.Second, masterDead()), rep("w3", 2*time.Second, masterDead())},
			kinds:   "note"},
		{name: "tilted reports withhold their down votes", trusted: true,
			reports: func() []Report {
				rs := three(masterDead)
				rs[0].Tilt, rs[1].Tilt = true, true
				return rs
			}(), kinds: ""},
		{name: "consensus needs every fresh reporter", trusted: true, p: func(p *Params) { p.NodeStrategy = config.StrategyConsensus },
			reports: []Report{rep("w1", 0, masterDead()), rep("w2", 0, masterDead()), rep("w3", 0, healthy())}, kinds: ""},
		{name: "consensus of two fresh reporters acts", trusted: true, p: func(p *Params) { p.NodeStrategy = config.StrategyConsensus },
			reports: []Report{rep("w1", 0, masterDead()), rep("w2", 0, masterDead())}, kinds: "failover"},
		{name: "single acts on one vote", trusted: true, p: func(p *Params) { p.NodeStrategy = config.StrategySingle },
			reports: func() []Report {
				cut := func() map[string]Obs { return map[string]Obs{nA: master(100), nB: lost(nA, 100), nC: lost(nA, 90)} }
				return []Report{rep("w1", 0, masterDead()), rep("w2", 0, cut()), rep("w3", 0, cut())}
			}(),
			kinds: "failover", check: func(t *testing.T, d Decision) {
				a, _ := find(d, ActFailover)
				if !a.Fence {
					t.Fatal("old master is reachable by w2 and w3: the failover must fence it")
				}
			}},
		{name: "master heard by a replica is unreachable, not dead", trusted: true,
			reports: three(func() map[string]Obs {
				m := masterDead()
				m[nB] = replica(nA, 100)
				return m
			}), kinds: "note", check: func(t *testing.T, d Decision) {
				if !strings.Contains(d.Actions[0].Reason, "unreachable") {
					t.Fatalf("note %q", d.Actions[0].Reason)
				}
			}},
		{name: "replica with link up but old I/O does not save the master", trusted: true,
			reports: three(func() map[string]Obs {
				m := masterDead()
				r := replica(nA, 100)
				r.LastIOSec = 5
				m[nB] = r
				return m
			}), kinds: "failover"},
		{name: "anti-flapping window blocks", trusted: true, g: func(g *raftstore.Group) { g.LastPromotionAt = t0.Add(-30 * time.Second) },
			reports: three(masterDead), kinds: "note", check: func(t *testing.T, d Decision) {
				if !strings.Contains(d.Actions[0].Reason, "anti-flapping") {
					t.Fatalf("note %q", d.Actions[0].Reason)
				}
			}},
		{name: "anti-flapping window over", trusted: true, g: func(g *raftstore.Group) { g.LastPromotionAt = t0.Add(-61 * time.Second) },
			reports: three(masterDead), kinds: "failover"},
		{name: "lower replica-priority wins over offset", trusted: true,
			reports: three(func() map[string]Obs {
				m := masterDead()
				c := lost(nA, 10)
				c.Priority = 10
				m[nC] = c
				return m
			}), kinds: "failover", check: failoverTo(nC, 4)},
		{name: "priority 0 is never promoted", trusted: true,
			reports: three(func() map[string]Obs {
				m := masterDead()
				b := lost(nA, 1000)
				b.Priority = 0
				m[nB] = b
				return m
			}), kinds: "failover", check: failoverTo(nC, 4)},
		{name: "equal offsets: lower latency wins", trusted: true,
			reports: three(func() map[string]Obs {
				m := map[string]Obs{nA: down(), nB: lost(nA, 100), nC: lost(nA, 100)}
				b := m[nB]
				b.LatencyMs = 5
				m[nB] = b
				return m
			}), kinds: "failover", check: failoverTo(nC, 4)},
		{name: "strategy latency ranks latency before offset", trusted: true, p: func(p *Params) { p.FailoverStrategy = config.FailoverLatency },
			reports: three(func() map[string]Obs {
				m := masterDead()
				b := m[nB]
				b.LatencyMs = 5
				m[nB] = b
				return m
			}), kinds: "failover", check: failoverTo(nC, 4)},
		{name: "equal everything: address decides", trusted: true,
			reports: three(func() map[string]Obs { return map[string]Obs{nA: down(), nB: lost(nA, 7), nC: lost(nA, 7)} }),
			kinds:   "failover", check: failoverTo(nB, 4)},
		{name: "replica disconnected for too long is skipped", trusted: true,
			reports: three(func() map[string]Obs {
				m := masterDead()
				b := m[nB]
				b.LinkDownSec = 600
				m[nB] = b
				return m
			}), kinds: "failover", check: failoverTo(nC, 4)},
		{name: "no promotable replica: a note with the ranking", trusted: true,
			reports: three(func() map[string]Obs { return map[string]Obs{nA: down(), nB: down(), nC: down()} }),
			kinds:   "note", check: func(t *testing.T, d Decision) {
				if len(d.Actions[0].Ranking) != 2 || d.Actions[0].Ranking[0].Skipped == "" {
					t.Fatalf("ranking %+v", d.Actions[0].Ranking)
				}
			}},
		{name: "failover in progress is rolled forward", trusted: true,
			g: func(g *raftstore.Group) {
				g.Failover = &raftstore.Failover{Epoch: 4, From: nA, To: nB, Stage: raftstore.StageBegun}
			}, reports: three(masterDead), kinds: "resume"},
		{name: "returning old master is re-attached", trusted: true,
			g: func(g *raftstore.Group) { g.Master, g.Epoch, g.MasterRunID = nB, 4, "run-b" },
			reports: three(func() map[string]Obs {
				b := master(200)
				b.RunID = "run-b"
				return map[string]Obs{nA: master(5), nB: b, nC: replica(nB, 200)}
			}), kinds: "reattach", check: func(t *testing.T, d Decision) {
				a := d.Actions[0]
				if a.Node != nA || a.Master != nB {
					t.Fatalf("reattach %s to %s", a.Node, a.Master)
				}
			}},
		{name: "replica following the wrong node is re-attached", trusted: true,
			reports: three(func() map[string]Obs {
				m := healthy()
				m[nC] = replica(nB, 100)
				return m
			}), kinds: "reattach"},
		{name: "no re-attach while the master is down", trusted: true,
			g:       func(g *raftstore.Group) { g.LastPromotionAt = t0 },
			reports: three(func() map[string]Obs { return map[string]Obs{nA: down(), nB: master(5), nC: lost(nA, 9)} }),
			kinds:   "note"},
		{name: "master restarted empty is failed over", trusted: true,
			reports: three(func() map[string]Obs {
				m := master(0)
				m.RunID = "run-new"
				return map[string]Obs{nA: m, nB: lost(nA, 100), nC: lost(nA, 90)}
			}), kinds: "failover", check: func(t *testing.T, d Decision) {
				failoverTo(nB, 4)(t, d)
				a, _ := find(d, ActFailover)
				if !a.Fence || !strings.Contains(a.Reason, "restarted empty") {
					t.Fatalf("fence %v reason %q", a.Fence, a.Reason)
				}
			}},
		{name: "master restarted as a replica in a loop is failed over", trusted: true,
			reports: three(func() map[string]Obs {
				// A came back (new run id) following B, which follows A;
				// C follows A too: nobody is master.
				a := lost(nB, 0)
				a.RunID = "run-new"
				return map[string]Obs{nA: a, nB: lost(nA, 100), nC: lost(nA, 90)}
			}), kinds: "failover", check: func(t *testing.T, d Decision) {
				failoverTo(nB, 4)(t, d)
				a, _ := find(d, ActFailover)
				if !strings.Contains(a.Reason, "restarted") || !strings.Contains(a.Reason, "as a replica of "+nB) {
					t.Fatalf("reason %q", a.Reason)
				}
			}},
		{name: "master following a replica with its old run id stays ambiguous", trusted: true,
			reports: three(func() map[string]Obs {
				a := lost(nB, 0)
				a.RunID = "run-a" // the recorded one: not a restart
				return map[string]Obs{nA: a, nB: lost(nA, 100), nC: lost(nA, 90)}
			}), kinds: "ambiguous"},
		{name: "master restarted with its data is left alone", trusted: true,
			reports: three(func() map[string]Obs {
				m := master(100)
				m.RunID = "run-new"
				return map[string]Obs{nA: m, nB: replica(nA, 100), nC: replica(nA, 100)}
			}), kinds: ""},
		{name: "views older than the last change are not trusted", trusted: true,
			g: func(g *raftstore.Group) { g.UpdatedAt = t0.Add(-50 * time.Millisecond) },
			reports: func() []Report {
				rs := three(masterDead)
				for i := range rs {
					for a, o := range rs[i].Obs {
						o.AgeMs = 100
						rs[i].Obs[a] = o
					}
				}
				return rs
			}(), kinds: "note"},
		{name: "startup: the single master is discovered", g: func(g *raftstore.Group) {
			*g = raftstore.Group{Name: "g", Nodes: g.Nodes, Status: raftstore.StatusUnknown}
		},
			reports: three(healthy), kinds: "discover", check: func(t *testing.T, d Decision) {
				a := d.Actions[0]
				if a.Master != nA || a.Epoch != 0 || a.RunID != "run-a" {
					t.Fatalf("discovered %+v", a)
				}
			}},
		{name: "startup: two masters are ambiguous", g: func(g *raftstore.Group) { *g = raftstore.Group{Name: "g", Nodes: g.Nodes} },
			reports: three(func() map[string]Obs { return map[string]Obs{nA: master(1), nB: master(2), nC: replica(nA, 1)} }),
			kinds:   "ambiguous"},
		{name: "startup: no master and replicas disagree is ambiguous", g: func(g *raftstore.Group) { *g = raftstore.Group{Name: "g", Nodes: g.Nodes} },
			reports: three(func() map[string]Obs { return map[string]Obs{nA: down(), nB: lost(nA, 1), nC: lost(nC, 1)} }),
			kinds:   "ambiguous"},
		{name: "startup: a master others do not follow is ambiguous", g: func(g *raftstore.Group) { *g = raftstore.Group{Name: "g", Nodes: g.Nodes} },
			reports: three(func() map[string]Obs {
				return map[string]Obs{nA: master(1), nB: replica("10.9.9.9:6379", 1), nC: replica(nA, 1)}
			}),
			kinds: "ambiguous"},
		{name: "startup with a dead master the replicas follow: discover, then fail over", g: func(g *raftstore.Group) { *g = raftstore.Group{Name: "g", Nodes: g.Nodes} },
			reports: three(masterDead), kinds: "discover,failover", check: failoverTo(nB, 1)},
		{name: "recorded master turned replica: adopt the live master with a new epoch", trusted: true,
			reports: three(func() map[string]Obs {
				return map[string]Obs{nA: replica(nB, 50), nB: master(50), nC: replica(nB, 50)}
			}), kinds: "discover", check: func(t *testing.T, d Decision) {
				a := d.Actions[0]
				if a.Master != nB || a.Epoch != 4 {
					t.Fatalf("adopted %s at epoch %d", a.Master, a.Epoch)
				}
			}},
		{name: "master in maintenance is not failed over", trusted: true,
			maint:   map[string]raftstore.NodeMaintenance{nA: {Until: t0.Add(time.Minute)}},
			reports: three(masterDead), kinds: "note", check: func(t *testing.T, d Decision) {
				if !d.Actions[0].Refusal || !strings.Contains(d.Actions[0].Reason, "maintenance") {
					t.Fatalf("note %+v", d.Actions[0])
				}
			}},
		{name: "expired maintenance no longer protects", trusted: true,
			maint:   map[string]raftstore.NodeMaintenance{nA: {Until: t0.Add(-time.Second)}},
			reports: three(masterDead), kinds: "failover"},
		{name: "replica in maintenance is never promoted", trusted: true,
			maint:   map[string]raftstore.NodeMaintenance{nB: {Until: t0.Add(time.Minute)}},
			reports: three(masterDead), kinds: "failover", check: failoverTo(nC, 4)},
		{name: "node in maintenance is not re-attached", trusted: true,
			maint: map[string]raftstore.NodeMaintenance{nC: {Until: t0.Add(time.Minute)}},
			reports: three(func() map[string]Obs {
				m := healthy()
				m[nC] = master(3)
				return m
			}), kinds: ""},
		{name: "node never probed yet: wait", trusted: true,
			reports: three(func() map[string]Obs { m := healthy(); delete(m, nC); return m }), kinds: "note"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := params()
			if c.p != nil {
				c.p(&p)
			}
			g := group()
			if c.g != nil {
				c.g(&g)
			}
			d := Decide(Input{Now: t0, Params: p, Group: g, Trusted: c.trusted, Reports: c.reports, Maintenance: c.maint})
			if got := kinds(d); got != c.kinds {
				for _, a := range d.Actions {
					t.Logf("action: %s", a)
				}
				t.Fatalf("actions %q, want %q", got, c.kinds)
			}
			if c.check != nil {
				c.check(t, d)
			}
		})
	}
}

// TestDecideProperties checks invariants over random reports: no failover
// without enough fresh reports and an objective down; the candidate is
// always an eligible replica of the master.
func TestDecideProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := params()
		p.Required = rapid.IntRange(1, 3).Draw(t, "required")
		p.NodeStrategy = rapid.SampledFrom([]string{config.StrategyMajority, config.StrategyConsensus, config.StrategySingle}).Draw(t, "strategy")
		nodes := []string{nA, nB, nC}
		var reports []Report
		for _, w := range []string{"w1", "w2", "w3"} {
			if !rapid.Bool().Draw(t, w+"-present") {
				continue
			}
			obs := map[string]Obs{}
			for _, n := range nodes {
				switch rapid.IntRange(0, 4).Draw(t, w+n) {
				case 0:
					obs[n] = down()
				case 1:
					obs[n] = master(rapid.Int64Range(0, 100).Draw(t, w+n+"off"))
				case 2:
					o := replica(rapid.SampledFrom(nodes).Draw(t, w+n+"of"), rapid.Int64Range(0, 100).Draw(t, w+n+"off"))
					o.LinkUp = rapid.Bool().Draw(t, w+n+"link")
					o.LastIOSec = rapid.IntRange(-1, 20).Draw(t, w+n+"io")
					o.Priority = rapid.IntRange(0, 2).Draw(t, w+n+"prio")
					obs[n] = o
				case 3:
					obs[n] = failing()
				}
			}
			age := time.Duration(rapid.IntRange(0, 1000).Draw(t, w+"age")) * time.Millisecond
			r := rep(w, age, obs)
			r.Tilt = rapid.IntRange(0, 5).Draw(t, w+"tilt") == 0
			reports = append(reports, r)
		}
		g := group()
		d := Decide(Input{Now: t0, Params: p, Group: g, Trusted: rapid.Bool().Draw(t, "trusted"), Reports: reports})
		fresh := 0
		for _, r := range reports {
			if t0.Sub(r.ReceivedAt) <= p.FreshnessInterval {
				fresh++
			}
		}
		for _, a := range d.Actions {
			if a.Kind != ActFailover {
				continue
			}
			if fresh < p.Required {
				t.Fatalf("failover with %d fresh reports, %d required", fresh, p.Required)
			}
			if a.To == a.From {
				t.Fatalf("failover to the old master")
			}
			nv := d.View.node(a.To)
			if nv == nil || nv.obs.Role != RoleReplica || nv.obs.MasterAddr != a.From || nv.obs.Priority == 0 {
				t.Fatalf("candidate %s is not an eligible replica of %s: %+v", a.To, a.From, nv)
			}
			mv := d.View.node(a.From)
			// Besides a master down by vote: one that restarted empty, and
			// one that restarted as a replica while no node is master.
			restartedAsReplica := strings.Contains(a.Reason, "as a replica of") && mv.hasObs && mv.obs.Role == RoleReplica && !anyMaster(d.View)
			if mv.Health != HealthODown && !strings.Contains(a.Reason, "restarted empty") && !restartedAsReplica {
				t.Fatalf("failover of a master that is %s: %s", mv.Health, a.Reason)
			}
		}
	})
}

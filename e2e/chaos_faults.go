package e2e

// The faults of the chaos suite, each built from a real mechanism (SIGKILL,
// SIGSTOP, restart, iptables on the run's own loopback addresses) as an
// Episode for ChaosEnv.RunEpisode.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Fault names, as the per-scenario tests and the randomized schedule use
// them.
const (
	FaultMasterKill          = "master-kill"
	FaultMasterHang          = "master-hang"
	FaultMasterIsolated      = "master-isolated"
	FaultMasterRestartEmpty  = "master-restart-empty"
	FaultMasterLoss          = "master-loss"
	FaultMasterFlap          = "master-flap"
	FaultReplicaIsolated     = "replica-isolated"
	FaultReplicaKill         = "replica-kill"
	FaultLeaderIsolated      = "leader-isolated"
	FaultLeaderKill          = "leader-kill"
	FaultLeaderHang          = "leader-hang"
	FaultSplit21             = "watchdogs-split-2-1"
	FaultSplit111            = "watchdogs-split-1-1-1"
	FaultLeaderIsolatedKill  = "leader-isolated+master-kill"
	FaultSplit111MasterKill  = "watchdogs-split-1-1-1+master-kill"
	FaultFollowerIsolatedHit = "follower-isolated+master-kill"
)

// Faults lists every fault the randomized schedule draws from.
func Faults() []string {
	return []string{
		FaultMasterKill, FaultMasterHang, FaultMasterIsolated, FaultMasterRestartEmpty, FaultMasterLoss, FaultMasterFlap,
		FaultReplicaIsolated, FaultReplicaKill, FaultLeaderIsolated, FaultLeaderKill, FaultLeaderHang,
		FaultSplit21, FaultSplit111, FaultLeaderIsolatedKill, FaultSplit111MasterKill, FaultFollowerIsolatedHit,
	}
}

// RedisFaults lists the faults of Redis nodes alone: the ones that apply to
// Redis Sentinel too.
func RedisFaults() []string {
	return []string{
		FaultMasterKill, FaultMasterHang, FaultMasterIsolated, FaultMasterRestartEmpty, FaultMasterLoss, FaultMasterFlap,
		FaultReplicaIsolated, FaultReplicaKill,
	}
}

// NewEpisode returns the episode of fault name held for hold; rng picks
// among equivalent targets (which replica, which watchdog).
func NewEpisode(name string, hold time.Duration, rng *rand.Rand) (*Episode, error) {
	ep := &Episode{Name: name, Hold: hold}
	switch name {
	case FaultMasterKill:
		ep.MaxPromotions = 1
		ep.Inject = func(ctx context.Context, e *ChaosEnv, _ *Episode) (func(context.Context) error, error) {
			m, err := e.master(ctx)
			if err != nil {
				return nil, err
			}
			if err := m.Kill(); err != nil {
				return nil, err
			}
			// It comes back empty (no persistence) as it was: a master.
			return func(ctx context.Context) error { return m.Restart(ctx) }, nil
		}
	case FaultMasterRestartEmpty:
		ep.MaxPromotions = 1
		ep.Inject = func(ctx context.Context, e *ChaosEnv, _ *Episode) (func(context.Context) error, error) {
			m, err := e.master(ctx)
			if err != nil {
				return nil, err
			}
			return noHeal, m.Restart(ctx)
		}
	case FaultMasterHang:
		ep.MaxPromotions = 1
		ep.Inject = func(ctx context.Context, e *ChaosEnv, _ *Episode) (func(context.Context) error, error) {
			m, err := e.master(ctx)
			if err != nil {
				return nil, err
			}
			return func(context.Context) error { return m.Resume() }, m.Pause()
		}
	case FaultMasterIsolated, FaultMasterLoss, FaultMasterFlap:
		ep.MaxPromotions = 1
		ep.Inject = func(ctx context.Context, e *ChaosEnv, _ *Episode) (func(context.Context) error, error) {
			m, err := e.master(ctx)
			if err != nil {
				return nil, err
			}
			ip := e.NodeIPs[e.nodeIndex(m.Addr)]
			// Cut off from the other nodes and the watchdogs (and from
			// 127.0.0.1), not from the clients.
			others := append([]string{"127.0.0.1"}, e.WardenIPs...)
			for _, n := range e.NodeIPs {
				if n != ip {
					others = append(others, n)
				}
			}
			heal := func(context.Context) error { return e.P.Heal() }
			switch name {
			case FaultMasterIsolated:
				return heal, e.P.Cut(ip, others...)
			case FaultMasterLoss:
				return heal, e.P.Lose(0.3, ip, others...)
			}
			// Flapping: cut and healed every second until the heal.
			ctx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() {
				t := time.NewTicker(time.Second)
				defer t.Stop()
				cut := false
				for {
					var err error
					if cut {
						err = e.P.Heal()
					} else {
						err = e.P.Cut(ip, others...)
					}
					cut = !cut
					if err != nil {
						done <- err
						return
					}
					select {
					case <-ctx.Done():
						done <- nil
						return
					case <-t.C:
					}
				}
			}()
			return func(context.Context) error {
				cancel()
				return errors.Join(<-done, e.P.Heal())
			}, nil
		}
	case FaultReplicaIsolated, FaultReplicaKill:
		ep.Inject = func(ctx context.Context, e *ChaosEnv, _ *Episode) (func(context.Context) error, error) {
			g, err := e.reported(ctx)
			if err != nil {
				return nil, err
			}
			var replicas []int
			for i, r := range e.Redis {
				if r.Addr != g.Master {
					replicas = append(replicas, i)
				}
			}
			i := replicas[rng.IntN(len(replicas))]
			if name == FaultReplicaKill {
				r := e.Redis[i]
				return func(ctx context.Context) error { return r.Restart(ctx) }, r.Kill()
			}
			others := append([]string{"127.0.0.1"}, e.WardenIPs...)
			for j, n := range e.NodeIPs {
				if j != i {
					others = append(others, n)
				}
			}
			return func(context.Context) error { return e.P.Heal() }, e.P.Cut(e.NodeIPs[i], others...)
		}
	case FaultLeaderKill, FaultLeaderHang:
		ep.Inject = func(ctx context.Context, e *ChaosEnv, _ *Episode) (func(context.Context) error, error) {
			l, err := e.WaitLeader(ctx)
			if err != nil {
				return nil, err
			}
			w := e.Wardens[l]
			if name == FaultLeaderHang {
				return func(context.Context) error { return w.Resume() }, w.Pause()
			}
			return func(ctx context.Context) error { return w.Restart(ctx) }, w.Kill()
		}
	case FaultLeaderIsolated, FaultSplit21, FaultLeaderIsolatedKill, FaultFollowerIsolatedHit:
		if name == FaultLeaderIsolatedKill || name == FaultFollowerIsolatedHit {
			ep.MaxPromotions = 1
		}
		ep.Inject = func(ctx context.Context, e *ChaosEnv, ep *Episode) (func(context.Context) error, error) {
			l, err := e.WaitLeader(ctx)
			if err != nil {
				return nil, err
			}
			alone := l
			if name == FaultSplit21 {
				alone = rng.IntN(len(e.Wardens))
			} else if name == FaultFollowerIsolatedHit {
				alone = (l + 1 + rng.IntN(2)) % 3
			}
			ep.Notes["alone"] = e.Wardens[alone].ID
			var others []string
			for j, ip := range e.WardenIPs {
				if j != alone {
					others = append(others, ip)
				}
			}
			if err := e.P.Cut(e.WardenIPs[alone], others...); err != nil {
				return nil, err
			}
			heal := func(context.Context) error { return e.P.Heal() }
			if name != FaultLeaderIsolatedKill && name != FaultFollowerIsolatedHit {
				return heal, nil
			}
			m, err := e.master(ctx)
			if err != nil {
				return heal, err
			}
			if err := m.Kill(); err != nil {
				return heal, err
			}
			return func(ctx context.Context) error { return errors.Join(e.P.Heal(), m.Restart(ctx)) }, nil
		}
		// The watchdog alone (the old leader in two of these) must not
		// lead: a leader that loses its quorum steps down.
		ep.During = func(ctx context.Context, e *ChaosEnv, ep *Episode) error {
			for _, w := range e.Wardens {
				if w.ID != ep.Notes["alone"] {
					continue
				}
				st, err := w.API.Status(ctx)
				if err != nil {
					return fmt.Errorf("%s (cut off): %w", w.ID, err)
				}
				if st.RaftState == RaftLeader && ep.Hold >= 2*time.Second {
					return fmt.Errorf("%s, cut off from the other watchdogs for %v, still says it is the Raft leader", w.ID, ep.Hold)
				}
			}
			return liveMasters(ctx, e, 1)
		}
	case FaultSplit111, FaultSplit111MasterKill:
		if name == FaultSplit111MasterKill {
			ep.MaxPromotions = 1
		}
		ep.Inject = func(ctx context.Context, e *ChaosEnv, _ *Episode) (func(context.Context) error, error) {
			heal := func(context.Context) error { return e.P.Heal() }
			for i := range e.WardenIPs {
				if err := e.P.Cut(e.WardenIPs[i], e.WardenIPs[i+1:]...); err != nil {
					return heal, err
				}
			}
			if name == FaultSplit111 {
				return heal, nil
			}
			m, err := e.master(ctx)
			if err != nil {
				return heal, err
			}
			ep.Notes["killed"] = m.Addr
			if err := m.Kill(); err != nil {
				return heal, err
			}
			// The master comes back (empty) only once the watchdogs, with
			// a quorum again, have judged it down: back while no side may
			// act, or before the new leader has heard from the others, its
			// replicas resync from it (Redis retries the link every second)
			// and nobody can stop them. That is the limit of any voting
			// design (RELIABILITY.md); what this fault checks is that no
			// side acts while split, and that the group recovers after.
			return func(ctx context.Context) error {
				if err := e.P.Heal(); err != nil {
					return err
				}
				if err := WaitFor(ctx, 20*time.Second, "the watchdogs to judge the killed master down", func() (bool, error) {
					g, err := e.reported(ctx)
					if err != nil {
						return false, err
					}
					n, _ := g.Node(m.Addr)
					return g.Master != m.Addr || n.Health == "odown", fmt.Errorf("master %s, %s is %q", g.Master, m.Addr, n.Health)
				}); err != nil {
					return err
				}
				return m.Restart(ctx)
			}, nil
		}
		// No side has a quorum: nobody may promote anything.
		ep.During = func(ctx context.Context, e *ChaosEnv, ep *Episode) error {
			return liveMasters(ctx, e, 1)
		}
		if name == FaultSplit111MasterKill {
			ep.During = func(ctx context.Context, e *ChaosEnv, ep *Episode) error {
				return liveMasters(ctx, e, 0)
			}
		}
	default:
		return nil, fmt.Errorf("unknown fault %q (known: %v)", name, Faults())
	}
	return ep, nil
}

func noHeal(context.Context) error { return nil }

// master returns the node the watchdogs report as master.
func (e *ChaosEnv) master(ctx context.Context) (*Redis, error) {
	g, err := e.reported(ctx)
	if err != nil {
		return nil, err
	}
	i := e.nodeIndex(g.Master)
	if i < 0 {
		return nil, fmt.Errorf("the watchdogs report master %q, not one of %v", g.Master, e.addrs())
	}
	return e.Redis[i], nil
}

// liveMasters fails when more than most running nodes say they are masters.
func liveMasters(ctx context.Context, e *ChaosEnv, most int) error {
	var masters []string
	for _, r := range e.Redis {
		if !r.Running() {
			continue
		}
		ri, err := r.Role(ctx)
		if err == nil && ri.Role == "master" {
			masters = append(masters, r.Addr)
		}
	}
	if len(masters) > most {
		return fmt.Errorf("%d node(s) are masters (%v), at most %d allowed while the fault lasts", len(masters), masters, most)
	}
	return nil
}

// randomHold draws a fault's length: 1 to 4 s.
func randomHold(rng *rand.Rand) time.Duration {
	return time.Second + time.Duration(rng.Int64N(int64(3*time.Second)))
}

// pick draws a fault name.
func pick(rng *rand.Rand) string {
	f := Faults()
	return f[rng.IntN(len(f))]
}

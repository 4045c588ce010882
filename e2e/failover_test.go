package e2e

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// Every failover test runs 3 Redis nodes and 3 watchdogs probing every
// 200ms and calling a node down after 1s without an answer.
const (
	downAfter = time.Second
	nKeys     = 200

	// startTimeout bounds the first agreement: Raft election, first probes.
	startTimeout = 30 * time.Second
	// failoverTimeout bounds detection (down_after) plus vote and promotion.
	failoverTimeout = 20 * time.Second
	// settleTimeout bounds a resync or a repoint after the failover.
	settleTimeout = 20 * time.Second
)

// startGroup starts a sandbox with watchdogs, waits until all three report
// the first node as master with status ok, and writes nKeys keys that at
// least one replica acknowledged.
func startGroup(t *testing.T) (*Sandbox, Group) {
	t.Helper()
	return startGroupWith(t, SandboxOptions{})
}

// startGroupWith is startGroup with sandbox options (DownAfter defaults to
// downAfter).
func startGroupWith(t *testing.T, opts SandboxOptions) (*Sandbox, Group) {
	t.Helper()
	ctx := t.Context()
	if opts.DownAfter == 0 {
		opts.DownAfter = downAfter
	}
	sb := newSandbox(t, true, opts)
	g, err := WaitForAgreement(ctx, sb.Wardens, sb.Group, startTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if g.Master != sb.Redis[0].Addr {
		t.Fatalf("watchdogs agree on master %s, but the master is %s", g.Master, sb.Redis[0].Addr)
	}
	acked, err := writeKeys(ctx, sb.Redis[0], "k", nKeys, 1)
	if err != nil {
		t.Fatal(err)
	}
	if acked < 1 {
		t.Fatalf("WAIT 1 1000 after %d SETs: %d replicas acknowledged, want at least 1", nKeys, acked)
	}
	t.Logf("master %s epoch %d; %d keys written, %d replicas acknowledged", g.Master, g.Epoch, nKeys, acked)
	return sb, g
}

// checkFailedOver waits until a live watchdog reports a master other than
// old, then checks the truth on the Redis nodes: the new master answers
// ROLE master, every other node except old follows it with its link up, and
// the new master holds every key. It returns the new master.
func checkFailedOver(t *testing.T, sb *Sandbox, old string, began time.Time) *Redis {
	t.Helper()
	ctx := t.Context()
	g, err := WaitForMaster(ctx, sb.LiveWardens(), sb.Group, old, failoverTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("failover announced after %v: master %s epoch %d status %s", time.Since(began).Round(time.Millisecond), g.Master, g.Epoch, g.Status)
	nm := sb.Node(g.Master)
	if nm == nil {
		t.Fatalf("the watchdogs report master %s, which is none of the nodes %v", g.Master, sb.RedisAddrs())
	}
	if err := nm.WaitForRole(ctx, "master", settleTimeout); err != nil {
		t.Fatal(err)
	}
	for _, r := range sb.Redis {
		if r == nm || r.Addr == old {
			continue
		}
		if err := r.WaitForReplica(ctx, nm.Addr, settleTimeout); err != nil {
			t.Fatal(err)
		}
	}
	if err := checkKeys(ctx, nm, "k", nKeys); err != nil {
		t.Fatalf("after the failover: %v", err)
	}
	return nm
}

// TestFailoverMasterKilled: SIGKILL the master; a replica takes over with
// every acknowledged write and the other replica follows it.
func TestFailoverMasterKilled(t *testing.T) {
	sb, g := startGroup(t)
	old := sb.Node(g.Master)
	began := time.Now()
	if err := old.Kill(); err != nil {
		t.Fatal(err)
	}
	checkFailedOver(t, sb, old.Addr, began)
}

// TestFailoverMasterPaused: SIGSTOP the master (its port still accepts
// connections, nothing answers); a replica takes over. After SIGCONT the old
// master, which still believes it is the master, becomes a replica of the
// new one.
func TestFailoverMasterPaused(t *testing.T) {
	sb, g := startGroup(t)
	ctx := t.Context()
	old := sb.Node(g.Master)
	began := time.Now()
	if err := old.Pause(); err != nil {
		t.Fatal(err)
	}
	nm := checkFailedOver(t, sb, old.Addr, began)
	if err := old.Resume(); err != nil {
		t.Fatal(err)
	}
	if err := old.WaitForReplica(ctx, nm.Addr, settleTimeout); err != nil {
		t.Fatal(err)
	}
	if err := checkKeys(ctx, old, "k", nKeys); err != nil {
		t.Fatalf("old master after rejoining: %v", err)
	}
}

// TestFailoverOldMasterRestartedEmpty: after the failover the old master
// comes back empty (no persistence). It must become a replica and receive
// the data, never be a source that wipes the others.
func TestFailoverOldMasterRestartedEmpty(t *testing.T) {
	sb, g := startGroup(t)
	ctx := t.Context()
	old := sb.Node(g.Master)
	began := time.Now()
	if err := old.Kill(); err != nil {
		t.Fatal(err)
	}
	nm := checkFailedOver(t, sb, old.Addr, began)
	if err := old.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := old.WaitForReplica(ctx, nm.Addr, settleTimeout); err != nil {
		t.Fatal(err)
	}
	if err := checkKeys(ctx, nm, "k", nKeys); err != nil {
		t.Fatalf("new master after the old one came back empty: %v", err)
	}
	if err := WaitFor(ctx, settleTimeout, "the restarted old master to hold every key", func() (bool, error) {
		err := checkKeys(ctx, old, "k", nKeys)
		return err == nil, err
	}); err != nil {
		t.Fatal(err)
	}
	for _, r := range sb.Redis {
		if r != nm {
			if err := checkKeys(ctx, r, "k", nKeys); err != nil {
				t.Errorf("replica: %v", err)
			}
		}
	}
}

// TestFailoverLeaderKilledWithMaster: the watchdog leader and the master die
// together; the two surviving watchdogs elect a leader and fail over.
func TestFailoverLeaderKilledWithMaster(t *testing.T) {
	sb, g := startGroup(t)
	ctx := t.Context()
	leader, err := WaitForLeader(ctx, sb.Wardens, startTimeout)
	if err != nil {
		t.Fatal(err)
	}
	old := sb.Node(g.Master)
	began := time.Now()
	errs := make(chan error, 2)
	go func() { errs <- leader.Kill() }()
	go func() { errs <- old.Kill() }()
	if err := errors.Join(<-errs, <-errs); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed watchdog leader %s and master %s", leader.ID, old.Addr)
	nl, err := WaitForLeader(ctx, sb.LiveWardens(), failoverTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if nl == leader {
		t.Fatalf("the killed watchdog %s is still the leader", leader.ID)
	}
	t.Logf("new watchdog leader %s after %v", nl.ID, time.Since(began).Round(time.Millisecond))
	checkFailedOver(t, sb, old.Addr, began)
}

// TestNoFailoverWithoutQuorum: one watchdog left alone (the two others
// killed) must never fail over, however long the master stays down.
func TestNoFailoverWithoutQuorum(t *testing.T) {
	sb, g := startGroup(t)
	ctx := t.Context()
	// Leave the leader alone: it is the one that could act.
	lone, err := WaitForLeader(ctx, sb.Wardens, startTimeout)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range sb.Wardens {
		if w != lone {
			if err := w.Kill(); err != nil {
				t.Fatal(err)
			}
		}
	}
	old := sb.Node(g.Master)
	if err := old.Kill(); err != nil {
		t.Fatal(err)
	}
	window := 4 * downAfter
	t.Logf("watchdog %s alone, master %s killed: watching %v for a failover that must not happen", lone.ID, old.Addr, window)
	deadline := time.Now().Add(window)
	checks, apiErrs := 0, 0
	for time.Now().Before(deadline) {
		checks++
		for _, r := range sb.Redis {
			if r == old {
				continue
			}
			ri, err := r.Role(ctx)
			if err != nil {
				t.Fatalf("check %d: %v", checks, err)
			}
			if ri.Role != "slave" || ri.Master != old.Addr {
				t.Fatalf("check %d: %s says ROLE %s (master %q): a lone watchdog failed over", checks, r.Addr, ri.Role, ri.Master)
			}
		}
		gr, err := lone.API.Group(ctx, sb.Group)
		if err != nil {
			apiErrs++
		} else if gr.Master != old.Addr || gr.Epoch != g.Epoch {
			t.Fatalf("check %d: lone watchdog %s reports master %s epoch %d, want %s epoch %d unchanged", checks, lone.ID, gr.Master, gr.Epoch, old.Addr, g.Epoch)
		}
		if err := pause(ctx, 100*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d checks over %v, no failover (%d API calls to %s failed)", checks, window, apiErrs, lone.ID)
	if apiErrs == checks {
		t.Errorf("the lone watchdog %s never answered GET /v1/groups/%s", lone.ID, sb.Group)
	}
}

// TestWardensRestartKeepState: after a failover (epoch >= 1) all three
// watchdogs are killed -9 and restarted on the same data directories; the
// group keeps its master and epoch.
func TestWardensRestartKeepState(t *testing.T) {
	sb, g := startGroup(t)
	ctx := t.Context()
	old := sb.Node(g.Master)
	began := time.Now()
	if err := old.Kill(); err != nil {
		t.Fatal(err)
	}
	nm := checkFailedOver(t, sb, old.Addr, began)
	// Bring the old master back so the group is whole again.
	if err := old.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := old.WaitForReplica(ctx, nm.Addr, settleTimeout); err != nil {
		t.Fatal(err)
	}
	before, err := WaitForAgreement(ctx, sb.Wardens, sb.Group, settleTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if before.Master != nm.Addr || before.Epoch < 1 {
		t.Fatalf("before the restart: master %s epoch %d, want %s and epoch >= 1", before.Master, before.Epoch, nm.Addr)
	}
	for _, w := range sb.Wardens {
		if err := w.Kill(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("killed all watchdogs at master %s epoch %d; restarting them", before.Master, before.Epoch)
	if err := restartAll(ctx, sb.Wardens); err != nil {
		t.Fatal(err)
	}
	if _, err := WaitForLeader(ctx, sb.Wardens, startTimeout); err != nil {
		t.Fatal(err)
	}
	err = WaitFor(ctx, startTimeout, fmt.Sprintf("every watchdog to report master %s epoch %d again", before.Master, before.Epoch), func() (bool, error) {
		for _, w := range sb.Wardens {
			gr, err := w.API.Group(ctx, sb.Group)
			if err != nil {
				return false, fmt.Errorf("%s: %w", w.ID, err)
			}
			if gr.Master != before.Master || gr.Epoch != before.Epoch {
				return false, fmt.Errorf("%s reports master %s epoch %d", w.ID, gr.Master, gr.Epoch)
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if ri, err := nm.Role(ctx); err != nil || ri.Role != "master" {
		t.Errorf("after the restart %s says ROLE %+v (%v), want master", nm.Addr, ri, err)
	}
}

// restartAll restarts the watchdogs concurrently: each may answer its API
// only once the Raft group has formed again.
func restartAll(ctx context.Context, ws []*Warden) error {
	errs := make(chan error, len(ws))
	for _, w := range ws {
		go func() { errs <- w.Restart(ctx) }()
	}
	var all []error
	for range ws {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

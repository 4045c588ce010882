package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"warden/config"
)

// The write fence (README, "Write fencing"): warden keeps
// min-replicas-to-write 1 and min-replicas-max-lag failover.fence_max_lag
// (1s here) on the master of every group with replicas.

// fenceDownAfter is the sandbox's down_after in the lone-master tests: a
// master notices the loss of its replicas (NOREPLICAS) 1 to 3 s after they
// stop (the lag is counted in whole seconds, the count refreshed once a
// second), and warden lifts the fence 2 × down_after after they stop, so
// the fence must have bitten before it is lifted.
const fenceDownAfter = 2 * time.Second

// fenceOf reads r's min-replicas-to-write and min-replicas-max-lag.
func fenceOf(ctx context.Context, r *Redis) (minReplicas, maxLag int, err error) {
	c := r.Client()
	defer c.Close()
	m, err := c.ConfigGet(ctx, "min-replicas-*").Result()
	if err != nil {
		return 0, 0, err
	}
	minReplicas, _ = strconv.Atoi(m["min-replicas-to-write"])
	maxLag, _ = strconv.Atoi(m["min-replicas-max-lag"])
	return minReplicas, maxLag, nil
}

// waitFence polls r until its fence is minReplicas (and, when
// minReplicas is 1, a max lag of 1 s).
func waitFence(t *testing.T, r *Redis, minReplicas int, timeout time.Duration) {
	t.Helper()
	ctx := t.Context()
	err := WaitFor(ctx, timeout, fmt.Sprintf("%s to have min-replicas-to-write %d", r.Addr, minReplicas), func() (bool, error) {
		to, lag, err := fenceOf(ctx, r)
		if err != nil {
			return false, err
		}
		if to != minReplicas || (minReplicas == 1 && lag != 1) {
			return false, fmt.Errorf("min-replicas-to-write %d, min-replicas-max-lag %d", to, lag)
		}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// trySet writes one key on r and returns the error (nil: accepted).
func trySet(ctx context.Context, r *Redis, key string) error {
	c := r.Client()
	defer c.Close()
	sctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return c.Set(sctx, key, "v", 0).Err()
}

// waitEvent polls the live watchdogs' event logs for an event of kind on
// node after seq, and returns it.
func waitEvent(t *testing.T, sb *Sandbox, kind, node string, after uint64, timeout time.Duration) hookEvent {
	t.Helper()
	ctx := t.Context()
	var found hookEvent
	err := WaitFor(ctx, timeout, fmt.Sprintf("a %s event for %s after #%d", kind, node, after), func() (bool, error) {
		var last error
		for _, w := range sb.LiveWardens() {
			p, err := getEvents(ctx, w, fmt.Sprintf("since=%d&limit=10000", after))
			if err != nil {
				last = err
				continue
			}
			if e, ok := findEvent(p.Events, kind, sb.Group, node); ok {
				found = e
				return true, nil
			}
		}
		return false, last
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// lastSeq is the newest event sequence number a watchdog reports.
func lastSeq(t *testing.T, sb *Sandbox) uint64 {
	t.Helper()
	var seq uint64
	for _, w := range sb.LiveWardens() {
		if p, err := getEvents(t.Context(), w, "since=0&limit=1"); err == nil {
			seq = max(seq, p.Last)
		}
	}
	return seq
}

// stopReplicas SIGSTOPs every node but the master and returns when.
func stopReplicas(t *testing.T, sb *Sandbox, masterAddr string) ([]*Redis, time.Time) {
	t.Helper()
	var stopped []*Redis
	for _, r := range sb.Redis {
		if r.Addr == masterAddr {
			continue
		}
		if err := r.Pause(); err != nil {
			t.Fatal(err)
		}
		stopped = append(stopped, r)
	}
	return stopped, time.Now()
}

// waitNoReplicas polls writes on m until one fails with NOREPLICAS and
// returns how long after since that was.
func waitNoReplicas(t *testing.T, m *Redis, since time.Time, timeout time.Duration) time.Duration {
	t.Helper()
	ctx := t.Context()
	i := 0
	err := WaitEvery(ctx, timeout, 20*time.Millisecond, "a write on the master to fail with NOREPLICAS", func() (bool, error) {
		i++
		err := trySet(ctx, m, fmt.Sprintf("fence-probe-%d", i))
		if err != nil && strings.HasPrefix(err.Error(), "NOREPLICAS") {
			return true, nil
		}
		return false, fmt.Errorf("write answered %v", err)
	})
	if err != nil {
		t.Fatal(err)
	}
	return time.Since(since)
}

// TestFenceLoneMaster: the master is fenced from the start; with both
// replicas stopped its writes fail with NOREPLICAS, and once every replica
// has been down for down_after, no failover being possible, warden lifts
// the fence (fence_lifted) and the lone master takes writes again. When
// the replicas are back the fence returns.
func TestFenceLoneMaster(t *testing.T) {
	sb, g := startGroupWith(t, SandboxOptions{DownAfter: fenceDownAfter})
	ctx := t.Context()
	m := sb.Node(g.Master)
	waitFence(t, m, 1, startTimeout)
	waitEvent(t, sb, "fence_applied", m.Addr, 0, startTimeout)

	stopped, since := stopReplicas(t, sb, m.Addr)
	noRep := waitNoReplicas(t, m, since, 10*time.Second)
	t.Logf("replicas stopped: first NOREPLICAS after %v", noRep.Round(time.Millisecond))
	if noRep > 4*time.Second {
		t.Errorf("NOREPLICAS only after %v, want within ~3s (fence_max_lag 1s)", noRep)
	}

	i := 0
	err := WaitEvery(ctx, 20*time.Second, 20*time.Millisecond, "the lone master to take writes again", func() (bool, error) {
		i++
		err := trySet(ctx, m, fmt.Sprintf("lone-%d", i))
		return err == nil, err
	})
	if err != nil {
		t.Fatal(err)
	}
	lifted := time.Since(since)
	ev := waitEvent(t, sb, "fence_lifted", m.Addr, 0, 5*time.Second)
	t.Logf("fence lifted %v after the replicas stopped: %s", lifted.Round(time.Millisecond), ev.Message)
	if lifted < fenceDownAfter {
		t.Errorf("fence lifted %v after the replicas stopped, before down_after %v", lifted, fenceDownAfter)
	}
	if ev.Severity != "critical" || ev.Details["min_replicas_to_write"] != "0" {
		t.Errorf("fence_lifted: severity %s details %v", ev.Severity, ev.Details)
	}
	waitFence(t, m, 0, time.Second)

	after := ev.Seq
	for _, r := range stopped {
		if err := r.Resume(); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range stopped {
		if err := r.WaitForReplica(ctx, m.Addr, settleTimeout); err != nil {
			t.Fatal(err)
		}
	}
	waitFence(t, m, 1, settleTimeout)
	waitEvent(t, sb, "fence_applied", m.Addr, after, 5*time.Second)
	// warden fences again only once the master has a fresh
	// acknowledgement from a replica: writes pass at once.
	if err := trySet(ctx, m, "after-replicas-returned"); err != nil {
		t.Errorf("write right after the fence came back: %v", err)
	}
}

// TestFenceStrictKeepsLoneMasterFenced: with groups[].fence: strict the
// lone master keeps refusing writes however long its replicas are gone,
// and takes them again when they return.
func TestFenceStrictKeepsLoneMasterFenced(t *testing.T) {
	sb, g := startGroupWith(t, SandboxOptions{DownAfter: fenceDownAfter, Configure: func(c *config.Config) {
		c.Groups[0].Fence = config.FenceStrict
	}})
	ctx := t.Context()
	m := sb.Node(g.Master)
	waitFence(t, m, 1, startTimeout)

	stopped, since := stopReplicas(t, sb, m.Addr)
	noRep := waitNoReplicas(t, m, since, 10*time.Second)
	t.Logf("replicas stopped: first NOREPLICAS after %v", noRep.Round(time.Millisecond))

	// Watch past the moment mode "on" would lift the fence.
	window := time.Until(since.Add(3*fenceDownAfter + time.Second))
	deadline := time.Now().Add(window)
	checks := 0
	for time.Now().Before(deadline) {
		checks++
		err := trySet(ctx, m, fmt.Sprintf("strict-%d", checks))
		if err == nil || !strings.HasPrefix(err.Error(), "NOREPLICAS") {
			t.Fatalf("check %d, %v after the replicas stopped: write answered %v, want NOREPLICAS", checks, time.Since(since).Round(time.Millisecond), err)
		}
		if err := pause(ctx, 100*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	if to, _, err := fenceOf(ctx, m); err != nil || to != 1 {
		t.Errorf("after %v: min-replicas-to-write %d (%v), want 1", window, to, err)
	}
	t.Logf("%d writes refused over %v with the replicas gone (mode strict)", checks, window.Round(time.Millisecond))

	for _, r := range stopped {
		if err := r.Resume(); err != nil {
			t.Fatal(err)
		}
	}
	err := WaitFor(ctx, settleTimeout, "the master to take writes with its replicas back", func() (bool, error) {
		err := trySet(ctx, m, "strict-back")
		return err == nil, err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestFenceFailover: after a failover the new master is fenced once a
// replica follows it, and the old master, resumed after being isolated,
// is re-attached with its replication offsets in master_reattached.
func TestFenceFailover(t *testing.T) {
	sb, g := startGroup(t)
	ctx := t.Context()
	old := sb.Node(g.Master)
	waitFence(t, old, 1, startTimeout)

	began := time.Now()
	if err := old.Pause(); err != nil {
		t.Fatal(err)
	}
	nm := checkFailedOver(t, sb, old.Addr, began)
	waitFence(t, nm, 1, settleTimeout)
	ev := waitEvent(t, sb, "fence_applied", nm.Addr, 0, 5*time.Second)
	t.Logf("new master %s fenced %v after the old one stopped: %s", nm.Addr, time.Since(began).Round(time.Millisecond), ev.Message)
	if err := trySet(ctx, nm, "on-the-new-master"); err != nil {
		t.Errorf("write on the fenced new master with a replica attached: %v", err)
	}

	after := lastSeq(t, sb)
	resumed := time.Now()
	if err := old.Resume(); err != nil {
		t.Fatal(err)
	}
	if err := old.WaitForReplica(ctx, nm.Addr, settleTimeout); err != nil {
		t.Fatal(err)
	}
	ev = waitEvent(t, sb, "master_reattached", old.Addr, after, settleTimeout)
	t.Logf("old master re-attached %v after it resumed: %s (details %v)", time.Since(resumed).Round(time.Millisecond), ev.Message, ev.Details)
	for _, k := range []string{"old_master_offset", "promoted_at_offset", "writes_while_isolated_bytes"} {
		if _, err := strconv.ParseInt(ev.Details[k], 10, 64); err != nil {
			t.Errorf("master_reattached details[%s] = %q, want a number", k, ev.Details[k])
		}
	}
	if ev.Details["offset_method"] != "second_repl_offset" {
		t.Errorf("offset_method %q, want second_repl_offset (the new master's replid2 is the old master's replid)", ev.Details["offset_method"])
	}
	// The old master was stopped, not cut off: it took no write of its
	// own, only (perhaps) a replication PING on waking.
	if n, _ := strconv.ParseInt(ev.Details["writes_while_isolated_bytes"], 10, 64); n > 100 {
		t.Errorf("writes_while_isolated_bytes %d for a master that was stopped, want a few bytes at most", n)
	}
	err := WaitFor(ctx, settleTimeout, "the old master to hold the write made on the new one", func() (bool, error) {
		c := old.Client()
		defer c.Close()
		n, err := c.Exists(ctx, "on-the-new-master").Result()
		return n == 1, err
	})
	if err != nil {
		t.Error(err)
	}
}

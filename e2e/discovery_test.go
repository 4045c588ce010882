package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestAmbiguousStartupTakesNoAction: watchdogs that start on a group with
// two masters name no master, mark the group ambiguous with the reason, and
// touch no node; once an operator repairs the topology they adopt it.
func TestAmbiguousStartupTakesNoAction(t *testing.T) {
	ctx := t.Context()
	sb := newSandbox(t, false, SandboxOptions{DownAfter: time.Second, Wardens: 3})
	second := sb.Redis[1]
	c := second.Client()
	defer c.Close()
	if err := c.Do(ctx, "REPLICAOF", "NO", "ONE").Err(); err != nil {
		t.Fatal(err)
	}
	sb.opts.WardenBinary = needWarden(t)
	if err := sb.writeWardenConfigs(); err != nil {
		t.Fatal(err)
	}
	if err := sb.startWardens(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := WaitForLeader(ctx, sb.Wardens, startTimeout); err != nil {
		t.Fatal(err)
	}
	err := WaitFor(ctx, startTimeout, "every watchdog to report the group ambiguous", func() (bool, error) {
		for _, w := range sb.Wardens {
			g, err := w.API.Group(ctx, sb.Group)
			if err != nil {
				return false, err
			}
			if g.Status != "ambiguous" || !strings.Contains(g.Reason, "several nodes claim master") || g.Master != "" {
				return false, fmt.Errorf("%s: status %q reason %q master %q", w.ID, g.Status, g.Reason, g.Master)
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Nothing was changed on the nodes: both still masters, the third
	// still follows the first. Watch for a while: no action may come late.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); <-tick.C {
		for i, want := range []string{"master", "master", "slave"} {
			ri, err := sb.Redis[i].Role(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if ri.Role != want {
				t.Fatalf("node %s became %s while the group was ambiguous", sb.Redis[i].Addr, ri.Role)
			}
		}
	}

	// The operator repairs the group: the watchdogs adopt the master.
	host, port, _ := strings.Cut(sb.Redis[0].Addr, ":")
	if err := c.Do(ctx, "REPLICAOF", host, port).Err(); err != nil {
		t.Fatal(err)
	}
	g, err := WaitForAgreement(ctx, sb.Wardens, sb.Group, startTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if g.Master != sb.Redis[0].Addr || g.Status != "ok" {
		t.Fatalf("after repair: master %s status %s, want %s ok", g.Master, g.Status, sb.Redis[0].Addr)
	}
}

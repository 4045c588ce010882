package e2e

import (
	"fmt"
	"strings"
	"testing"

	"warden/config"
)

// TestHostnames: the watchdogs reach each other, and the Redis nodes, by
// host name (localhost), while the replicas were set up by IP
// (replicaof 127.0.0.1 PORT). warden recognises them as following the
// master (no repointing), fails over when the master is killed, and points
// the other replica at the new master by name.
func TestHostnames(t *testing.T) {
	ctx := t.Context()
	byName := func(a string) string { return strings.Replace(a, "127.0.0.1:", "localhost:", 1) }
	sb := newSandbox(t, true, SandboxOptions{DownAfter: downAfter, Configure: func(c *config.Config) {
		for i := range c.Groups {
			for j, n := range c.Groups[i].Nodes {
				c.Groups[i].Nodes[j] = byName(n)
			}
		}
		for i, b := range c.Raft.Bootstrap {
			c.Raft.Bootstrap[i] = strings.Replace(b, "=127.0.0.1:", "=localhost:", 1)
		}
		c.Raft.Advertise = byName(c.Raft.Bind)
	}})
	g, err := WaitForAgreement(ctx, sb.Wardens, sb.Group, startTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if want := byName(sb.Redis[0].Addr); g.Master != want {
		t.Fatalf("master %s, want %s", g.Master, want)
	}
	for _, r := range sb.Redis[1:] {
		if m, up, err := r.ReplicaOf(ctx); err != nil || m != sb.Redis[0].Addr || !up {
			t.Fatalf("%s follows %q (link up %v, %v): the test wants replicas set up by IP", r.Addr, m, up, err)
		}
	}
	// Recognised as the master's replicas: nobody was repointed.
	page, err := getEvents(ctx, sb.Wardens[0], "")
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := findEvent(page.Events, "replica_repointed", sb.Group, ""); ok {
		t.Fatalf("a replica set up by IP was repointed: %s", e.Message)
	}

	if err := sb.Redis[0].Kill(); err != nil {
		t.Fatal(err)
	}
	g2, err := WaitForMaster(ctx, sb.LiveWardens(), sb.Group, g.Master, failoverTimeout)
	if err != nil {
		t.Fatal(err)
	}
	var promoted, other *Redis
	for _, r := range sb.Redis[1:] {
		if byName(r.Addr) == g2.Master {
			promoted = r
		} else {
			other = r
		}
	}
	if promoted == nil {
		t.Fatalf("new master %s is none of the replicas", g2.Master)
	}
	if err := promoted.WaitForRole(ctx, "master", settleTimeout); err != nil {
		t.Fatal(err)
	}
	err = WaitFor(ctx, settleTimeout, fmt.Sprintf("%s to follow %s by name", other.Addr, g2.Master), func() (bool, error) {
		m, up, err := other.ReplicaOf(ctx)
		if err != nil {
			return false, err
		}
		return m == g2.Master && up, fmt.Errorf("follows %q, link up %v", m, up)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("failed over by name to %s; %s follows it", g2.Master, other.Addr)
}

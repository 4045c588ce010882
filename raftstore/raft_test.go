package raftstore

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"go.uber.org/zap"

	"warden/config"
)

type cluster struct {
	nodes  []*Node
	trans  []*raft.InmemTransport
	addrs  []raft.ServerAddress
	tokill []*Node
}

func newCluster(t *testing.T, n int) *cluster {
	t.Helper()
	c := &cluster{}
	var boot []string
	for i := 0; i < n; i++ {
		addr, tr := raft.NewInmemTransport(raft.ServerAddress(fmt.Sprintf("127.0.0.1:%d", 7100+i)))
		c.trans, c.addrs = append(c.trans, tr), append(c.addrs, addr)
		boot = append(boot, fmt.Sprintf("w%d=%s", i, addr))
	}
	for i := range c.trans {
		for j := range c.trans {
			if i != j {
				c.trans[i].Connect(c.addrs[j], c.trans[j])
			}
		}
	}
	for i := 0; i < n; i++ {
		cfg := config.Default()
		cfg.ID = fmt.Sprintf("w%d", i)
		cfg.Raft.Bootstrap = boot
		cfg.Raft.HeartbeatTimeout = config.Duration(100 * time.Millisecond)
		cfg.Raft.ElectionTimeout = config.Duration(100 * time.Millisecond)
		node, err := Open(cfg, NewFSM(), zap.NewNop(), Options{Transport: c.trans[i], InmemStores: true})
		if err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, node)
	}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			_ = n.raft.Shutdown().Error()
		}
	})
	return c
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		case <-poll.C:
		}
	}
}

func (c *cluster) leader(except int) int {
	for i, n := range c.nodes {
		if i != except && n.IsLeader() {
			return i
		}
	}
	return -1
}

// isolate cuts node i off from every other node, both ways.
func (c *cluster) isolate(i int) {
	for j := range c.trans {
		if j != i {
			c.trans[i].Disconnect(c.addrs[j])
			c.trans[j].Disconnect(c.addrs[i])
		}
	}
}

func (c *cluster) heal(i int) {
	for j := range c.trans {
		if j != i {
			c.trans[i].Connect(c.addrs[j], c.trans[j])
			c.trans[j].Connect(c.addrs[i], c.trans[i])
		}
	}
}

func TestThreeNodesWithPartition(t *testing.T) {
	c := newCluster(t, 3)
	waitFor(t, 5*time.Second, "a leader", func() bool { return c.leader(-1) >= 0 })
	l := c.leader(-1)
	ctx := context.Background()
	ensure := &GroupsEnsure{Groups: []GroupSpec{{Name: "g", Nodes: []string{"a:1", "b:1"}}}, At: at}
	if err := c.nodes[l].Apply(ctx, ensure); err != nil {
		t.Fatal(err)
	}
	if err := c.nodes[l].Apply(ctx, &MasterDiscovered{Group: "g", Master: "a:1", At: at}); err != nil {
		t.Fatal(err)
	}
	follower := (l + 1) % 3
	if err := c.nodes[follower].Apply(ctx, ensure); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("apply on a follower: %v", err)
	}
	waitFor(t, 5*time.Second, "every member to apply the discovery", func() bool {
		for _, n := range c.nodes {
			if g, ok := n.FSM().Group("g"); !ok || g.Master != "a:1" {
				return false
			}
		}
		return true
	})

	// Cut the leader off: the majority elects another leader and goes on;
	// the old leader can neither verify its leadership nor commit.
	c.isolate(l)
	waitFor(t, 5*time.Second, "a new leader on the majority side", func() bool { return c.leader(l) >= 0 })
	if err := c.nodes[l].VerifyLeader(); err == nil {
		t.Fatal("the isolated old leader verified its leadership")
	}
	nl := c.leader(l)
	begin := &FailoverBegin{Group: "g", Failover: Failover{Epoch: 1, From: "a:1", To: "b:1"}, At: at}
	if err := c.nodes[nl].Apply(ctx, begin); err != nil {
		t.Fatal(err)
	}
	if err := c.nodes[nl].Apply(ctx, &FailoverPromoted{Group: "g", Epoch: 1, At: at}); err != nil {
		t.Fatal(err)
	}
	tctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if err := c.nodes[l].Apply(tctx, &MasterDiscovered{Group: "g", Master: "a:1", Epoch: 5, At: at}); err == nil {
		t.Fatal("the isolated old leader committed a write")
	}

	c.heal(l)
	waitFor(t, 5*time.Second, "the old leader to catch up", func() bool {
		g, ok := c.nodes[l].FSM().Group("g")
		return ok && g.Master == "b:1" && g.Epoch == 1
	})
	for i, n := range c.nodes {
		g, _ := n.FSM().Group("g")
		if g.Master != "b:1" || g.Epoch != 1 || g.Failover == nil {
			t.Fatalf("member %d diverged: %+v", i, g)
		}
	}
}

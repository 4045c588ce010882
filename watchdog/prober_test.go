package watchdog

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"
)

// TestSetNodesKeepsRunningProbes: a refresh with the same nodes must not
// restart their probe loops (that would forget how long a node has been
// failing, and no node would ever become subjectively down).
func TestSetNodesKeepsRunningProbes(t *testing.T) {
	p := NewProber(ProberConfig{ID: "w1", Interval: 50 * time.Millisecond, Timeout: 50 * time.Millisecond, DownAfter: time.Second}, zap.NewNop())
	defer p.Stop()
	ctx := context.Background()
	p.SetNodes(ctx, map[string]bool{"127.0.0.1:1": false, "127.0.0.1:2": true})
	p.mu.Lock()
	first := map[string]*probed{}
	for a, n := range p.nodes {
		first[a] = n
	}
	p.mu.Unlock()
	p.SetNodes(ctx, map[string]bool{"127.0.0.1:1": false, "127.0.0.1:2": true, "127.0.0.1:3": false})
	p.mu.Lock()
	for a, n := range first {
		if p.nodes[a] != n {
			t.Errorf("%s was restarted by a refresh that still lists it", a)
		}
	}
	if len(p.nodes) != 3 {
		t.Errorf("%d nodes probed, want 3", len(p.nodes))
	}
	p.mu.Unlock()
	p.SetNodes(ctx, map[string]bool{"127.0.0.1:3": false})
	if got := p.Addrs(); len(got) != 1 || got[0] != "127.0.0.1:3" {
		t.Fatalf("after removing two: %v", got)
	}
}

package watchdog

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"warden/cluster"
)

// liveCluster is a cluster as its nodes answer now, read for an operation
// or a repair (the probes' views may be a probe interval old).
type liveCluster struct {
	views map[string][]cluster.Node // address → that node's CLUSTER NODES
	self  map[string]cluster.Node   // id → the node's own line
	ref   string                    // the address of the fullest view
	topo  *cluster.Topology
}

// clusterAddrs lists the known addresses of the named cluster, sorted.
func (s *Service) clusterAddrs(name string) []string {
	var out []string
	for a, c := range s.clusterTargets() {
		if c == name {
			out = append(out, a)
		}
	}
	sort.Strings(out)
	return out
}

// readLive asks every address for CLUSTER NODES at once and builds the
// topology of the fullest consistent view. Nodes that do not answer are
// left out.
func (s *Service) readLive(ctx context.Context, addrs []string) (*liveCluster, error) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	l := &liveCluster{views: map[string][]cluster.Node{}, self: map[string]cluster.Node{}}
	for _, a := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			text, err := s.act.ClusterNodes(ctx, a)
			if err != nil {
				return
			}
			nodes, err := cluster.ParseNodes(text)
			if err != nil {
				return
			}
			mu.Lock()
			l.views[a] = nodes
			mu.Unlock()
		}()
	}
	wg.Wait()
	for a, v := range l.views {
		if l.ref == "" || len(v) > len(l.views[l.ref]) || (len(v) == len(l.views[l.ref]) && a < l.ref) {
			l.ref = a
		}
		for _, n := range v {
			if n.Flags.Myself {
				l.self[n.ID] = n
			}
		}
	}
	if l.ref == "" {
		return nil, fmt.Errorf("no node answers CLUSTER NODES (asked %s)", strings.Join(addrs, ", "))
	}
	topo, err := cluster.NewTopology(l.views[l.ref])
	if err != nil {
		return nil, fmt.Errorf("the view of %s is inconsistent: %v", l.ref, err)
	}
	l.topo = topo
	return l, nil
}

// addrOf returns a node's address: its own word first, else the fullest
// view's.
func (l *liveCluster) addrOf(id string) string {
	if n, ok := l.self[id]; ok && n.Addr != "" {
		return n.Addr
	}
	if n, ok := l.topo.Node(id); ok {
		return n.Addr
	}
	return ""
}

// masters returns the masters of the fullest view that are not flagged
// failing, sorted by address.
func (l *liveCluster) masters() []cluster.Node {
	var out []cluster.Node
	for _, sh := range l.topo.Shards {
		if sh.Master.Flags.Fail || sh.Master.Flags.Handshake || sh.Master.Flags.NoAddr {
			continue
		}
		out = append(out, sh.Master)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Addr < out[j].Addr })
	return out
}

// owners maps every working master's id to its slots (masters without
// slots included).
func (l *liveCluster) owners() map[string][]cluster.SlotRange {
	out := map[string][]cluster.SlotRange{}
	for _, m := range l.masters() {
		out[m.ID] = cluster.MergeSlots(append([]cluster.SlotRange(nil), m.Slots...))
	}
	return out
}

// masterOf resolves id to the master now serving its shard: itself when
// it is a master, its master when it became a replica.
func (l *liveCluster) masterOf(id string) string {
	n, ok := l.topo.Node(id)
	if ok && n.Flags.Replica && n.MasterID != "" {
		return n.MasterID
	}
	return id
}

// problems lists what makes the cluster unhealthy for a topology change:
// uncovered slots, failed masters, open slots, disagreeing views.
func (l *liveCluster) problems() []string {
	var out []string
	if gap := l.topo.Coverage(); len(gap) > 0 {
		out = append(out, fmt.Sprintf("%d slots are served by no master (%s)", cluster.CountSlots(gap), cluster.FormatSlots(gap)))
	}
	for _, n := range l.topo.FailedNodes() {
		if n.Flags.Master && len(n.Slots) > 0 {
			out = append(out, fmt.Sprintf("master %s (%s) is flagged failing", n.Addr, short(n.ID)))
		}
	}
	for _, n := range l.self {
		for _, o := range n.Migrating {
			out = append(out, fmt.Sprintf("slot %d is migrating on %s", o.Slot, n.Addr))
		}
		for _, o := range n.Importing {
			out = append(out, fmt.Sprintf("slot %d is importing on %s", o.Slot, n.Addr))
		}
	}
	for _, d := range cluster.Compare(l.views) {
		out = append(out, "views disagree: "+d.String())
	}
	sort.Strings(out)
	if len(out) > 10 {
		out = append(out[:10], fmt.Sprintf("and %d more", len(out)-10))
	}
	return out
}

// knows says whether addr's view lists id as a settled node (out of
// handshake, with an address).
func (l *liveCluster) knows(addr, id string) bool {
	for _, n := range l.views[addr] {
		if n.ID == id {
			return !n.Flags.Handshake && !n.Flags.NoAddr && n.Addr != ""
		}
	}
	return false
}

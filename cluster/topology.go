package cluster

import (
	"fmt"
	"sort"
)

// Topology is the cluster as one node's CLUSTER NODES shows it. Build it
// with NewTopology and treat it as read-only: the slot owners are computed
// once.
type Topology struct {
	// Nodes are all nodes of the view, sorted by ID.
	Nodes []Node
	// Shards are the masters with their replicas: those serving slots in
	// slot order, then those serving none by ID.
	Shards []ShardView
	// Orphans are replicas whose master is not a master in this view.
	Orphans []Node
	// Myself is the ID of the node that gave the view; "" when no line is
	// flagged myself.
	Myself string

	byID  map[string]int   // index into Nodes
	owner [SlotCount]int32 // index into Nodes, or -1
}

// ShardView is a master and the replicas that follow it, as one node's
// view shows them.
type ShardView struct {
	Master Node
	// Replicas are sorted by ID.
	Replicas []Node
	// Slots are the master's slots, sorted and merged.
	Slots []SlotRange
}

// NewTopology builds the topology of one node's view. It fails, wrapping
// ErrInconsistent, when the nodes cannot be one node's view: an ID listed
// twice, more than one myself line, a slot outside 0-16383 or served by
// two nodes, a node flagged both master and replica, or a replica serving
// slots.
func NewTopology(nodes []Node) (*Topology, error) {
	t := &Topology{
		Nodes: append([]Node(nil), nodes...),
		byID:  make(map[string]int, len(nodes)),
	}
	sort.Slice(t.Nodes, func(i, j int) bool { return t.Nodes[i].ID < t.Nodes[j].ID })
	for i := range t.owner {
		t.owner[i] = -1
	}
	for i, n := range t.Nodes {
		if _, dup := t.byID[n.ID]; dup {
			return nil, fmt.Errorf("node %s is listed twice: %w", n.ID, ErrInconsistent)
		}
		t.byID[n.ID] = i
		if n.Flags.Myself {
			if t.Myself != "" {
				return nil, fmt.Errorf("nodes %s and %s are both flagged myself: %w", t.Myself, n.ID, ErrInconsistent)
			}
			t.Myself = n.ID
		}
		if n.Flags.Master && n.Flags.Replica {
			return nil, fmt.Errorf("node %s is flagged both master and slave: %w", n.ID, ErrInconsistent)
		}
		if n.Flags.Replica && len(n.Slots) > 0 {
			return nil, fmt.Errorf("replica %s serves slots %s: %w", n.ID, FormatSlots(n.Slots), ErrInconsistent)
		}
		for _, r := range n.Slots {
			if r.Start < 0 || r.End >= SlotCount || r.End < r.Start {
				return nil, fmt.Errorf("node %s serves slots %d-%d, outside 0-%d: %w", n.ID, r.Start, r.End, SlotCount-1, ErrInconsistent)
			}
			for s := r.Start; s <= r.End; s++ {
				if o := t.owner[s]; o >= 0 && int(o) != i {
					return nil, fmt.Errorf("slot %d is served by both %s and %s: %w", s, t.Nodes[o].ID, n.ID, ErrInconsistent)
				}
				t.owner[s] = int32(i)
			}
		}
	}

	shardOf := map[string]int{}
	for _, n := range t.Nodes {
		if n.Flags.Master {
			shardOf[n.ID] = len(t.Shards)
			t.Shards = append(t.Shards, ShardView{Master: n, Slots: MergeSlots(n.Slots)})
		}
	}
	for _, n := range t.Nodes {
		if !n.Flags.Replica {
			continue
		}
		if k, ok := shardOf[n.MasterID]; ok {
			t.Shards[k].Replicas = append(t.Shards[k].Replicas, n)
		} else {
			t.Orphans = append(t.Orphans, n)
		}
	}
	sort.SliceStable(t.Shards, func(i, j int) bool {
		a, b := t.Shards[i].Slots, t.Shards[j].Slots
		switch {
		case len(a) == 0 || len(b) == 0:
			return len(a) > len(b) // slot-serving shards first
		default:
			return a[0].Start < b[0].Start
		}
	})
	return t, nil
}

// Node returns the node with the given ID.
func (t *Topology) Node(id string) (Node, bool) {
	i, ok := t.byID[id]
	if !ok {
		return Node{}, false
	}
	return t.Nodes[i], true
}

// Owner returns the node serving slot, if any.
func (t *Topology) Owner(slot int) (Node, bool) {
	if slot < 0 || slot >= SlotCount || t.owner[slot] < 0 {
		return Node{}, false
	}
	return t.Nodes[t.owner[slot]], true
}

// Coverage returns the slots no node serves, as sorted ranges; none when
// every slot is assigned.
func (t *Topology) Coverage() []SlotRange {
	return rangesWhere(func(s int) bool { return t.owner[s] < 0 })
}

// FailedSlots returns the slots served by a master flagged fail, as sorted
// ranges. Redis counts these slots as down (cluster_slots_fail); slots of a
// master flagged only fail? still count as served.
func (t *Topology) FailedSlots() []SlotRange {
	return rangesWhere(func(s int) bool { return t.owner[s] >= 0 && t.Nodes[t.owner[s]].Flags.Fail })
}

// OpenSlots returns every migrating and importing slot the view shows,
// sorted by slot, then by source and target. Redis shows open slots only on
// the myself line, so one view shows one side of each move.
func (t *Topology) OpenSlots() []OpenSlot {
	var out []OpenSlot
	for _, n := range t.Nodes {
		out = append(out, n.Migrating...)
		out = append(out, n.Importing...)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Slot != b.Slot {
			return a.Slot < b.Slot
		}
		if a.From != b.From {
			return a.From < b.From
		}
		return a.To < b.To
	})
	return out
}

// MastersWithoutReplica returns the masters serving at least one slot that
// have no replica able to take over: none that is free of the fail, fail?
// and noaddr flags. A failed master is included when it still serves
// slots. They come in slot order.
func (t *Topology) MastersWithoutReplica() []Node {
	var out []Node
	for _, sh := range t.Shards {
		if len(sh.Slots) == 0 {
			continue
		}
		usable := false
		for _, r := range sh.Replicas {
			if !r.Flags.Failing() && !r.Flags.NoAddr {
				usable = true
				break
			}
		}
		if !usable {
			out = append(out, sh.Master)
		}
	}
	return out
}

// FailedNodes returns the nodes flagged fail or fail?, sorted by ID. Redis
// never pings a noaddr node, so such a node is not flagged and not listed
// here; see NoAddrNodes.
func (t *Topology) FailedNodes() []Node {
	return t.filter(func(n Node) bool { return n.Flags.Failing() })
}

// NoAddrNodes returns the nodes flagged noaddr, sorted by ID: nodes whose
// address was lost, for instance because another node answered at it with
// a different ID. They stay until forgotten.
func (t *Topology) NoAddrNodes() []Node {
	return t.filter(func(n Node) bool { return n.Flags.NoAddr })
}

func (t *Topology) filter(keep func(Node) bool) []Node {
	var out []Node
	for _, n := range t.Nodes {
		if keep(n) {
			out = append(out, n)
		}
	}
	return out
}

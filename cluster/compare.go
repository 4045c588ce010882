package cluster

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// DisagreementKind says what views disagree about.
type DisagreementKind int

const (
	// SlotOwner: the views name different nodes (or none) as serving a
	// slot range.
	SlotOwner DisagreementKind = iota + 1
	// NodeRole: every view knows the node, but they differ on whether it is
	// a master or on which master it replicates.
	NodeRole
	// NodeMembership: some views know the node and others do not.
	NodeMembership
)

func (k DisagreementKind) String() string {
	switch k {
	case SlotOwner:
		return "slot-owner"
	case NodeRole:
		return "node-role"
	case NodeMembership:
		return "node-membership"
	}
	return fmt.Sprintf("DisagreementKind(%d)", int(k))
}

// What a view says about a node in Disagreement.Claims.
const (
	ClaimMaster      = "master"
	ClaimReplicaOf   = "replica of " // followed by the master's ID
	ClaimNoRole      = "no role"     // neither master nor replica (noflags)
	ClaimAbsent      = "absent"      // the view does not list the node
	ClaimUnassigned  = ""            // SlotOwner: no node serves the slots
	claimOwnerJoiner = "+"           // SlotOwner: a view with several owners
)

// Disagreement is one point on which the views given to Compare differ.
type Disagreement struct {
	Kind DisagreementKind
	// Slots is the slot range, for SlotOwner.
	Slots SlotRange
	// NodeID is the node, for NodeRole and NodeMembership.
	NodeID string
	// Claims maps each view's name to what it says: for SlotOwner the ID of
	// the node serving the range (ClaimUnassigned for none); for NodeRole
	// and NodeMembership ClaimMaster, ClaimReplicaOf followed by the
	// master's ID, ClaimNoRole, or ClaimAbsent.
	Claims map[string]string
}

// String describes the disagreement on one line, views in name order.
func (d Disagreement) String() string {
	var subject string
	if d.Kind == SlotOwner {
		subject = "slots " + d.Slots.String()
	} else {
		subject = "node " + d.NodeID
	}
	names := make([]string, 0, len(d.Claims))
	for name := range d.Claims {
		names = append(names, name)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, name := range names {
		claim := d.Claims[name]
		if d.Kind == SlotOwner && claim == ClaimUnassigned {
			claim = "unassigned"
		}
		parts[i] = name + "=" + claim
	}
	return fmt.Sprintf("%s: %s: %s", d.Kind, subject, strings.Join(parts, ", "))
}

// Compare puts several nodes' views of the cluster side by side, keyed by a
// name for each view (the address of the node that gave it, say), and
// returns where they disagree: first the slot ranges whose owner differs,
// in slot order, then the nodes whose role, master or membership differs,
// by node ID. Nodes in handshake are left out: their IDs are temporary and
// only the meeting node lists them. Fewer than two views give nothing.
//
// A view may come from any source; Compare does not check it, and a view
// naming two owners for a slot claims "id1+id2" for it.
func Compare(views map[string][]Node) []Disagreement {
	if len(views) < 2 {
		return nil
	}
	names := make([]string, 0, len(views))
	for name := range views {
		names = append(names, name)
	}
	sort.Strings(names)
	out := compareSlots(names, views)
	return append(out, compareNodes(names, views)...)
}

func compareSlots(names []string, views map[string][]Node) []Disagreement {
	owners := make([][]string, len(names)) // view, slot -> claim
	for v, name := range names {
		owners[v] = make([]string, SlotCount)
		for _, n := range views[name] {
			if n.Flags.Handshake {
				continue
			}
			for _, r := range n.Slots {
				for s := max(r.Start, 0); s <= r.End && s < SlotCount; s++ {
					owners[v][s] = addOwner(owners[v][s], n.ID)
				}
			}
		}
	}
	differs := func(s int) bool {
		for v := 1; v < len(names); v++ {
			if owners[v][s] != owners[0][s] {
				return true
			}
		}
		return false
	}
	same := func(a, b int) bool {
		for v := range names {
			if owners[v][a] != owners[v][b] {
				return false
			}
		}
		return true
	}
	var out []Disagreement
	for s := 0; s < SlotCount; s++ {
		if !differs(s) {
			continue
		}
		end := s
		for end+1 < SlotCount && same(s, end+1) {
			end++
		}
		claims := make(map[string]string, len(names))
		for v, name := range names {
			claims[name] = owners[v][s]
		}
		out = append(out, Disagreement{Kind: SlotOwner, Slots: SlotRange{Start: s, End: end}, Claims: claims})
		s = end
	}
	return out
}

// addOwner adds id to a claim: "" becomes id, and a second owner makes a
// sorted "+"-joined list.
func addOwner(claim, id string) string {
	if claim == "" {
		return id
	}
	ids := strings.Split(claim, claimOwnerJoiner)
	if slices.Contains(ids, id) {
		return claim
	}
	ids = append(ids, id)
	sort.Strings(ids)
	return strings.Join(ids, claimOwnerJoiner)
}

func compareNodes(names []string, views map[string][]Node) []Disagreement {
	roles := map[string]map[string]string{} // node ID -> view name -> role
	for _, name := range names {
		for _, n := range views[name] {
			if n.Flags.Handshake {
				continue
			}
			if roles[n.ID] == nil {
				roles[n.ID] = map[string]string{}
			}
			if _, seen := roles[n.ID][name]; !seen {
				roles[n.ID][name] = roleClaim(n)
			}
		}
	}
	ids := make([]string, 0, len(roles))
	for id := range roles {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out []Disagreement
	for _, id := range ids {
		claims := roles[id]
		kind := DisagreementKind(0)
		if len(claims) < len(names) {
			kind = NodeMembership
			for _, name := range names {
				if _, ok := claims[name]; !ok {
					claims[name] = ClaimAbsent
				}
			}
		} else {
			first := claims[names[0]]
			for _, name := range names[1:] {
				if claims[name] != first {
					kind = NodeRole
					break
				}
			}
		}
		if kind != 0 {
			out = append(out, Disagreement{Kind: kind, NodeID: id, Claims: claims})
		}
	}
	return out
}

func roleClaim(n Node) string {
	switch {
	case n.Flags.Replica:
		return ClaimReplicaOf + n.MasterID
	case n.Flags.Master:
		return ClaimMaster
	}
	return ClaimNoRole
}

package raftstore

import (
	"errors"
	"testing"
)

// TestGroupFenceMode: a group's fence override is stored from the
// configuration and from GroupAdd, and an unknown mode is refused.
func TestGroupFenceMode(t *testing.T) {
	f := NewFSM()
	mustApply(t, f, 1, &GroupsEnsure{Groups: []GroupSpec{{Name: "g", Nodes: []string{"a:1", "b:1"}, Fence: "strict"}}, At: at})
	if g, _ := f.Group("g"); g.Fence != "strict" {
		t.Errorf("configured group: fence %q, want strict", g.Fence)
	}
	mustApply(t, f, 2, &GroupAdd{Group: GroupSpec{Name: "h", Nodes: []string{"c:1", "d:1"}, Fence: "off"}, At: at})
	if g, _ := f.Group("h"); g.Fence != "off" {
		t.Errorf("added group: fence %q, want off", g.Fence)
	}
	err := apply(t, f, 3, &GroupAdd{Group: GroupSpec{Name: "i", Nodes: []string{"e:1", "f:1"}, Fence: "sometimes"}, At: at})
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown fence mode: %v, want ErrInvalid", err)
	}
}

// TestReattachDetails: a re-attached old master's details (its offsets)
// reach both the audit entry and the master_reattached event.
func TestReattachDetails(t *testing.T) {
	f := seeded(t)
	mustApply(t, f, 3, &FailoverBegin{Group: "g", Failover: Failover{Epoch: 1, From: "a:1", To: "b:1"}, At: at})
	mustApply(t, f, 4, &FailoverPromoted{Group: "g", Epoch: 1, At: at})
	mustApply(t, f, 5, &FailoverEnd{Group: "g", Epoch: 1, OK: true, At: at})
	d := map[string]string{"writes_while_isolated_bytes": "42"}
	mustApply(t, f, 6, &Record{Entry: Entry{Kind: EntryReattach, Group: "g", Node: "a:1", Message: "re-attached", Details: d}, At: at})
	d["writes_while_isolated_bytes"] = "changed by the caller"
	h := f.History("g", 1)
	if len(h) != 1 || h[0].Details["writes_while_isolated_bytes"] != "42" {
		t.Errorf("audit entry: %+v", h)
	}
	evs, _ := f.EventsSince(0, 0)
	last := evs[len(evs)-1]
	if last.Kind != EvMasterReattached || last.Details["writes_while_isolated_bytes"] != "42" {
		t.Errorf("last event: %+v, want master_reattached with the details", last)
	}
}

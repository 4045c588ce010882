package raftstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

var at = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func apply(t *testing.T, f *FSM, idx uint64, c Command) error {
	t.Helper()
	b, err := Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	res := f.Apply(&raft.Log{Index: idx, Type: raft.LogCommand, Data: b})
	if res == nil {
		return nil
	}
	err, ok := res.(error)
	if !ok {
		t.Fatalf("apply returned %T", res)
	}
	return err
}

func mustApply(t *testing.T, f *FSM, idx uint64, c Command) {
	t.Helper()
	if err := apply(t, f, idx, c); err != nil {
		t.Fatalf("apply %T: %v", c, err)
	}
}

func seeded(t *testing.T) *FSM {
	f := NewFSM()
	mustApply(t, f, 1, &GroupsEnsure{Groups: []GroupSpec{{Name: "g", Nodes: []string{"a:1", "b:1", "c:1"}}}, At: at})
	mustApply(t, f, 2, &MasterDiscovered{Group: "g", Master: "a:1", RunID: "ra", Epoch: 0, Reason: "only master", At: at})
	return f
}

func TestFSMCommands(t *testing.T) {
	f := seeded(t)
	g, ok := f.Group("g")
	if !ok || g.Master != "a:1" || g.Status != StatusOK || g.Epoch != 0 || g.MasterRunID != "ra" {
		t.Fatalf("after discovery: %+v", g)
	}

	// A failover must take the next epoch.
	err := apply(t, f, 3, &FailoverBegin{Group: "g", Failover: Failover{Epoch: 5, From: "a:1", To: "b:1"}, At: at})
	if !errors.Is(err, ErrStaleEpoch) {
		t.Fatalf("begin at a wrong epoch: %v", err)
	}
	mustApply(t, f, 4, &FailoverBegin{Group: "g", Failover: Failover{Epoch: 1, From: "a:1", To: "b:1", Votes: map[string]string{"w1": "down"}}, At: at})
	if err := apply(t, f, 5, &FailoverBegin{Group: "g", Failover: Failover{Epoch: 1, From: "a:1", To: "c:1"}, At: at}); !errors.Is(err, ErrFailoverRunning) {
		t.Fatalf("second begin: %v", err)
	}
	if err := apply(t, f, 6, &MasterDiscovered{Group: "g", Master: "c:1", Epoch: 1, At: at}); !errors.Is(err, ErrFailoverRunning) {
		t.Fatalf("discovery during a failover: %v", err)
	}
	g, _ = f.Group("g")
	if g.Failover == nil || g.Failover.Stage != StageBegun || g.Master != "a:1" {
		t.Fatalf("after begin: %+v", g)
	}
	if err := apply(t, f, 7, &FailoverPromoted{Group: "g", Epoch: 2, At: at}); !errors.Is(err, ErrStaleEpoch) {
		t.Fatalf("promoted with a wrong epoch: %v", err)
	}
	later := at.Add(time.Second)
	mustApply(t, f, 8, &FailoverPromoted{Group: "g", Epoch: 1, RunID: "rb", Steps: []Step{{Name: "promote", Node: "b:1"}}, At: later})
	g, _ = f.Group("g")
	if g.Master != "b:1" || g.Epoch != 1 || g.MasterRunID != "rb" || !g.LastPromotionAt.Equal(later) || g.Failover.Stage != StagePromoted {
		t.Fatalf("after promotion: %+v", g)
	}
	mustApply(t, f, 9, &FailoverEnd{Group: "g", Epoch: 1, OK: true, Steps: []Step{{Name: "repoint", Node: "c:1"}}, At: later})
	g, _ = f.Group("g")
	if g.Failover != nil || g.LastFailover == nil || !g.LastFailover.OK || g.LastFailover.Stage != StageDone || len(g.LastFailover.Steps) != 2 {
		t.Fatalf("after end: %+v / %+v", g, g.LastFailover)
	}
	if err := apply(t, f, 10, &FailoverEnd{Group: "g", Epoch: 1, OK: true, At: at}); !errors.Is(err, ErrNoFailover) {
		t.Fatalf("end without a failover: %v", err)
	}

	// A failed attempt leaves master and epoch alone.
	mustApply(t, f, 11, &FailoverBegin{Group: "g", Failover: Failover{Epoch: 2, From: "b:1", To: "c:1"}, At: at})
	mustApply(t, f, 12, &FailoverEnd{Group: "g", Epoch: 2, OK: false, Error: "promote timed out", At: at})
	g, _ = f.Group("g")
	if g.Master != "b:1" || g.Epoch != 1 || g.LastFailover.Stage != StageFailed || g.LastFailover.Error == "" {
		t.Fatalf("after failed attempt: %+v", g)
	}

	mustApply(t, f, 13, &GroupAmbiguous{Group: "g", Reason: "two masters", At: at})
	if g, _ = f.Group("g"); g.Status != StatusAmbiguous || g.Reason != "two masters" {
		t.Fatalf("after ambiguous: %+v", g)
	}
	if err := apply(t, f, 14, &GroupAmbiguous{Group: "nope", At: at}); !errors.Is(err, ErrUnknownGroup) {
		t.Fatalf("unknown group: %v", err)
	}
	// The configured groups seed the state once; later differences are
	// the API's business.
	mustApply(t, f, 15, &GroupsEnsure{Groups: []GroupSpec{{Name: "g", Nodes: []string{"a:1", "b:1"}}, {Name: "h", Nodes: []string{"x:1", "y:1"}}}, At: at})
	if g, _ = f.Group("g"); len(g.Nodes) != 3 || g.Master != "b:1" {
		t.Fatalf("a second seeding changed the group: %+v", g)
	}
	if _, ok := f.Group("h"); ok || !f.Seeded() {
		t.Fatal("a second seeding added a group")
	}

	kinds := map[string]int{}
	for _, e := range f.History("", 0) {
		kinds[e.Kind]++
	}
	want := map[string]int{EntryGroupAdded: 1, EntryDiscovery: 1, EntryFailover: 2, EntryAmbiguous: 1}
	if !reflect.DeepEqual(kinds, want) {
		t.Fatalf("history kinds %v, want %v", kinds, want)
	}
}

func TestFSMGroupsMaintenanceAckHistory(t *testing.T) {
	f := seeded(t)
	if err := apply(t, f, 3, &GroupAdd{Group: GroupSpec{Name: "g", Nodes: []string{"x:1", "y:1"}}, At: at}); !errors.Is(err, ErrGroupExists) {
		t.Fatalf("adding an existing group: %v", err)
	}
	if err := apply(t, f, 4, &GroupAdd{Group: GroupSpec{Name: "h", Nodes: []string{"x:1", "a:1"}}, At: at}); !errors.Is(err, ErrNodeInUse) {
		t.Fatalf("adding a node of another group: %v", err)
	}
	if err := apply(t, f, 5, &GroupAdd{Group: GroupSpec{Name: "h", Nodes: []string{"x:1"}}, At: at}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("adding a one-node group: %v", err)
	}
	if _, ok := f.Group("h"); ok {
		t.Fatal("a refused add left a group behind")
	}
	mustApply(t, f, 6, &GroupAdd{Group: GroupSpec{Name: "h", Nodes: []string{"x:1", "y:1"}}, By: "ops", At: at})
	if g, ok := f.Group("h"); !ok || g.Status != StatusUnknown || len(g.Nodes) != 2 {
		t.Fatalf("added group: %+v", g)
	}

	until := at.Add(time.Hour)
	mustApply(t, f, 7, &Maintenance{Node: "b:1", On: true, Reason: "disk swap", Until: until, By: "ops", At: at})
	m := f.Maintenance()["b:1"]
	if m.Reason != "disk swap" || !m.Until.Equal(until) || !m.Active(at) || m.Active(until) {
		t.Fatalf("maintenance: %+v", m)
	}
	mustApply(t, f, 8, &Maintenance{Node: "b:1", On: false, At: at})
	if _, ok := f.Maintenance()["b:1"]; ok {
		t.Fatal("maintenance off kept the window")
	}

	mustApply(t, f, 9, &FailoverBegin{Group: "g", Failover: Failover{Epoch: 1, From: "a:1", To: "b:1", Kind: KindSwitchover}, At: at})
	if err := apply(t, f, 10, &GroupRemove{Group: "g", At: at}); !errors.Is(err, ErrFailoverRunning) {
		t.Fatalf("removing a group during a failover: %v", err)
	}
	mustApply(t, f, 11, &FailoverPromoted{Group: "g", Epoch: 1, At: at})
	mustApply(t, f, 12, &FailoverEnd{Group: "g", Epoch: 1, OK: true, At: at})
	if g, _ := f.Group("g"); g.LastPromotionAt.IsZero() || g.LastFailover.ID != "g-1-1" || g.LastFailover.Kind != KindSwitchover {
		t.Fatalf("after switchover: %+v", g.LastFailover)
	}
	mustApply(t, f, 13, &Ack{Group: "g", By: "ops", At: at})
	if g, _ := f.Group("g"); !g.LastPromotionAt.IsZero() {
		t.Fatal("ack kept the anti-flapping window")
	}
	mustApply(t, f, 14, &Record{Entry: Entry{Kind: EntryReattach, Group: "g", Node: "a:1", Message: "re-attached"}, At: at})
	mustApply(t, f, 15, &GroupRemove{Group: "h", By: "ops", At: at})
	if _, ok := f.Group("h"); ok {
		t.Fatal("removed group still there")
	}
	if err := apply(t, f, 16, &GroupRemove{Group: "h", At: at}); !errors.Is(err, ErrUnknownGroup) {
		t.Fatalf("removing twice: %v", err)
	}

	hist := f.History("g", 0)
	var kinds []string
	for i, e := range hist {
		kinds = append(kinds, e.Kind)
		if i > 0 && e.Seq <= hist[i-1].Seq {
			t.Fatalf("history out of order: %+v", hist)
		}
	}
	want := []string{EntryGroupAdded, EntryDiscovery, EntryMaintenanceOn, EntryMaintenanceOff, EntrySwitchover, EntryAck, EntryReattach}
	if !reflect.DeepEqual(kinds, want) {
		t.Fatalf("history of g: %v, want %v", kinds, want)
	}
	if last := f.History("", 1); len(last) != 1 || last[0].Kind != EntryGroupRemoved {
		t.Fatalf("newest entry: %+v", last)
	}
}

func TestFSMHistoryIsBounded(t *testing.T) {
	f := seeded(t)
	for i := 0; i < HistoryLimit+50; i++ {
		mustApply(t, f, uint64(3+i), &Record{Entry: Entry{Kind: EntryRefusal, Group: "g", Message: "x"}, At: at})
	}
	h := f.History("", 0)
	if len(h) != HistoryLimit || h[len(h)-1].Seq != uint64(HistoryLimit+52) {
		t.Fatalf("history holds %d entries, newest seq %d", len(h), h[len(h)-1].Seq)
	}
}

func TestFSMReadsAreCopies(t *testing.T) {
	f := seeded(t)
	g, _ := f.Group("g")
	g.Nodes[0] = "changed"
	if g2, _ := f.Group("g"); g2.Nodes[0] != "a:1" {
		t.Fatal("Group returned shared state")
	}
}

type sink struct {
	bytes.Buffer
	cancelled bool
}

func (s *sink) ID() string    { return "test" }
func (s *sink) Cancel() error { s.cancelled = true; return nil }
func (s *sink) Close() error  { return nil }

func TestFSMSnapshotRoundTrip(t *testing.T) {
	f := seeded(t)
	mustApply(t, f, 3, &FailoverBegin{Group: "g", Failover: Failover{Epoch: 1, From: "a:1", To: "b:1", Ranking: []Candidate{{Addr: "b:1", Offset: 9}}}, At: at})
	g2 := NewFSM()
	if err := g2.Restore(io.NopCloser(bytes.NewReader(snapshotBytes(t, f)))); err != nil {
		t.Fatal(err)
	}
	// The local apply-time stamps are not in the snapshot (json:"-"):
	// compare what it carries.
	if a, b := mustJSON(t, f.Groups()), mustJSON(t, g2.Groups()); a != b {
		t.Fatalf("restored state differs:\n%s\n%s", a, b)
	}
	// Restore replaces everything.
	empty, _ := json.Marshal(State{Version: stateVersion})
	if err := g2.Restore(io.NopCloser(bytes.NewReader(empty))); err != nil {
		t.Fatal(err)
	}
	if len(g2.Groups()) != 0 {
		t.Fatal("restore kept old groups")
	}
	bad, _ := json.Marshal(State{Version: 99})
	if err := g2.Restore(io.NopCloser(bytes.NewReader(bad))); err == nil {
		t.Fatal("restore accepted an unknown state version")
	}
}

func TestDecodeRejects(t *testing.T) {
	good, _ := Encode(&GroupAmbiguous{Group: "g", Reason: "x", At: at})
	for name, b := range map[string][]byte{
		"empty":         nil,
		"short":         {byte(CmdGroupAmbiguous)},
		"unknown type":  append([]byte{200, commandVersion}, good[2:]...),
		"bad version":   append([]byte{good[0], 9}, good[2:]...),
		"unknown field": append([]byte{good[0], commandVersion}, []byte(`{"group":"g","bogus":1}`)...),
		"trailing":      append(append([]byte{}, good...), []byte(` {}`)...),
		"not json":      {good[0], commandVersion, '{'},
	} {
		if _, _, err := Decode(b); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
	if _, c, err := Decode(good); err != nil || c.(*GroupAmbiguous).Reason != "x" {
		t.Fatalf("good command: %v %+v", err, c)
	}
}

func TestApplyPanicsOnUndecodableEntry(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("an undecodable entry was skipped silently")
		}
	}()
	NewFSM().Apply(&raft.Log{Index: 7, Type: raft.LogCommand, Data: []byte{250, 1, '{', '}'}})
}

func FuzzDecode(f *testing.F) {
	for _, c := range []Command{
		&GroupsEnsure{Groups: []GroupSpec{{Name: "g", Nodes: []string{"a:1"}}}, At: at},
		&MasterDiscovered{Group: "g", Master: "a:1", Epoch: 2, At: at},
		&FailoverBegin{Group: "g", Failover: Failover{Epoch: 1, From: "a", To: "b"}, At: at},
		&FailoverEnd{Group: "g", Epoch: 1, OK: true, At: at},
	} {
		b, _ := Encode(c)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		typ, c, err := Decode(b)
		if err != nil {
			return
		}
		again, err := Encode(c)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		typ2, c2, err := Decode(again)
		if err != nil || typ2 != typ || !reflect.DeepEqual(c, c2) {
			t.Fatalf("round trip changed the command: %v", err)
		}
		// Applying any decodable command must not panic.
		fsm := NewFSM()
		fsm.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: again})
	})
}

func TestFSMEvents(t *testing.T) {
	f := seeded(t)
	_, _ = f.EventsSince(0, 0)
	changed := f.Changed()
	mustApply(t, f, 3, &FailoverBegin{Group: "g", Failover: Failover{Epoch: 1, From: "a:1", To: "b:1", Cause: CauseEmptyRestart}, At: at})
	select {
	case <-changed:
	default:
		t.Fatal("Changed was not closed by an applied command")
	}
	mustApply(t, f, 4, &FailoverPromoted{Group: "g", Epoch: 1, At: at})
	mustApply(t, f, 5, &FailoverEnd{Group: "g", Epoch: 1, OK: true, At: at})
	evs, _ := f.EventsSince(0, 0)
	var kinds []string
	for i, e := range evs {
		kinds = append(kinds, e.Kind)
		if e.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d", i, e.Seq)
		}
	}
	want := []string{EvGroupAdded, EvMasterDiscovered, EvEmptyRestart, EvFailoverStarted, EvMasterSwitched, EvFailoverCompleted}
	if !reflect.DeepEqual(kinds, want) {
		t.Fatalf("events %v, want %v", kinds, want)
	}
	if sw := evs[4]; sw.Details["old_master"] != "a:1" || sw.Details["new_master"] != "b:1" || sw.Epoch != 1 {
		t.Fatalf("master_switched %+v", sw)
	}
	if got, _ := f.EventsSince(4, 1); len(got) != 1 || got[0].Seq != 5 {
		t.Fatalf("EventsSince(4, 1) = %+v", got)
	}

	// Observed events: validated as a whole, and the retention trims.
	if err := apply(t, f, 6, &Events{Events: []Event{{Kind: EvNodeSDown}, {Kind: ""}}, At: at}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("an event without a kind: %v", err)
	}
	if f.LastEventSeq() != 6 {
		t.Fatalf("a refused batch appended events: last seq %d", f.LastEventSeq())
	}
	var batch []Event
	for i := 0; i < 150; i++ {
		batch = append(batch, Event{Kind: EvNodeSDown, Node: "a:1", Watchdog: "w1"})
	}
	mustApply(t, f, 7, &Events{Events: batch, Keep: 100, At: at})
	evs, oldest := f.EventsSince(0, 0)
	if len(evs) != 100 || oldest != 57 || evs[99].Seq != 156 || evs[0].At.IsZero() {
		t.Fatalf("after trimming: %d events, oldest %d, newest %d", len(evs), oldest, evs[len(evs)-1].Seq)
	}

	// Webhook cursors only move forward.
	mustApply(t, f, 8, &HookCursor{Hook: "ops", Seq: 120, At: at})
	mustApply(t, f, 9, &HookCursor{Hook: "ops", Seq: 110, At: at})
	if c, ok := f.HookCursor("ops"); !ok || c != 120 {
		t.Fatalf("cursor %d, %v", c, ok)
	}
	if err := apply(t, f, 10, &HookCursor{Seq: 1, At: at}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("cursor without a hook: %v", err)
	}
}

func TestFSMClusterFailoverGivesUp(t *testing.T) {
	f := NewFSM()
	mustApply(t, f, 1, &ClustersEnsure{Clusters: []ClusterSpec{{Name: "c", Seeds: []string{"a:1"}}}, At: at})
	idx := uint64(2)
	for i := 1; i <= MaxClusterAttempts; i++ {
		mustApply(t, f, idx, &ClusterFailoverBegin{Cluster: "c", Failover: ClusterFailover{Mode: ModeForce, ShardMaster: "m1", From: "a:1", To: "b:1", ToID: "r1"}, At: at})
		c, _ := f.Cluster("c")
		mustApply(t, f, idx+1, &ClusterFailoverEnd{Cluster: "c", ID: c.Failover.ID, OK: false, Error: "refused", At: at})
		idx += 2
	}
	c, _ := f.Cluster("c")
	if c.Failed["m1"] != MaxClusterAttempts || c.Epoch != MaxClusterAttempts {
		t.Fatalf("failed %v, epoch %d", c.Failed, c.Epoch)
	}
	evs, _ := f.EventsSince(0, 0)
	n := 0
	for _, e := range evs {
		if e.Kind == EvClusterFailoverAbandoned {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d %s events, want 1", n, EvClusterFailoverAbandoned)
	}
	// A success resets the count.
	mustApply(t, f, idx, &ClusterFailoverBegin{Cluster: "c", Failover: ClusterFailover{Mode: ModeTakeover, ShardMaster: "m1", ToID: "r1"}, At: at})
	c, _ = f.Cluster("c")
	mustApply(t, f, idx+1, &ClusterFailoverEnd{Cluster: "c", ID: c.Failover.ID, OK: true, At: at})
	if c, _ = f.Cluster("c"); c.Failed["m1"] != 0 || len(c.Promoted) != 1 {
		t.Fatalf("after a success: failed %v promoted %v", c.Failed, c.Promoted)
	}
}

package raftstore

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"
)

func withCluster(t *testing.T) *FSM {
	f := NewFSM()
	mustApply(t, f, 1, &ClustersEnsure{Clusters: []ClusterSpec{{Name: "c", Seeds: []string{"a:1"}}}, At: at})
	return f
}

func addShardOp() Operation {
	return Operation{Cluster: "c", Kind: OpAddShard, Request: OpRequest{Master: "d:1"},
		Nodes: []OpNode{{ID: "dd", Addr: "d:1"}},
		Plan: []OpStep{{Kind: StepMeet, Detail: "meet"}, {Kind: StepMigrate, Detail: "move",
			Moves: []OpMove{{From: "aa", To: "dd", Slots: "0-99", Count: 100}}}, {Kind: StepVerify, Detail: "verify"}}}
}

func TestOperationLifecycle(t *testing.T) {
	f := withCluster(t)
	mustApply(t, f, 2, &OpBegin{Operation: addShardOp(), At: at})
	o, ok := f.RunningOperation("c")
	if !ok || o.ID != "c-op1" || o.State != OpRunning || o.Cursor != 0 || o.Step() != StepMeet {
		t.Fatalf("after begin: %+v", o)
	}
	// One operation per cluster at a time.
	if err := apply(t, f, 3, &OpBegin{Operation: addShardOp(), At: at}); !errors.Is(err, ErrOperationRunning) {
		t.Fatalf("second operation: %v", err)
	}
	// The cursor only moves forward; counters are replaced.
	mustApply(t, f, 4, &OpProgress{ID: "c-op1", Cursor: 1, At: at})
	mustApply(t, f, 5, &OpProgress{ID: "c-op1", Cursor: 1, SlotsTotal: 100, SlotsMoved: 40, KeysMoved: 400, Errors: []string{"retry"}, At: at})
	forgot := at.Add(time.Minute)
	mustApply(t, f, 6, &OpProgress{ID: "c-op1", Cursor: 0, SlotsMoved: 50, KeysMoved: 500, ForgotAt: &forgot, At: at})
	o, _ = f.Operation("c-op1")
	if o.Cursor != 1 || o.SlotsTotal != 100 || o.SlotsMoved != 50 || o.KeysMoved != 500 || len(o.Errors) != 1 || o.ForgotAt == nil || !o.ForgotAt.Equal(forgot) {
		t.Fatalf("after progress: %+v", o)
	}
	mustApply(t, f, 7, &OpCancel{ID: "c-op1", By: "ops", At: at})
	if o, _ = f.Operation("c-op1"); !o.CancelRequested {
		t.Fatal("cancel not recorded")
	}
	mustApply(t, f, 8, &OpEnd{ID: "c-op1", State: OpCancelled, Error: "cancelled at a slot boundary", At: at.Add(time.Second)})
	if _, ok := f.RunningOperation("c"); ok {
		t.Fatal("still running after its end")
	}
	if err := apply(t, f, 9, &OpEnd{ID: "c-op1", State: OpDone, At: at}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("ending twice: %v", err)
	}
	if err := apply(t, f, 10, &OpCancel{ID: "nope", At: at}); !errors.Is(err, ErrUnknownOperation) {
		t.Fatalf("cancel of an unknown operation: %v", err)
	}
	// A new operation may start now, with the next number.
	mustApply(t, f, 11, &OpBegin{Operation: addShardOp(), At: at})
	if o, _ := f.RunningOperation("c"); o.ID != "c-op2" {
		t.Fatalf("next id %q", o.ID)
	}
	kinds := map[string]bool{}
	evs, _ := f.EventsSince(0, 0)
	for _, e := range evs {
		kinds[e.Kind] = true
	}
	if !kinds[EvOperationStarted] || !kinds[EvOperationCancelled] {
		t.Fatalf("events %v", kinds)
	}
}

func TestOperationCreateAddsClusterOnSuccessOnly(t *testing.T) {
	f := NewFSM()
	op := Operation{Cluster: "n", Kind: OpCreate, Nodes: []OpNode{{ID: "a", Addr: "a:1"}, {ID: "b", Addr: "b:1", Master: "a"}},
		Plan: []OpStep{{Kind: StepAssignSlots, Detail: "assign"}}}
	mustApply(t, f, 1, &OpBegin{Operation: op, At: at})
	if _, ok := f.Cluster("n"); ok {
		t.Fatal("cluster recorded before it was created")
	}
	mustApply(t, f, 2, &OpEnd{ID: "n-op1", State: OpDone, At: at})
	c, ok := f.Cluster("n")
	if !ok || len(c.Seeds) != 2 {
		t.Fatalf("created cluster %+v", c)
	}
	// Creating a cluster that exists, or operating on one that does not.
	if err := apply(t, f, 3, &OpBegin{Operation: op, At: at}); !errors.Is(err, ErrClusterExists) {
		t.Fatalf("create twice: %v", err)
	}
	other := addShardOp()
	other.Cluster = "zzz"
	if err := apply(t, f, 4, &OpBegin{Operation: other, At: at}); !errors.Is(err, ErrUnknownCluster) {
		t.Fatalf("unknown cluster: %v", err)
	}
	if err := apply(t, f, 5, &OpBegin{Operation: Operation{Cluster: "n", Kind: OpRebalance}, At: at}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("an operation without a plan: %v", err)
	}
}

func TestOperationRemovedNodes(t *testing.T) {
	f := withCluster(t)
	mustApply(t, f, 2, &OpBegin{Operation: addShardOp(), At: at})
	mustApply(t, f, 3, &OpProgress{ID: "c-op1", Removed: []string{"x:1", "y:1"}, At: at})
	if got := f.RemovedNodes("c"); len(got) != 2 || got[0] != "x:1" {
		t.Fatalf("removed %v", got)
	}
	mustApply(t, f, 4, &OpEnd{ID: "c-op1", State: OpDone, At: at})
	// Adding a removed node again takes it off the list.
	op := addShardOp()
	op.Nodes = []OpNode{{ID: "xx", Addr: "x:1"}}
	mustApply(t, f, 5, &OpBegin{Operation: op, At: at})
	if got := f.RemovedNodes("c"); len(got) != 1 || got[0] != "y:1" {
		t.Fatalf("removed after re-adding x: %v", got)
	}
}

func TestOperationsTrimAndSnapshot(t *testing.T) {
	f := withCluster(t)
	idx := uint64(2)
	for i := 0; i < FinishedOperationsKept+5; i++ {
		mustApply(t, f, idx, &OpBegin{Operation: addShardOp(), At: at})
		o, _ := f.RunningOperation("c")
		mustApply(t, f, idx+1, &OpEnd{ID: o.ID, State: OpFailed, Error: "x", At: at})
		idx += 2
	}
	mustApply(t, f, idx, &OpBegin{Operation: addShardOp(), At: at})
	ops := f.Operations()
	if len(ops) != FinishedOperationsKept+1 || ops[len(ops)-1].State != OpRunning {
		t.Fatalf("kept %d operations, last %+v", len(ops), ops[len(ops)-1].State)
	}
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sk := &sink{}
	if err := snap.Persist(sk); err != nil {
		t.Fatal(err)
	}
	g := NewFSM()
	if err := g.Restore(io.NopCloser(bytes.NewReader(sk.Bytes()))); err != nil {
		t.Fatal(err)
	}
	if o, ok := g.RunningOperation("c"); !ok || o.Plan[1].Moves[0].Slots != "0-99" {
		t.Fatalf("restored running operation %+v", o)
	}
}

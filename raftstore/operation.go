package raftstore

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Topology operation kinds.
const (
	OpCreate         = "create"
	OpAddShard       = "add_shard"
	OpRemoveShard    = "remove_shard"
	OpRebalance      = "rebalance"
	OpAddReplicas    = "add_replicas"
	OpRemoveReplicas = "remove_replicas"
)

// Operation states.
const (
	OpRunning   = "running"
	OpDone      = "done"
	OpFailed    = "failed"
	OpCancelled = "cancelled"
)

// Operation event kinds.
const (
	EvOperationStarted   = "operation_started"
	EvOperationCompleted = "operation_completed"
	EvOperationFailed    = "operation_failed"
	EvOperationCancelled = "operation_cancelled"
)

// Errors of operation commands.
var (
	ErrOperationRunning = errors.New("a topology operation is already running on this cluster")
	ErrUnknownOperation = errors.New("unknown operation")
	ErrClusterExists    = errors.New("cluster already exists")
)

// FinishedOperationsKept is how many finished operations the state keeps
// (running ones are always kept).
const FinishedOperationsKept = 50

// OpRequest is what the operator asked for, as accepted.
type OpRequest struct {
	Masters      []string            `json:"masters,omitempty"`
	Replicas     map[string][]string `json:"replicas,omitempty"`
	Slots        map[string]string   `json:"slots,omitempty"`
	Master       string              `json:"master,omitempty"`
	Nodes        []string            `json:"nodes,omitempty"`
	Weights      map[string]float64  `json:"weights,omitempty"`
	ThresholdPct float64             `json:"threshold_pct,omitempty"`
	Force        bool                `json:"force,omitempty"`
}

// OpNode is a node an operation works on, with the id it had when the
// plan was made.
type OpNode struct {
	ID   string `json:"id"`
	Addr string `json:"addr"`
	// Master is the id of the master a replica is to follow ("" for a
	// master).
	Master string `json:"master,omitempty"`
}

// OpMove is part of a migrate step: slots going to a master.
type OpMove struct {
	From     string `json:"from"`
	FromAddr string `json:"from_addr"`
	To       string `json:"to"`
	ToAddr   string `json:"to_addr"`
	Slots    string `json:"slots"`
	Count    int    `json:"count"`
}

// Plan step kinds.
const (
	StepAssignSlots = "assign_slots" // ADDSLOTSRANGE on each master
	StepSetEpochs   = "set_epochs"   // distinct config epochs before meeting
	StepMeet        = "meet"         // CLUSTER MEET the new nodes
	StepWaitKnown   = "wait_known"   // every node lists every node, out of handshake; the new ones say ok
	StepReplicate   = "replicate"    // CLUSTER REPLICATE
	StepMigrate     = "migrate"      // move slots
	StepForget      = "forget"       // CLUSTER FORGET on every remaining node
	StepVerifyGone  = "verify_gone"  // through the ban window no node re-learns the removed; then RESET them
	StepVerify      = "verify"       // coverage, agreement, map as asked
)

// OpStep is one idempotent step of a plan.
type OpStep struct {
	Kind   string   `json:"kind"`
	Detail string   `json:"detail"`
	Nodes  []string `json:"nodes,omitempty"`
	Moves  []OpMove `json:"moves,omitempty"`
}

// Operation is one topology operation on a cluster.
type Operation struct {
	ID      string    `json:"id"`
	Cluster string    `json:"cluster"`
	Kind    string    `json:"kind"`
	Request OpRequest `json:"request"`
	Nodes   []OpNode  `json:"nodes,omitempty"`
	Plan    []OpStep  `json:"plan"`
	// Cursor is the index of the first step not finished.
	Cursor          int      `json:"cursor"`
	State           string   `json:"state"`
	Error           string   `json:"error,omitempty"`
	Errors          []string `json:"errors,omitempty"`
	CancelRequested bool     `json:"cancel_requested,omitempty"`
	RequestedBy     string   `json:"requested_by,omitempty"`
	Leader          string   `json:"leader"`
	SlotsTotal      int      `json:"slots_total"`
	SlotsMoved      int      `json:"slots_moved"`
	KeysMoved       int64    `json:"keys_moved"`
	BytesMoved      int64    `json:"bytes_moved"`
	MigrateSeconds  float64  `json:"migrate_seconds"`
	// ForgotAt is when the removed nodes were forgotten on every remaining
	// node: the ban window runs from there, whoever leads.
	// It is the leader's wall clock, for display: the window is measured
	// from ForgotLocal.
	ForgotAt *time.Time `json:"forgot_at,omitempty"`
	// ForgotLocal is this member's clock when it applied ForgotAt (in
	// memory only, like Group.PromotedLocal).
	ForgotLocal time.Time  `json:"-"`
	StartedAt   time.Time  `json:"started_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	EndedAt     *time.Time `json:"ended_at,omitempty"`
}

// MaxOperationErrors bounds Operation.Errors.
const MaxOperationErrors = 20

// Step returns the kind of the step at the cursor ("" when past the end).
func (o *Operation) Step() string {
	if o.Cursor < len(o.Plan) {
		return o.Plan[o.Cursor].Kind
	}
	return ""
}

func (o *Operation) clone() *Operation {
	c := *o
	c.Request.Masters = append([]string(nil), o.Request.Masters...)
	c.Request.Nodes = append([]string(nil), o.Request.Nodes...)
	if o.Request.Replicas != nil {
		c.Request.Replicas = make(map[string][]string, len(o.Request.Replicas))
		for k, v := range o.Request.Replicas {
			c.Request.Replicas[k] = append([]string(nil), v...)
		}
	}
	if o.Request.Slots != nil {
		c.Request.Slots = make(map[string]string, len(o.Request.Slots))
		for k, v := range o.Request.Slots {
			c.Request.Slots[k] = v
		}
	}
	if o.Request.Weights != nil {
		c.Request.Weights = make(map[string]float64, len(o.Request.Weights))
		for k, v := range o.Request.Weights {
			c.Request.Weights[k] = v
		}
	}
	c.Nodes = append([]OpNode(nil), o.Nodes...)
	c.Plan = make([]OpStep, len(o.Plan))
	for i, s := range o.Plan {
		s.Nodes = append([]string(nil), s.Nodes...)
		s.Moves = append([]OpMove(nil), s.Moves...)
		c.Plan[i] = s
	}
	c.Errors = append([]string(nil), o.Errors...)
	if o.ForgotAt != nil {
		t := *o.ForgotAt
		c.ForgotAt = &t
	}
	if o.EndedAt != nil {
		t := *o.EndedAt
		c.EndedAt = &t
	}
	return &c
}

// OpBegin is CmdOpBegin: start an operation (one per cluster at a time).
type OpBegin struct {
	Operation Operation `json:"operation"`
	At        time.Time `json:"at"`
}

// OpProgress is CmdOpProgress: the cursor moved or counters grew.
type OpProgress struct {
	ID             string  `json:"id"`
	Cursor         int     `json:"cursor"`
	SlotsTotal     int     `json:"slots_total,omitempty"`
	SlotsMoved     int     `json:"slots_moved"`
	KeysMoved      int64   `json:"keys_moved"`
	BytesMoved     int64   `json:"bytes_moved"`
	MigrateSeconds float64 `json:"migrate_seconds"`
	// Errors met (and survived) since the last progress.
	Errors []string `json:"errors,omitempty"`
	// Removed are node addresses that left the cluster: never re-attached.
	Removed []string `json:"removed,omitempty"`
	// ForgotAt, when set, records when the removed nodes were forgotten.
	ForgotAt *time.Time `json:"forgot_at,omitempty"`
	At       time.Time  `json:"at"`
}

// OpCancel is CmdOpCancel: ask a running operation to stop at a slot
// boundary.
type OpCancel struct {
	ID string    `json:"id"`
	By string    `json:"by,omitempty"`
	At time.Time `json:"at"`
}

// OpEnd is CmdOpEnd: the operation finished (done, failed or cancelled).
type OpEnd struct {
	ID    string    `json:"id"`
	State string    `json:"state"`
	Error string    `json:"error,omitempty"`
	At    time.Time `json:"at"`
}

func (*OpBegin) commandType() CommandType    { return CmdOpBegin }
func (*OpProgress) commandType() CommandType { return CmdOpProgress }
func (*OpCancel) commandType() CommandType   { return CmdOpCancel }
func (*OpEnd) commandType() CommandType      { return CmdOpEnd }

// Operations returns copies of every kept operation, oldest first.
func (f *FSM) Operations() []Operation {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]Operation, 0, len(f.st.Operations))
	for _, o := range f.st.Operations {
		out = append(out, *o.clone())
	}
	return out
}

// Operation returns a copy of the operation id.
func (f *FSM) Operation(id string) (Operation, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if o := f.op(id); o != nil {
		return *o.clone(), true
	}
	return Operation{}, false
}

// RunningOperation returns the operation running on cluster, if any.
func (f *FSM) RunningOperation(cluster string) (Operation, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if o := f.runningOp(cluster); o != nil {
		return *o.clone(), true
	}
	return Operation{}, false
}

func (f *FSM) op(id string) *Operation {
	for _, o := range f.st.Operations {
		if o.ID == id {
			return o
		}
	}
	return nil
}

func (f *FSM) runningOp(cluster string) *Operation {
	for _, o := range f.st.Operations {
		if o.Cluster == cluster && o.State == OpRunning {
			return o
		}
	}
	return nil
}

func (f *FSM) applyOperation(body any) (bool, error) {
	switch c := body.(type) {
	case *OpBegin:
		o := c.Operation.clone()
		if o.Cluster == "" || o.Kind == "" || len(o.Plan) == 0 {
			return true, fmt.Errorf("%w: an operation needs a cluster, a kind and a plan", ErrInvalid)
		}
		if r := f.runningOp(o.Cluster); r != nil {
			return true, fmt.Errorf("%w: %s (%s, step %d of %d)", ErrOperationRunning, r.ID, r.Kind, r.Cursor+1, len(r.Plan))
		}
		_, exists := f.st.Clusters[o.Cluster]
		switch {
		case o.Kind == OpCreate && exists:
			return true, fmt.Errorf("%w: %q", ErrClusterExists, o.Cluster)
		case o.Kind != OpCreate && !exists:
			return true, fmt.Errorf("%w %q", ErrUnknownCluster, o.Cluster)
		}
		f.st.OpSeq++
		o.ID = fmt.Sprintf("%s-op%d", o.Cluster, f.st.OpSeq)
		o.State, o.Cursor, o.Error, o.Errors, o.CancelRequested, o.EndedAt = OpRunning, 0, "", nil, false, nil
		o.StartedAt, o.UpdatedAt = c.At, c.At
		o.SlotsMoved, o.KeysMoved, o.BytesMoved, o.MigrateSeconds = 0, 0, 0, 0
		f.st.Operations = append(f.st.Operations, o)
		if cl, ok := f.st.Clusters[o.Cluster]; ok {
			// Nodes an operation adds may have been removed before.
			for _, n := range o.Nodes {
				cl.Removed = without(cl.Removed, n.Addr)
			}
		}
		f.trimOperations()
		msg := fmt.Sprintf("%s on cluster %s: %s", o.Kind, o.Cluster, planSummary(o.Plan))
		f.record(Entry{At: c.At, Kind: "operation", Group: o.Cluster, By: o.RequestedBy, Message: o.ID + " started: " + msg})
		f.emit(Event{At: c.At, Kind: EvOperationStarted, Group: o.Cluster, Message: msg,
			Details: map[string]string{"operation_id": o.ID, "kind": o.Kind}})
		return true, nil
	case *OpProgress:
		o := f.op(c.ID)
		if o == nil {
			return true, fmt.Errorf("%w %q", ErrUnknownOperation, c.ID)
		}
		if o.State != OpRunning {
			return true, fmt.Errorf("%w: operation %s is %s", ErrInvalid, c.ID, o.State)
		}
		if c.Cursor > o.Cursor && c.Cursor <= len(o.Plan) {
			o.Cursor = c.Cursor
		}
		if c.SlotsTotal > 0 {
			o.SlotsTotal = c.SlotsTotal
		}
		o.SlotsMoved, o.KeysMoved, o.BytesMoved, o.MigrateSeconds = c.SlotsMoved, c.KeysMoved, c.BytesMoved, c.MigrateSeconds
		o.Errors = append(o.Errors, c.Errors...)
		if over := len(o.Errors) - MaxOperationErrors; over > 0 {
			o.Errors = append([]string(nil), o.Errors[over:]...)
		}
		o.UpdatedAt = c.At
		if c.ForgotAt != nil {
			if o.ForgotAt == nil || !o.ForgotAt.Equal(*c.ForgotAt) {
				o.ForgotLocal = f.at
			}
			t := *c.ForgotAt
			o.ForgotAt = &t
		}
		if cl, ok := f.st.Clusters[o.Cluster]; ok && len(c.Removed) > 0 {
			for _, a := range c.Removed {
				cl.Removed = append(without(cl.Removed, a), a)
			}
			if over := len(cl.Removed) - 64; over > 0 {
				cl.Removed = append([]string(nil), cl.Removed[over:]...)
			}
		}
		return true, nil
	case *OpCancel:
		o := f.op(c.ID)
		if o == nil {
			return true, fmt.Errorf("%w %q", ErrUnknownOperation, c.ID)
		}
		if o.State != OpRunning {
			return true, fmt.Errorf("%w: operation %s is already %s", ErrInvalid, c.ID, o.State)
		}
		o.CancelRequested, o.UpdatedAt = true, c.At
		f.record(Entry{At: c.At, Kind: "operation", Group: o.Cluster, By: c.By, Message: o.ID + ": cancel requested"})
		return true, nil
	case *OpEnd:
		o := f.op(c.ID)
		if o == nil {
			return true, fmt.Errorf("%w %q", ErrUnknownOperation, c.ID)
		}
		if o.State != OpRunning {
			return true, fmt.Errorf("%w: operation %s is already %s", ErrInvalid, c.ID, o.State)
		}
		kind, sev := EvOperationCompleted, SeverityInfo
		switch c.State {
		case OpDone:
			o.Cursor = len(o.Plan)
		case OpFailed:
			kind, sev = EvOperationFailed, SeverityCritical
		case OpCancelled:
			kind, sev = EvOperationCancelled, SeverityWarning
		default:
			return true, fmt.Errorf("%w: operation end state %q", ErrInvalid, c.State)
		}
		at := c.At
		o.State, o.Error, o.EndedAt, o.UpdatedAt = c.State, c.Error, &at, c.At
		if o.Kind == OpCreate && c.State == OpDone {
			if _, ok := f.st.Clusters[o.Cluster]; !ok {
				var seeds []string
				for _, n := range o.Nodes {
					seeds = append(seeds, n.Addr)
				}
				f.st.Clusters[o.Cluster] = &Cluster{Name: o.Cluster, Seeds: seeds, UpdatedAt: c.At, UpdatedLocal: f.at}
				f.emit(Event{At: c.At, Kind: EvClusterAdded, Group: o.Cluster, Message: "cluster created by " + o.ID + ", nodes " + strings.Join(seeds, ", ")})
			}
		}
		msg := fmt.Sprintf("%s %s on cluster %s %s after %s: %d slots and %d keys moved", o.ID, o.Kind, o.Cluster, c.State,
			c.At.Sub(o.StartedAt).Round(time.Millisecond), o.SlotsMoved, o.KeysMoved)
		if c.Error != "" {
			msg += ": " + c.Error
		}
		f.record(Entry{At: c.At, Kind: "operation", Group: o.Cluster, Message: msg})
		f.emit(Event{At: c.At, Kind: kind, Severity: sev, Group: o.Cluster, Message: msg,
			Details: map[string]string{"operation_id": o.ID, "kind": o.Kind, "keys_moved": fmt.Sprint(o.KeysMoved), "slots_moved": fmt.Sprint(o.SlotsMoved)}})
		f.trimOperations()
		return true, nil
	}
	return false, nil
}

// trimOperations keeps every running operation and the newest finished
// ones.
func (f *FSM) trimOperations() {
	finished := 0
	for _, o := range f.st.Operations {
		if o.State != OpRunning {
			finished++
		}
	}
	over := finished - FinishedOperationsKept
	if over <= 0 {
		return
	}
	kept := f.st.Operations[:0:0]
	for _, o := range f.st.Operations {
		if o.State != OpRunning && over > 0 {
			over--
			continue
		}
		kept = append(kept, o)
	}
	f.st.Operations = kept
}

func planSummary(plan []OpStep) string {
	var parts []string
	for _, s := range plan {
		parts = append(parts, s.Detail)
	}
	return strings.Join(parts, "; ")
}

func without(list []string, s string) []string {
	out := list[:0:0]
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

// RemovedNodes returns the addresses removed from cluster by operations,
// sorted.
func (f *FSM) RemovedNodes(cluster string) []string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	cl, ok := f.st.Clusters[cluster]
	if !ok {
		return nil
	}
	out := append([]string(nil), cl.Removed...)
	sort.Strings(out)
	return out
}

// NodeOwner returns the group that lists node, "" when none does.
func (f *FSM) NodeOwner(node string) string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.nodeOwner(node)
}

// CancelRequested reports whether a cancel of operation id was asked for.
func (f *FSM) CancelRequested(id string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	o := f.op(id)
	return o != nil && o.CancelRequested
}

package raftstore

import (
	"fmt"
	"time"
)

// Event severities.
const (
	SeverityInfo     = "info"
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// Event kinds: the catalog (README, "Events").
const (
	EvNodeSDown          = "node_sdown"
	EvNodeUp             = "node_up"
	EvNodeODown          = "node_odown"
	EvMasterUnreachable  = "master_unreachable"
	EvFailoverStarted    = "failover_started"
	EvFailoverCompleted  = "failover_completed"
	EvFailoverFailed     = "failover_failed"
	EvSwitchoverStarted  = "switchover_started"
	EvSwitchoverComplete = "switchover_completed"
	EvSwitchoverFailed   = "switchover_failed"
	EvMasterSwitched     = "master_switched"
	EvFailoverRefused    = "failover_refused"
	EvMasterReattached   = "master_reattached"
	EvReplicaRepointed   = "replica_repointed"
	EvEmptyRestart       = "empty_restart_detected"
	EvMasterDiscovered   = "master_discovered"
	EvGroupAmbiguous     = "group_ambiguous"
	EvGroupAdded         = "group_added"
	EvGroupRemoved       = "group_removed"
	EvQuorumLost         = "quorum_lost"
	EvQuorumRegained     = "quorum_regained"
	EvLeaderChanged      = "leader_changed"
	EvMaintenanceOn      = "maintenance_on"
	EvMaintenanceOff     = "maintenance_off"
	EvAck                = "window_acknowledged"
	EvWebhookFailed      = "webhook_failed"
	// EvFenceApplied: warden set min-replicas-to-write on a master.
	EvFenceApplied = "fence_applied"
	// EvFenceLifted: warden cleared it (every replica gone, no failover
	// possible); critical, since the master now takes writes nothing copies.
	EvFenceLifted = "fence_lifted"
)

// DefaultEventRetention is how many events the state keeps until a
// command says otherwise (events.retention).
const DefaultEventRetention = 10000

// Event is one entry of the replicated event log.
type Event struct {
	Seq      uint64            `json:"seq"`
	At       time.Time         `json:"at"`
	Kind     string            `json:"kind"`
	Severity string            `json:"severity"`
	Group    string            `json:"group,omitempty"`
	Node     string            `json:"node,omitempty"`
	Watchdog string            `json:"watchdog,omitempty"`
	Epoch    uint64            `json:"epoch,omitempty"`
	Message  string            `json:"message"`
	Details  map[string]string `json:"details,omitempty"`
	// Local is this member's clock when it applied the event (in memory
	// only, like Group.UpdatedLocal): webhooks give up on an event
	// measured from it, not from At.
	Local time.Time `json:"-"`
}

func (e Event) clone() Event {
	e.Details = cloneDetails(e.Details)
	return e
}

// Events is CmdEvents: events the leader observed (votes, views, its own
// leadership), appended as they are.
type Events struct {
	Events []Event `json:"events"`
	// Keep, when positive, sets how many events the state retains.
	Keep int       `json:"keep,omitempty"`
	At   time.Time `json:"at"`
}

// HookCursor is CmdHookCursor: webhook Hook has delivered every event up
// to Seq.
type HookCursor struct {
	Hook string    `json:"hook"`
	Seq  uint64    `json:"seq"`
	At   time.Time `json:"at"`
}

func (*Events) commandType() CommandType     { return CmdEvents }
func (*HookCursor) commandType() CommandType { return CmdHookCursor }

// emit appends an event (under the FSM lock) and trims to the retention.
func (f *FSM) emit(e Event) {
	f.st.EventSeq++
	e.Seq = f.st.EventSeq
	if e.Severity == "" {
		e.Severity = SeverityInfo
	}
	e.Local = f.at
	f.st.Events = append(f.st.Events, e.clone())
	keep := f.st.EventKeep
	if keep <= 0 {
		keep = DefaultEventRetention
	}
	if over := len(f.st.Events) - keep; over > 0 {
		f.st.Events = append([]Event(nil), f.st.Events[over:]...)
	}
}

// EventsSince returns up to limit events with a sequence number above
// since (all when limit <= 0), oldest first, and the oldest retained
// sequence number (0 when none).
func (f *FSM) EventsSince(since uint64, limit int) (events []Event, oldest uint64) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if len(f.st.Events) > 0 {
		oldest = f.st.Events[0].Seq
	}
	for _, e := range f.st.Events {
		if e.Seq <= since {
			continue
		}
		events = append(events, e.clone())
		if limit > 0 && len(events) == limit {
			break
		}
	}
	return events, oldest
}

// LastEventSeq is the newest event's sequence number.
func (f *FSM) LastEventSeq() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.EventSeq
}

// HookCursor is how far webhook name has delivered.
func (f *FSM) HookCursor(name string) (uint64, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	s, ok := f.st.HookCursors[name]
	return s, ok
}

// Changed returns a channel closed at the next applied command (or
// restore): a broadcast for followers of the state.
func (f *FSM) Changed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.changed == nil {
		f.changed = make(chan struct{})
	}
	return f.changed
}

// notify closes the current Changed channel (under the lock).
func (f *FSM) notify() {
	if f.changed != nil {
		close(f.changed)
		f.changed = nil
	}
}

func (f *FSM) applyEvents(c *Events) error {
	if c.Keep < 0 {
		return fmt.Errorf("%w: keep %d", ErrInvalid, c.Keep)
	}
	if c.Keep > 0 {
		f.st.EventKeep = c.Keep
	}
	for _, e := range c.Events {
		if e.Kind == "" {
			return fmt.Errorf("%w: event without a kind", ErrInvalid)
		}
	}
	for _, e := range c.Events {
		if e.At.IsZero() {
			e.At = c.At
		}
		f.emit(e)
	}
	return nil
}

func (f *FSM) applyHookCursor(c *HookCursor) error {
	if c.Hook == "" {
		return fmt.Errorf("%w: cursor without a hook", ErrInvalid)
	}
	if cur := f.st.HookCursors[c.Hook]; c.Seq < cur {
		return nil // a late duplicate: cursors only move forward
	}
	f.st.HookCursors[c.Hook] = c.Seq
	return nil
}

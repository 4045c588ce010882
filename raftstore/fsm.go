// Package raftstore is warden's replicated state: the Raft node, its typed
// commands, the deterministic FSM and its snapshots.
package raftstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"warden/config"
)

// Named errors returned by Apply; callers test them with errors.Is.
var (
	ErrNotLeader       = errors.New("not the raft leader")
	ErrUnknownGroup    = errors.New("unknown group")
	ErrFailoverRunning = errors.New("a failover of this group is already running")
	ErrNoFailover      = errors.New("no failover of this group is running")
	ErrStaleEpoch      = errors.New("stale epoch")
	ErrGroupExists     = errors.New("group already exists")
	ErrNodeInUse       = errors.New("node already belongs to a group")
	ErrInvalid         = errors.New("invalid command")
	ErrUnknownCluster  = errors.New("unknown cluster")
)

// HistoryLimit is how many audit entries the state keeps; older ones are
// dropped. It is a constant so that every member trims alike.
const HistoryLimit = 1000

// Failover kinds.
const (
	KindFailover   = "failover"   // the master is down
	KindSwitchover = "switchover" // planned: the master is healthy, no write is lost
)

// History entry kinds.
const (
	EntryFailover       = "failover"
	EntrySwitchover     = "switchover"
	EntryReattach       = "reattach"
	EntryRefusal        = "refusal"
	EntryDiscovery      = "discovery"
	EntryAmbiguous      = "ambiguous"
	EntryMaintenanceOn  = "maintenance_on"
	EntryMaintenanceOff = "maintenance_off"
	EntryAck            = "ack"
	EntryGroupAdded     = "group_added"
	EntryGroupRemoved   = "group_removed"
)

// Entry is one line of the audit history.
type Entry struct {
	Seq      uint64    `json:"seq"`
	At       time.Time `json:"at"`
	Kind     string    `json:"kind"`
	Group    string    `json:"group,omitempty"`
	Node     string    `json:"node,omitempty"`
	Message  string    `json:"message"`
	By       string    `json:"by,omitempty"`
	Failover *Failover `json:"failover,omitempty"`
	// Details are carried into the entry's event (a re-attached old
	// master's offsets).
	Details map[string]string `json:"details,omitempty"`
}

// NodeMaintenance is a node's maintenance window.
type NodeMaintenance struct {
	Reason string    `json:"reason,omitempty"`
	Until  time.Time `json:"until"`
	By     string    `json:"by,omitempty"`
	Since  time.Time `json:"since"`
}

// Active reports whether the window is open at now.
func (m NodeMaintenance) Active(now time.Time) bool { return now.Before(m.Until) }

// Group status values.
const (
	StatusUnknown   = "unknown"   // no master discovered yet
	StatusOK        = "ok"        // master known
	StatusAmbiguous = "ambiguous" // live nodes disagree or show no master: no action
)

// Failover stages.
const (
	StageBegun    = "begun"    // intent recorded, candidate not yet confirmed master
	StagePromoted = "promoted" // candidate confirmed master, group.Master points at it
	StageDone     = "done"
	StageFailed   = "failed"
)

// Group is one Redis master/replica group as the watchdogs agree on it.
type Group struct {
	Name        string    `json:"name"`
	Nodes       []string  `json:"nodes"`
	Master      string    `json:"master"`
	MasterRunID string    `json:"master_run_id,omitempty"`
	Epoch       uint64    `json:"epoch"`
	Status      string    `json:"status"`
	Reason      string    `json:"reason,omitempty"`
	UpdatedAt   time.Time `json:"updated_at"`
	// Fence overrides failover.fence for this group (on, strict, off;
	// empty: follow failover.fence).
	Fence string `json:"fence,omitempty"`
	// Failover is the failover under way, nil when none is.
	Failover *Failover `json:"failover"`
	// LastFailover is the most recent finished failover attempt.
	LastFailover *Failover `json:"last_failover"`
	// LastPromotionAt is when the last promotion was recorded, by the
	// leader's wall clock: for display and audit only.
	LastPromotionAt time.Time `json:"last_promotion_at"`
	// UpdatedLocal and PromotedLocal are this member's own clock readings
	// (time.Now() inside Apply, with Go's monotonic reading) of when it
	// applied the command that set UpdatedAt and LastPromotionAt. Windows
	// are measured from them, never from the wall-clock stamps, so that a
	// wall-clock jump or skew between members neither shortens nor
	// stretches them. In memory only: a snapshot never carries them, and a
	// restore takes the restore moment (a window can only grow, by at most
	// its length). Zero only in a Group built by hand.
	UpdatedLocal  time.Time `json:"-"`
	PromotedLocal time.Time `json:"-"`
	// Attempts counts failover attempts, so that every attempt has an id of
	// its own even when a failed one left the epoch unchanged.
	Attempts uint64 `json:"attempts"`
}

// Failover is the record of one failover: why, who voted, the ranking, and
// how it went.
type Failover struct {
	ID          string            `json:"id"`
	Kind        string            `json:"kind"`
	RequestedBy string            `json:"requested_by,omitempty"`
	Force       bool              `json:"force,omitempty"`
	Cause       string            `json:"cause,omitempty"`
	Epoch       uint64            `json:"epoch"`
	From        string            `json:"from"`
	To          string            `json:"to"`
	Reason      string            `json:"reason"`
	Votes       map[string]string `json:"votes,omitempty"`
	Ranking     []Candidate       `json:"ranking,omitempty"`
	Fence       bool              `json:"fence"`
	Stage       string            `json:"stage"`
	Leader      string            `json:"leader"`
	BeganAt     time.Time         `json:"began_at"`
	PromotedAt  *time.Time        `json:"promoted_at,omitempty"`
	EndedAt     *time.Time        `json:"ended_at,omitempty"`
	OK          bool              `json:"ok"`
	Error       string            `json:"error,omitempty"`
	Steps       []Step            `json:"steps,omitempty"`
}

// Failover causes.
const (
	CauseODown        = "odown"
	CauseEmptyRestart = "empty_restart"
	CauseRequested    = "requested"
)

func failoverDetails(fo *Failover) map[string]string {
	d := map[string]string{"failover_id": fo.ID, "kind": fo.Kind, "from": fo.From, "to": fo.To, "cause": fo.Cause}
	if fo.RequestedBy != "" {
		d["requested_by"] = fo.RequestedBy
	}
	for w, v := range fo.Votes {
		d["vote_"+w] = v
	}
	return d
}

// Candidate is one replica as ranked for promotion.
type Candidate struct {
	Addr      string  `json:"addr"`
	Priority  int     `json:"priority"`
	Offset    int64   `json:"offset"`
	LatencyMs float64 `json:"latency_ms"`
	Skipped   string  `json:"skipped,omitempty"`
}

// Step is one executed step of a failover with its duration.
type Step struct {
	Name       string  `json:"name"`
	Node       string  `json:"node,omitempty"`
	DurationMs float64 `json:"duration_ms"`
	Error      string  `json:"error,omitempty"`
}

// Clone returns a deep copy.
func (g *Group) Clone() Group {
	c := *g
	c.Nodes = append([]string(nil), g.Nodes...)
	c.Failover = g.Failover.clone()
	c.LastFailover = g.LastFailover.clone()
	return c
}

func (f *Failover) clone() *Failover {
	if f == nil {
		return nil
	}
	c := *f
	if f.Votes != nil {
		c.Votes = make(map[string]string, len(f.Votes))
		for k, v := range f.Votes {
			c.Votes[k] = v
		}
	}
	c.Ranking = append([]Candidate(nil), f.Ranking...)
	c.Steps = append([]Step(nil), f.Steps...)
	if f.PromotedAt != nil {
		t := *f.PromotedAt
		c.PromotedAt = &t
	}
	if f.EndedAt != nil {
		t := *f.EndedAt
		c.EndedAt = &t
	}
	return &c
}

// State is the whole replicated state; snapshots are its JSON.
type State struct {
	Version int               `json:"version"`
	Groups  map[string]*Group `json:"groups"`
	// Seeded: the configured groups were recorded once; from then on
	// groups change only through the API.
	Seeded      bool                       `json:"seeded"`
	Maintenance map[string]NodeMaintenance `json:"maintenance"`
	History     []Entry                    `json:"history"`
	HistorySeq  uint64                     `json:"history_seq"`
	Events      []Event                    `json:"events"`
	EventSeq    uint64                     `json:"event_seq"`
	EventKeep   int                        `json:"event_keep"`
	HookCursors map[string]uint64          `json:"hook_cursors"`
	// Clusters are the watched Redis Clusters.
	Clusters       map[string]*Cluster `json:"clusters"`
	ClustersSeeded bool                `json:"clusters_seeded"`
	// Operations are the cluster topology operations, running and lately
	// finished; OpSeq numbers them.
	Operations []*Operation `json:"operations"`
	OpSeq      uint64       `json:"op_seq"`
}

const stateVersion = 1

// FSM applies commands to State. It is deterministic: no I/O, every time
// it persists arrives inside the command. It reads the clock only for the
// in-memory local stamps (json:"-") from which windows are measured.
type FSM struct {
	mu sync.RWMutex
	st State
	// at is this member's clock (with its monotonic reading) when it
	// applies the current command or restores a snapshot: the local
	// stamps (Group.UpdatedLocal, ...) are taken from it. Under mu.
	at time.Time
	// index is the log index of the last applied command (0 after a
	// restore until the next one). Under mu.
	index uint64
	// onApply, when set, is called after each applied command (outside the
	// lock) so that the owner can wake loops that follow the state.
	onApply func()
	// changed is closed at the next applied command (Changed).
	changed chan struct{}
}

// NewFSM returns an empty FSM.
func NewFSM() *FSM {
	return &FSM{st: newState()}
}

func newState() State {
	return State{Version: stateVersion, Groups: map[string]*Group{}, Maintenance: map[string]NodeMaintenance{}, HookCursors: map[string]uint64{}, Clusters: map[string]*Cluster{}}
}

// Seeded reports whether the configured groups were recorded.
func (f *FSM) Seeded() bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.Seeded
}

// Maintenance returns a copy of every maintenance window, expired ones
// included (callers judge them against their clock).
func (f *FSM) Maintenance() map[string]NodeMaintenance {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make(map[string]NodeMaintenance, len(f.st.Maintenance))
	for k, v := range f.st.Maintenance {
		out[k] = v
	}
	return out
}

// History returns up to limit newest entries (all when limit <= 0),
// oldest first, optionally of one group only.
func (f *FSM) History(group string, limit int) []Entry {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var out []Entry
	for i := len(f.st.History) - 1; i >= 0; i-- {
		e := f.st.History[i]
		if group != "" && e.Group != group {
			continue
		}
		e.Failover = e.Failover.clone()
		e.Details = cloneDetails(e.Details)
		out = append(out, e)
		if limit > 0 && len(out) == limit {
			break
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

func (f *FSM) record(e Entry) {
	f.st.HistorySeq++
	e.Seq = f.st.HistorySeq
	f.st.History = append(f.st.History, e)
	if over := len(f.st.History) - HistoryLimit; over > 0 {
		f.st.History = append([]Entry(nil), f.st.History[over:]...)
	}
}

func (f *FSM) nodeOwner(node string) string {
	for name, g := range f.st.Groups {
		for _, n := range g.Nodes {
			if n == node {
				return name
			}
		}
	}
	return ""
}

// OnApply registers a function called after every applied command.
func (f *FSM) OnApply(fn func()) {
	f.mu.Lock()
	f.onApply = fn
	f.mu.Unlock()
}

// Group returns a copy of the named group.
func (f *FSM) Group(name string) (Group, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	g, ok := f.st.Groups[name]
	if !ok {
		return Group{}, false
	}
	return g.Clone(), true
}

// Groups returns copies of all groups sorted by name.
func (f *FSM) Groups() []Group {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]Group, 0, len(f.st.Groups))
	for _, g := range f.st.Groups {
		out = append(out, g.Clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Apply implements raft.FSM. The response is nil or an error.
func (f *FSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	t, body, err := Decode(l.Data)
	if err != nil {
		// A command that cannot be decoded means the log was written by a
		// different version or is corrupt: applying anything else would make
		// this member's state diverge silently.
		panic(fmt.Sprintf("raftstore: log entry %d: %v", l.Index, err))
	}
	f.mu.Lock()
	f.at = time.Now()
	f.index = l.Index
	res := f.apply(t, body)
	f.notify()
	fn := f.onApply
	f.mu.Unlock()
	if fn != nil {
		fn()
	}
	return res
}

func (f *FSM) apply(t CommandType, body any) error {
	if handled, err := f.applyCluster(body); handled {
		return err
	}
	if handled, err := f.applyOperation(body); handled {
		return err
	}
	switch c := body.(type) {
	case *GroupsEnsure:
		if f.st.Seeded {
			return nil
		}
		for _, spec := range c.Groups {
			if _, ok := f.st.Groups[spec.Name]; ok {
				continue
			}
			f.st.Groups[spec.Name] = &Group{
				Name: spec.Name, Nodes: append([]string(nil), spec.Nodes...),
				Status: StatusUnknown, UpdatedAt: c.At, UpdatedLocal: f.at, Fence: spec.Fence,
			}
			f.record(Entry{At: c.At, Kind: EntryGroupAdded, Group: spec.Name, Message: "group from the configuration"})
			f.emit(Event{At: c.At, Kind: EvGroupAdded, Group: spec.Name, Message: "group from the configuration: " + strings.Join(spec.Nodes, ", ")})
		}
		f.st.Seeded = true
		return nil
	case *GroupAdd:
		spec := c.Group
		if _, ok := f.st.Groups[spec.Name]; ok {
			return fmt.Errorf("%w: %q", ErrGroupExists, spec.Name)
		}
		if len(spec.Nodes) < 2 {
			return fmt.Errorf("%w: group %q needs at least two nodes", ErrInvalid, spec.Name)
		}
		if !config.ValidFenceMode(spec.Fence) {
			return fmt.Errorf("%w: group %q has fence mode %q", ErrInvalid, spec.Name, spec.Fence)
		}
		seen := map[string]bool{}
		for _, n := range spec.Nodes {
			if seen[n] {
				return fmt.Errorf("%w: node %s listed twice", ErrInvalid, n)
			}
			seen[n] = true
			if o := f.nodeOwner(n); o != "" {
				return fmt.Errorf("%w: %s is a node of %q", ErrNodeInUse, n, o)
			}
		}
		f.st.Groups[spec.Name] = &Group{
			Name: spec.Name, Nodes: append([]string(nil), spec.Nodes...),
			Status: StatusUnknown, UpdatedAt: c.At, UpdatedLocal: f.at, Fence: spec.Fence,
		}
		f.record(Entry{At: c.At, Kind: EntryGroupAdded, Group: spec.Name, By: c.By, Message: "group added with nodes " + strings.Join(spec.Nodes, ", ")})
		f.emit(Event{At: c.At, Kind: EvGroupAdded, Group: spec.Name, Message: "group added with nodes " + strings.Join(spec.Nodes, ", "), Details: map[string]string{"by": c.By}})
		return nil
	case *GroupRemove:
		g, ok := f.st.Groups[c.Group]
		if !ok {
			return fmt.Errorf("%w %q", ErrUnknownGroup, c.Group)
		}
		if g.Failover != nil {
			return fmt.Errorf("%w (epoch %d): cannot remove the group now", ErrFailoverRunning, g.Failover.Epoch)
		}
		delete(f.st.Groups, c.Group)
		f.record(Entry{At: c.At, Kind: EntryGroupRemoved, Group: c.Group, By: c.By, Message: "group no longer watched"})
		f.emit(Event{At: c.At, Kind: EvGroupRemoved, Severity: SeverityWarning, Group: c.Group, Message: "group no longer watched", Details: map[string]string{"by": c.By}})
		return nil
	case *Maintenance:
		if c.Node == "" {
			return fmt.Errorf("%w: maintenance without a node", ErrInvalid)
		}
		if c.On {
			f.st.Maintenance[c.Node] = NodeMaintenance{Reason: c.Reason, Until: c.Until, By: c.By, Since: c.At}
			msg := fmt.Sprintf("maintenance until %s: %s", c.Until.UTC().Format(time.RFC3339), c.Reason)
			f.record(Entry{At: c.At, Kind: EntryMaintenanceOn, Group: f.nodeOwner(c.Node), Node: c.Node, By: c.By, Message: msg})
			f.emit(Event{At: c.At, Kind: EvMaintenanceOn, Group: f.nodeOwner(c.Node), Node: c.Node, Message: msg,
				Details: map[string]string{"by": c.By, "until": c.Until.UTC().Format(time.RFC3339), "reason": c.Reason}})
		} else {
			delete(f.st.Maintenance, c.Node)
			f.record(Entry{At: c.At, Kind: EntryMaintenanceOff, Group: f.nodeOwner(c.Node), Node: c.Node, By: c.By, Message: "maintenance ended"})
			f.emit(Event{At: c.At, Kind: EvMaintenanceOff, Group: f.nodeOwner(c.Node), Node: c.Node, Message: "maintenance ended", Details: map[string]string{"by": c.By}})
		}
		return nil
	case *Ack:
		g, ok := f.st.Groups[c.Group]
		if !ok {
			return fmt.Errorf("%w %q", ErrUnknownGroup, c.Group)
		}
		// Not UpdatedAt: an ack changes no topology, and views taken before
		// it are as good as after.
		g.LastPromotionAt, g.PromotedLocal = time.Time{}, time.Time{}
		f.record(Entry{At: c.At, Kind: EntryAck, Group: c.Group, By: c.By, Message: "anti-flapping window cleared"})
		f.emit(Event{At: c.At, Kind: EvAck, Group: c.Group, Message: "anti-flapping window cleared", Details: map[string]string{"by": c.By}})
		return nil
	case *Events:
		return f.applyEvents(c)
	case *HookCursor:
		return f.applyHookCursor(c)
	case *Record:
		if c.Entry.Kind == "" {
			return fmt.Errorf("%w: history entry without a kind", ErrInvalid)
		}
		e := c.Entry
		e.At = c.At
		e.Failover = e.Failover.clone()
		e.Details = cloneDetails(e.Details)
		f.record(e)
		switch e.Kind {
		case EntryReattach:
			kind := EvReplicaRepointed
			if g, ok := f.st.Groups[e.Group]; ok && g.LastFailover != nil && g.LastFailover.From == e.Node {
				kind = EvMasterReattached
			}
			f.emit(Event{At: c.At, Kind: kind, Severity: SeverityInfo, Group: e.Group, Node: e.Node, Message: e.Message, Details: e.Details})
		case EntryRefusal:
			kind := EvFailoverRefused
			if strings.Contains(e.Message, "unreachable, not dead") {
				kind = EvMasterUnreachable
			}
			f.emit(Event{At: c.At, Kind: kind, Severity: SeverityWarning, Group: e.Group, Node: e.Node, Message: e.Message})
		}
		return nil
	case *MasterDiscovered:
		g, ok := f.st.Groups[c.Group]
		if !ok {
			return fmt.Errorf("%w %q", ErrUnknownGroup, c.Group)
		}
		if g.Failover != nil {
			return fmt.Errorf("%w (epoch %d)", ErrFailoverRunning, g.Failover.Epoch)
		}
		if c.Epoch < g.Epoch {
			return fmt.Errorf("%w: discovery at epoch %d, group at %d", ErrStaleEpoch, c.Epoch, g.Epoch)
		}
		changed := g.Master != c.Master || g.Epoch != c.Epoch || g.Status != StatusOK
		g.Master, g.MasterRunID, g.Epoch = c.Master, c.RunID, c.Epoch
		g.Status, g.Reason, g.UpdatedAt, g.UpdatedLocal = StatusOK, c.Reason, c.At, f.at
		if changed {
			msg := fmt.Sprintf("master %s at epoch %d: %s", c.Master, c.Epoch, c.Reason)
			f.record(Entry{At: c.At, Kind: EntryDiscovery, Group: c.Group, Node: c.Master, Message: msg})
			f.emit(Event{At: c.At, Kind: EvMasterDiscovered, Group: c.Group, Node: c.Master, Epoch: c.Epoch, Message: msg})
		}
		return nil
	case *GroupAmbiguous:
		g, ok := f.st.Groups[c.Group]
		if !ok {
			return fmt.Errorf("%w %q", ErrUnknownGroup, c.Group)
		}
		g.Status, g.Reason, g.UpdatedAt, g.UpdatedLocal = StatusAmbiguous, c.Reason, c.At, f.at
		f.record(Entry{At: c.At, Kind: EntryAmbiguous, Group: c.Group, Message: c.Reason})
		f.emit(Event{At: c.At, Kind: EvGroupAmbiguous, Severity: SeverityCritical, Group: c.Group, Message: c.Reason})
		return nil
	case *FailoverBegin:
		g, ok := f.st.Groups[c.Group]
		if !ok {
			return fmt.Errorf("%w %q", ErrUnknownGroup, c.Group)
		}
		if g.Failover != nil {
			return fmt.Errorf("%w (epoch %d)", ErrFailoverRunning, g.Failover.Epoch)
		}
		if c.Failover.Epoch != g.Epoch+1 {
			return fmt.Errorf("%w: failover at epoch %d, group at %d", ErrStaleEpoch, c.Failover.Epoch, g.Epoch)
		}
		fo := c.Failover.clone()
		fo.Stage, fo.BeganAt, fo.OK, fo.Error = StageBegun, c.At, false, ""
		if fo.Kind == "" {
			fo.Kind = KindFailover
		}
		g.Attempts++
		fo.ID = fmt.Sprintf("%s-%d-%d", c.Group, fo.Epoch, g.Attempts)
		kind, sev := EvFailoverStarted, SeverityCritical
		if fo.Kind == KindSwitchover {
			kind, sev = EvSwitchoverStarted, SeverityWarning
		}
		if fo.Cause == CauseEmptyRestart {
			f.emit(Event{At: c.At, Kind: EvEmptyRestart, Severity: SeverityCritical, Group: c.Group, Node: fo.From, Epoch: fo.Epoch, Message: fo.Reason})
		}
		f.emit(Event{At: c.At, Kind: kind, Severity: sev, Group: c.Group, Node: fo.To, Epoch: fo.Epoch,
			Message: fmt.Sprintf("%s of %s: %s -> %s: %s", fo.Kind, c.Group, fo.From, fo.To, fo.Reason), Details: failoverDetails(fo)})
		g.Failover, g.UpdatedAt, g.UpdatedLocal = fo, c.At, f.at
		return nil
	case *FailoverPromoted:
		g, fo, err := f.running(c.Group, c.Epoch)
		if err != nil {
			return err
		}
		at := c.At
		fo.Stage, fo.PromotedAt = StagePromoted, &at
		fo.Steps = append(fo.Steps, c.Steps...)
		g.Master, g.MasterRunID, g.Epoch = fo.To, c.RunID, fo.Epoch
		g.Status, g.Reason, g.UpdatedAt, g.UpdatedLocal = StatusOK, "", c.At, f.at
		g.LastPromotionAt, g.PromotedLocal = c.At, f.at
		f.emit(Event{At: c.At, Kind: EvMasterSwitched, Severity: SeverityCritical, Group: c.Group, Node: fo.To, Epoch: fo.Epoch,
			Message: fmt.Sprintf("%s: master %s -> %s (epoch %d)", c.Group, fo.From, fo.To, fo.Epoch),
			Details: map[string]string{"old_master": fo.From, "new_master": fo.To, "failover_id": fo.ID}})
		return nil
	case *FailoverEnd:
		g, fo, err := f.running(c.Group, c.Epoch)
		if err != nil {
			return err
		}
		at := c.At
		fo.EndedAt, fo.OK, fo.Error = &at, c.OK, c.Error
		fo.Steps = append(fo.Steps, c.Steps...)
		if c.OK {
			fo.Stage = StageDone
		} else {
			fo.Stage = StageFailed
		}
		g.LastFailover, g.Failover, g.UpdatedAt, g.UpdatedLocal = fo, nil, c.At, f.at
		kind, outcome := EntryFailover, "completed"
		if fo.Kind == KindSwitchover {
			kind = EntrySwitchover
		}
		if !c.OK {
			outcome = "failed: " + c.Error
		}
		msg := fmt.Sprintf("%s %s -> %s (epoch %d) %s", fo.Kind, fo.From, fo.To, fo.Epoch, outcome)
		f.record(Entry{At: c.At, Kind: kind, Group: c.Group, Node: fo.To, By: fo.RequestedBy, Failover: fo.clone(), Message: msg})
		ev, sev := EvFailoverCompleted, SeverityWarning
		switch {
		case fo.Kind == KindSwitchover && c.OK:
			ev, sev = EvSwitchoverComplete, SeverityInfo
		case fo.Kind == KindSwitchover:
			ev, sev = EvSwitchoverFailed, SeverityCritical
		case !c.OK:
			ev, sev = EvFailoverFailed, SeverityCritical
		}
		d := failoverDetails(fo)
		if fo.PromotedAt != nil {
			d["duration_ms"] = fmt.Sprint(c.At.Sub(fo.BeganAt).Milliseconds())
		}
		if c.Error != "" {
			d["error"] = c.Error
		}
		f.emit(Event{At: c.At, Kind: ev, Severity: sev, Group: c.Group, Node: fo.To, Epoch: fo.Epoch, Message: msg, Details: d})
		return nil
	default:
		return fmt.Errorf("raftstore: command type %d has no apply", t)
	}
}

func cloneDetails(d map[string]string) map[string]string {
	if d == nil {
		return nil
	}
	c := make(map[string]string, len(d))
	for k, v := range d {
		c[k] = v
	}
	return c
}

func (f *FSM) running(group string, epoch uint64) (*Group, *Failover, error) {
	g, ok := f.st.Groups[group]
	if !ok {
		return nil, nil, fmt.Errorf("%w %q", ErrUnknownGroup, group)
	}
	if g.Failover == nil {
		return nil, nil, fmt.Errorf("%w (%s)", ErrNoFailover, group)
	}
	if g.Failover.Epoch != epoch {
		return nil, nil, fmt.Errorf("%w: running failover is epoch %d, command names %d", ErrStaleEpoch, g.Failover.Epoch, epoch)
	}
	return g, g.Failover, nil
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Snapshot implements raft.FSM: it copies the state under the lock and
// returns at once; Persist writes it.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	b, err := json.Marshal(&f.st)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	return snapshot(b), nil
}

// Restore implements raft.FSM: it replaces the whole state.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var st State
	dec := json.NewDecoder(rc)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	if st.Version != stateVersion {
		return fmt.Errorf("restore snapshot: state version %d, this build reads %d", st.Version, stateVersion)
	}
	if st.Groups == nil {
		st.Groups = map[string]*Group{}
	}
	if st.Maintenance == nil {
		st.Maintenance = map[string]NodeMaintenance{}
	}
	if st.HookCursors == nil {
		st.HookCursors = map[string]uint64{}
	}
	if st.Clusters == nil {
		st.Clusters = map[string]*Cluster{}
	}
	f.mu.Lock()
	f.st = st
	f.at = time.Now()
	f.stampRestored()
	f.notify()
	fn := f.onApply
	f.mu.Unlock()
	if fn != nil {
		fn()
	}
	return nil
}

type snapshot []byte

func (s snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("persist snapshot: %w", err)
	}
	return sink.Close()
}

func (s snapshot) Release() {}

package raftstore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// CommandType identifies a command in the Raft log. Values are stored in the
// log forever: never reorder or reuse them, only append.
type CommandType uint8

const (
	_ CommandType = iota
	// CmdGroupsEnsure adds the configured groups that the state lacks and
	// updates their node lists.
	CmdGroupsEnsure
	// CmdMasterDiscovered records the master found (or confirmed) from the
	// live nodes.
	CmdMasterDiscovered
	// CmdGroupAmbiguous records that the live nodes name no single master.
	CmdGroupAmbiguous
	// CmdFailoverBegin takes the group's failover lock and records the
	// decision with its votes and ranking.
	CmdFailoverBegin
	// CmdFailoverPromoted records that the candidate is master.
	CmdFailoverPromoted
	// CmdFailoverEnd releases the lock with the outcome.
	CmdFailoverEnd
	// CmdMaintenance puts a node in maintenance or takes it out.
	CmdMaintenance
	// CmdAck clears a group's anti-flapping window.
	CmdAck
	// CmdGroupAdd adds a group at run time.
	CmdGroupAdd
	// CmdGroupRemove stops watching a group.
	CmdGroupRemove
	// CmdRecord appends an entry to the audit history (re-attach, refusal).
	CmdRecord
	// CmdEvents appends events the leader observed.
	CmdEvents
	// CmdHookCursor moves a webhook's delivery cursor.
	CmdHookCursor
	// CmdClustersEnsure records the configured Redis Clusters once.
	CmdClustersEnsure
	// CmdClusterShards records a changed shard map.
	CmdClusterShards
	// CmdClusterFailoverBegin and CmdClusterFailoverEnd bracket a failover
	// warden forces in a cluster.
	CmdClusterFailoverBegin
	CmdClusterFailoverEnd
	// CmdOpBegin, CmdOpProgress, CmdOpCancel and CmdOpEnd carry a cluster
	// topology operation: its plan, its cursor, a cancel request, its end.
	CmdOpBegin
	CmdOpProgress
	CmdOpCancel
	CmdOpEnd
)

// commandVersion is written after the type byte; a decoder refuses versions
// it does not know.
const commandVersion = 1

// GroupSpec names a group and its nodes.
type GroupSpec struct {
	Name  string   `json:"name"`
	Nodes []string `json:"nodes"`
	// Fence overrides failover.fence for the group (on, strict, off;
	// empty: follow failover.fence).
	Fence string `json:"fence,omitempty"`
}

// GroupsEnsure is CmdGroupsEnsure.
type GroupsEnsure struct {
	Groups []GroupSpec `json:"groups"`
	At     time.Time   `json:"at"`
}

// MasterDiscovered is CmdMasterDiscovered.
type MasterDiscovered struct {
	Group  string    `json:"group"`
	Master string    `json:"master"`
	RunID  string    `json:"run_id"`
	Epoch  uint64    `json:"epoch"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// GroupAmbiguous is CmdGroupAmbiguous.
type GroupAmbiguous struct {
	Group  string    `json:"group"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// FailoverBegin is CmdFailoverBegin.
type FailoverBegin struct {
	Group    string    `json:"group"`
	Failover Failover  `json:"failover"`
	At       time.Time `json:"at"`
}

// FailoverPromoted is CmdFailoverPromoted.
type FailoverPromoted struct {
	Group string    `json:"group"`
	Epoch uint64    `json:"epoch"`
	RunID string    `json:"run_id"`
	Steps []Step    `json:"steps,omitempty"`
	At    time.Time `json:"at"`
}

// FailoverEnd is CmdFailoverEnd.
type FailoverEnd struct {
	Group string    `json:"group"`
	Epoch uint64    `json:"epoch"`
	OK    bool      `json:"ok"`
	Error string    `json:"error,omitempty"`
	Steps []Step    `json:"steps,omitempty"`
	At    time.Time `json:"at"`
}

// Maintenance is CmdMaintenance.
type Maintenance struct {
	Node   string    `json:"node"`
	On     bool      `json:"on"`
	Reason string    `json:"reason,omitempty"`
	Until  time.Time `json:"until"`
	By     string    `json:"by,omitempty"`
	At     time.Time `json:"at"`
}

// Ack is CmdAck.
type Ack struct {
	Group string    `json:"group"`
	By    string    `json:"by,omitempty"`
	At    time.Time `json:"at"`
}

// GroupAdd is CmdGroupAdd.
type GroupAdd struct {
	Group GroupSpec `json:"group"`
	By    string    `json:"by,omitempty"`
	At    time.Time `json:"at"`
}

// GroupRemove is CmdGroupRemove.
type GroupRemove struct {
	Group string    `json:"group"`
	By    string    `json:"by,omitempty"`
	At    time.Time `json:"at"`
}

// Record is CmdRecord.
type Record struct {
	Entry Entry     `json:"entry"`
	At    time.Time `json:"at"`
}

// Command is any command payload.
type Command interface{ commandType() CommandType }

func (*GroupsEnsure) commandType() CommandType     { return CmdGroupsEnsure }
func (*MasterDiscovered) commandType() CommandType { return CmdMasterDiscovered }
func (*GroupAmbiguous) commandType() CommandType   { return CmdGroupAmbiguous }
func (*FailoverBegin) commandType() CommandType    { return CmdFailoverBegin }
func (*FailoverPromoted) commandType() CommandType { return CmdFailoverPromoted }
func (*FailoverEnd) commandType() CommandType      { return CmdFailoverEnd }
func (*Maintenance) commandType() CommandType      { return CmdMaintenance }
func (*Ack) commandType() CommandType              { return CmdAck }
func (*GroupAdd) commandType() CommandType         { return CmdGroupAdd }
func (*GroupRemove) commandType() CommandType      { return CmdGroupRemove }
func (*Record) commandType() CommandType           { return CmdRecord }

// Encode writes a command as type byte, version byte, JSON body.
func Encode(c Command) ([]byte, error) {
	body, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode command %d: %w", c.commandType(), err)
	}
	return append([]byte{byte(c.commandType()), commandVersion}, body...), nil
}

// Decode reads a command written by Encode. Unknown types, versions and
// fields are errors.
func Decode(b []byte) (CommandType, Command, error) {
	if len(b) < 2 {
		return 0, nil, fmt.Errorf("command of %d bytes is too short", len(b))
	}
	t := CommandType(b[0])
	if b[1] != commandVersion {
		return t, nil, fmt.Errorf("command type %d has version %d, this build reads %d", t, b[1], commandVersion)
	}
	var c Command
	switch t {
	case CmdGroupsEnsure:
		c = &GroupsEnsure{}
	case CmdMasterDiscovered:
		c = &MasterDiscovered{}
	case CmdGroupAmbiguous:
		c = &GroupAmbiguous{}
	case CmdFailoverBegin:
		c = &FailoverBegin{}
	case CmdFailoverPromoted:
		c = &FailoverPromoted{}
	case CmdFailoverEnd:
		c = &FailoverEnd{}
	case CmdMaintenance:
		c = &Maintenance{}
	case CmdAck:
		c = &Ack{}
	case CmdGroupAdd:
		c = &GroupAdd{}
	case CmdGroupRemove:
		c = &GroupRemove{}
	case CmdRecord:
		c = &Record{}
	case CmdEvents:
		c = &Events{}
	case CmdHookCursor:
		c = &HookCursor{}
	case CmdClustersEnsure:
		c = &ClustersEnsure{}
	case CmdClusterShards:
		c = &ClusterShards{}
	case CmdClusterFailoverBegin:
		c = &ClusterFailoverBegin{}
	case CmdClusterFailoverEnd:
		c = &ClusterFailoverEnd{}
	case CmdOpBegin:
		c = &OpBegin{}
	case CmdOpProgress:
		c = &OpProgress{}
	case CmdOpCancel:
		c = &OpCancel{}
	case CmdOpEnd:
		c = &OpEnd{}
	default:
		return t, nil, fmt.Errorf("unknown command type %d", t)
	}
	dec := json.NewDecoder(bytes.NewReader(b[2:]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return t, nil, fmt.Errorf("decode command type %d: %w", t, err)
	}
	if dec.More() {
		return t, nil, fmt.Errorf("decode command type %d: trailing data", t)
	}
	return t, c, nil
}

package raftstore

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Cluster event kinds.
const (
	EvClusterFailoverStarted   = "cluster_failover_started"
	EvClusterFailoverCompleted = "cluster_failover_completed"
	EvClusterFailoverFailed    = "cluster_failover_failed"
	EvClusterFailoverObserved  = "cluster_failover_observed"
	EvClusterSlotsUncovered    = "cluster_slots_uncovered"
	EvClusterSlotOpen          = "cluster_slot_open"
	EvClusterNoReplica         = "cluster_master_without_replica"
	EvClusterDisagreement      = "cluster_config_disagreement"
	EvClusterConflict          = "cluster_conflict"
	EvClusterNodeReattached    = "cluster_node_reattached"
	EvClusterAdded             = "cluster_added"
)

// Cluster failover modes.
const (
	ModeGraceful = "graceful" // CLUSTER FAILOVER: the master agrees, no write lost
	ModeForce    = "force"    // CLUSTER FAILOVER FORCE: without the master, with the masters' vote
	ModeTakeover = "takeover" // CLUSTER FAILOVER TAKEOVER: without any vote
)

// Cluster is one watched Redis Cluster.
type Cluster struct {
	Name  string   `json:"name"`
	Seeds []string `json:"seeds"`
	// Shards is the shard map as last recorded (on change only).
	Shards    []ShardRecord `json:"shards"`
	UpdatedAt time.Time     `json:"updated_at"`
	// UpdatedLocal is this member's clock when it applied the change
	// behind UpdatedAt (in memory only, like Group.UpdatedLocal).
	UpdatedLocal time.Time `json:"-"`
	// Epoch counts warden's forced failovers of this cluster.
	Epoch        uint64           `json:"epoch"`
	Failover     *ClusterFailover `json:"failover"`
	LastFailover *ClusterFailover `json:"last_failover"`
	// Promoted lists the node ids warden promoted lately (newest last), so
	// that a shard map change it caused is not taken for the cluster's own.
	Promoted []string `json:"promoted,omitempty"`
	// Failed counts failed forced failovers per shard master id (reset by a
	// success); at MaxClusterAttempts warden gives up on that shard.
	Failed map[string]int `json:"failed,omitempty"`
	// Removed are addresses of nodes a topology operation took out of the
	// cluster: never probed, never re-attached.
	Removed []string `json:"removed,omitempty"`
}

// MaxClusterAttempts is how many forced failovers of one shard may fail
// before warden stops trying and says so.
const MaxClusterAttempts = 3

// EvClusterFailoverAbandoned: warden gave up forcing a shard's failover.
const EvClusterFailoverAbandoned = "cluster_failover_abandoned"

// ShardRecord is one shard: its master, replicas and slots.
type ShardRecord struct {
	MasterID   string   `json:"master_id"`
	MasterAddr string   `json:"master_addr"`
	Replicas   []string `json:"replicas"` // "id@addr"
	Slots      string   `json:"slots"`
}

// ClusterFailover is the record of one failover warden carried out in a
// cluster.
type ClusterFailover struct {
	ID          string     `json:"id"`
	Mode        string     `json:"mode"`
	ShardMaster string     `json:"shard_master"` // the failed master's id
	From        string     `json:"from"`         // its address
	To          string     `json:"to"`           // the replica's address
	ToID        string     `json:"to_id"`
	Reason      string     `json:"reason"`
	RequestedBy string     `json:"requested_by,omitempty"`
	Leader      string     `json:"leader"`
	BeganAt     time.Time  `json:"began_at"`
	EndedAt     *time.Time `json:"ended_at,omitempty"`
	// EndedLocal is this member's clock when it applied the end (in
	// memory only, like Group.PromotedLocal): the retry wait after a
	// failed attempt runs from it.
	EndedLocal time.Time `json:"-"`
	OK         bool      `json:"ok"`
	Error      string    `json:"error,omitempty"`
	Steps      []Step    `json:"steps,omitempty"`
}

func (c *Cluster) clone() Cluster {
	out := *c
	out.Seeds = append([]string(nil), c.Seeds...)
	out.Shards = nil
	for _, s := range c.Shards {
		s.Replicas = append([]string(nil), s.Replicas...)
		out.Shards = append(out.Shards, s)
	}
	out.Promoted = append([]string(nil), c.Promoted...)
	out.Removed = append([]string(nil), c.Removed...)
	if c.Failed != nil {
		out.Failed = make(map[string]int, len(c.Failed))
		for k, v := range c.Failed {
			out.Failed[k] = v
		}
	}
	out.Failover = c.Failover.clone()
	out.LastFailover = c.LastFailover.clone()
	return out
}

func (f *ClusterFailover) clone() *ClusterFailover {
	if f == nil {
		return nil
	}
	c := *f
	c.Steps = append([]Step(nil), f.Steps...)
	if f.EndedAt != nil {
		t := *f.EndedAt
		c.EndedAt = &t
	}
	return &c
}

// ClustersEnsure is CmdClustersEnsure: the configured clusters, recorded
// once like the groups.
type ClustersEnsure struct {
	Clusters []ClusterSpec `json:"clusters"`
	At       time.Time     `json:"at"`
}

// ClusterSpec names a cluster and its seeds.
type ClusterSpec struct {
	Name  string   `json:"name"`
	Seeds []string `json:"seeds"`
}

// ClusterShards is CmdClusterShards: the shard map changed.
type ClusterShards struct {
	Cluster string        `json:"cluster"`
	Shards  []ShardRecord `json:"shards"`
	// Observed, when set, describes a failover the cluster did by itself.
	Observed string    `json:"observed,omitempty"`
	At       time.Time `json:"at"`
}

// ClusterFailoverBegin is CmdClusterFailoverBegin.
type ClusterFailoverBegin struct {
	Cluster  string          `json:"cluster"`
	Failover ClusterFailover `json:"failover"`
	At       time.Time       `json:"at"`
}

// ClusterFailoverEnd is CmdClusterFailoverEnd.
type ClusterFailoverEnd struct {
	Cluster string    `json:"cluster"`
	ID      string    `json:"id"`
	OK      bool      `json:"ok"`
	Error   string    `json:"error,omitempty"`
	Steps   []Step    `json:"steps,omitempty"`
	At      time.Time `json:"at"`
}

func (*ClustersEnsure) commandType() CommandType       { return CmdClustersEnsure }
func (*ClusterShards) commandType() CommandType        { return CmdClusterShards }
func (*ClusterFailoverBegin) commandType() CommandType { return CmdClusterFailoverBegin }
func (*ClusterFailoverEnd) commandType() CommandType   { return CmdClusterFailoverEnd }

// Cluster returns a copy of the named cluster.
func (f *FSM) Cluster(name string) (Cluster, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	c, ok := f.st.Clusters[name]
	if !ok {
		return Cluster{}, false
	}
	return c.clone(), true
}

// ClusterFailoverID returns the id of the failover warden is forcing in
// the cluster, "" when none is running.
func (f *FSM) ClusterFailoverID(name string) string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if c, ok := f.st.Clusters[name]; ok && c.Failover != nil {
		return c.Failover.ID
	}
	return ""
}

// Clusters returns copies of all clusters sorted by name.
func (f *FSM) Clusters() []Cluster {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]Cluster, 0, len(f.st.Clusters))
	for _, c := range f.st.Clusters {
		out = append(out, c.clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ClustersSeeded reports whether the configured clusters were recorded.
func (f *FSM) ClustersSeeded() bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.ClustersSeeded
}

func (f *FSM) applyCluster(body any) (bool, error) {
	switch c := body.(type) {
	case *ClustersEnsure:
		if f.st.ClustersSeeded {
			return true, nil
		}
		for _, spec := range c.Clusters {
			if _, ok := f.st.Clusters[spec.Name]; ok {
				continue
			}
			f.st.Clusters[spec.Name] = &Cluster{Name: spec.Name, Seeds: append([]string(nil), spec.Seeds...), UpdatedAt: c.At, UpdatedLocal: f.at}
			f.emit(Event{At: c.At, Kind: EvClusterAdded, Group: spec.Name, Message: "cluster from the configuration, seeds " + strings.Join(spec.Seeds, ", ")})
		}
		f.st.ClustersSeeded = true
		return true, nil
	case *ClusterShards:
		cl, ok := f.st.Clusters[c.Cluster]
		if !ok {
			return true, fmt.Errorf("%w %q", ErrUnknownCluster, c.Cluster)
		}
		cl.Shards, cl.UpdatedAt, cl.UpdatedLocal = nil, c.At, f.at
		for _, s := range c.Shards {
			s.Replicas = append([]string(nil), s.Replicas...)
			cl.Shards = append(cl.Shards, s)
		}
		if c.Observed != "" {
			f.emit(Event{At: c.At, Kind: EvClusterFailoverObserved, Severity: SeverityWarning, Group: c.Cluster, Message: c.Observed})
		}
		return true, nil
	case *ClusterFailoverBegin:
		cl, ok := f.st.Clusters[c.Cluster]
		if !ok {
			return true, fmt.Errorf("%w %q", ErrUnknownCluster, c.Cluster)
		}
		if cl.Failover != nil {
			return true, fmt.Errorf("%w: %s", ErrFailoverRunning, cl.Failover.ID)
		}
		fo := c.Failover.clone()
		cl.Epoch++
		fo.ID = fmt.Sprintf("%s-c%d", c.Cluster, cl.Epoch)
		fo.BeganAt, fo.OK, fo.Error, fo.EndedAt = c.At, false, "", nil
		cl.Failover, cl.UpdatedAt, cl.UpdatedLocal = fo, c.At, f.at
		f.emit(Event{At: c.At, Kind: EvClusterFailoverStarted, Severity: SeverityCritical, Group: c.Cluster, Node: fo.To,
			Message: fmt.Sprintf("%s failover of %s's shard (%s) to %s: %s", fo.Mode, fo.From, fo.ShardMaster, fo.To, fo.Reason),
			Details: map[string]string{"failover_id": fo.ID, "mode": fo.Mode, "from": fo.From, "to": fo.To}})
		return true, nil
	case *ClusterFailoverEnd:
		cl, ok := f.st.Clusters[c.Cluster]
		if !ok {
			return true, fmt.Errorf("%w %q", ErrUnknownCluster, c.Cluster)
		}
		if cl.Failover == nil || cl.Failover.ID != c.ID {
			return true, fmt.Errorf("%w: %s", ErrNoFailover, c.ID)
		}
		fo := cl.Failover
		at := c.At
		fo.EndedAt, fo.EndedLocal, fo.OK, fo.Error = &at, f.at, c.OK, c.Error
		fo.Steps = append(fo.Steps, c.Steps...)
		cl.LastFailover, cl.Failover, cl.UpdatedAt, cl.UpdatedLocal = fo, nil, c.At, f.at
		if cl.Failed == nil {
			cl.Failed = map[string]int{}
		}
		if c.OK {
			delete(cl.Failed, fo.ShardMaster)
		} else {
			cl.Failed[fo.ShardMaster]++
			if cl.Failed[fo.ShardMaster] == MaxClusterAttempts {
				f.emit(Event{At: c.At, Kind: EvClusterFailoverAbandoned, Severity: SeverityCritical, Group: c.Cluster, Node: fo.From,
					Message: fmt.Sprintf("gave up forcing the failover of %s's shard after %d failed attempts (last: %s); a human must look", fo.From, MaxClusterAttempts, c.Error)})
			}
		}
		if c.OK {
			cl.Promoted = append(cl.Promoted, fo.ToID)
			if len(cl.Promoted) > 16 {
				cl.Promoted = append([]string(nil), cl.Promoted[len(cl.Promoted)-16:]...)
			}
		}
		kind, sev, outcome := EvClusterFailoverCompleted, SeverityWarning, "completed"
		if !c.OK {
			kind, sev, outcome = EvClusterFailoverFailed, SeverityCritical, "failed: "+c.Error
		}
		msg := fmt.Sprintf("%s failover %s -> %s %s", fo.Mode, fo.From, fo.To, outcome)
		f.record(Entry{At: c.At, Kind: EntryFailover, Group: c.Cluster, Node: fo.To, Message: msg})
		f.emit(Event{At: c.At, Kind: kind, Severity: sev, Group: c.Cluster, Node: fo.To, Message: msg,
			Details: map[string]string{"failover_id": fo.ID, "mode": fo.Mode, "duration_ms": fmt.Sprint(c.At.Sub(fo.BeganAt).Milliseconds())}})
		return true, nil
	}
	return false, nil
}

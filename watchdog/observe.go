// Package watchdog probes Redis nodes, aggregates the watchdogs' votes,
// decides (purely) what to do, and runs the leader's reconcile loop and the
// HTTP API.
package watchdog

import (
	"strconv"
	"strings"
	"time"
)

// Roles as warden names them.
const (
	RoleMaster  = "master"
	RoleReplica = "replica"
	RoleUnknown = "unknown"
)

// Obs is one watchdog's view of one node.
type Obs struct {
	// Up: the last probe got a valid reply.
	Up bool `json:"up"`
	// Down: subjectively down, no valid reply for down_after.
	Down bool `json:"down"`
	// FailingFor is how long the node has been failing probes (0 when up).
	FailingForMs int64  `json:"failing_for_ms,omitempty"`
	Err          string `json:"err,omitempty"`
	// Known: at least one probe finished since this watchdog started.
	Known bool `json:"known"`
	// AgeMs is how long before the report was sent the probe behind this
	// view started; the leader places the view on its own clock with it.
	AgeMs int64 `json:"age_ms"`

	Role        string  `json:"role,omitempty"`
	MasterAddr  string  `json:"master_addr,omitempty"`
	LinkUp      bool    `json:"link_up,omitempty"`
	LastIOSec   int     `json:"last_io_sec"`
	LinkDownSec int     `json:"link_down_sec"`
	Offset      int64   `json:"offset"`
	Priority    int     `json:"priority"`
	RunID       string  `json:"run_id,omitempty"`
	LatencyMs   float64 `json:"latency_ms"`
	Replicas    int     `json:"replicas"`
	// MasterAuthMissing: the group has a password but this node has no
	// masterauth, so it could not replicate after a failover.
	MasterAuthMissing bool `json:"masterauth_missing,omitempty"`
	// Cluster is a Redis Cluster node's own view (nil for group nodes).
	Cluster *ClusterObs `json:"cluster,omitempty"`
}

// ClusterObs is what one Redis Cluster node says of the cluster.
type ClusterObs struct {
	// Nodes is its CLUSTER NODES reply as it is.
	Nodes string `json:"nodes"`
	// State is cluster_state from CLUSTER INFO (ok, fail).
	State string `json:"state"`
	// NodeTimeoutMs is its cluster-node-timeout (0 when unknown).
	NodeTimeoutMs int64 `json:"node_timeout_ms,omitempty"`
}

// Report is one watchdog's views of every node, sent to the leader every
// probe interval.
type Report struct {
	From string    `json:"from"`
	Seq  uint64    `json:"seq"`
	Tilt bool      `json:"tilt"`
	Sent time.Time `json:"sent"`
	// Sentinel is this watchdog's Sentinel-protocol address ("" when off).
	Sentinel string         `json:"sentinel,omitempty"`
	Obs      map[string]Obs `json:"obs"`
	// ReceivedAt is set by the leader on receipt (its own clock), and is
	// what freshness is judged by.
	ReceivedAt time.Time `json:"-"`
}

// ParseInfo reads an INFO reply into key → value (sections and comments
// dropped).
func ParseInfo(s string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		m[k] = v
	}
	return m
}

// ApplyInfo fills the replication and server fields of o from a parsed INFO.
func (o *Obs) ApplyInfo(m map[string]string) {
	atoi := func(k string, def int64) int64 {
		v, ok := m[k]
		if !ok {
			return def
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return def
		}
		return n
	}
	o.RunID = m["run_id"]
	o.LastIOSec, o.LinkDownSec = -1, -1
	switch m["role"] {
	case "master":
		o.Role = RoleMaster
		o.Offset = atoi("master_repl_offset", 0)
		o.Replicas = int(atoi("connected_slaves", 0))
		o.MasterAddr, o.LinkUp = "", false
	case "slave":
		o.Role = RoleReplica
		host, port := m["master_host"], m["master_port"]
		if host != "" && port != "" {
			o.MasterAddr = host + ":" + port
		}
		o.LinkUp = m["master_link_status"] == "up"
		o.LastIOSec = int(atoi("master_last_io_seconds_ago", -1))
		o.LinkDownSec = int(atoi("master_link_down_since_seconds", -1))
		o.Offset = atoi("slave_repl_offset", 0)
		if o.Offset == 0 {
			o.Offset = atoi("master_repl_offset", 0)
		}
		o.Priority = int(atoi("slave_priority", 100))
		o.Replicas = int(atoi("connected_slaves", 0))
	default:
		o.Role = RoleUnknown
	}
}

package watchdog

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"warden/cluster"
	"warden/raftstore"
)

// ClusterInput is everything DecideCluster looks at.
type ClusterInput struct {
	Now     time.Time
	Params  Params
	Cluster raftstore.Cluster
	Reports []Report
	// Addrs are the node addresses known for the cluster (seeds and
	// discovered).
	Addrs []string
	// DownSince is, per node address, when the leader first saw it
	// objectively down (kept by the leader between decisions).
	DownSince map[string]time.Time
	// StraySince is, per node address, since when it has been a master
	// without slots whose old shard has another master.
	StraySince map[string]time.Time
}

// ClusterNodeView is one node as the watchdog group sees it.
type ClusterNodeView struct {
	ID        string  `json:"id"`
	Addr      string  `json:"addr"`
	Role      string  `json:"role"`
	MasterID  string  `json:"master_id,omitempty"`
	Slots     string  `json:"slots,omitempty"`
	Health    string  `json:"health"`
	VotesDown int     `json:"votes_down"`
	VotesUp   int     `json:"votes_up"`
	Offset    int64   `json:"offset"`
	LatencyMs float64 `json:"latency_ms"`
	// FailFlags counts the views that flag the node fail or fail?.
	FailFlags int    `json:"fail_flags"`
	State     string `json:"cluster_state,omitempty"`
}

// ClusterShardView is one shard.
type ClusterShardView struct {
	MasterID   string   `json:"master_id"`
	MasterAddr string   `json:"master_addr"`
	Slots      string   `json:"slots"`
	SlotCount  int      `json:"slot_count"`
	Health     string   `json:"health"`
	Replicas   []string `json:"replicas"`
	UpReplicas int      `json:"up_replicas"`
}

// ClusterView is the aggregated view of a cluster.
type ClusterView struct {
	Cluster       string             `json:"cluster"`
	Reporters     []string           `json:"reporters"`
	Nodes         []ClusterNodeView  `json:"nodes"`
	Shards        []ClusterShardView `json:"shards"`
	Uncovered     string             `json:"uncovered_slots,omitempty"`
	OpenSlots     []string           `json:"open_slots,omitempty"`
	NoReplica     []string           `json:"masters_without_replica,omitempty"`
	Disagreements []string           `json:"disagreements,omitempty"`
	// Conflicts are masters claiming slots the cluster gives to others:
	// reported, never resolved by guessing.
	Conflicts      []string `json:"conflicts,omitempty"`
	NodeTimeoutMs  int64    `json:"node_timeout_ms"`
	MastersUp      int      `json:"masters_up"`
	MastersTotal   int      `json:"masters_total"`
	ReachableState string   `json:"state"`
	// At is when the leader computed the view.
	At time.Time `json:"at"`
}

// ClusterActionKind says what a ClusterAction asks for.
type ClusterActionKind string

// Cluster action kinds.
const (
	ClActFailover  ClusterActionKind = "failover"  // force the shard's failover
	ClActReplicate ClusterActionKind = "replicate" // CLUSTER REPLICATE a stray master
	ClActReattach  ClusterActionKind = "reattach"  // MEET a reset node, then REPLICATE
	ClActShards    ClusterActionKind = "shards"    // record the shard map
	ClActNote      ClusterActionKind = "note"
)

// ClusterAction is one step for the leader.
type ClusterAction struct {
	Kind     ClusterActionKind
	Cluster  string
	Mode     string
	From     string // failed master's address
	FromID   string
	To       string // replica's address
	ToID     string
	Node     string // address acted on
	MasterID string // master to replicate
	Via      string // a cluster node to MEET from
	Shards   []raftstore.ShardRecord
	Observed string
	Reason   string
}

// DecideCluster is Decide for a Redis Cluster. It is pure.
func DecideCluster(in ClusterInput) (ClusterView, []ClusterAction) {
	p := in.Params
	var fresh []Report
	for _, r := range in.Reports {
		if in.Now.Sub(r.ReceivedAt) <= p.FreshnessInterval {
			fresh = append(fresh, r)
		}
	}
	sort.Slice(fresh, func(i, j int) bool { return fresh[i].From < fresh[j].From })
	v := ClusterView{Cluster: in.Cluster.Name}
	for _, r := range fresh {
		v.Reporters = append(v.Reporters, r.From)
	}
	var acts []ClusterAction
	note := func(s string) {
		acts = append(acts, ClusterAction{Kind: ClActNote, Cluster: in.Cluster.Name, Reason: s})
	}
	if len(fresh) < p.Required || len(fresh) == 0 {
		note(fmt.Sprintf("only %d fresh watchdog reports, %d required: no action", len(fresh), p.Required))
		return v, acts
	}

	// Per address: votes, the freshest up observation, its own view.
	type addrState struct {
		up, down int
		obs      Obs
		has      bool
		self     cluster.Node
		view     []cluster.Node
	}
	states := map[string]*addrState{}
	addrs := append([]string(nil), in.Addrs...)
	sort.Strings(addrs)
	views := map[string][]cluster.Node{}
	since := in.Cluster.ChangedAt() // this member's clock, like ReceivedAt
	if since.After(in.Now) {
		since = in.Now
	}
	for _, a := range addrs {
		st := &addrState{}
		states[a] = st
		for _, r := range fresh {
			o, ok := r.Obs[a]
			// A view taken before the cluster's last recorded change may
			// show the shards before a failover: not counted.
			if !ok || !o.Known || r.ReceivedAt.Add(-time.Duration(o.AgeMs)*time.Millisecond).Before(since) {
				continue
			}
			switch {
			case o.Up:
				st.up++
				if !st.has || o.LatencyMs < st.obs.LatencyMs {
					st.obs, st.has = o, true
				}
			case o.Down && !r.Tilt:
				st.down++
			}
		}
		if st.has && st.obs.Cluster != nil {
			if nodes, err := cluster.ParseNodes(st.obs.Cluster.Nodes); err == nil {
				st.view = nodes
				views[a] = nodes
				for _, n := range nodes {
					if n.Flags.Myself {
						st.self = n
					}
				}
				if t := st.obs.Cluster.NodeTimeoutMs; t > v.NodeTimeoutMs {
					v.NodeTimeoutMs = t
				}
			}
		}
	}
	health := func(a string) string {
		st, ok := states[a]
		switch {
		case !ok:
			return HealthUnknown
		case odown(p, st.down, len(fresh)):
			return HealthODown
		case st.down > 0:
			return HealthSDown
		case st.up > 0:
			return HealthUp
		}
		return HealthUnknown
	}
	upByMaj := func(a string) bool { st, ok := states[a]; return ok && st.up*2 > len(fresh) }

	// The reference view: the up node whose view lists the most nodes
	// (ties: address), so a node that was reset and knows only itself is
	// not the reference.
	ref := ""
	for _, a := range addrs {
		if st := states[a]; st.view != nil && upByMaj(a) && (ref == "" || len(st.view) > len(states[ref].view)) {
			ref = a
		}
	}
	if ref == "" {
		note("no node of the cluster answers with its view: no action")
		return v, acts
	}
	topo, err := cluster.NewTopology(states[ref].view)
	if err != nil {
		note(fmt.Sprintf("the view of %s is inconsistent (%v): no action", ref, err))
		return v, acts
	}

	// Nodes: what each says of itself when it answers, else what the
	// reference view says.
	idAddr := map[string]string{}
	for _, n := range topo.Nodes {
		if n.Flags.Handshake || n.Flags.NoAddr || n.Addr == "" {
			continue
		}
		idAddr[n.ID] = n.Addr
		nv := ClusterNodeView{ID: n.ID, Addr: n.Addr, MasterID: n.MasterID, Slots: cluster.FormatSlots(n.Slots), Health: health(n.Addr)}
		nv.Role = roleOf(n)
		if st, ok := states[n.Addr]; ok {
			nv.VotesDown, nv.VotesUp = st.down, st.up
			if st.has {
				nv.Offset, nv.LatencyMs = st.obs.Offset, st.obs.LatencyMs
				if st.obs.Cluster != nil {
					nv.State = st.obs.Cluster.State
				}
				if st.self.ID == n.ID {
					nv.Role, nv.MasterID, nv.Slots = roleOf(st.self), st.self.MasterID, cluster.FormatSlots(st.self.Slots)
				}
			}
		}
		for _, vw := range views {
			for _, m := range vw {
				if m.ID == n.ID && m.Flags.Failing() {
					nv.FailFlags++
				}
			}
		}
		v.Nodes = append(v.Nodes, nv)
	}
	// Answering nodes the reference view lacks (a node reset with a new id,
	// or one not met yet) are listed by what they say of themselves.
	listed := map[string]bool{}
	for _, n := range v.Nodes {
		listed[n.Addr] = true
	}
	for _, a := range addrs {
		st := states[a]
		if listed[a] || st.self.ID == "" {
			continue
		}
		nv := ClusterNodeView{ID: st.self.ID, Addr: a, Role: roleOf(st.self), MasterID: st.self.MasterID,
			Slots: cluster.FormatSlots(st.self.Slots), Health: health(a), VotesDown: st.down, VotesUp: st.up,
			Offset: st.obs.Offset, LatencyMs: st.obs.LatencyMs}
		if st.obs.Cluster != nil {
			nv.State = st.obs.Cluster.State
		}
		v.Nodes = append(v.Nodes, nv)
	}
	sort.Slice(v.Nodes, func(i, j int) bool { return v.Nodes[i].Addr < v.Nodes[j].Addr })

	var records []raftstore.ShardRecord
	for _, sh := range topo.Shards {
		if len(sh.Slots) == 0 {
			continue
		}
		sv := ClusterShardView{MasterID: sh.Master.ID, MasterAddr: sh.Master.Addr, Slots: cluster.FormatSlots(sh.Slots),
			SlotCount: cluster.CountSlots(sh.Slots), Health: health(sh.Master.Addr)}
		rec := raftstore.ShardRecord{MasterID: sh.Master.ID, MasterAddr: sh.Master.Addr, Slots: sv.Slots}
		for _, r := range sh.Replicas {
			sv.Replicas = append(sv.Replicas, r.Addr)
			rec.Replicas = append(rec.Replicas, r.ID+"@"+r.Addr)
			if upByMaj(r.Addr) && !r.Flags.Failing() && !r.Flags.NoAddr {
				sv.UpReplicas++
			}
		}
		v.MastersTotal++
		if upByMaj(sh.Master.Addr) {
			v.MastersUp++
		}
		if sv.UpReplicas == 0 {
			v.NoReplica = append(v.NoReplica, sh.Master.Addr)
		}
		v.Shards = append(v.Shards, sv)
		records = append(records, rec)
	}
	sort.Slice(v.Shards, func(i, j int) bool { return firstSlot(v.Shards[i].Slots) < firstSlot(v.Shards[j].Slots) })
	sort.Slice(records, func(i, j int) bool { return firstSlot(records[i].Slots) < firstSlot(records[j].Slots) })
	selves := map[string]cluster.Node{}
	for _, a := range addrs {
		if st := states[a]; st.self.ID != "" {
			selves[st.self.ID] = st.self
		}
	}
	if unc := uncoveredSlots(topo, selves); len(unc) > 0 {
		v.Uncovered = cluster.FormatSlots(unc)
	}
	for _, a := range addrs {
		st := states[a]
		for _, o := range append(append([]cluster.OpenSlot(nil), st.self.Migrating...), st.self.Importing...) {
			v.OpenSlots = append(v.OpenSlots, fmt.Sprintf("%d on %s (%s -> %s)", o.Slot, a, short(o.From), short(o.To)))
		}
	}
	for _, a := range addrs {
		st := states[a]
		if st.self.ID == "" || !st.self.Flags.Master || a == ref {
			continue
		}
		var clash []cluster.SlotRange
		for _, r := range st.self.Slots {
			for sl := r.Start; sl <= r.End && sl < cluster.SlotCount; sl++ {
				if o, ok := topo.Owner(sl); ok && o.ID != st.self.ID {
					clash = append(clash, cluster.SlotRange{Start: sl, End: sl})
				}
			}
		}
		if len(clash) > 0 {
			v.Conflicts = append(v.Conflicts, fmt.Sprintf("%s claims slots %s that the cluster gives to other masters", a, cluster.FormatSlots(cluster.MergeSlots(clash))))
		}
	}
	upViews := map[string][]cluster.Node{}
	for a, vw := range views {
		if len(vw) > 1 {
			upViews[a] = vw
		}
	}
	for _, d := range cluster.Compare(upViews) {
		v.Disagreements = append(v.Disagreements, d.String())
	}
	v.ReachableState = "ok"
	if states[ref].has && states[ref].obs.Cluster != nil {
		v.ReachableState = states[ref].obs.Cluster.State
	}

	// The shard map changed: record it, saying when the cluster failed a
	// shard over by itself.
	if !sameShards(in.Cluster.Shards, records) {
		acts = append(acts, ClusterAction{Kind: ClActShards, Cluster: in.Cluster.Name, Shards: records,
			Observed: observedFailover(in.Cluster.Shards, records, in.Cluster)})
	}

	// A master down by the watchdogs' vote whose shard the cluster has not
	// failed over in time: force it.
	timeout := time.Duration(v.NodeTimeoutMs) * time.Millisecond
	if in.Cluster.Failover == nil {
		for _, sh := range v.Shards {
			if sh.Health != HealthODown {
				continue
			}
			since, ok := in.DownSince[sh.MasterAddr]
			wait := p.DownAfter + timeout
			if v.MastersUp*2 > v.MastersTotal {
				// The cluster can elect a replica itself: leave it Redis's
				// own election delay (500 ms + up to 500 ms + rank) too.
				wait += time.Second
			}
			if !ok || in.Now.Sub(since) < wait {
				note(fmt.Sprintf("master %s of slots %s is down; the cluster has until %s to fail it over", sh.MasterAddr, sh.Slots, since.Add(wait).UTC().Format(time.RFC3339Nano)))
				continue
			}
			if in.Cluster.Failed[sh.MasterID] >= raftstore.MaxClusterAttempts {
				note(fmt.Sprintf("gave up forcing the failover of %s after %d failed attempts; a human must look", sh.MasterAddr, raftstore.MaxClusterAttempts))
				continue
			}
			if lf := in.Cluster.LastFailover; lf != nil && !lf.OK && lf.ShardMaster == sh.MasterID && lf.EndedAt != nil && raftstore.Elapsed(lf.Ended(), in.Now) < 2*timeout {
				note(fmt.Sprintf("the last forced failover of %s failed; waiting out the cluster's vote window (2 × node timeout)", sh.MasterAddr))
				continue
			}
			var best *ClusterNodeView
			for i := range v.Nodes {
				n := &v.Nodes[i]
				if n.MasterID != sh.MasterID || n.Role != RoleReplica || !upByMaj(n.Addr) {
					continue
				}
				if best == nil || n.Offset > best.Offset || (n.Offset == best.Offset && (n.LatencyMs < best.LatencyMs || (n.LatencyMs == best.LatencyMs && n.Addr < best.Addr))) {
					best = n
				}
			}
			if best == nil {
				note(fmt.Sprintf("master %s of slots %s is down and has no reachable replica: nothing to promote", sh.MasterAddr, sh.Slots))
				continue
			}
			mode := raftstore.ModeForce
			if v.MastersUp*2 <= v.MastersTotal {
				mode = raftstore.ModeTakeover
			}
			acts = append(acts, ClusterAction{Kind: ClActFailover, Cluster: in.Cluster.Name, Mode: mode,
				From: sh.MasterAddr, FromID: sh.MasterID, To: best.Addr, ToID: best.ID,
				Reason: fmt.Sprintf("master %s (slots %s) objectively down and not failed over by the cluster within down_after + node timeout; %d of %d masters reachable",
					sh.MasterAddr, sh.Slots, v.MastersUp, v.MastersTotal)})
			break // one forced failover at a time
		}
	}

	// A returning old master: a master without slots whose address once
	// led a shard that now has another master should follow it.
	for _, a := range addrs {
		st := states[a]
		if !upByMaj(a) || st.self.ID == "" || roleOf(st.self) != RoleMaster || len(st.self.Slots) > 0 {
			continue
		}
		shard, ok := formerShard(in.Cluster.Shards, records, a)
		if !ok && len(st.view) <= 1 {
			// A node that knows nobody may have led a shard the cluster
			// has already failed over and recorded: it goes where a replica
			// is missing most.
			shard, ok = neediestShard(v.Shards, records)
		}
		if !ok {
			continue
		}
		since, seen := in.StraySince[a]
		if !seen || in.Now.Sub(since) < p.DownAfter+2*timeout {
			note(fmt.Sprintf("%s came back as a master without slots; giving the cluster time to make it a replica of %s", a, shard.MasterAddr))
			continue
		}
		if len(st.view) <= 1 {
			acts = append(acts, ClusterAction{Kind: ClActReattach, Cluster: in.Cluster.Name, Node: a, MasterID: shard.MasterID, Via: shard.MasterAddr,
				Reason: fmt.Sprintf("%s knows no other node (reset, or lost nodes.conf): meet it and make it a replica of %s", a, shard.MasterAddr)})
		} else {
			acts = append(acts, ClusterAction{Kind: ClActReplicate, Cluster: in.Cluster.Name, Node: a, MasterID: shard.MasterID,
				Reason: fmt.Sprintf("%s is still a master without slots: make it a replica of %s", a, shard.MasterAddr)})
		}
	}
	return v, acts
}

func firstSlot(s string) int {
	r, err := cluster.ParseSlots(s)
	if err != nil || len(r) == 0 {
		return cluster.SlotCount
	}
	return r[0].Start
}

func roleOf(n cluster.Node) string {
	switch {
	case n.Flags.Master:
		return RoleMaster
	case n.Flags.Replica:
		return RoleReplica
	}
	return RoleUnknown
}

func sameShards(a, b []raftstore.ShardRecord) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.MasterID != y.MasterID || x.MasterAddr != y.MasterAddr || x.Slots != y.Slots || strings.Join(x.Replicas, ",") != strings.Join(y.Replicas, ",") {
			return false
		}
	}
	return true
}

// observedFailover describes shards whose master changed while warden did
// not fail them over.
func observedFailover(old, cur []raftstore.ShardRecord, cl raftstore.Cluster) string {
	ours := map[string]bool{}
	for _, id := range cl.Promoted {
		ours[id] = true
	}
	if cl.Failover != nil {
		ours[cl.Failover.ToID] = true
	}
	var out []string
	for _, o := range old {
		for _, c := range cur {
			if o.Slots == c.Slots && o.MasterID != c.MasterID && !ours[c.MasterID] {
				out = append(out, fmt.Sprintf("the cluster failed slots %s over from %s to %s by itself", c.Slots, o.MasterAddr, c.MasterAddr))
			}
		}
	}
	return strings.Join(out, "; ")
}

// formerShard finds the shard addr led in the recorded map, when that
// shard's slots now have another master.
func formerShard(old, cur []raftstore.ShardRecord, addr string) (raftstore.ShardRecord, bool) {
	for _, o := range old {
		if o.MasterAddr != addr {
			continue
		}
		for _, c := range cur {
			if c.Slots == o.Slots && c.MasterAddr != addr {
				return c, true
			}
		}
	}
	return raftstore.ShardRecord{}, false
}

// uncoveredSlots is the slots no master serves: a master that answers
// counts with the slots it claims itself, one that does not with the slots
// the reference view gives it.
func uncoveredSlots(topo *cluster.Topology, selves map[string]cluster.Node) []cluster.SlotRange {
	var covered [cluster.SlotCount]bool
	for _, n := range topo.Nodes {
		if !n.Flags.Master {
			continue
		}
		slots := n.Slots
		if s, ok := selves[n.ID]; ok {
			slots = s.Slots
		}
		for _, r := range slots {
			for sl := r.Start; sl <= r.End && sl < cluster.SlotCount; sl++ {
				covered[sl] = true
			}
		}
	}
	for _, s := range selves {
		if s.Flags.Master {
			for _, r := range s.Slots {
				for sl := r.Start; sl <= r.End && sl < cluster.SlotCount; sl++ {
					covered[sl] = true
				}
			}
		}
	}
	var out []cluster.SlotRange
	for sl := 0; sl < cluster.SlotCount; sl++ {
		if !covered[sl] {
			out = append(out, cluster.SlotRange{Start: sl, End: sl})
		}
	}
	return cluster.MergeSlots(out)
}

// neediestShard is the shard with the fewest working replicas (ties: the
// lowest slots).
func neediestShard(shards []ClusterShardView, records []raftstore.ShardRecord) (raftstore.ShardRecord, bool) {
	best := -1
	for i, sh := range shards {
		if best < 0 || sh.UpReplicas < shards[best].UpReplicas {
			best = i
		}
	}
	if best < 0 {
		return raftstore.ShardRecord{}, false
	}
	for _, r := range records {
		if r.MasterID == shards[best].MasterID {
			return r, true
		}
	}
	return raftstore.ShardRecord{}, false
}

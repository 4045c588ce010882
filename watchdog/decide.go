package watchdog

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"warden/config"
	"warden/raftstore"
)

// Health of a node as the watchdog group sees it.
const (
	HealthUp      = "up"
	HealthSDown   = "sdown" // some watchdogs see it down, not enough to act
	HealthODown   = "odown" // objectively down by node_strategy
	HealthUnknown = "unknown"
)

// ActionKind says what an Action asks the executor to do.
type ActionKind string

// Action kinds.
const (
	// ActTrust: the recorded master matches the live nodes; nothing to write.
	ActTrust ActionKind = "trust"
	// ActDiscover: record Master (with Epoch) as the group's master.
	ActDiscover ActionKind = "discover"
	// ActAmbiguous: record that no single master can be named.
	ActAmbiguous ActionKind = "ambiguous"
	// ActFailover: begin a failover From → To.
	ActFailover ActionKind = "failover"
	// ActResume: roll forward the failover recorded in the state.
	ActResume ActionKind = "resume"
	// ActReattach: make Node a replica of Master.
	ActReattach ActionKind = "reattach"
	// ActNote: nothing to do, but worth saying (logged when it changes).
	ActNote ActionKind = "note"
	// ActFence: keep min-replicas-to-write 1 and min-replicas-max-lag
	// MaxLag on the master Node (set only when it differs).
	ActFence ActionKind = "fence"
	// ActUnfence: clear min-replicas-to-write on the master Node: every
	// replica is gone and no failover is possible.
	ActUnfence ActionKind = "unfence"
)

// Action is one step the leader should take.
type Action struct {
	Kind    ActionKind
	Group   string
	Master  string
	RunID   string
	Node    string
	From    string
	To      string
	Epoch   uint64
	Reason  string
	Fence   bool
	Votes   map[string]string
	Ranking []raftstore.Candidate
	// Quiet marks a note about a passing state (waiting for fresh views),
	// logged at debug level only.
	Quiet bool
	// FailoverKind, By and Force describe a failover an operator asked
	// for (Decide leaves them empty: a failover of a dead master).
	FailoverKind string
	By           string
	Force        bool
	// Cause is why a failover is wanted (raftstore.Cause*).
	Cause string
	// Refusal marks a note that declines a failover the votes called for
	// (anti-flapping, maintenance, no candidate, master still heard): it
	// goes to the audit history.
	Refusal bool
	// MaxLag is ActFence's min-replicas-max-lag in seconds.
	MaxLag int
}

func (a Action) String() string {
	switch a.Kind {
	case ActFailover:
		return fmt.Sprintf("failover %s: %s -> %s (epoch %d): %s", a.Group, a.From, a.To, a.Epoch, a.Reason)
	case ActReattach:
		return fmt.Sprintf("reattach %s: %s -> replica of %s: %s", a.Group, a.Node, a.Master, a.Reason)
	case ActFence:
		return fmt.Sprintf("fence %s: %s min-replicas-to-write 1 max-lag %ds: %s", a.Group, a.Node, a.MaxLag, a.Reason)
	case ActUnfence:
		return fmt.Sprintf("unfence %s: %s min-replicas-to-write 0: %s", a.Group, a.Node, a.Reason)
	case ActDiscover, ActTrust:
		return fmt.Sprintf("%s %s: master %s (epoch %d): %s", a.Kind, a.Group, a.Master, a.Epoch, a.Reason)
	default:
		return fmt.Sprintf("%s %s: %s", a.Kind, a.Group, a.Reason)
	}
}

// Params are the configuration Decide needs.
type Params struct {
	Members           int
	Required          int
	NodeStrategy      string
	FailoverStrategy  string
	ProbeInterval     time.Duration
	DownAfter         time.Duration
	BlockAfter        time.Duration
	FreshnessInterval time.Duration
	// FenceMaxLag is min-replicas-max-lag in seconds (failover.fence_max_lag).
	FenceMaxLag int
}

// ParamsFrom derives Params from the config and the member count.
func ParamsFrom(c config.Config, members int) Params {
	return Params{
		Members:           members,
		Required:          c.Detection.RequiredWatchdogs,
		NodeStrategy:      c.Detection.NodeStrategy,
		FailoverStrategy:  c.Failover.Strategy,
		ProbeInterval:     c.Detection.ProbeInterval.D(),
		DownAfter:         c.Detection.DownAfter.D(),
		BlockAfter:        c.Failover.BlockAfter.D(),
		FreshnessInterval: 3 * c.Detection.ProbeInterval.D(),
		FenceMaxLag:       int(c.Failover.FenceMaxLag.D() / time.Second),
	}
}

// Input is everything Decide looks at.
type Input struct {
	Now    time.Time
	Params Params
	Group  raftstore.Group
	// Trusted: the leader has checked the recorded master against the live
	// nodes since it gained leadership.
	Trusted bool
	Reports []Report
	// Maintenance holds the nodes' maintenance windows; only those open at
	// Now count.
	Maintenance map[string]raftstore.NodeMaintenance
	// FenceMode is the group's write fence mode in force (config.FenceOn,
	// FenceStrict, FenceOff; "" is off).
	FenceMode string
	// Fence is what the previous decision for the group left
	// (Decision.Fence).
	Fence FenceState
}

// FenceState carries, from one decision to the next, since when the
// master has had no replica attached.
type FenceState struct {
	// Master is the master the time is counted for: a new master starts
	// afresh.
	Master string `json:"master,omitempty"`
	// ReplicasLostAt is when the master was first seen without a replica
	// up by the watchdogs' vote and attached to it (zero: it has one).
	ReplicasLostAt time.Time `json:"replicas_lost_at,omitempty"`
}

func (in Input) inMaintenance(addr string) bool {
	m, ok := in.Maintenance[addr]
	return ok && m.Active(in.Now)
}

// NodeView is the group's aggregated view of one node.
type NodeView struct {
	Addr      string  `json:"addr"`
	Role      string  `json:"role"`
	Health    string  `json:"health"`
	VotesDown int     `json:"votes_down"`
	VotesUp   int     `json:"votes_up"`
	Offset    int64   `json:"offset"`
	LatencyMs float64 `json:"latency_ms"`
	MasterOf  string  `json:"master_addr,omitempty"`
	LinkUp    bool    `json:"link_up"`
	RunID     string  `json:"run_id,omitempty"`

	obs     Obs  // best observation (from an up report)
	hasObs  bool // obs is from a watchdog that sees the node up
	failing bool // some watchdog's probes fail, not yet for down_after
}

// GroupView is the aggregated view of a group.
type GroupView struct {
	Group     string     `json:"group"`
	Reporters []string   `json:"reporters"`
	Nodes     []NodeView `json:"nodes"`
}

func (v *GroupView) node(addr string) *NodeView {
	for i := range v.Nodes {
		if v.Nodes[i].Addr == addr {
			return &v.Nodes[i]
		}
	}
	return nil
}

// Decision is Decide's result.
type Decision struct {
	View    GroupView
	Actions []Action
	// Fence is handed to the next decision (Input.Fence).
	Fence FenceState
}

// Decide turns the replicated state and the latest reports into actions.
// It is pure: no I/O, no clock but in.Now.
func Decide(in Input) Decision {
	p, g := in.Params, in.Group
	var fresh []Report
	for _, r := range in.Reports {
		if in.Now.Sub(r.ReceivedAt) <= p.FreshnessInterval {
			fresh = append(fresh, r)
		}
	}
	sort.Slice(fresh, func(i, j int) bool { return fresh[i].From < fresh[j].From })
	// The group's last change as this member applied it (its own clock,
	// like ReceivedAt): a wall-clock stamp from the leader would compare
	// with the reports' times across clocks.
	since := g.ChangedAt()
	if since.After(in.Now) {
		since = in.Now
	}
	view := aggregate(p, g.Nodes, fresh, since)
	d := Decision{View: view, Fence: in.Fence}
	note := func(reason string) {
		d.Actions = append(d.Actions, Action{Kind: ActNote, Group: g.Name, Reason: reason})
	}
	refuse := func(reason string) {
		d.Actions = append(d.Actions, Action{Kind: ActNote, Group: g.Name, Reason: reason, Refusal: true})
	}

	if len(fresh) < p.Required || len(fresh) == 0 {
		note(fmt.Sprintf("only %d fresh watchdog reports, %d required: no action", len(fresh), p.Required))
		return d
	}
	for _, n := range view.Nodes {
		if n.VotesUp == 0 && n.VotesDown == 0 && n.Health != HealthODown && !n.failing {
			d.Actions = append(d.Actions, Action{Kind: ActNote, Group: g.Name, Quiet: true,
				Reason: fmt.Sprintf("node %s has no view newer than the group's last change: waiting", n.Addr)})
			return d
		}
	}

	if g.Failover != nil {
		d.Actions = append(d.Actions, Action{
			Kind: ActResume, Group: g.Name, From: g.Failover.From, To: g.Failover.To,
			Epoch: g.Failover.Epoch, Reason: "failover at stage " + g.Failover.Stage + " has no end recorded",
		})
		return d
	}

	master := g.Master
	needDiscover := master == "" || !in.Trusted
	if mv := view.node(master); mv != nil && mv.hasObs && mv.obs.Role == RoleReplica {
		needDiscover = true
	}
	if needDiscover {
		a, ok := discover(g, &view)
		if !ok {
			// The recorded master came back (a new run id) as a replica
			// while no node is master: restarted with a stale replicaof,
			// possibly in a loop with a node that follows it. Its replicas
			// keep the data (a replica without a master link serves no
			// SYNC): fail over to the best of them, as after an empty
			// restart, instead of waiting for an operator.
			if mv := view.node(g.Master); mv != nil && mv.hasObs && mv.obs.Role == RoleReplica &&
				g.MasterRunID != "" && mv.obs.RunID != "" && mv.obs.RunID != g.MasterRunID && !anyMaster(view) {
				d.Actions = append(d.Actions, failover(g, view, fresh, p, in, g.Master, raftstore.CauseEmptyRestart, fmt.Sprintf(
					"master %s restarted (run id %s, was %s) as a replica of %s and no node is master (%s): failing over to the replica with the most data",
					g.Master, short(mv.obs.RunID), short(g.MasterRunID), mv.obs.MasterAddr, a.Reason)))
				return d
			}
			d.Actions = append(d.Actions, a)
			return d
		}
		d.Actions = append(d.Actions, a)
		master = a.Master
		g.Master, g.Epoch = a.Master, a.Epoch
		if a.RunID != "" {
			g.MasterRunID = a.RunID
		}
	}

	mv := view.node(master)
	if mv == nil {
		note("master " + master + " is not a node of the group")
		return d
	}

	if mv.Health == HealthODown {
		if in.inMaintenance(master) {
			refuse(fmt.Sprintf("master %s is down but in maintenance: no failover", master))
			return d
		}
		if hr := heardBy(view, master, p); hr != "" {
			refuse(fmt.Sprintf("master %s is down for the watchdogs but replica %s still hears it: unreachable, not dead; no failover", master, hr))
			return d
		}
		// Measured on this member's clock from its apply of the promotion,
		// not from LastPromotionAt (the leader's wall clock, shown only):
		// a wall-clock jump neither shortens nor stretches the window.
		if left := g.BlockedFor(p.BlockAfter, in.Now); left > 0 {
			refuse(fmt.Sprintf("master %s is down but the last failover was at %s: blocked until %s (anti-flapping window)",
				master, g.LastPromotionAt.UTC().Format(time.RFC3339), in.Now.Add(left).UTC().Format(time.RFC3339)))
			return d
		}
		d.Actions = append(d.Actions, failover(g, view, fresh, p, in, master, raftstore.CauseODown, fmt.Sprintf(
			"master %s objectively down (%d of %d members vote down, strategy %s)", master, mv.VotesDown, p.Members, p.NodeStrategy)))
		return d
	}

	if mv.hasObs && mv.obs.Role == RoleMaster && g.MasterRunID != "" && mv.obs.RunID != "" && mv.obs.RunID != g.MasterRunID {
		if r, ahead := replicaAhead(view, master, mv.obs.Offset); ahead {
			d.Actions = append(d.Actions, failover(g, view, fresh, p, in, master, raftstore.CauseEmptyRestart, fmt.Sprintf(
				"master %s restarted empty (run id %s, was %s; offset %d behind replica %s): failing over instead of resyncing from it",
				master, short(mv.obs.RunID), short(g.MasterRunID), mv.obs.Offset, r)))
			return d
		}
	}

	if !upByMajority(*mv, len(fresh)) || !mv.hasObs || mv.obs.Role != RoleMaster {
		return d
	}
	for _, n := range view.Nodes {
		// A node that claims master is demoted the moment any watchdog
		// reaches it: the sooner, the fewer writes it takes next to the
		// real master. A stray replica waits for a majority.
		if n.Addr == master || !n.hasObs || in.inMaintenance(n.Addr) {
			continue
		}
		if n.obs.Role != RoleMaster && !upByMajority(n, len(fresh)) {
			continue
		}
		switch {
		case n.obs.Role == RoleMaster:
			d.Actions = append(d.Actions, Action{Kind: ActReattach, Group: g.Name, Node: n.Addr, Master: master,
				Reason: "node claims master but the group's master is " + master})
		case n.obs.Role == RoleReplica && n.obs.MasterAddr != master:
			d.Actions = append(d.Actions, Action{Kind: ActReattach, Group: g.Name, Node: n.Addr, Master: master,
				Reason: "replica follows " + n.obs.MasterAddr + " instead of " + master})
		}
	}
	var fa []Action
	d.Fence, fa = decideFence(in, view, master, len(fresh))
	d.Actions = append(d.Actions, fa...)
	return d
}

// decideFence keeps the write fence of a healthy master: on while a
// replica is up by the watchdogs' vote and attached (link up); lifted,
// unless the mode is strict, once every replica has been down by the vote
// (no failover is possible then) for down_after. In between it asks for
// nothing: the fence stays as it is.
func decideFence(in Input, v GroupView, master string, fresh int) (FenceState, []Action) {
	st := FenceState{Master: master}
	if in.FenceMode == "" || in.FenceMode == config.FenceOff {
		return st, nil
	}
	for _, n := range v.Nodes {
		if n.Addr != master && n.hasObs && upByMajority(n, fresh) && n.obs.Role == RoleReplica && n.obs.MasterAddr == master && n.obs.LinkUp {
			return st, []Action{{Kind: ActFence, Group: in.Group.Name, Node: master, MaxLag: in.Params.FenceMaxLag,
				Reason: "replica " + n.Addr + " is attached"}}
		}
	}
	for _, n := range v.Nodes {
		// Every replica must be down by the watchdogs' vote: one that
		// answers (resyncing, following another node) or that is only
		// failing its first probes may be back any moment.
		if n.Addr != master && (upByMajority(n, fresh) || n.VotesDown == 0) {
			return st, nil
		}
	}
	st.ReplicasLostAt = in.Now
	if in.Fence.Master == master && !in.Fence.ReplicasLostAt.IsZero() && !in.Fence.ReplicasLostAt.After(in.Now) {
		st.ReplicasLostAt = in.Fence.ReplicasLostAt
	}
	gone := in.Now.Sub(st.ReplicasLostAt)
	if gone < in.Params.DownAfter {
		return st, nil
	}
	if in.FenceMode == config.FenceStrict {
		// No duration in the note: it is logged each time it changes.
		return st, []Action{{Kind: ActNote, Group: in.Group.Name, Reason: fmt.Sprintf(
			"every replica of %s down: fence kept (mode strict); the master refuses writes until a replica is back", master)}}
	}
	return st, []Action{{Kind: ActUnfence, Group: in.Group.Name, Node: master, Reason: fmt.Sprintf(
		"every replica of %s down for %s, no failover possible: fence lifted so that the lone master takes writes",
		master, gone.Round(time.Millisecond))}}
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// aggregate counts the votes of the fresh reports per node. A view taken
// before since (the group's last recorded change) is not counted: it may
// show the topology before a failover.
func aggregate(p Params, nodes []string, fresh []Report, since time.Time) GroupView {
	v := GroupView{}
	for _, r := range fresh {
		v.Reporters = append(v.Reporters, r.From)
	}
	for _, addr := range nodes {
		n := NodeView{Addr: addr, Role: RoleUnknown, Health: HealthUnknown}
		for _, r := range fresh {
			o, ok := r.Obs[addr]
			if !ok || !o.Known || r.ReceivedAt.Add(-time.Duration(o.AgeMs)*time.Millisecond).Before(since) {
				continue
			}
			switch {
			case o.Up:
				n.VotesUp++
				if !n.hasObs || better(o, n.obs) {
					n.obs, n.hasObs = o, true
				}
			case o.Down && !r.Tilt:
				n.VotesDown++
			default:
				n.failing = true
			}
		}
		if n.hasObs {
			n.Role, n.Offset, n.LatencyMs = n.obs.Role, n.obs.Offset, n.obs.LatencyMs
			n.MasterOf, n.LinkUp, n.RunID = n.obs.MasterAddr, n.obs.LinkUp, n.obs.RunID
		}
		switch {
		case odown(p, n.VotesDown, len(fresh)):
			n.Health = HealthODown
		case n.VotesDown > 0:
			n.Health = HealthSDown
		case n.VotesUp > 0:
			n.Health = HealthUp
		}
		v.Nodes = append(v.Nodes, n)
	}
	return v
}

// better prefers the observation with the larger offset, then the lower
// latency: among up reports of the same node, the most advanced view.
func better(a, b Obs) bool {
	if a.Offset != b.Offset {
		return a.Offset > b.Offset
	}
	return a.LatencyMs < b.LatencyMs
}

func odown(p Params, down, fresh int) bool {
	if fresh < p.Required || down == 0 {
		return false
	}
	switch p.NodeStrategy {
	case config.StrategyConsensus:
		return down == fresh
	case config.StrategySingle:
		return down >= 1
	default:
		return down*2 > p.Members
	}
}

func upByMajority(n NodeView, fresh int) bool { return n.VotesUp*2 > fresh }

// heardBy names a replica that still hears the master over replication
// (link up, recent I/O), or "".
func heardBy(v GroupView, master string, p Params) string {
	limit := int(p.DownAfter / time.Second)
	if limit < 1 {
		limit = 1
	}
	for _, n := range v.Nodes {
		if n.Addr == master || !n.hasObs || n.obs.Role != RoleReplica || n.obs.MasterAddr != master {
			continue
		}
		if n.obs.LinkUp && n.obs.LastIOSec >= 0 && n.obs.LastIOSec < limit {
			return n.Addr
		}
	}
	return ""
}

// skippedUnseen is the ranking's reason for a node no majority saw up in
// fresh views: the next reports may change it.
const skippedUnseen = "not seen up by a majority of watchdogs"

// anyMaster reports whether a live node says it is a master.
func anyMaster(v GroupView) bool {
	for _, n := range v.Nodes {
		if n.hasObs && n.obs.Role == RoleMaster {
			return true
		}
	}
	return false
}

func replicaAhead(v GroupView, master string, masterOffset int64) (string, bool) {
	for _, n := range v.Nodes {
		if n.Addr != master && n.hasObs && n.obs.Role == RoleReplica && n.obs.Offset > masterOffset {
			return n.Addr, true
		}
	}
	return "", false
}

// discover names the master from the live nodes: the single node that says
// master, or, when none is up, the node every live replica follows.
func discover(g raftstore.Group, v *GroupView) (Action, bool) {
	var masters []string
	followed := map[string]int{}
	up := 0
	for _, n := range v.Nodes {
		if !n.hasObs {
			continue
		}
		up++
		switch n.obs.Role {
		case RoleMaster:
			masters = append(masters, n.Addr)
		case RoleReplica:
			followed[n.obs.MasterAddr]++
		}
	}
	amb := func(reason string) (Action, bool) {
		return Action{Kind: ActAmbiguous, Group: g.Name, Reason: reason}, false
	}
	isNode := func(a string) bool {
		for _, n := range g.Nodes {
			if n == a {
				return true
			}
		}
		return false
	}
	var m, why string
	switch {
	case up == 0:
		return amb("no node of the group answers")
	case len(masters) > 1:
		return amb("several nodes claim master: " + strings.Join(masters, ", "))
	case len(masters) == 1:
		m = masters[0]
		for f := range followed {
			if f != m {
				return amb(fmt.Sprintf("%s is the only master but a replica follows %s", m, f))
			}
		}
		why = "the only node that reports role master"
	default:
		if len(followed) != 1 {
			var fs []string
			for f := range followed {
				fs = append(fs, f)
			}
			sort.Strings(fs)
			return amb("no node reports role master and replicas follow " + strings.Join(fs, ", "))
		}
		for f := range followed {
			m = f
		}
		if !isNode(m) {
			return amb("no node reports role master and the replicas follow " + m + ", which is not a node of the group")
		}
		why = "no live master; every live replica follows it"
	}
	epoch := g.Epoch
	kind := ActDiscover
	switch {
	case g.Master == m && g.Status == raftstore.StatusOK:
		kind = ActTrust
		why = "recorded master confirmed by the live nodes"
	case g.Master != "" && g.Master != m:
		epoch++
		why = "live nodes disagree with the recorded master " + g.Master + ": " + why
	}
	runID := ""
	if n := v.node(m); n != nil && n.hasObs {
		runID = n.obs.RunID
	}
	return Action{Kind: kind, Group: g.Name, Master: m, Epoch: epoch, RunID: runID, Reason: why}, true
}

// failover ranks the replicas and names the best one, or returns a note when
// none can be promoted.
func failover(g raftstore.Group, v GroupView, fresh []Report, p Params, in Input, master, cause, reason string) Action {
	ranking := Rank(v, master, p, len(fresh), in.inMaintenance)
	votes := map[string]string{}
	for _, r := range fresh {
		o, ok := r.Obs[master]
		switch {
		case !ok || !o.Known:
			votes[r.From] = "unknown"
		case o.Up:
			votes[r.From] = "up"
		case o.Down && r.Tilt:
			votes[r.From] = "tilt"
		case o.Down:
			votes[r.From] = "down"
		default:
			votes[r.From] = "failing"
		}
	}
	fence := false
	for _, r := range fresh {
		if o, ok := r.Obs[master]; ok && o.Up {
			fence = true
		}
	}
	if len(ranking) == 0 || ranking[0].Skipped != "" {
		return Action{Kind: ActNote, Group: g.Name, Reason: reason + "; no replica can be promoted", Ranking: ranking, Votes: votes, Refusal: true}
	}
	return Action{
		Kind: ActFailover, Group: g.Name, From: master, To: ranking[0].Addr, Epoch: g.Epoch + 1,
		Reason: reason, Fence: fence, Votes: votes, Ranking: ranking, Cause: cause,
	}
}

// Rank orders the replicas of master for promotion: eligible first; then
// lower replica-priority (as Redis: lower is preferred, 0 never), larger
// offset (or lower latency first with strategy latency), lower latency,
// address.
func Rank(v GroupView, master string, p Params, fresh int, inMaintenance func(string) bool) []raftstore.Candidate {
	maxLinkDown := int((p.DownAfter * 10) / time.Second)
	var out []raftstore.Candidate
	for _, n := range v.Nodes {
		if n.Addr == master {
			continue
		}
		c := raftstore.Candidate{Addr: n.Addr}
		switch {
		case !n.hasObs || !upByMajority(n, fresh):
			c.Skipped = skippedUnseen
		case n.obs.Role != RoleReplica:
			c.Skipped = "role " + n.obs.Role + ", not a replica"
		case n.obs.MasterAddr != master:
			c.Skipped = "follows " + n.obs.MasterAddr + ", not " + master
		case n.obs.Priority == 0:
			c.Skipped = "replica-priority 0"
		case inMaintenance != nil && inMaintenance(n.Addr):
			c.Skipped = "in maintenance"
		case maxLinkDown > 0 && n.obs.LinkDownSec > maxLinkDown:
			c.Skipped = fmt.Sprintf("link to master down for %ds (> 10 × down_after)", n.obs.LinkDownSec)
		}
		if n.hasObs {
			c.Priority, c.Offset, c.LatencyMs = n.obs.Priority, n.obs.Offset, n.obs.LatencyMs
		}
		out = append(out, c)
	}
	latencyFirst := p.FailoverStrategy == config.FailoverLatency
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if (a.Skipped == "") != (b.Skipped == "") {
			return a.Skipped == ""
		}
		if a.Priority != b.Priority {
			return a.Priority < b.Priority
		}
		if latencyFirst && a.LatencyMs != b.LatencyMs {
			return a.LatencyMs < b.LatencyMs
		}
		if a.Offset != b.Offset {
			return a.Offset > b.Offset
		}
		if a.LatencyMs != b.LatencyMs {
			return a.LatencyMs < b.LatencyMs
		}
		return a.Addr < b.Addr
	})
	return out
}

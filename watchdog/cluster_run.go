package watchdog

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"warden/cluster"
	"warden/raftstore"
)

// clusterTargets lists every known node of every cluster: configured and
// replicated seeds, and the nodes the probes discovered.
func (s *Service) clusterTargets() map[string]string {
	out := map[string]string{}
	for _, c := range s.cfg.Clusters {
		for _, a := range c.Seeds {
			out[a] = c.Name
		}
	}
	for _, c := range s.fsm.Clusters() {
		for _, a := range c.Seeds {
			out[a] = c.Name
		}
		for _, sh := range c.Shards {
			out[sh.MasterAddr] = c.Name
			for _, r := range sh.Replicas {
				if _, addr, ok := strings.Cut(r, "@"); ok {
					out[addr] = c.Name
				}
			}
		}
	}
	s.mu.Lock()
	for name, addrs := range s.discovered {
		for a := range addrs {
			out[a] = name
		}
	}
	s.mu.Unlock()
	// Nodes an operation removed are left alone.
	for _, c := range s.fsm.Clusters() {
		for _, a := range c.Removed {
			if out[a] == c.Name {
				delete(out, a)
			}
		}
	}
	return out
}

// forgetDiscovered drops removed nodes from the discovered set.
func (s *Service) forgetDiscovered(name string, addrs []string) {
	s.mu.Lock()
	for _, a := range addrs {
		delete(s.discovered[name], a)
	}
	s.mu.Unlock()
	s.refreshNodes(context.Background())
}

// discover adds the nodes a cluster node's view names to the probed set,
// and drops a discovered address no view has named for discoveredFor: a
// node that came back at a new address (a pod with a new IP, same node id)
// is followed there, and its old address stops being probed.
func (s *Service) discover(ctx context.Context, r Report) {
	targets := s.clusterTargets()
	changed := false
	now := time.Now()
	for addr, o := range r.Obs {
		name, ok := targets[addr]
		if !ok || o.Cluster == nil || !o.Up {
			continue
		}
		nodes, err := cluster.ParseNodes(o.Cluster.Nodes)
		if err != nil {
			continue
		}
		s.mu.Lock()
		if s.discovered[name] == nil {
			s.discovered[name] = map[string]time.Time{}
		}
		for _, n := range nodes {
			if n.Addr == "" || n.Flags.NoAddr || n.Flags.Handshake || n.Port == 0 {
				continue
			}
			_, seen := s.discovered[name][n.Addr]
			if _, known := targets[n.Addr]; !known && !seen {
				changed = true
			}
			s.discovered[name][n.Addr] = now
		}
		s.mu.Unlock()
	}
	forget := max(discoveredFor, 20*s.cfg.Detection.ProbeInterval.D())
	s.mu.Lock()
	for _, addrs := range s.discovered {
		for a, at := range addrs {
			if now.Sub(at) > forget {
				delete(addrs, a)
				changed = true
			}
		}
	}
	s.mu.Unlock()
	if changed {
		s.refreshNodes(ctx)
	}
}

// discoveredFor is how long a discovered node address is probed after the
// last view that named it.
const discoveredFor = 30 * time.Second

// ensureClusters records the configured clusters the first time.
func (s *Service) ensureClusters(ctx context.Context) error {
	if s.fsm.ClustersSeeded() {
		return nil
	}
	var specs []raftstore.ClusterSpec
	for _, c := range s.cfg.Clusters {
		specs = append(specs, raftstore.ClusterSpec{Name: c.Name, Seeds: c.Seeds})
	}
	return s.node.Apply(ctx, &raftstore.ClustersEnsure{Clusters: specs, At: time.Now()})
}

// clusterTracker is the leader's memory between cluster decisions.
type clusterTracker struct {
	downSince  map[string]time.Time // address → first seen objectively down
	straySince map[string]time.Time // address → first seen a master without slots
	condSince  map[string]time.Time // cluster|condition → first seen
	condSent   map[string]bool      // cluster|condition → event emitted
	cooldown   map[string]time.Time // address → no action before
}

func newClusterTracker() *clusterTracker {
	return &clusterTracker{downSince: map[string]time.Time{}, straySince: map[string]time.Time{},
		condSince: map[string]time.Time{}, condSent: map[string]bool{}, cooldown: map[string]time.Time{}}
}

// update notes the down and stray nodes of a fresh view.
func (t *clusterTracker) update(v ClusterView, now time.Time) {
	down, stray := map[string]bool{}, map[string]bool{}
	for _, n := range v.Nodes {
		if n.Health == HealthODown {
			down[n.Addr] = true
			if _, ok := t.downSince[n.Addr]; !ok {
				t.downSince[n.Addr] = now
			}
		}
		if n.Role == RoleMaster && n.Slots == "" && n.Health == HealthUp {
			stray[n.Addr] = true
			if _, ok := t.straySince[n.Addr]; !ok {
				t.straySince[n.Addr] = now
			}
		}
	}
	for a := range t.downSince {
		if !down[a] {
			delete(t.downSince, a)
		}
	}
	for a := range t.straySince {
		if !stray[a] {
			delete(t.straySince, a)
		}
	}
}

// conditions turns the view's standing problems into events, each once,
// after it has lasted bound.
func (t *clusterTracker) conditions(v ClusterView, now time.Time, bound time.Duration) []raftstore.Event {
	cur := map[string]raftstore.Event{}
	add := func(kind, sev, key, msg string) {
		cur[v.Cluster+"|"+kind+"|"+key] = raftstore.Event{Kind: kind, Severity: sev, Group: v.Cluster, Message: msg}
	}
	if v.Uncovered != "" {
		add(raftstore.EvClusterSlotsUncovered, raftstore.SeverityCritical, v.Uncovered, "slots served by no master: "+v.Uncovered)
	}
	for _, o := range v.OpenSlots {
		add(raftstore.EvClusterSlotOpen, raftstore.SeverityWarning, o, "slot left open (migrating/importing): "+o)
	}
	for _, m := range v.NoReplica {
		add(raftstore.EvClusterNoReplica, raftstore.SeverityWarning, m, "master "+m+" has no working replica")
	}
	for _, c := range v.Conflicts {
		add(raftstore.EvClusterConflict, raftstore.SeverityCritical, c, c)
	}
	for _, d := range v.Disagreements {
		add(raftstore.EvClusterDisagreement, raftstore.SeverityWarning, d, "nodes disagree: "+d)
	}
	var out []raftstore.Event
	keys := make([]string, 0, len(cur))
	for k := range cur {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		since, ok := t.condSince[k]
		if !ok {
			t.condSince[k] = now
			since = now
		}
		if !t.condSent[k] && now.Sub(since) >= bound {
			t.condSent[k] = true
			out = append(out, cur[k])
		}
	}
	for k := range t.condSince {
		if _, ok := cur[k]; !ok && strings.HasPrefix(k, v.Cluster+"|") {
			delete(t.condSince, k)
			delete(t.condSent, k)
		}
	}
	return out
}

// reconcileClusters decides and acts for every cluster (leader only).
func (s *Service) reconcileClusters(ctx context.Context, wg *sync.WaitGroup, t *clusterTracker, reports []Report, params Params) {
	now := time.Now()
	targets := s.clusterTargets()
	views := map[string]ClusterView{}
	s.mu.Lock()
	prev := s.clusterViews
	s.mu.Unlock()
	for _, c := range s.fsm.Clusters() {
		var addrs []string
		for a, name := range targets {
			if name == c.Name {
				addrs = append(addrs, a)
			}
		}
		v, acts := DecideCluster(ClusterInput{Now: now, Params: params, Cluster: c, Reports: reports, Addrs: addrs,
			DownSince: t.downSince, StraySince: t.straySince})
		if len(v.Nodes) == 0 {
			// No view taken after the last recorded change yet (or none at
			// all): keep showing the previous one for a few intervals and
			// teach the tracker nothing.
			if pv, ok := prev[c.Name]; ok && now.Sub(pv.At) < 5*params.ProbeInterval {
				views[c.Name] = pv
			} else {
				views[c.Name] = v
			}
			for _, a := range acts {
				if a.Kind == ClActNote {
					s.executeCluster(ctx, wg, t, a)
				}
			}
			continue
		}
		v.At = now
		t.update(v, now)
		views[c.Name] = v
		bound := 2 * time.Duration(v.NodeTimeoutMs) * time.Millisecond
		if bound < s.cfg.Detection.DownAfter.D() {
			bound = s.cfg.Detection.DownAfter.D()
		}
		_, opRunning := s.fsm.RunningOperation(c.Name)
		if opRunning {
			// A topology operation opens slots and adds masters without
			// slots on purpose: no condition events, no re-attaching.
			kept := acts[:0:0]
			for _, a := range acts {
				if a.Kind != ClActReplicate && a.Kind != ClActReattach {
					kept = append(kept, a)
				}
			}
			acts = kept
		}
		if evs := t.conditions(v, now, bound); len(evs) > 0 && !opRunning {
			if err := s.node.Apply(ctx, &raftstore.Events{Events: evs, Keep: s.cfg.Events.Retention, At: now}); err != nil {
				s.log.Warn("record cluster conditions", zap.Error(err))
			}
		}
		for _, a := range acts {
			s.executeCluster(ctx, wg, t, a)
		}
	}
	s.mu.Lock()
	s.clusterViews = views
	s.mu.Unlock()
}

func (s *Service) executeCluster(ctx context.Context, wg *sync.WaitGroup, t *clusterTracker, a ClusterAction) {
	lg := s.log.With(zap.String("cluster", a.Cluster))
	switch a.Kind {
	case ClActNote:
		s.note(ctx, Action{Group: "cluster " + a.Cluster, Reason: a.Reason, Quiet: strings.Contains(a.Reason, "has until")})
	case ClActShards:
		if err := s.node.Apply(ctx, &raftstore.ClusterShards{Cluster: a.Cluster, Shards: a.Shards, Observed: a.Observed, At: time.Now()}); err != nil {
			lg.Warn("record the shard map", zap.Error(err))
		} else if a.Observed != "" {
			lg.Warn("the cluster failed over by itself", zap.String("what", a.Observed))
		}
	case ClActFailover:
		s.mu.Lock()
		busy := s.busy["cluster/"+a.Cluster]
		if !busy {
			s.busy["cluster/"+a.Cluster] = true
		}
		s.mu.Unlock()
		if busy {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.busy, "cluster/"+a.Cluster)
				s.mu.Unlock()
			}()
			s.runClusterFailover(ctx, a, "")
		}()
	case ClActReplicate, ClActReattach:
		if until, ok := t.cooldown[a.Node]; ok && time.Now().Before(until) {
			return
		}
		t.cooldown[a.Node] = time.Now().Add(2 * s.cfg.Detection.DownAfter.D())
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.reattachClusterNode(ctx, a)
		}()
	}
}

// runClusterFailover forces a shard's failover and verifies, through
// several nodes' views, that the replica serves the slots.
func (s *Service) runClusterFailover(ctx context.Context, a ClusterAction, by string) {
	lg := s.log.With(zap.String("cluster", a.Cluster), zap.String("mode", a.Mode))
	if err := s.node.VerifyLeader(); err != nil {
		return
	}
	fo := raftstore.ClusterFailover{Mode: a.Mode, ShardMaster: a.FromID, From: a.From, To: a.To, ToID: a.ToID, Reason: a.Reason, RequestedBy: by, Leader: s.cfg.ID}
	if err := s.node.Apply(ctx, &raftstore.ClusterFailoverBegin{Cluster: a.Cluster, Failover: fo, At: time.Now()}); err != nil {
		lg.Error("record cluster failover begin", zap.Error(err))
		return
	}
	c, _ := s.fsm.Cluster(a.Cluster)
	id := c.Failover.ID
	lg.Warn("forcing a cluster failover", zap.String("from", a.From), zap.String("to", a.To), zap.String("reason", a.Reason))
	var steps []raftstore.Step
	step := func(name, node string, fn func() error) error { return timeStep(&steps, name, node, fn) }
	end := func(ok bool, err error) {
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		if aerr := s.node.Apply(ctx, &raftstore.ClusterFailoverEnd{Cluster: a.Cluster, ID: id, OK: ok, Error: msg, Steps: steps, At: time.Now()}); aerr != nil {
			lg.Error("record cluster failover end", zap.Error(aerr))
		}
		if ok {
			lg.Info("cluster failover completed", zap.String("to", a.To))
		} else {
			lg.Error("cluster failover failed", zap.String("error", msg))
		}
	}
	if err := s.node.VerifyLeader(); err != nil {
		return
	}
	if err := step("cluster-failover-"+a.Mode, a.To, func() error { return s.act.ClusterFailover(ctx, a.To, a.Mode) }); err != nil {
		end(false, err)
		return
	}
	wctx, cancel := context.WithTimeout(ctx, s.cfg.Failover.Timeout.D())
	defer cancel()
	err := step("verify", a.To, func() error { return s.waitServes(wctx, a.Cluster, a.ToID) })
	end(err == nil, err)
}

// waitServes polls CLUSTER NODES on several reachable nodes until a
// majority of them name id a master serving slots.
func (s *Service) waitServes(ctx context.Context, name, id string) error {
	var last string
	for {
		var asked, agree int
		for a, c := range s.clusterTargets() {
			if c != name {
				continue
			}
			text, err := s.act.ClusterNodes(ctx, a)
			if err != nil {
				continue
			}
			nodes, err := cluster.ParseNodes(text)
			if err != nil {
				continue
			}
			asked++
			for _, n := range nodes {
				if n.ID == id && n.Flags.Master && len(n.Slots) > 0 {
					agree++
				}
			}
		}
		if asked > 0 && agree*2 > asked {
			return nil
		}
		last = fmt.Sprintf("%d of %d reachable nodes say %s serves slots", agree, asked, short(id))
		select {
		case <-ctx.Done():
			return fmt.Errorf("the promoted replica does not serve the slots in every view yet (%s): %w", last, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// reattachClusterNode makes a stray master a replica of its shard's
// master; a node that knows nobody is met first.
func (s *Service) reattachClusterNode(ctx context.Context, a ClusterAction) {
	lg := s.log.With(zap.String("cluster", a.Cluster), zap.String("redis-addr", a.Node))
	if err := s.node.VerifyLeader(); err != nil {
		return
	}
	if a.Kind == ClActReattach {
		if err := s.act.ClusterMeet(ctx, a.Node, a.Via); err != nil {
			lg.Warn("cluster meet failed", zap.Error(err))
			return
		}
		// The node must know the master before it can replicate it.
		deadline := time.Now().Add(s.cfg.Failover.Timeout.D())
		for {
			text, err := s.act.ClusterNodes(ctx, a.Node)
			if err == nil && strings.Contains(text, a.MasterID) {
				break
			}
			if time.Now().After(deadline) {
				lg.Warn("the met node did not learn its master in time")
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	if err := s.act.ClusterReplicate(ctx, a.Node, a.MasterID); err != nil {
		lg.Warn("cluster replicate failed", zap.Error(err))
		return
	}
	lg.Info("cluster node re-attached", zap.String("reason", a.Reason))
	ev := raftstore.Event{Kind: raftstore.EvClusterNodeReattached, Group: a.Cluster, Node: a.Node, Message: a.Reason}
	if err := s.node.Apply(ctx, &raftstore.Events{Events: []raftstore.Event{ev}, At: time.Now()}); err != nil {
		lg.Warn("record cluster re-attach", zap.Error(err))
	}
}

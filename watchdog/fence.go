package watchdog

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"warden/raftstore"
)

// fenceRecheck is how long the leader trusts what it last read or set of
// a master's fence before it reads it again (CONFIG GET); a change of the
// wanted fence is acted on at once.
const fenceRecheck = 5 * time.Second

// fenceSeen is a master's fence as the leader last read or set it.
type fenceSeen struct {
	minReplicas, maxLag int
	at                  time.Time
}

// wants reports whether the fence seen satisfies action a.
func (f fenceSeen) wants(a Action) bool {
	if a.Kind == ActUnfence {
		return f.minReplicas == 0
	}
	return f.minReplicas == 1 && f.maxLag == a.MaxLag
}

// fence carries out an ActFence or ActUnfence in the background: CONFIG
// GET first, CONFIG SET only when the node's fence differs (after
// verifying leadership), and an event for each change.
func (s *Service) fence(ctx context.Context, wg *sync.WaitGroup, a Action) {
	now := time.Now()
	s.mu.Lock()
	seen, ok := s.fences[a.Node]
	if s.fencing[a.Node] || (ok && seen.wants(a) && now.Sub(seen.at) < fenceRecheck) {
		s.mu.Unlock()
		return
	}
	s.fencing[a.Node] = true
	s.mu.Unlock()
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer func() {
			s.mu.Lock()
			delete(s.fencing, a.Node)
			s.mu.Unlock()
		}()
		s.applyFence(ctx, a)
	}()
}

func (s *Service) applyFence(ctx context.Context, a Action) {
	lg := s.log.With(zap.String("group", a.Group), zap.String("redis-addr", a.Node))
	remember := func(minReplicas, maxLag int) {
		s.mu.Lock()
		s.fences[a.Node] = fenceSeen{minReplicas: minReplicas, maxLag: maxLag, at: time.Now()}
		s.mu.Unlock()
	}
	cur, lag, err := s.act.Fence(ctx, a.Node)
	if err != nil {
		lg.Warn("cannot read the master's write fence", zap.Error(err))
		return
	}
	was := fenceSeen{minReplicas: cur, maxLag: lag}
	if was.wants(a) {
		remember(cur, lag)
		return
	}
	to, newLag := 1, a.MaxLag
	if a.Kind == ActUnfence {
		to, newLag = 0, lag
	} else if cur == 0 && !s.freshReplica(ctx, a.Node, a.MaxLag) {
		// The replicas' views say attached, but the master has not had a
		// recent acknowledgement from any: fencing now would refuse
		// writes until one arrives. The next reconcile tries again.
		return
	}
	if err := s.node.VerifyLeader(); err != nil {
		lg.Warn("not changing the write fence: leadership not verified", zap.Error(err))
		return
	}
	setLag := newLag
	if a.Kind == ActUnfence {
		setLag = 0 // leave the lag alone
	}
	if err := s.act.SetFence(ctx, a.Node, to, setLag); err != nil {
		lg.Warn("cannot set the master's write fence", zap.Error(err))
		return
	}
	remember(to, newLag)
	ev := raftstore.Event{
		Kind: raftstore.EvFenceApplied, Severity: raftstore.SeverityInfo, Group: a.Group, Node: a.Node,
		Message: fmt.Sprintf("write fence on %s: min-replicas-to-write 1, min-replicas-max-lag %ds (was %d, %ds): %s", a.Node, newLag, cur, lag, a.Reason),
		Details: map[string]string{
			"min_replicas_to_write": "1", "min_replicas_max_lag": fmt.Sprint(newLag),
			"previous_min_replicas_to_write": fmt.Sprint(cur), "previous_min_replicas_max_lag": fmt.Sprint(lag), "reason": a.Reason,
		},
	}
	if a.Kind == ActUnfence {
		ev.Kind, ev.Severity = raftstore.EvFenceLifted, raftstore.SeverityCritical
		ev.Message = fmt.Sprintf("write fence on %s lifted: min-replicas-to-write 0 (was %d): %s", a.Node, cur, a.Reason)
		ev.Details["min_replicas_to_write"], ev.Details["min_replicas_max_lag"] = "0", fmt.Sprint(lag)
	}
	if g, ok := s.fsm.Group(a.Group); ok {
		ev.Epoch = g.Epoch
	}
	lg.Warn(ev.Kind, zap.String("reason", a.Reason), zap.Int("min-replicas-to-write", to), zap.Int("min-replicas-max-lag", newLag))
	if err := s.node.Apply(ctx, &raftstore.Events{Events: []raftstore.Event{ev}, Keep: s.cfg.Events.Retention, At: time.Now()}); err != nil {
		lg.Warn("record the write fence change", zap.Error(err))
	}
}

// divergence measures, before a node that claims master is demoted, how
// much it took that the group's master never saw: its master_repl_offset
// minus the offset at which the master's history parted from it. That
// point is second_repl_offset - 1 when the master's master_replid2 is the
// node's replication id (the master was promoted from the node's
// history), else the promoted replica's last known offset from the
// failover's ranking. The bytes counted are replication stream (writes,
// plus a few bytes of PINGs and SELECTs). It returns the event's details
// and a phrase for the audit message; nothing when the node is no master.
func (s *Service) divergence(ctx context.Context, a Action) (map[string]string, string) {
	old, err := s.act.Replication(ctx, a.Node)
	if err != nil || old["role"] != "master" {
		return nil, ""
	}
	oldOff, err := strconv.ParseInt(old["master_repl_offset"], 10, 64)
	if err != nil {
		return nil, ""
	}
	d := map[string]string{"old_master_offset": fmt.Sprint(oldOff), "old_master_replid": old["master_replid"], "master": a.Master}
	base, method := int64(-1), ""
	if nm, err := s.act.Replication(ctx, a.Master); err == nil && nm["master_replid2"] != "" && nm["master_replid2"] == old["master_replid"] {
		if so, err := strconv.ParseInt(nm["second_repl_offset"], 10, 64); err == nil && so > 0 {
			base, method = so-1, "second_repl_offset"
		}
	}
	if base < 0 {
		if g, ok := s.fsm.Group(a.Group); ok && g.LastFailover != nil && g.LastFailover.From == a.Node {
			for _, c := range g.LastFailover.Ranking {
				if c.Addr == g.LastFailover.To {
					base, method = c.Offset, "ranking"
				}
			}
		}
	}
	if base < 0 {
		d["offset_method"] = "unknown"
		return d, fmt.Sprintf("; it was at offset %d, the master's divergence point is unknown", oldOff)
	}
	diff := max(oldOff-base, 0)
	d["promoted_at_offset"], d["offset_method"] = fmt.Sprint(base), method
	d["writes_while_isolated_bytes"] = fmt.Sprint(diff)
	return d, fmt.Sprintf("; it had taken %d bytes of writes the master never received (offset %d, master parted at %d)", diff, oldOff, base)
}

// freshReplica reports whether master counts a replica online whose last
// acknowledgement is younger than maxLag seconds.
func (s *Service) freshReplica(ctx context.Context, master string, maxLag int) bool {
	info, err := s.act.Replication(ctx, master)
	return err == nil && replicaAcked(info, maxLag)
}

// replicaAcked reads INFO replication's slaveN lines
// (ip=...,port=...,state=online,offset=...,lag=0): is one replica online
// with a lag below maxLag seconds?
func replicaAcked(info map[string]string, maxLag int) bool {
	for k, v := range info {
		if _, err := strconv.Atoi(strings.TrimPrefix(k, "slave")); !strings.HasPrefix(k, "slave") || err != nil {
			continue
		}
		f := map[string]string{}
		for _, kv := range strings.Split(v, ",") {
			if a, b, ok := strings.Cut(kv, "="); ok {
				f[a] = b
			}
		}
		if lag, err := strconv.Atoi(f["lag"]); err == nil && f["state"] == "online" && lag < maxLag {
			return true
		}
	}
	return false
}

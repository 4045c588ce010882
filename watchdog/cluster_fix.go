package watchdog

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"

	"warden/actions"
	"warden/cluster"
	"warden/raftstore"
)

// FixReport is the answer of POST /v1/clusters/{name}/fix.
type FixReport struct {
	Cluster   string   `json:"cluster"`
	Closed    []string `json:"closed_slots"`
	Covered   []string `json:"covered_slots"`
	MovedKeys int      `json:"moved_keys"`
}

// postClusterFix closes open slots and covers uncovered ones, the way an
// operator would with redis-cli's fix, and records what it did. It is only
// ever run on request.
func (s *Service) postClusterFix(r *http.Request) (any, error) {
	name := r.PathValue("name")
	c, ok := s.fsm.Cluster(name)
	if !ok {
		return nil, fmt.Errorf("%w: cluster %q", ErrNotFound, name)
	}
	if c.Failover != nil {
		return nil, fmt.Errorf("%w: failover %s is running", ErrConflict, c.Failover.ID)
	}
	if o, ok := s.fsm.RunningOperation(name); ok {
		return nil, fmt.Errorf("%w: operation %s is running; it closes the slots it opens itself", ErrConflict, o.ID)
	}
	s.mu.Lock()
	busy := s.busy["cluster/"+name]
	if !busy {
		s.busy["cluster/"+name] = true
	}
	s.mu.Unlock()
	if busy {
		return nil, fmt.Errorf("%w: an operation on cluster %s is running", ErrConflict, name)
	}
	defer func() {
		s.mu.Lock()
		delete(s.busy, "cluster/"+name)
		s.mu.Unlock()
	}()
	if err := s.node.VerifyLeader(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*s.cfg.Failover.Timeout.D())
	defer cancel()
	rep, err := s.fixCluster(ctx, name)
	msg := fmt.Sprintf("fix: closed %d open slots, covered %d slot ranges, moved %d keys", len(rep.Closed), len(rep.Covered), rep.MovedKeys)
	if err != nil {
		msg += "; stopped: " + err.Error()
	}
	e := raftstore.Entry{Kind: "cluster_fix", Group: name, By: caller(r), Message: msg}
	if aerr := s.node.Apply(ctx, &raftstore.Record{Entry: e, At: time.Now()}); aerr != nil {
		s.log.Warn("record cluster fix", zap.Error(aerr))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrConflict, msg)
	}
	return rep, nil
}

func (s *Service) fixCluster(ctx context.Context, name string) (FixReport, error) {
	return s.repairCluster(ctx, name, true)
}

// closeOpenSlots finishes or closes every slot left migrating or
// importing (the first thing an operation resumed by a new leader does).
func (s *Service) closeOpenSlots(ctx context.Context, name string) (FixReport, error) {
	return s.repairCluster(ctx, name, false)
}

// repairCluster closes open slots and, when cover is set, covers
// uncovered ones.
func (s *Service) repairCluster(ctx context.Context, name string, cover bool) (FixReport, error) {
	rep := FixReport{Cluster: name, Closed: []string{}, Covered: []string{}}
	// Every reachable node's own view, read now.
	l, err := s.readLive(ctx, s.clusterAddrs(name))
	if err != nil {
		return rep, fmt.Errorf("cluster %s: %w", name, err)
	}
	topo, self := l.topo, l.self
	var masters []cluster.Node // reachable masters, by their own word
	for _, n := range self {
		if n.Flags.Master {
			masters = append(masters, n)
		}
	}
	sort.Slice(masters, func(i, j int) bool { return masters[i].Addr < masters[j].Addr })
	addrOf := func(id string) string {
		if n, ok := self[id]; ok {
			return n.Addr
		}
		return ""
	}
	setNode := func(slot int, id string) error {
		// The new owner first, then the old, then every other master.
		order := []string{addrOf(id)}
		for _, m := range masters {
			if m.ID != id {
				order = append(order, m.Addr)
			}
		}
		for _, a := range order {
			if a == "" {
				continue
			}
			if _, err := s.act.Do(ctx, a, "CLUSTER", "SETSLOT", slot, "NODE", id); err != nil {
				return err
			}
		}
		return nil
	}

	// Open slots.
	type openState struct{ migrating, importing *cluster.OpenSlot }
	open := map[int]*openState{}
	owners := map[int][2]string{} // slot → [migrating node id, importing node id]
	for _, n := range self {
		for _, o := range n.Migrating {
			o := o
			st := open[o.Slot]
			if st == nil {
				st = &openState{}
				open[o.Slot] = st
			}
			st.migrating = &o
			ow := owners[o.Slot]
			ow[0] = n.ID
			owners[o.Slot] = ow
		}
		for _, o := range n.Importing {
			o := o
			st := open[o.Slot]
			if st == nil {
				st = &openState{}
				open[o.Slot] = st
			}
			st.importing = &o
			ow := owners[o.Slot]
			ow[1] = n.ID
			owners[o.Slot] = ow
		}
	}
	slots := make([]int, 0, len(open))
	for sl := range open {
		slots = append(slots, sl)
	}
	sort.Ints(slots)
	for _, sl := range slots {
		ow := owners[sl]
		switch {
		case ow[0] != "" && ow[1] != "":
			// Finish the move: the keys left on the source go to the target.
			st, err := s.act.MigrateKeys(ctx, addrOf(ow[0]), addrOf(ow[1]), sl, actions.MigrateOptions{})
			rep.MovedKeys += int(st.Keys)
			if err != nil {
				return rep, err
			}
			if err := setNode(sl, ow[1]); err != nil {
				return rep, err
			}
			rep.Closed = append(rep.Closed, fmt.Sprintf("%d: migration %s -> %s finished", sl, addrOf(ow[0]), addrOf(ow[1])))
		case ow[0] != "":
			if _, err := s.act.Do(ctx, addrOf(ow[0]), "CLUSTER", "SETSLOT", sl, "STABLE"); err != nil {
				return rep, err
			}
			rep.Closed = append(rep.Closed, fmt.Sprintf("%d: migrating mark cleared on %s", sl, addrOf(ow[0])))
		default:
			imp := addrOf(ow[1])
			if owner, ok := topo.Owner(sl); ok && owner.Addr != imp {
				st, err := s.act.MigrateKeys(ctx, imp, owner.Addr, sl, actions.MigrateOptions{})
				rep.MovedKeys += int(st.Keys)
				if err != nil {
					return rep, err
				}
			}
			if _, err := s.act.Do(ctx, imp, "CLUSTER", "SETSLOT", sl, "STABLE"); err != nil {
				return rep, err
			}
			rep.Closed = append(rep.Closed, fmt.Sprintf("%d: importing mark cleared on %s", sl, imp))
		}
	}

	// Uncovered slots: to the one master holding their keys, or, when none
	// does, to the master with the fewest slots. Keys on several masters:
	// not guessed.
	if !cover {
		return rep, nil
	}
	uncovered := uncoveredSlots(topo, self)
	if len(uncovered) == 0 {
		return rep, nil
	}
	if len(masters) == 0 {
		return rep, fmt.Errorf("slots %s are uncovered and no master answers", cluster.FormatSlots(uncovered))
	}
	assign := map[string][]int{}
	var conflicts []string
	for _, rg := range uncovered {
		for sl := rg.Start; sl <= rg.End; sl++ {
			var holders []cluster.Node
			for _, m := range masters {
				v, err := s.act.Do(ctx, m.Addr, "CLUSTER", "COUNTKEYSINSLOT", sl)
				if err != nil {
					return rep, err
				}
				if n, _ := v.(int64); n > 0 {
					holders = append(holders, m)
				}
			}
			switch len(holders) {
			case 0:
				best := masters[0]
				for _, m := range masters[1:] {
					if cluster.CountSlots(m.Slots)+len(assign[m.ID]) < cluster.CountSlots(best.Slots)+len(assign[best.ID]) {
						best = m
					}
				}
				assign[best.ID] = append(assign[best.ID], sl)
			case 1:
				assign[holders[0].ID] = append(assign[holders[0].ID], sl)
			default:
				var hs []string
				for _, h := range holders {
					hs = append(hs, h.Addr)
				}
				conflicts = append(conflicts, fmt.Sprintf("%d (keys on %s)", sl, strings.Join(hs, ", ")))
			}
		}
	}
	ids := make([]string, 0, len(assign))
	for id := range assign {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		var ranges []cluster.SlotRange
		for _, sl := range assign[id] {
			ranges = append(ranges, cluster.SlotRange{Start: sl, End: sl})
		}
		ranges = cluster.MergeSlots(ranges)
		for _, rg := range ranges {
			if _, err := s.act.Do(ctx, addrOf(id), "CLUSTER", "ADDSLOTSRANGE", rg.Start, rg.End); err != nil {
				return rep, err
			}
		}
		if _, err := s.act.Do(ctx, addrOf(id), "CLUSTER", "BUMPEPOCH"); err != nil {
			return rep, err
		}
		rep.Covered = append(rep.Covered, fmt.Sprintf("%s -> %s", cluster.FormatSlots(ranges), addrOf(id)))
	}
	if len(conflicts) > 0 {
		return rep, fmt.Errorf("slots with keys on several masters were left uncovered: %s", strings.Join(conflicts, "; "))
	}
	return rep, nil
}

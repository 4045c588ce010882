package watchdog

import (
	"fmt"
	"sort"

	"warden/raftstore"
)

// eventTracker remembers, on the leader, what the last reconcile saw, so
// that only changes become events: a watchdog starting or stopping to call
// a node down, a node becoming objectively down. It starts silent: the
// first observation after gaining leadership sets the baseline.
type eventTracker struct {
	sdown map[string]bool // watchdog|node → subjectively down
	odown map[string]bool // group|node → objectively down
	init  map[string]bool // group → baseline taken
}

func newEventTracker() *eventTracker {
	return &eventTracker{sdown: map[string]bool{}, odown: map[string]bool{}, init: map[string]bool{}}
}

// observe compares a group's fresh reports and view with the last ones and
// returns the events of what changed.
func (t *eventTracker) observe(group, master string, nodes []string, reports []Report, view GroupView, epoch uint64) []raftstore.Event {
	first := !t.init[group]
	t.init[group] = true
	var out []raftstore.Event
	sorted := append([]Report(nil), reports...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].From < sorted[j].From })
	for _, r := range sorted {
		for _, n := range nodes {
			o, ok := r.Obs[n]
			if !ok || !o.Known {
				continue
			}
			key := r.From + "|" + n
			was, seen := t.sdown[key]
			down := o.Down
			t.sdown[key] = down
			if first || !seen || was == down {
				continue
			}
			if down {
				msg := fmt.Sprintf("watchdog %s: %s subjectively down (no valid reply for %dms: %s)", r.From, n, o.FailingForMs, o.Err)
				out = append(out, raftstore.Event{Kind: raftstore.EvNodeSDown, Severity: raftstore.SeverityWarning, Group: group, Node: n, Watchdog: r.From, Epoch: epoch, Message: msg,
					Details: map[string]string{"master": master}})
			} else {
				msg := fmt.Sprintf("watchdog %s: %s answers again", r.From, n)
				out = append(out, raftstore.Event{Kind: raftstore.EvNodeUp, Severity: raftstore.SeverityInfo, Group: group, Node: n, Watchdog: r.From, Epoch: epoch, Message: msg,
					Details: map[string]string{"master": master}})
			}
		}
	}
	for _, nv := range view.Nodes {
		// Only up and objectively down move the state: a partial view
		// (sdown, unknown) right after a change is no news.
		if nv.Health != HealthUp && nv.Health != HealthODown {
			continue
		}
		key := group + "|" + nv.Addr
		down := nv.Health == HealthODown
		was, seen := t.odown[key]
		t.odown[key] = down
		if first || !seen || !down || was {
			continue
		}
		out = append(out, raftstore.Event{
			Kind: raftstore.EvNodeODown, Severity: raftstore.SeverityCritical, Group: group, Node: nv.Addr, Epoch: epoch,
			Message: fmt.Sprintf("%s objectively down: %d watchdogs vote down", nv.Addr, nv.VotesDown),
			Details: map[string]string{"votes_down": fmt.Sprint(nv.VotesDown), "votes_up": fmt.Sprint(nv.VotesUp), "master": master},
		})
	}
	return out
}

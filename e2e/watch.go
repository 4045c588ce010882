package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrNoLeader is returned by LeaderOf when no single watchdog says Leader.
var ErrNoLeader = errors.New("no watchdog reports itself Leader")

// LeaderOf asks every watchdog in ws for its status and returns the one
// that says it is the Raft leader. Several claimants (a deposed leader that
// has not noticed yet) count as no leader.
func LeaderOf(ctx context.Context, ws []*Warden) (*Warden, error) {
	var leaders []*Warden
	var seen []string
	for _, w := range ws {
		st, err := w.API.Status(ctx)
		if err != nil {
			seen = append(seen, fmt.Sprintf("%s: %v", w.ID, err))
			continue
		}
		seen = append(seen, fmt.Sprintf("%s: %s (leader %q)", w.ID, st.RaftState, st.LeaderID))
		if st.RaftState == RaftLeader {
			leaders = append(leaders, w)
		}
	}
	if len(leaders) == 1 {
		return leaders[0], nil
	}
	if len(leaders) > 1 {
		return nil, fmt.Errorf("%w: %d claim it: %s", ErrNoLeader, len(leaders), strings.Join(seen, "; "))
	}
	return nil, fmt.Errorf("%w: %s", ErrNoLeader, strings.Join(seen, "; "))
}

// WaitForLeader polls until exactly one of ws says Leader and every other
// member of ws that answers names it as leader.
func WaitForLeader(ctx context.Context, ws []*Warden, timeout time.Duration) (*Warden, error) {
	var leader *Warden
	err := WaitFor(ctx, timeout, "one watchdog leader that all members agree on", func() (bool, error) {
		l, err := LeaderOf(ctx, ws)
		if err != nil {
			return false, err
		}
		for _, w := range ws {
			st, err := w.API.Status(ctx)
			if err != nil {
				return false, err
			}
			if st.LeaderID != l.ID {
				return false, fmt.Errorf("%s says the leader is %q, %s says it leads", w.ID, st.LeaderID, l.ID)
			}
		}
		leader = l
		return true, nil
	})
	return leader, err
}

// GroupFromAny returns the group as the first watchdog of ws that answers
// reports it, with that watchdog.
func GroupFromAny(ctx context.Context, ws []*Warden, group string) (Group, *Warden, error) {
	var errs []error
	for _, w := range ws {
		g, err := w.API.Group(ctx, group)
		if err == nil {
			return g, w, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", w.ID, err))
	}
	if len(errs) == 0 {
		return Group{}, nil, errors.New("no watchdog to ask")
	}
	return Group{}, nil, errors.Join(errs...)
}

// WaitForMaster polls the watchdogs ws until one of them reports a master
// for group that is set and is not notAddr, and returns that report.
func WaitForMaster(ctx context.Context, ws []*Warden, group, notAddr string, timeout time.Duration) (Group, error) {
	var got Group
	what := fmt.Sprintf("a watchdog to report a master of %s other than %q", group, notAddr)
	err := WaitFor(ctx, timeout, what, func() (bool, error) {
		var errs []error
		for _, w := range ws {
			g, err := w.API.Group(ctx, group)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", w.ID, err))
				continue
			}
			if g.Master != "" && g.Master != notAddr {
				got = g
				return true, nil
			}
			errs = append(errs, fmt.Errorf("%s: master %q epoch %d status %s %s", w.ID, g.Master, g.Epoch, g.Status, g.Reason))
		}
		return false, errors.Join(errs...)
	})
	return got, err
}

// WaitAllUp polls until every watchdog of ws sees every node of nodes (nil:
// every node the group lists) as up in group: every watchdog has probed
// every node since the group's last change.
func WaitAllUp(ctx context.Context, ws []*Warden, group string, nodes []string, timeout time.Duration) error {
	return WaitFor(ctx, timeout, "every watchdog to see every node up", func() (bool, error) {
		for _, w := range ws {
			g, err := w.API.Group(ctx, group)
			if err != nil {
				return false, fmt.Errorf("%s: %w", w.ID, err)
			}
			want := nodes
			if want == nil {
				for _, n := range g.Nodes {
					want = append(want, n.Addr)
				}
			}
			for _, a := range want {
				if n, ok := g.Node(a); !ok || n.Health != "up" {
					return false, fmt.Errorf("%s sees %s as %+v", w.ID, a, n)
				}
			}
		}
		return true, nil
	})
}

// WaitForAgreement polls until every watchdog of ws reports group with
// status ok, the same master (set) and the same epoch, and returns it.
func WaitForAgreement(ctx context.Context, ws []*Warden, group string, timeout time.Duration) (Group, error) {
	var got Group
	what := fmt.Sprintf("all %d watchdogs to report the same master of %s with status ok", len(ws), group)
	err := WaitFor(ctx, timeout, what, func() (bool, error) {
		var first Group
		for i, w := range ws {
			g, err := w.API.Group(ctx, group)
			if err != nil {
				return false, fmt.Errorf("%s: %w", w.ID, err)
			}
			if g.Status != GroupOK || g.Master == "" {
				return false, fmt.Errorf("%s: master %q epoch %d status %q reason %q", w.ID, g.Master, g.Epoch, g.Status, g.Reason)
			}
			if i == 0 {
				first = g
				continue
			}
			if g.Master != first.Master || g.Epoch != first.Epoch {
				return false, fmt.Errorf("%s says master %s epoch %d, %s says master %s epoch %d",
					ws[0].ID, first.Master, first.Epoch, w.ID, g.Master, g.Epoch)
			}
		}
		got = first
		return true, nil
	})
	return got, err
}

package raftstore

import "time"

// Wall-clock stamps (every At, UpdatedAt, LastPromotionAt, EndedAt,
// ForgotAt) come from the clock of the leader that wrote the command: a
// wall-clock jump on it (NTP step, date -s) or skew between members moves
// them. They are kept for display and audit. Windows (anti-flapping,
// retry waits, ban windows, give-up delays) are measured from the local
// stamps instead: this member's own time.Now() when it applied the
// command, which carries Go's monotonic reading, so that time.Sub and
// Before compare monotonic times. The local stamps are kept in memory only
// (json:"-"): what the FSM persists stays deterministic.

// Elapsed is how long ago since was at now, never negative: a stamp ahead
// of now (another member's wall clock, or one from before a backward
// jump) counts as now, so that a window measured with it is at most its
// length.
func Elapsed(since, now time.Time) time.Duration {
	if d := now.Sub(since); d > 0 {
		return d
	}
	return 0
}

// localOr is the local stamp, or the wall-clock one where there is none (a
// record built by hand).
func localOr(local, wall time.Time) time.Time {
	if local.IsZero() {
		return wall
	}
	return local
}

// ChangedAt is when this member applied the group's last change
// (UpdatedAt where it has no local stamp): views taken before it may show
// the topology from before.
func (g *Group) ChangedAt() time.Time { return localOr(g.UpdatedLocal, g.UpdatedAt) }

// BlockedFor is how much is left at now of the anti-flapping window,
// window long from the last promotion as this member applied it (0: no
// window open).
func (g *Group) BlockedFor(window time.Duration, now time.Time) time.Duration {
	if g.LastPromotionAt.IsZero() && g.PromotedLocal.IsZero() {
		return 0
	}
	return max(window-Elapsed(localOr(g.PromotedLocal, g.LastPromotionAt), now), 0)
}

// ChangedAt is when this member applied the cluster's last change.
func (c *Cluster) ChangedAt() time.Time { return localOr(c.UpdatedLocal, c.UpdatedAt) }

// Ended is when this member applied the failover's end (zero while it
// runs).
func (f *ClusterFailover) Ended() time.Time {
	if f.EndedAt == nil {
		return time.Time{}
	}
	return localOr(f.EndedLocal, *f.EndedAt)
}

// Forgot is when this member applied ForgotAt (zero when unset).
func (o *Operation) Forgot() time.Time {
	if o.ForgotAt == nil {
		return time.Time{}
	}
	return localOr(o.ForgotLocal, *o.ForgotAt)
}

// Recorded is when this member applied the event.
func (e *Event) Recorded() time.Time { return localOr(e.Local, e.At) }

// stampRestored gives every record of a restored state the restore moment
// (f.at) as its local stamp: how long ago the commands were applied is
// unknown by any clock but the wall clock, which is not trusted. A window
// then runs from the restore: it can only end later, by at most its
// length, never sooner. Under mu.
func (f *FSM) stampRestored() {
	for _, g := range f.st.Groups {
		g.UpdatedLocal = f.at
		if !g.LastPromotionAt.IsZero() {
			g.PromotedLocal = f.at
		}
	}
	for _, c := range f.st.Clusters {
		c.UpdatedLocal = f.at
		if c.LastFailover != nil && c.LastFailover.EndedAt != nil {
			c.LastFailover.EndedLocal = f.at
		}
	}
	for _, o := range f.st.Operations {
		if o.ForgotAt != nil {
			o.ForgotLocal = f.at
		}
	}
	for i := range f.st.Events {
		f.st.Events[i].Local = f.at
	}
}

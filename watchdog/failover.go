package watchdog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"warden/raftstore"
)

// startFailover records a failover's begin and runs it in the background
// under the leader's context. The group must not be busy already.
func (s *Service) startFailover(lead *leadership, a Action) (*raftstore.Failover, error) {
	s.mu.Lock()
	if s.lead != lead {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: leadership ended", ErrNoLeader)
	}
	if s.busy[a.Group] {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: a failover of %s is already being carried out", ErrConflict, a.Group)
	}
	s.busy[a.Group] = true
	// Added under s.mu while s.lead is this leadership: the leader loop
	// clears s.lead under s.mu before it waits on the group.
	lead.wg.Add(1)
	s.mu.Unlock()
	release := func() {
		s.mu.Lock()
		delete(s.busy, a.Group)
		s.mu.Unlock()
		s.poke()
		lead.wg.Done()
	}
	if a.Kind == ActFailover {
		if err := s.beginFailover(lead.ctx, a); err != nil {
			release()
			return nil, err
		}
	}
	g, _ := s.fsm.Group(a.Group)
	go func() {
		defer release()
		s.runFailover(lead.ctx, a)
	}()
	return g.Failover, nil
}

func (s *Service) beginFailover(ctx context.Context, a Action) error {
	if err := s.node.VerifyLeader(); err != nil {
		return err
	}
	kind := a.FailoverKind
	if kind == "" {
		kind = raftstore.KindFailover
	}
	fo := raftstore.Failover{
		Kind: kind, RequestedBy: a.By, Force: a.Force, Cause: a.Cause,
		Epoch: a.Epoch, From: a.From, To: a.To, Reason: a.Reason, Votes: a.Votes,
		Ranking: a.Ranking, Fence: a.Fence, Leader: s.cfg.ID,
	}
	if err := s.node.Apply(ctx, &raftstore.FailoverBegin{Group: a.Group, Failover: fo, At: time.Now()}); err != nil {
		return err
	}
	s.log.Warn(kind+" started", zap.String("group", a.Group), zap.Uint64("epoch", a.Epoch),
		zap.String("from", a.From), zap.String("to", a.To), zap.String("reason", a.Reason),
		zap.Any("votes", a.Votes), zap.Any("ranking", a.Ranking))
	s.failpoints.hit(FPAfterBegin, s.log)
	return nil
}

// runFailover carries out the failover recorded for a.Group (just begun,
// or found unfinished by a new leader). Every step is idempotent; the
// outcome is recorded in Raft. A loss of leadership stops it without
// recording an end: the next leader rolls it forward from what it observes.
func (s *Service) runFailover(ctx context.Context, a Action) {
	g, ok := s.fsm.Group(a.Group)
	if !ok || g.Failover == nil || g.Failover.Epoch != a.Epoch {
		s.log.Error("failover record vanished before execution", zap.String("group", a.Group), zap.Uint64("epoch", a.Epoch))
		return
	}
	fo := g.Failover
	lg := s.log.With(zap.String("group", a.Group), zap.Uint64("epoch", a.Epoch), zap.String("kind", fo.Kind))
	if a.Kind == ActResume {
		lg.Warn("rolling forward an unfinished failover", zap.String("from", fo.From), zap.String("to", fo.To), zap.String("stage", fo.Stage))
	}
	start := time.Now()
	var steps []raftstore.Step
	step := func(name, node string, fn func() error) error { return timeStep(&steps, name, node, fn) }
	leaderOK := func(what string) bool {
		if err := s.node.VerifyLeader(); err != nil {
			lg.Warn("stopping: leadership not verified", zap.String("before", what), zap.Error(err))
			return false
		}
		return true
	}
	end := func(ok bool, cause error) {
		msg := ""
		if cause != nil {
			msg = cause.Error()
		}
		err := s.node.Apply(ctx, &raftstore.FailoverEnd{Group: a.Group, Epoch: a.Epoch, OK: ok, Error: msg, Steps: steps, At: time.Now()})
		if err != nil {
			lg.Error("record the end", zap.Error(err))
			return
		}
		took := time.Since(fo.BeganAt)
		if fo.BeganAt.IsZero() || took < 0 {
			took = time.Since(start)
		}
		s.metrics.observeFailover(a.Group, fo.Kind, ok, took)
		if ok {
			lg.Info(fo.Kind+" completed", zap.Duration("took", took))
		} else {
			lg.Error(fo.Kind+" failed", zap.String("error", msg), zap.Duration("took", took))
		}
	}
	timeout := s.cfg.Failover.Timeout.D()
	poll := 10 * time.Millisecond
	within := func(f func(context.Context) error) error {
		wctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return f(wctx)
	}

	// A failover resumed past its beginning may have left the old master
	// paused (fence or switchover) by the leader that died: lift it with
	// the demotion below, or its clients block until the pause expires
	// instead of hearing READONLY.
	paused := fo.Stage != raftstore.StageBegun && (fo.Fence || fo.Kind == raftstore.KindSwitchover)
	// unpause lifts the pause on the old master; a leader that lost its
	// quorum leaves it to expire (failover.timeout): the next leader may
	// have made other plans for that node.
	unpause := func() {
		if paused && leaderOK("lifting the pause on the old master") {
			_ = s.act.Unpause(ctx, fo.From)
		}
		paused = false
	}
	if fo.Stage == raftstore.StageBegun {
		switch {
		case fo.Kind == raftstore.KindSwitchover:
			// Planned: no acknowledged write may be lost. Writes on the
			// master stop, the target catches up to the master's last
			// offset, and only then is it promoted.
			if !leaderOK("pausing writes on the master") {
				return
			}
			if err := step("pause-writes", fo.From, func() error { return s.act.PauseWrites(ctx, fo.From, timeout+5*time.Second) }); err != nil {
				end(false, err)
				return
			}
			paused = true
			err := step("catch-up", fo.To, func() error {
				_, off, err := s.act.Offset(ctx, fo.From)
				if err != nil {
					return err
				}
				return within(func(c context.Context) error { return s.act.WaitCaughtUp(c, fo.To, off, poll) })
			})
			if err != nil && !fo.Force {
				unpause()
				end(false, fmt.Errorf("target did not catch up with the master, nothing changed: %w", err))
				return
			}
		case fo.Fence:
			if !leaderOK("fencing the old master") {
				return
			}
			err := step("fence", fo.From, func() error { return s.act.PauseWrites(ctx, fo.From, timeout) })
			if err != nil {
				lg.Warn("could not pause writes on the old master; it is down for a majority of watchdogs", zap.Error(err))
			}
			paused = err == nil
			// Its clients go now, before the promotion: they reconnect
			// through discovery instead of waiting on a paused master.
			if paused && leaderOK("disconnecting the old master's clients") {
				_ = step("kill-clients", fo.From, func() error {
					_, err := s.act.KillNormalClients(ctx, fo.From)
					return err
				})
			}
		}
		if !leaderOK("promoting") {
			return
		}
		s.failpoints.hit(FPBeforePromote, lg)
		err := step("promote", fo.To, func() error {
			if err := s.act.Promote(ctx, fo.To); err != nil {
				return err
			}
			return within(func(c context.Context) error { return s.act.WaitMaster(c, fo.To, poll) })
		})
		if err != nil {
			if errors.Is(ctx.Err(), context.Canceled) {
				return
			}
			unpause()
			end(false, err)
			return
		}
		runID, _ := s.act.RunID(ctx, fo.To)
		if err := s.node.Apply(ctx, &raftstore.FailoverPromoted{Group: a.Group, Epoch: a.Epoch, RunID: runID, Steps: steps, At: time.Now()}); err != nil {
			lg.Error("record the promotion", zap.Error(err))
			return
		}
		steps = nil
		lg.Warn("new master promoted", zap.String("master", fo.To), zap.Duration("since-start", time.Since(start)))
		s.failpoints.hit(FPAfterPromote, lg)
	}

	// The old master first: the shorter it can take writes next to the new
	// one, the better. One that no watchdog reached when the failover was
	// decided is left to the re-attach, which demotes it the moment any
	// watchdog reaches it and measures what it took meanwhile: a REPLICAOF
	// sent to a hung process would wait in its socket and run, unmeasured,
	// whenever it wakes.
	if !leaderOK("demoting the old master") {
		return
	}
	err := errors.New("no watchdog reached the old master when the failover was decided")
	if fo.Fence || fo.Kind == raftstore.KindSwitchover {
		demoteCtx, cancel := context.WithTimeout(ctx, time.Second)
		err = step("demote", fo.From, func() error { return s.act.ReplicaOf(demoteCtx, fo.From, fo.To) })
		cancel()
	}
	if err == nil {
		if _, kerr := s.act.KillNormalClients(ctx, fo.From); kerr != nil {
			lg.Warn("could not disconnect the old master's clients", zap.Error(kerr))
		}
		unpause()
	} else {
		lg.Info("old master not reachable; it will be re-attached when it answers", zap.String("redis-addr", fo.From))
	}

	var others []string
	maint := s.fsm.Maintenance()
	for _, n := range g.Nodes {
		if n == fo.To || n == fo.From {
			continue
		}
		if m, ok := maint[n]; ok && m.Active(time.Now()) {
			lg.Info("not repointing a replica in maintenance; it is re-attached once the window ends", zap.String("redis-addr", n))
			continue
		}
		others = append(others, n)
	}
	par := s.cfg.Failover.ParallelSyncs
	for i := 0; i < len(others); i += par {
		batch := others[i:min(i+par, len(others))]
		if !leaderOK("repointing replicas") {
			return
		}
		var started []string
		for _, n := range batch {
			if !leaderOK("repointing " + n) {
				return
			}
			if err := step("repoint", n, func() error { return s.act.ReplicaOf(ctx, n, fo.To) }); err != nil {
				lg.Warn("could not repoint replica; it will be re-attached when it answers", zap.String("redis-addr", n), zap.Error(err))
				continue
			}
			started = append(started, n)
			s.failpoints.hit(FPDuringRepoint, lg)
		}
		for _, n := range started {
			err := step("sync", n, func() error {
				return within(func(c context.Context) error { return s.act.WaitFollowing(c, n, fo.To, poll) })
			})
			if err != nil {
				lg.Warn("replica did not finish syncing in time", zap.String("redis-addr", n), zap.Error(err))
			}
		}
	}
	end(true, nil)
}

// requestFailover starts the failover an operator asked for: a planned
// switchover when the master is healthy, a failover when it is down.
// errViewPending marks a refusal that the next reports may lift (the
// master's health not yet known, or between up and down); its text is
// empty, so that it adds nothing to the message it is wrapped in.
var errViewPending = errors.New("")

// pending marks err as a refusal the next reports may lift.
func pending(err error) error { return fmt.Errorf("%w%w", err, errViewPending) }

// requestFailoverSoon is requestFailover, asked again every 50 ms for up to
// five probe intervals (1-5 s) while the refusal is one the next reports
// may lift: a request made just after an election or a change of the group
// waits for the watchdogs' views instead of failing at once.
func (s *Service) requestFailoverSoon(ctx context.Context, group, to string, force bool, by string) (*raftstore.Failover, error) {
	deadline := time.Now().Add(min(max(5*s.cfg.Detection.ProbeInterval.D(), time.Second), 5*time.Second))
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		fo, err := s.requestFailover(group, to, force, by)
		if err == nil || !errors.Is(err, errViewPending) || time.Now().After(deadline) {
			return fo, err
		}
		// Only while the view that refused stays fresh: once it ages, the
		// refusal would turn into "no fresh reports" and hide why.
		s.mu.Lock()
		stale := s.viewAt.Add(ParamsFrom(s.cfg, s.node.Voters()).FreshnessInterval)
		s.mu.Unlock()
		if time.Now().Add(100 * time.Millisecond).After(stale) {
			return fo, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-t.C:
		}
	}
}

func (s *Service) requestFailover(group, to string, force bool, by string) (*raftstore.Failover, error) {
	s.mu.Lock()
	lead := s.lead
	view, hasView := s.views[group]
	viewAt := s.viewAt
	s.mu.Unlock()
	if !s.node.IsLeader() || lead == nil {
		return nil, fmt.Errorf("%w: this member's leader loop is not running", ErrNoLeader)
	}
	g, ok := s.fsm.Group(group)
	if !ok {
		return nil, fmt.Errorf("%w: group %q", ErrNotFound, group)
	}
	if g.Failover != nil {
		return nil, fmt.Errorf("%w: failover %s (%s -> %s) is running", ErrConflict, g.Failover.ID, g.Failover.From, g.Failover.To)
	}
	if g.Master == "" || g.Status != raftstore.StatusOK {
		return nil, fmt.Errorf("%w: group %s has no confirmed master (status %s: %s)", ErrConflict, group, g.Status, g.Reason)
	}
	params := ParamsFrom(s.cfg, s.node.Voters())
	if !hasView || time.Since(viewAt) > params.FreshnessInterval {
		return nil, fmt.Errorf("%w: the leader has no fresh reports for %s", ErrNoQuorum, group)
	}
	mv := view.node(g.Master)
	if mv == nil {
		return nil, fmt.Errorf("%w: master %s is not in the group's view", ErrConflict, g.Master)
	}
	fresh := len(view.Reporters)
	if fresh < params.Required {
		return nil, fmt.Errorf("%w: %d fresh reports, %d required", ErrNoQuorum, fresh, params.Required)
	}
	if !mv.hasObs && mv.VotesDown == 0 && !mv.failing {
		// No fresh report has said anything of the master since the
		// group's last change (right after an election, say): with force
		// it would be failed over unfenced, though it may be up and
		// taking writes. Wait for the reports instead.
		return nil, pending(fmt.Errorf("%w: no fresh report about master %s since the group's last change: retry in a moment", ErrNoQuorum, g.Master))
	}
	var kind, reason string
	switch {
	case mv.Health == HealthODown:
		kind, reason = raftstore.KindFailover, fmt.Sprintf("requested by %s; master %s is objectively down", by, g.Master)
	case mv.hasObs && mv.obs.Role == RoleMaster && upByMajority(*mv, fresh):
		kind, reason = raftstore.KindSwitchover, fmt.Sprintf("requested by %s; master %s is healthy: planned switchover", by, g.Master)
	case force:
		kind, reason = raftstore.KindFailover, fmt.Sprintf("requested by %s with force; master %s is %s", by, g.Master, mv.Health)
	default:
		return nil, pending(fmt.Errorf("%w: master %s is %s, neither healthy nor objectively down: retry, or force", ErrConflict, g.Master, mv.Health))
	}
	now := time.Now()
	maint := s.fsm.Maintenance()
	inMaint := func(a string) bool { m, ok := maint[a]; return ok && m.Active(now) }
	ranking := Rank(view, g.Master, params, fresh, inMaint)
	var target *raftstore.Candidate
	if to != "" {
		if to == g.Master {
			return nil, fmt.Errorf("%w: %s is already the master", ErrBadRequest, to)
		}
		for i := range ranking {
			if ranking[i].Addr == to {
				target = &ranking[i]
			}
		}
		if target == nil {
			return nil, fmt.Errorf("%w: %s is not a node of group %s", ErrBadRequest, to, group)
		}
		if target.Skipped != "" && (!force || inMaint(to)) {
			err := fmt.Errorf("%w: %s cannot be promoted: %s", ErrConflict, to, target.Skipped)
			if target.Skipped == skippedUnseen {
				err = pending(err)
			}
			return nil, err
		}
	} else {
		if len(ranking) == 0 || ranking[0].Skipped != "" {
			err := fmt.Errorf("%w: no replica of %s can be promoted", ErrConflict, g.Master)
			if len(ranking) > 0 && ranking[0].Skipped == skippedUnseen {
				err = pending(err)
			}
			return nil, err
		}
		target = &ranking[0]
	}
	return s.startFailover(lead, Action{
		Kind: ActFailover, Group: group, From: g.Master, To: target.Addr, Epoch: g.Epoch + 1,
		Reason: reason, Fence: kind == raftstore.KindFailover && mv.VotesUp > 0, Ranking: ranking,
		FailoverKind: kind, By: by, Force: force, Cause: raftstore.CauseRequested,
	})
}

// timeStep runs fn and appends it to steps with its duration and error.
func timeStep(steps *[]raftstore.Step, name, node string, fn func() error) error {
	t := time.Now()
	err := fn()
	st := raftstore.Step{Name: name, Node: node, DurationMs: float64(time.Since(t).Microseconds()) / 1000}
	if err != nil {
		st.Error = err.Error()
	}
	*steps = append(*steps, st)
	return err
}

package watchdog

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"warden/raftstore"
)

// runFailover carries out (or, for ActResume, rolls forward) the failover
// named by a. Every step is idempotent; the outcome is recorded in Raft.
// A loss of leadership stops it without recording an end: the next leader
// rolls it forward from what it observes.
func (s *Service) runFailover(ctx context.Context, a Action) {
	lg := s.log.With(zap.String("group", a.Group), zap.Uint64("epoch", a.Epoch))
	start := time.Now()
	var steps []raftstore.Step
	step := func(name, node string, fn func() error) error {
		t := time.Now()
		err := fn()
		st := raftstore.Step{Name: name, Node: node, DurationMs: float64(time.Since(t).Microseconds()) / 1000}
		if err != nil {
			st.Error = err.Error()
		}
		steps = append(steps, st)
		return err
	}
	leaderOK := func(what string) bool {
		if err := s.node.VerifyLeader(); err != nil {
			lg.Warn("stopping failover: leadership not verified", zap.String("before", what), zap.Error(err))
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
			lg.Error("record failover end", zap.Error(err))
			return
		}
		if ok {
			lg.Info("failover completed", zap.Duration("took", time.Since(start)))
		} else {
			lg.Error("failover failed", zap.String("error", msg), zap.Duration("took", time.Since(start)))
		}
	}

	if a.Kind == ActFailover {
		if !leaderOK("recording the failover") {
			return
		}
		fo := raftstore.Failover{
			Epoch: a.Epoch, From: a.From, To: a.To, Reason: a.Reason, Votes: a.Votes,
			Ranking: a.Ranking, Fence: a.Fence, Leader: s.cfg.ID,
		}
		if err := s.node.Apply(ctx, &raftstore.FailoverBegin{Group: a.Group, Failover: fo, At: time.Now()}); err != nil {
			lg.Error("record failover begin", zap.Error(err))
			return
		}
		lg.Warn("failover started", zap.String("from", a.From), zap.String("to", a.To),
			zap.String("reason", a.Reason), zap.Any("votes", a.Votes), zap.Any("ranking", a.Ranking))
	} else {
		lg.Warn("rolling forward an unfinished failover", zap.String("from", a.From), zap.String("to", a.To))
	}
	g, ok := s.fsm.Group(a.Group)
	if !ok || g.Failover == nil || g.Failover.Epoch != a.Epoch {
		lg.Error("failover record vanished before execution")
		return
	}
	fo := g.Failover
	timeout := s.cfg.Failover.Timeout.D()
	poll := 10 * time.Millisecond

	paused := false
	if fo.Stage == raftstore.StageBegun {
		if fo.Fence {
			if !leaderOK("fencing the old master") {
				return
			}
			err := step("fence", fo.From, func() error { return s.act.PauseWrites(ctx, fo.From, timeout) })
			if err != nil {
				lg.Warn("could not pause writes on the old master; it is down for a majority of watchdogs", zap.Error(err))
			}
			paused = err == nil
		}
		if !leaderOK("promoting") {
			return
		}
		err := step("promote", fo.To, func() error {
			if err := s.act.Promote(ctx, fo.To); err != nil {
				return err
			}
			wctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			return s.act.WaitMaster(wctx, fo.To, poll)
		})
		if err != nil {
			if errors.Is(ctx.Err(), context.Canceled) {
				return
			}
			if paused {
				_ = s.act.Unpause(ctx, fo.From)
			}
			end(false, err)
			return
		}
		runID, _ := s.act.RunID(ctx, fo.To)
		if err := s.node.Apply(ctx, &raftstore.FailoverPromoted{Group: a.Group, Epoch: a.Epoch, RunID: runID, Steps: steps, At: time.Now()}); err != nil {
			lg.Error("record promotion", zap.Error(err))
			return
		}
		steps = nil
		lg.Warn("new master promoted", zap.String("master", fo.To), zap.Duration("since-start", time.Since(start)))
	}

	var others []string
	for _, n := range g.Nodes {
		if n != fo.To && n != fo.From {
			others = append(others, n)
		}
	}
	par := s.cfg.Failover.ParallelSyncs
	for i := 0; i < len(others); i += par {
		batch := others[i:min(i+par, len(others))]
		if !leaderOK("repointing replicas") {
			return
		}
		var started []string
		for _, n := range batch {
			if err := step("repoint", n, func() error { return s.act.ReplicaOf(ctx, n, fo.To) }); err != nil {
				lg.Warn("could not repoint replica; it will be re-attached when it answers", zap.String("redis-addr", n), zap.Error(err))
				continue
			}
			started = append(started, n)
		}
		for _, n := range started {
			err := step("sync", n, func() error {
				wctx, cancel := context.WithTimeout(ctx, timeout)
				defer cancel()
				return s.act.WaitFollowing(wctx, n, fo.To, poll)
			})
			if err != nil {
				lg.Warn("replica did not finish syncing in time", zap.String("redis-addr", n), zap.Error(err))
			}
		}
	}

	if !leaderOK("demoting the old master") {
		return
	}
	oldCtx, cancel := context.WithTimeout(ctx, time.Second)
	err := step("demote", fo.From, func() error { return s.act.ReplicaOf(oldCtx, fo.From, fo.To) })
	cancel()
	if err == nil {
		if _, kerr := s.act.KillNormalClients(ctx, fo.From); kerr != nil {
			lg.Warn("could not disconnect the old master's clients", zap.Error(kerr))
		}
		if paused {
			_ = s.act.Unpause(ctx, fo.From)
		}
	} else {
		lg.Info("old master not reachable; it will be re-attached when it answers", zap.String("redis-addr", fo.From))
	}
	end(true, nil)
}

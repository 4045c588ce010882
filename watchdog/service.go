package watchdog

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"

	"warden/actions"
	"warden/config"
	"warden/raftstore"
)

// Raft is the part of the Raft node the service uses.
type Raft interface {
	ID() string
	Apply(ctx context.Context, c raftstore.Command) error
	IsLeader() bool
	VerifyLeader() error
	Barrier(timeout time.Duration) error
	LeaderCh() <-chan bool
	Leader() (addr, id string)
	State() string
	Peers() ([]raftstore.Peer, error)
	Voters() int
	FSM() *raftstore.FSM
	PeerListener() net.Listener
	Stats() map[string]string
	LastContact() time.Time
	AddVoter(id, addr string, timeout time.Duration) (bool, error)
	RemoveServer(id string, timeout time.Duration) error
	TransferLeadership(id string) error
	DialPeer(addr string, timeout time.Duration) (net.Conn, error)
}

// Service is one watchdog: prober, reporter, leader loop and HTTP API.
type Service struct {
	cfg    config.Config
	node   Raft
	fsm    *raftstore.FSM
	prober *Prober
	act    *actions.Redis
	log    *zap.Logger
	peer   *http.Client
	// peerLong carries forwarded API calls, which may wait for a failover.
	peerLong *http.Client
	token    string
	metrics  *Metrics

	kick      chan struct{}
	refreshCh chan struct{}

	mu      sync.Mutex
	reports map[string]Report    // leader: latest report per watchdog
	views   map[string]GroupView // latest aggregated view per group
	viewAt  time.Time            // when views were computed (or received)
	busy    map[string]bool      // groups with a failover executing
	notes   map[string]string    // last note logged per group
	reatt   map[string]time.Time // node → re-attach cooldown end
	// fences is each master's write fence as last read or set, fencing
	// the masters whose fence is being read or set, fenceTrack what the
	// last decision per group left for the next (leader only).
	fences     map[string]fenceSeen
	fencing    map[string]bool
	fenceTrack map[string]FenceState
	lead       *leadership // set while the leader loop runs
	hooks      map[string]*hookStatus
	// sentinels maps every member to its Sentinel-protocol address, as
	// the leader learns it from the reports.
	sentinels map[string]string
	// discovered are the cluster nodes found in other nodes' views, per
	// cluster; clusterViews the leader's latest views of the clusters.
	discovered   map[string]map[string]time.Time
	clusterViews map[string]ClusterView
	// noLeaderSince is when this member last lost sight of any leader.
	noLeaderSince time.Time
	failpoints    Failpoints // armed by WARDEN_FAILPOINTS (failpoint.go), tests only
}

// leadership is the running leader loop's context: actions started by API
// calls live in it and end with it.
type leadership struct {
	ctx context.Context
	wg  *sync.WaitGroup
}

// New wires a Service. password is the Redis password and token the API
// bearer token (either may be empty).
func New(cfg config.Config, node Raft, password, token string, lg *zap.Logger) *Service {
	timeout := cfg.Detection.ProbeTimeout.D()
	if timeout < time.Second {
		timeout = time.Second
	}
	s := &Service{
		cfg: cfg, node: node, fsm: node.FSM(), log: lg,
		prober: NewProber(ProberConfig{
			ID: cfg.ID, Interval: cfg.Detection.ProbeInterval.D(), Timeout: cfg.Detection.ProbeTimeout.D(),
			DownAfter: cfg.Detection.DownAfter.D(), Username: cfg.Redis.Username, Password: password,
			Local: cfg.LocalAddr(),
		}, lg.Named("probe")),
		act:          actions.NewRedis(cfg.Redis.Username, password, timeout),
		token:        token,
		metrics:      NewMetrics(node),
		kick:         make(chan struct{}, 1),
		refreshCh:    make(chan struct{}, 1),
		reports:      map[string]Report{},
		views:        map[string]GroupView{},
		busy:         map[string]bool{},
		notes:        map[string]string{},
		reatt:        map[string]time.Time{},
		fences:       map[string]fenceSeen{},
		fencing:      map[string]bool{},
		fenceTrack:   map[string]FenceState{},
		hooks:        map[string]*hookStatus{},
		sentinels:    map[string]string{},
		discovered:   map[string]map[string]time.Time{},
		clusterViews: map[string]ClusterView{},
	}
	dialTimeout := cfg.Detection.ProbeInterval.D() * 2
	s.peer = &http.Client{
		Timeout: 2 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
				return node.DialPeer(addr, dialTimeout)
			},
			MaxIdleConnsPerHost: 2,
			IdleConnTimeout:     30 * time.Second,
		},
	}
	s.peerLong = &http.Client{Transport: s.peer.Transport, Timeout: 2*cfg.Failover.Timeout.D() + 30*time.Second}
	s.prober.metrics = s.metrics
	s.fsm.OnApply(func() {
		select {
		case s.refreshCh <- struct{}{}:
		default:
		}
	})
	return s
}

func (s *Service) poke() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Run runs every part until ctx ends, then stops them all.
func (s *Service) Run(ctx context.Context) error {
	redisTLS, err := s.cfg.RedisClientTLS()
	if err != nil {
		return err
	}
	apiTLS, err := s.cfg.HTTPServerTLS()
	if err != nil {
		return err
	}
	s.prober.cfg.TLS = redisTLS
	s.act.SetTLS(redisTLS)
	s.act.SetLocalAddr(s.cfg.LocalAddr())
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	s.refreshNodes(ctx)
	run := func(f func(context.Context)) {
		wg.Add(1)
		go func() { defer wg.Done(); f(ctx) }()
	}
	run(s.nodesLoop)
	run(s.reportLoop)
	run(s.leadershipLoop)

	errc := make(chan error, 4)
	base := func(net.Listener) context.Context { return ctx }
	peerSrv := &http.Server{Handler: s.peerHandler(), ReadHeaderTimeout: 5 * time.Second, BaseContext: base}
	if ln := s.node.PeerListener(); ln != nil {
		go func() {
			if err := peerSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, raftstore.ErrMuxClosed) {
				errc <- fmt.Errorf("peer listener: %w", err)
			}
		}()
	}
	apiLn, err := net.Listen("tcp", s.cfg.HTTP.Listen)
	if err != nil {
		cancel()
		wg.Wait()
		return fmt.Errorf("http.listen %s: %w", s.cfg.HTTP.Listen, err)
	}
	if apiTLS != nil {
		apiLn = tls.NewListener(apiLn, apiTLS)
	}
	apiSrv := &http.Server{Handler: s.apiHandler(false), ReadHeaderTimeout: 5 * time.Second, BaseContext: base}
	go func() {
		if err := apiSrv.Serve(apiLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http api: %w", err)
		}
	}()
	if s.cfg.Sentinel.Listen != "" {
		password, err := s.cfg.SentinelPassword()
		if err != nil {
			cancel()
			wg.Wait()
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.runSentinel(ctx, password); err != nil {
				errc <- err
			}
		}()
	}
	s.log.Info("watchdog running", zap.String("http-listen", apiLn.Addr().String()), zap.String("raft-bind", s.cfg.Raft.Bind))

	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	cancel()
	sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer scancel()
	_ = apiSrv.Shutdown(sctx)
	_ = peerSrv.Shutdown(sctx)
	wg.Wait()
	s.prober.Stop()
	s.act.Close()
	return err
}

// nodesLoop keeps the probed node set equal to the groups' nodes.
func (s *Service) nodesLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.refreshCh:
			s.refreshNodes(ctx)
			s.poke()
		}
	}
}

func (s *Service) refreshNodes(ctx context.Context) {
	set := map[string]bool{}
	for _, g := range s.cfg.Groups {
		for _, n := range g.Nodes {
			set[n] = true
		}
	}
	for _, g := range s.fsm.Groups() {
		for _, n := range g.Nodes {
			set[n] = true
		}
	}
	targets := map[string]bool{}
	for a := range set {
		targets[a] = false
	}
	for a := range s.clusterTargets() {
		targets[a] = true
	}
	s.prober.SetNodes(ctx, targets)
}

// reportLoop sends this watchdog's report to the leader every probe
// interval, and at once when a node starts or stops answering or becomes
// subjectively down.
func (s *Service) reportLoop(ctx context.Context) {
	tick := time.NewTicker(s.cfg.Detection.ProbeInterval.D())
	defer tick.Stop()
	deadline := time.NewTimer(time.Hour)
	defer deadline.Stop()
	for {
		if dl := s.prober.NextDeadline(); !dl.IsZero() {
			d := time.Until(dl) + time.Millisecond
			if d < 0 {
				d = time.Millisecond
			}
			deadline.Reset(d)
		} else {
			deadline.Reset(time.Hour)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-s.prober.Nudge():
		case <-deadline.C:
		}
		r := s.prober.Report(time.Now())
		r.Sentinel = s.cfg.Sentinel.Advertise
		s.deliver(ctx, r)
		s.discover(ctx, r)
	}
}

// peerReply is the leader's answer to a report: its aggregated views.
type peerReply struct {
	Leader    string               `json:"leader"`
	Views     map[string]GroupView `json:"views"`
	Sentinels map[string]string    `json:"sentinels,omitempty"`
	// ClusterViews are the leader's views of the Redis Clusters.
	ClusterViews map[string]ClusterView `json:"cluster_views,omitempty"`
}

func (s *Service) deliver(ctx context.Context, r Report) {
	if s.node.IsLeader() {
		s.receive(r)
		return
	}
	addr, id := s.node.Leader()
	if addr == "" {
		return
	}
	body, err := json.Marshal(r)
	if err != nil {
		s.log.Error("encode report", zap.Error(err))
		return
	}
	rctx, cancel := context.WithTimeout(ctx, 2*s.cfg.Detection.ProbeInterval.D()+100*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, "http://"+addr+"/peer/v1/report", bytes.NewReader(body))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.peer.Do(req)
	if err != nil {
		s.log.Debug("report not delivered", zap.String("leader-id", id), zap.Error(err))
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		s.log.Debug("report refused", zap.String("leader-id", id), zap.Int("status", resp.StatusCode))
		return
	}
	var rep peerReply
	if err := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 8<<20)).Decode(&rep); err != nil {
		return
	}
	s.mu.Lock()
	s.views, s.viewAt = rep.Views, time.Now()
	if rep.Sentinels != nil {
		s.sentinels = rep.Sentinels
	}
	if rep.ClusterViews != nil {
		s.clusterViews = rep.ClusterViews
	}
	s.mu.Unlock()
}

// receive stores a report on the leader and wakes the reconcile loop.
func (s *Service) receive(r Report) {
	r.ReceivedAt = time.Now()
	s.metrics.reports.WithLabelValues(r.From).Inc()
	s.mu.Lock()
	if r.Sentinel != "" {
		s.sentinels[r.From] = r.Sentinel
	}
	s.reports[r.From] = r
	s.mu.Unlock()
	s.poke()
}

func (s *Service) snapshotReports() []Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Report, 0, len(s.reports))
	for _, r := range s.reports {
		out = append(out, r)
	}
	return out
}

// leadershipLoop runs the leader loop while this member leads.
func (s *Service) leadershipLoop(ctx context.Context) {
	var lead *leaderRun
	defer func() { lead.stop() }()
	check := time.NewTicker(time.Second)
	defer check.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.node.LeaderCh():
		case <-check.C:
		}
		leading := s.node.IsLeader()
		if addr, _ := s.node.Leader(); addr == "" {
			s.mu.Lock()
			if s.noLeaderSince.IsZero() {
				s.noLeaderSince = time.Now()
			}
			s.mu.Unlock()
		} else if !leading {
			s.mu.Lock()
			s.noLeaderSince = time.Time{}
			s.mu.Unlock()
		}
		switch {
		case leading && lead == nil:
			lead = s.startLeader(ctx)
		case !leading && lead != nil:
			s.log.Info("lost leadership: stopping the leader loop")
			lead.stop()
			lead = nil
		}
	}
}

type leaderRun struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func (s *Service) startLeader(ctx context.Context) *leaderRun {
	lctx, cancel := context.WithCancel(ctx)
	l := &leaderRun{cancel: cancel, done: make(chan struct{})}
	go func() { defer close(l.done); s.leaderLoop(lctx) }()
	return l
}

func (l *leaderRun) stop() {
	if l == nil {
		return
	}
	l.cancel()
	<-l.done
}

func (s *Service) leaderLoop(ctx context.Context) {
	s.log.Info("gained leadership")
	if err := s.node.Barrier(10 * time.Second); err != nil {
		s.log.Error("barrier after gaining leadership", zap.Error(err))
		return
	}
	s.mu.Lock()
	s.reports = map[string]Report{}
	s.notes = map[string]string{}
	s.fences = map[string]fenceSeen{}
	s.fenceTrack = map[string]FenceState{}
	s.mu.Unlock()
	if err := s.ensureGroups(ctx); err != nil {
		s.log.Error("record configured groups", zap.Error(err))
	}
	if err := s.ensureClusters(ctx); err != nil {
		s.log.Error("record configured clusters", zap.Error(err))
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	s.mu.Lock()
	s.lead = &leadership{ctx: ctx, wg: &wg}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.lead = nil
		s.mu.Unlock()
	}()
	s.announceLeadership(ctx)
	for _, h := range s.cfg.Webhooks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.runWebhook(ctx, h)
		}()
	}
	trusted := map[string]bool{}
	tracker := newEventTracker()
	ctracker := newClusterTracker()
	tick := time.NewTicker(s.cfg.Detection.ProbeInterval.D())
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		case <-tick.C:
		}
		s.reconcile(ctx, &wg, trusted, tracker)
		s.reconcileClusters(ctx, &wg, ctracker, s.snapshotReports(), ParamsFrom(s.cfg, s.node.Voters()))
		s.runOperations(ctx, &wg)
	}
}

// announceLeadership records that this member leads, and, when the group
// went without any leader for longer than an election normally takes, the
// loss of quorum and its end (a lost quorum cannot be written when it
// happens).
func (s *Service) announceLeadership(ctx context.Context) {
	now := time.Now()
	s.mu.Lock()
	lost := s.noLeaderSince
	s.noLeaderSince = time.Time{}
	s.mu.Unlock()
	var evs []raftstore.Event
	if !lost.IsZero() && now.Sub(lost) > 4*s.cfg.Raft.ElectionTimeout.D() {
		gap := now.Sub(lost).Round(time.Millisecond)
		evs = append(evs,
			raftstore.Event{At: lost, Kind: raftstore.EvQuorumLost, Severity: raftstore.SeverityCritical, Watchdog: s.cfg.ID,
				Message: fmt.Sprintf("the watchdog group had no leader from %s (seen by %s)", lost.UTC().Format(time.RFC3339Nano), s.cfg.ID)},
			raftstore.Event{At: now, Kind: raftstore.EvQuorumRegained, Severity: raftstore.SeverityWarning, Watchdog: s.cfg.ID,
				Message: fmt.Sprintf("the watchdog group has a leader again after %s", gap), Details: map[string]string{"without_leader_ms": fmt.Sprint(gap.Milliseconds())}})
	}
	evs = append(evs, raftstore.Event{At: now, Kind: raftstore.EvLeaderChanged, Severity: raftstore.SeverityInfo, Watchdog: s.cfg.ID,
		Message: fmt.Sprintf("%s leads the watchdog group (term %s)", s.cfg.ID, s.node.Stats()["term"])})
	if err := s.node.Apply(ctx, &raftstore.Events{Events: evs, Keep: s.cfg.Events.Retention, At: now}); err != nil {
		s.log.Warn("record leadership", zap.Error(err))
	}
}

// ensureGroups records the configured groups the first time a leader
// runs; after that the groups change through the API only, and a
// configuration that differs is pointed out in the log.
func (s *Service) ensureGroups(ctx context.Context) error {
	if !s.fsm.Seeded() {
		var specs []raftstore.GroupSpec
		for _, g := range s.cfg.Groups {
			specs = append(specs, raftstore.GroupSpec{Name: g.Name, Nodes: g.Nodes, Fence: g.Fence})
		}
		return s.node.Apply(ctx, &raftstore.GroupsEnsure{Groups: specs, At: time.Now()})
	}
	for _, g := range s.cfg.Groups {
		cur, ok := s.fsm.Group(g.Name)
		if !ok || !sameNodes(cur.Nodes, g.Nodes) || cur.Fence != g.Fence {
			s.log.Warn("configured group differs from the replicated state; the configuration seeds the groups once, change them through the API",
				zap.String("group", g.Name), zap.Strings("configured-nodes", g.Nodes), zap.Strings("replicated-nodes", cur.Nodes),
				zap.String("configured-fence", g.Fence), zap.String("replicated-fence", cur.Fence))
		}
	}
	return nil
}

func sameNodes(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (s *Service) reconcile(ctx context.Context, wg *sync.WaitGroup, trusted map[string]bool, tracker *eventTracker) {
	params := ParamsFrom(s.cfg, s.node.Voters())
	reports := s.snapshotReports()
	maint := s.fsm.Maintenance()
	now := time.Now()
	views := map[string]GroupView{}
	var fresh []Report
	for _, r := range reports {
		if now.Sub(r.ReceivedAt) <= params.FreshnessInterval {
			fresh = append(fresh, r)
		}
	}
	for _, g := range s.fsm.Groups() {
		s.mu.Lock()
		busy := s.busy[g.Name]
		s.mu.Unlock()
		if busy {
			s.mu.Lock()
			if v, ok := s.views[g.Name]; ok {
				views[g.Name] = v
			}
			s.mu.Unlock()
			continue
		}
		s.mu.Lock()
		track := s.fenceTrack[g.Name]
		s.mu.Unlock()
		d := Decide(Input{Now: now, Params: params, Group: g, Trusted: trusted[g.Name], Reports: reports, Maintenance: maint,
			FenceMode: s.cfg.FenceMode(g.Fence), Fence: track})
		s.mu.Lock()
		s.fenceTrack[g.Name] = d.Fence
		s.mu.Unlock()
		d.View.Group = g.Name
		views[g.Name] = d.View
		s.metrics.observeView(d.View, g.Epoch)
		// What was observed goes to the log before what is done about it.
		if evs := tracker.observe(g.Name, g.Master, g.Nodes, fresh, d.View, g.Epoch); len(evs) > 0 {
			if err := s.node.Apply(ctx, &raftstore.Events{Events: evs, Keep: s.cfg.Events.Retention, At: now}); err != nil {
				s.log.Warn("record observed events", zap.Error(err))
			}
		}
		noted := false
		for _, a := range d.Actions {
			if a.Kind == ActNote {
				s.note(ctx, a)
				noted = true
				continue
			}
			if !s.execute(ctx, wg, g, a, trusted) {
				break
			}
		}
		if !noted {
			s.note(ctx, Action{Group: g.Name})
		}
	}
	s.mu.Lock()
	old := s.views
	s.views, s.viewAt = views, now
	s.mu.Unlock()
	for name := range old {
		if _, ok := views[name]; !ok {
			s.metrics.forgetGroup(name)
		}
	}
}

// note logs a note when it differs from the last one for the group; a
// refused failover also goes to the audit history.
func (s *Service) note(ctx context.Context, a Action) {
	s.mu.Lock()
	prev := s.notes[a.Group]
	s.notes[a.Group] = a.Reason
	s.mu.Unlock()
	if prev == a.Reason || a.Reason == "" {
		return
	}
	fs := []zap.Field{zap.String("group", a.Group), zap.String("reason", a.Reason)}
	if len(a.Ranking) > 0 {
		fs = append(fs, zap.Any("ranking", a.Ranking))
	}
	if len(a.Votes) > 0 {
		fs = append(fs, zap.Any("votes", a.Votes))
	}
	if a.Quiet {
		s.log.Debug("no action", fs...)
		return
	}
	s.log.Warn("no action", fs...)
	if a.Refusal {
		s.metrics.refusals.WithLabelValues(a.Group).Inc()
		e := raftstore.Entry{Kind: raftstore.EntryRefusal, Group: a.Group, Message: a.Reason}
		if len(a.Ranking) > 0 || len(a.Votes) > 0 {
			e.Failover = &raftstore.Failover{Votes: a.Votes, Ranking: a.Ranking, Reason: a.Reason}
		}
		if err := s.node.Apply(ctx, &raftstore.Record{Entry: e, At: time.Now()}); err != nil {
			s.log.Warn("record refusal", zap.Error(err))
		}
	}
}

// execute performs one action; false stops the group's remaining actions.
func (s *Service) execute(ctx context.Context, wg *sync.WaitGroup, g raftstore.Group, a Action, trusted map[string]bool) bool {
	lg := s.log.With(zap.String("group", a.Group))
	switch a.Kind {
	case ActTrust:
		if !trusted[a.Group] {
			lg.Info("recorded master confirmed by the live nodes", zap.String("master", a.Master), zap.Uint64("epoch", a.Epoch))
		}
		trusted[a.Group] = true
		return true
	case ActDiscover:
		err := s.node.Apply(ctx, &raftstore.MasterDiscovered{Group: a.Group, Master: a.Master, RunID: a.RunID, Epoch: a.Epoch, Reason: a.Reason, At: time.Now()})
		if err != nil {
			lg.Error("record discovered master", zap.Error(err))
			return false
		}
		lg.Info("master discovered", zap.String("master", a.Master), zap.Uint64("epoch", a.Epoch), zap.String("reason", a.Reason))
		trusted[a.Group] = true
		return true
	case ActAmbiguous:
		trusted[a.Group] = false
		if g.Status == raftstore.StatusAmbiguous && g.Reason == a.Reason {
			return false
		}
		if err := s.node.Apply(ctx, &raftstore.GroupAmbiguous{Group: a.Group, Reason: a.Reason, At: time.Now()}); err != nil {
			lg.Error("record ambiguous group", zap.Error(err))
			return false
		}
		lg.Warn("group ambiguous: no action until the nodes agree", zap.String("reason", a.Reason))
		return false
	case ActFailover, ActResume:
		s.mu.Lock()
		lead := s.lead
		s.mu.Unlock()
		if lead == nil {
			return false
		}
		if _, err := s.startFailover(lead, a); err != nil {
			lg.Error("could not start the failover", zap.Error(err))
		}
		return false
	case ActFence, ActUnfence:
		s.fence(ctx, wg, a)
		return true
	case ActReattach:
		now := time.Now()
		s.mu.Lock()
		until, cooling := s.reatt[a.Node]
		if cooling && now.Before(until) {
			s.mu.Unlock()
			return true
		}
		s.reatt[a.Node] = now.Add(2 * s.cfg.Detection.DownAfter.D())
		s.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.reattach(ctx, a)
		}()
		return true
	}
	return true
}

func (s *Service) reattach(ctx context.Context, a Action) {
	lg := s.log.With(zap.String("group", a.Group), zap.String("redis-addr", a.Node), zap.String("master", a.Master))
	if err := s.node.VerifyLeader(); err != nil {
		lg.Warn("not re-attaching: leadership not verified", zap.Error(err))
		return
	}
	// What the node holds that the master does not: read before it is
	// demoted, since REPLICAOF discards it.
	details, diverged := s.divergence(ctx, a)
	if err := s.act.ReplicaOf(ctx, a.Node, a.Master); err != nil {
		lg.Warn("re-attach failed", zap.Error(err))
		return
	}
	killed, err := s.act.KillNormalClients(ctx, a.Node)
	if err != nil {
		lg.Warn("could not disconnect clients of re-attached node", zap.Error(err))
	}
	lg.Info("re-attached node as replica", zap.String("reason", a.Reason), zap.Int64("clients-disconnected", killed), zap.Any("offsets", details))
	s.metrics.reattachments.WithLabelValues(a.Group).Inc()
	e := raftstore.Entry{Kind: raftstore.EntryReattach, Group: a.Group, Node: a.Node, Details: details,
		Message: fmt.Sprintf("%s made a replica of %s (%s); %d client connections closed%s", a.Node, a.Master, a.Reason, killed, diverged)}
	if err := s.node.Apply(ctx, &raftstore.Record{Entry: e, At: time.Now()}); err != nil {
		lg.Warn("record re-attach", zap.Error(err))
	}
}

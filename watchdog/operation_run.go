package watchdog

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"warden/actions"
	"warden/cluster"
	"warden/raftstore"
)

// Bounds of the operation runner.
const (
	// opStepAttempts is how often a failing step is tried before the
	// operation fails.
	opStepAttempts = 4
	// opWaitBound bounds waiting for the cluster to settle (nodes meeting,
	// replicas attaching, views agreeing).
	opWaitBound = 60 * time.Second
	// forgetBan is Redis Cluster's ban on re-learning a forgotten node,
	// plus a margin.
	forgetBan = 65 * time.Second
	// opProgressEvery is how often a running migration commits its counters.
	opProgressEvery = time.Second
	// opWorkersPerSource is how many workers move slots of one source at
	// once, and opGroupSlots how many slots (going to one target) a worker
	// moves together, each step pipelined over the group.
	opWorkersPerSource = 2
	opGroupSlots       = 8
)

// errCancelled stops an operation at a slot boundary on request.
var errCancelled = errors.New("cancelled on request")

// errOpPermanent marks a step failure that trying again cannot mend.
var errOpPermanent = errors.New("permanent")

// pokeOperations wakes the leader loop so that a new operation starts at
// once.
func (s *Service) pokeOperations() { s.poke() }

// runOperations starts, on the leader, every running operation it does not
// run yet: new ones and those a previous leader left at their cursor.
func (s *Service) runOperations(ctx context.Context, wg *sync.WaitGroup) {
	if ctx.Err() != nil {
		return
	}
	for _, o := range s.fsm.Operations() {
		if o.State != raftstore.OpRunning {
			continue
		}
		key := "op/" + o.ID
		s.mu.Lock()
		busy := s.busy[key]
		s.busy[key] = true
		s.mu.Unlock()
		if busy {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.busy, key)
				s.mu.Unlock()
			}()
			s.runOperation(ctx, o.ID)
		}()
	}
}

// opRun is one operation being carried out by this leader.
type opRun struct {
	s   *Service
	op  raftstore.Operation
	lg  *zap.Logger
	cur int // the step being run

	slotsTotal, slotsMoved atomic.Int64
	keys, bytes            atomic.Int64
	migrateBase            float64 // seconds spent migrating before this step
	migrateStart           time.Time
	cancelled              atomic.Bool
	verifiedAt             atomic.Int64 // unix nanoseconds of the last confirmed leadership
	mu                     sync.Mutex
	errs                   []string  // survived errors not yet committed
	removed                []string  // removed addresses not yet committed
	forgotAt               time.Time // when the removed nodes were forgotten
}

func (s *Service) runOperation(ctx context.Context, id string) {
	o, ok := s.fsm.Operation(id)
	if !ok || o.State != raftstore.OpRunning {
		return
	}
	r := &opRun{s: s, op: o, lg: s.log.With(zap.String("operation", id), zap.String("cluster", o.Cluster), zap.String("kind", o.Kind)),
		migrateBase: o.MigrateSeconds}
	// When this member applied the forget, by its own clock: the wall-clock
	// ForgotAt of another leader could end the ban window early.
	r.forgotAt = o.Forgot()
	r.slotsTotal.Store(int64(o.SlotsTotal))
	r.slotsMoved.Store(int64(o.SlotsMoved))
	r.keys.Store(o.KeysMoved)
	r.bytes.Store(o.BytesMoved)
	if o.Cursor > 0 || o.SlotsMoved > 0 {
		r.lg.Info("resuming the operation at its cursor", zap.Int("step", o.Cursor+1), zap.Int("steps", len(o.Plan)))
	} else {
		r.lg.Info("starting the operation", zap.Int("steps", len(o.Plan)))
	}
	if o.Kind != raftstore.OpCreate {
		// A leader that died mid-move leaves the slot open: close it
		// before anything else.
		if err := r.retry(ctx, "close open slots", func() error {
			rep, err := s.closeOpenSlots(ctx, o.Cluster)
			if len(rep.Closed) > 0 {
				r.lg.Warn("closed slots left open", zap.Strings("slots", rep.Closed))
				r.note("closed slots left open: " + strings.Join(rep.Closed, "; "))
			}
			return err
		}); err != nil {
			if ctx.Err() == nil {
				r.end(ctx, raftstore.OpFailed, "close the slots a previous run left open: "+err.Error())
			}
			return
		}
	}
	for i := o.Cursor; i < len(o.Plan); i++ {
		if ctx.Err() != nil {
			return
		}
		cur, ok := s.fsm.Operation(id)
		if !ok || cur.State != raftstore.OpRunning {
			return
		}
		if cur.CancelRequested {
			r.end(ctx, raftstore.OpCancelled, fmt.Sprintf("cancelled before step %d of %d (%s)", i+1, len(o.Plan), o.Plan[i].Kind))
			return
		}
		r.cur = i
		st := o.Plan[i]
		r.lg.Info("operation step", zap.Int("step", i+1), zap.String("kind", st.Kind), zap.String("detail", st.Detail))
		err := r.retry(ctx, st.Kind, func() error { return r.step(ctx, st) })
		if ctx.Err() != nil {
			// Leadership lost: the next leader resumes at the cursor.
			return
		}
		if errors.Is(err, errCancelled) {
			r.commit(ctx, i)
			r.end(ctx, raftstore.OpCancelled, fmt.Sprintf("cancelled during step %d of %d (%s) at a slot boundary: %d of %d slots moved",
				i+1, len(o.Plan), st.Kind, r.slotsMoved.Load(), r.slotsTotal.Load()))
			return
		}
		if err != nil {
			r.commit(ctx, i)
			r.end(ctx, raftstore.OpFailed, fmt.Sprintf("step %d of %d (%s): %v", i+1, len(o.Plan), st.Kind, err))
			return
		}
		if err := r.commit(ctx, i+1); err != nil && ctx.Err() != nil {
			return
		}
	}
	r.end(ctx, raftstore.OpDone, "")
}

// retry runs fn until it succeeds, fails permanently, or has failed
// opStepAttempts times, backing off between tries.
func (r *opRun) retry(ctx context.Context, what string, fn func() error) error {
	var err error
	for attempt := 1; attempt <= opStepAttempts; attempt++ {
		if err = r.s.node.VerifyLeader(); err != nil {
			return err
		}
		err = fn()
		if err == nil || ctx.Err() != nil || errors.Is(err, errCancelled) || errors.Is(err, errOpPermanent) || errors.Is(err, actions.ErrKeyConflict) {
			return err
		}
		r.lg.Warn("operation step failed; trying again", zap.String("step", what), zap.Int("attempt", attempt), zap.Error(err))
		r.note(fmt.Sprintf("%s (attempt %d of %d): %v", what, attempt, opStepAttempts, err))
		if attempt < opStepAttempts {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(1<<(attempt-1)) * time.Second):
			}
		}
	}
	return err
}

// note keeps an error the operation survived, for the next commit.
func (r *opRun) note(msg string) {
	r.mu.Lock()
	r.errs = append(r.errs, msg)
	r.mu.Unlock()
}

func (r *opRun) migrateSeconds() float64 {
	if r.migrateStart.IsZero() {
		return r.migrateBase
	}
	return r.migrateBase + time.Since(r.migrateStart).Seconds()
}

// commit writes the cursor and the counters to Raft.
func (r *opRun) commit(ctx context.Context, cursor int) error {
	r.mu.Lock()
	errs, removed := r.errs, r.removed
	r.errs, r.removed = nil, nil
	r.mu.Unlock()
	p := &raftstore.OpProgress{ID: r.op.ID, Cursor: cursor, SlotsTotal: int(r.slotsTotal.Load()), SlotsMoved: int(r.slotsMoved.Load()),
		KeysMoved: r.keys.Load(), BytesMoved: r.bytes.Load(), MigrateSeconds: r.migrateSeconds(), Errors: errs, Removed: removed, At: time.Now()}
	r.mu.Lock()
	if !r.forgotAt.IsZero() {
		t := r.forgotAt
		p.ForgotAt = &t
	}
	r.mu.Unlock()
	err := r.s.node.Apply(ctx, p)
	if err != nil {
		r.lg.Warn("commit operation progress", zap.Error(err))
		r.mu.Lock()
		r.errs, r.removed = append(errs, r.errs...), append(removed, r.removed...)
		r.mu.Unlock()
	}
	return err
}

func (r *opRun) end(ctx context.Context, state, msg string) {
	if err := r.s.node.Apply(ctx, &raftstore.OpEnd{ID: r.op.ID, State: state, Error: msg, At: time.Now()}); err != nil {
		r.lg.Error("record the operation's end", zap.Error(err))
		return
	}
	switch state {
	case raftstore.OpDone:
		r.lg.Info("operation done", zap.Int64("slots_moved", r.slotsMoved.Load()), zap.Int64("keys_moved", r.keys.Load()))
	case raftstore.OpCancelled:
		r.lg.Warn("operation cancelled", zap.String("where", msg))
	default:
		r.lg.Error("operation failed", zap.String("error", msg))
	}
}

// node returns the operation's record of the node at addr.
func (r *opRun) node(addr string) (raftstore.OpNode, bool) {
	for _, n := range r.op.Nodes {
		if n.Addr == addr {
			return n, true
		}
	}
	return raftstore.OpNode{}, false
}

// addrs are the addresses to read the cluster from: its known nodes and
// the nodes the operation adds.
func (r *opRun) addrs() []string {
	set := map[string]bool{}
	if r.op.Kind != raftstore.OpCreate {
		for _, a := range r.s.clusterAddrs(r.op.Cluster) {
			set[a] = true
		}
	}
	removed := map[string]bool{}
	for _, st := range r.op.Plan {
		if st.Kind == raftstore.StepForget {
			for _, a := range st.Nodes {
				removed[a] = true
			}
		}
	}
	for _, n := range r.op.Nodes {
		if !removed[n.Addr] {
			set[n.Addr] = true
		}
	}
	out := make([]string, 0, len(set))
	for a := range set {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

func (r *opRun) step(ctx context.Context, st raftstore.OpStep) error {
	switch st.Kind {
	case raftstore.StepAssignSlots:
		return r.assignSlots(ctx, st)
	case raftstore.StepSetEpochs:
		return r.setEpochs(ctx, st)
	case raftstore.StepMeet:
		return r.meet(ctx, st)
	case raftstore.StepWaitKnown:
		return r.waitKnown(ctx, st)
	case raftstore.StepReplicate:
		return r.replicate(ctx, st)
	case raftstore.StepMigrate:
		return r.migrate(ctx, st)
	case raftstore.StepForget:
		return r.forget(ctx, st)
	case raftstore.StepVerifyGone:
		return r.verifyGone(ctx, st)
	case raftstore.StepVerify:
		return r.verify(ctx, st)
	}
	return fmt.Errorf("%w: step kind %q is unknown to this build", errOpPermanent, st.Kind)
}

// myself reads addr's own line of CLUSTER NODES and the number of nodes it
// knows.
func (r *opRun) myself(ctx context.Context, addr string) (cluster.Node, []cluster.Node, error) {
	text, err := r.s.act.ClusterNodes(ctx, addr)
	if err != nil {
		return cluster.Node{}, nil, err
	}
	nodes, err := cluster.ParseNodes(text)
	if err != nil {
		return cluster.Node{}, nil, fmt.Errorf("CLUSTER NODES of %s: %v", addr, err)
	}
	for _, n := range nodes {
		if n.Flags.Myself {
			return n, nodes, nil
		}
	}
	return cluster.Node{}, nil, fmt.Errorf("CLUSTER NODES of %s has no myself line", addr)
}

func (r *opRun) assignSlots(ctx context.Context, st raftstore.OpStep) error {
	for _, addr := range st.Nodes {
		want, err := cluster.ParseSlots(r.op.Request.Slots[addr])
		if err != nil {
			return fmt.Errorf("%w: slots of %s: %v", errOpPermanent, addr, err)
		}
		me, _, err := r.myself(ctx, addr)
		if err != nil {
			return err
		}
		var has [cluster.SlotCount]bool
		for _, rg := range me.Slots {
			for sl := rg.Start; sl <= rg.End; sl++ {
				has[sl] = true
			}
		}
		var missing []cluster.SlotRange
		for _, rg := range cluster.MergeSlots(want) {
			for sl := rg.Start; sl <= rg.End; sl++ {
				if !has[sl] {
					missing = append(missing, cluster.SlotRange{Start: sl, End: sl})
				}
			}
		}
		for _, rg := range cluster.MergeSlots(missing) {
			if _, err := r.s.act.Do(ctx, addr, "CLUSTER", "ADDSLOTSRANGE", rg.Start, rg.End); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *opRun) setEpochs(ctx context.Context, st raftstore.OpStep) error {
	for i, addr := range st.Nodes {
		me, known, err := r.myself(ctx, addr)
		if err != nil {
			return err
		}
		if me.ConfigEpoch != 0 || len(known) > 1 {
			// Set by a previous run, or the node already met others: the
			// cluster's own collision handling makes epochs distinct then.
			continue
		}
		if _, err := r.s.act.Do(ctx, addr, "CLUSTER", "SET-CONFIG-EPOCH", i+1); err != nil {
			return err
		}
	}
	return nil
}

// meetTarget is the node the new nodes meet: the first master for a
// create, else a node of the cluster that answers.
func (r *opRun) meetTarget(ctx context.Context, st raftstore.OpStep) (string, string, error) {
	if r.op.Kind == raftstore.OpCreate {
		n, _ := r.node(st.Nodes[0])
		return n.Addr, n.ID, nil
	}
	l, err := r.s.readLive(ctx, r.s.clusterAddrs(r.op.Cluster))
	if err != nil {
		return "", "", err
	}
	for _, m := range l.masters() {
		if _, ok := l.views[m.Addr]; ok && len(m.Slots) > 0 {
			return m.Addr, m.ID, nil
		}
	}
	return "", "", errors.New("no master of the cluster answers")
}

func (r *opRun) meet(ctx context.Context, st raftstore.OpStep) error {
	target, targetID, err := r.meetTarget(ctx, st)
	if err != nil {
		return err
	}
	for _, addr := range st.Nodes {
		if addr == target {
			continue
		}
		_, known, err := r.myself(ctx, addr)
		if err != nil {
			return err
		}
		met := false
		for _, n := range known {
			if n.ID == targetID {
				met = true
			}
		}
		if met {
			continue
		}
		if err := r.s.act.ClusterMeet(ctx, addr, target); err != nil {
			return err
		}
	}
	return nil
}

// poll calls check every 100 ms until it returns "" (done) or the bound
// runs out; check's last answer says what was still missing.
func poll(ctx context.Context, bound time.Duration, what string, check func() (string, error)) error {
	deadline := time.Now().Add(bound)
	for {
		missing, err := check()
		if err != nil {
			return err
		}
		if missing == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: still not so after %s: %s", what, bound, missing)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitKnown waits until every answering node lists every node of the step
// settled (out of handshake), the new nodes know the whole cluster, the
// views agree, and the new masters say cluster_state:ok.
func (r *opRun) waitKnown(ctx context.Context, st raftstore.OpStep) error {
	return poll(ctx, opWaitBound, "wait until every node knows the new nodes", func() (string, error) {
		l, err := r.s.readLive(ctx, r.addrs())
		if err != nil {
			return err.Error(), nil
		}
		for _, addr := range st.Nodes {
			if _, ok := l.views[addr]; !ok {
				return addr + " does not answer", nil
			}
		}
		want := len(l.views[l.ref])
		for a, v := range l.views {
			for _, addr := range st.Nodes {
				n, _ := r.node(addr)
				if !l.knows(a, n.ID) {
					return fmt.Sprintf("%s does not know %s yet", a, addr), nil
				}
			}
			if len(v) < want {
				return fmt.Sprintf("%s knows %d nodes, %s knows %d", a, len(v), l.ref, want), nil
			}
			for _, n := range v {
				if n.Flags.Handshake {
					return fmt.Sprintf("%s is still in handshake with %s", a, n.Addr), nil
				}
			}
		}
		if d := cluster.Compare(l.views); len(d) > 0 {
			return "views disagree: " + d[0].String(), nil
		}
		for _, addr := range st.Nodes {
			if n, _ := r.node(addr); n.Master != "" {
				continue
			}
			if r.op.Kind == raftstore.OpCreate {
				continue
			}
			if state, err := r.s.clusterState(ctx, addr); err != nil || state != "ok" {
				return fmt.Sprintf("%s says cluster_state:%s", addr, state), nil
			}
		}
		return "", nil
	})
}

// clusterState returns addr's cluster_state from CLUSTER INFO.
func (s *Service) clusterState(ctx context.Context, addr string) (string, error) {
	v, err := s.act.Do(ctx, addr, "CLUSTER", "INFO")
	if err != nil {
		return "", err
	}
	text, _ := v.(string)
	for _, line := range strings.Split(text, "\n") {
		if val, ok := strings.CutPrefix(strings.TrimSpace(line), "cluster_state:"); ok {
			return val, nil
		}
	}
	return "", fmt.Errorf("CLUSTER INFO of %s has no cluster_state", addr)
}

func (r *opRun) replicate(ctx context.Context, st raftstore.OpStep) error {
	for _, addr := range st.Nodes {
		n, ok := r.node(addr)
		if !ok || n.Master == "" {
			return fmt.Errorf("%w: %s has no master in the plan", errOpPermanent, addr)
		}
		me, _, err := r.myself(ctx, addr)
		if err != nil {
			return err
		}
		if me.Flags.Replica && me.MasterID == n.Master {
			continue
		}
		if err := r.s.act.ClusterReplicate(ctx, addr, n.Master); err != nil {
			return err
		}
	}
	return poll(ctx, opWaitBound, "wait for the replicas to follow their masters", func() (string, error) {
		for _, addr := range st.Nodes {
			n, _ := r.node(addr)
			me, _, err := r.myself(ctx, addr)
			if err != nil {
				return err.Error(), nil
			}
			if !me.Flags.Replica || me.MasterID != n.Master {
				return fmt.Sprintf("%s does not follow %s yet", addr, short(n.Master)), nil
			}
		}
		return "", nil
	})
}

// migrate moves the step's slots to their targets, one worker per source
// master, each slot with the full protocol. A slot already at its target
// (moved by an earlier run) is counted and skipped; the source of every
// slot is whoever serves it now, and a target that was failed over since
// the plan stands for its shard's new master.
func (r *opRun) migrate(ctx context.Context, st raftstore.OpStep) error {
	want := map[int]string{}
	for _, m := range st.Moves {
		rs, err := cluster.ParseSlots(m.Slots)
		if err != nil {
			return fmt.Errorf("%w: move %s: %v", errOpPermanent, m.Slots, err)
		}
		for _, rg := range rs {
			for sl := rg.Start; sl <= rg.End; sl++ {
				want[sl] = m.To
			}
		}
	}
	l, err := r.s.readLive(ctx, r.addrs())
	if err != nil {
		return err
	}
	if p := l.problems(); len(p) > 0 && !r.op.Request.Force {
		// Open slots were closed at the start; what is left is a real
		// problem (a failed master, an uncovered slot): let the cluster or
		// the failover settle first.
		for _, x := range p {
			if strings.Contains(x, "flagged failing") || strings.Contains(x, "served by no master") {
				return fmt.Errorf("the cluster is not healthy: %s", strings.Join(p, "; "))
			}
		}
	}
	bySource := map[string][]int{}
	done := 0
	for sl, to := range want {
		target := l.masterOf(to)
		owner, ok := l.topo.Owner(sl)
		switch {
		case !ok:
			return fmt.Errorf("slot %d is served by no master", sl)
		case owner.ID == target:
			done++
		default:
			bySource[owner.ID] = append(bySource[owner.ID], sl)
		}
	}
	r.slotsTotal.Store(int64(len(want)))
	r.slotsMoved.Store(int64(done))
	if len(bySource) == 0 {
		return nil
	}
	masters := l.masters()
	r.migrateStart = time.Now()
	defer func() {
		r.migrateBase = r.migrateSeconds()
		r.migrateStart = time.Time{}
	}()

	wctx, stop := context.WithCancel(ctx)
	defer stop()
	// The progress loop commits counters and watches for a cancel request.
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		t := time.NewTicker(opProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-wctx.Done():
				return
			case <-t.C:
				if o, ok := r.s.fsm.Operation(r.op.ID); ok && o.CancelRequested {
					r.cancelled.Store(true)
				}
				_ = r.commit(wctx, r.cur)
			}
		}
	}()

	// opWorkersPerSource workers per source master, each with its share of
	// the source's slots: a slot move is a chain of round trips, so a few
	// at once keep the source busy. One worker failing stops the others at
	// their next slot boundary (not in the middle of a slot, which a
	// cancelled context would do).
	type job struct {
		src   string
		slots []int
	}
	var jobs []job
	for _, src := range sortedKeys(bySource) {
		slots := bySource[src]
		sort.Ints(slots)
		for w := 0; w < opWorkersPerSource && w < len(slots); w++ {
			var mine []int
			for i := w; i < len(slots); i += opWorkersPerSource {
				mine = append(mine, slots[i])
			}
			jobs = append(jobs, job{src: src, slots: mine})
		}
	}
	errs := make([]error, len(jobs))
	var failed atomic.Bool
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.drainSource(ctx, l, masters, j.src, j.slots, want, &failed)
			if errs[i] != nil && !errors.Is(errs[i], errCancelled) && !errors.Is(errs[i], errStopped) {
				failed.Store(true)
			}
		}()
	}
	wg.Wait()
	stop()
	<-progressDone
	var first error
	for _, err := range errs {
		switch {
		case err == nil, errors.Is(err, errStopped):
		case first == nil || errors.Is(first, errCancelled):
			first = err
		}
	}
	return first
}

// errStopped ends a worker because another one failed.
var errStopped = errors.New("stopped because another source failed")

// drainSource moves slots from one source master, one after another.
func (r *opRun) drainSource(ctx context.Context, l *liveCluster, masters []cluster.Node, src string, slots []int, want map[int]string, failed *atomic.Bool) error {
	srcAddr := l.addrOf(src)
	for len(slots) > 0 {
		if r.cancelled.Load() || r.s.fsm.CancelRequested(r.op.ID) {
			r.cancelled.Store(true)
			return errCancelled
		}
		if failed.Load() {
			return errStopped
		}
		if err := r.waitNoFailover(ctx); err != nil {
			return err
		}
		if err := r.leading(); err != nil {
			return err
		}
		// The next slots going to the same master move as one group.
		dst := l.masterOf(want[slots[0]])
		n := 1
		for n < len(slots) && n < opGroupSlots && l.masterOf(want[slots[n]]) == dst {
			n++
		}
		group := slots[:n]
		slots = slots[n:]
		dstAddr := l.addrOf(dst)
		if dstAddr == "" {
			return fmt.Errorf("the target %s of slot %d has no address in the view", short(dst), group[0])
		}
		var others []string
		for _, m := range masters {
			if m.ID != src && m.ID != dst {
				others = append(others, m.Addr)
			}
		}
		st, err := r.s.act.MigrateSlots(ctx, actions.SlotGroup{Slots: group, Src: srcAddr, SrcID: src, Dst: dstAddr, DstID: dst, Others: others}, actions.MigrateOptions{})
		r.keys.Add(st.Keys)
		r.bytes.Add(st.Bytes)
		if err != nil {
			if !errors.Is(err, actions.ErrOwnerNotAnnounced) {
				return err
			}
			// The slots moved; a master that missed the news learns it by
			// gossip (the target's epoch is the highest).
			r.note(err.Error())
		}
		r.slotsMoved.Add(int64(len(group)))
	}
	return nil
}

// leaderCheckEvery bounds how long a slot move may rely on the last
// confirmation (a quorum round trip) that this member still leads; between
// confirmations the member's own Raft state is checked.
const leaderCheckEvery = 200 * time.Millisecond

// leading refuses once this member no longer leads.
func (r *opRun) leading() error {
	if !r.s.node.IsLeader() {
		return raftstore.ErrNotLeader
	}
	if time.Since(time.Unix(0, r.verifiedAt.Load())) < leaderCheckEvery {
		return nil
	}
	if err := r.s.node.VerifyLeader(); err != nil {
		return err
	}
	r.verifiedAt.Store(time.Now().UnixNano())
	return nil
}

// waitNoFailover pauses while warden forces a failover in the cluster.
func (r *opRun) waitNoFailover(ctx context.Context) error {
	logged := false
	for {
		id := r.s.fsm.ClusterFailoverID(r.op.Cluster)
		if id == "" {
			return nil
		}
		if !logged {
			r.lg.Warn("a forced failover is running: the operation waits", zap.String("failover", id))
			logged = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// removedIDs returns the ids of the step's nodes.
func (r *opRun) removedIDs(st raftstore.OpStep) map[string]string {
	out := map[string]string{}
	for _, a := range st.Nodes {
		if n, ok := r.node(a); ok {
			out[n.ID] = a
		}
	}
	return out
}

// forgetEverywhere sends CLUSTER FORGET for every id to every remaining
// node that still lists it, all at once (the ban window is 60 s).
func (r *opRun) forgetEverywhere(ctx context.Context, ids map[string]string, remaining []string) error {
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, a := range remaining {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id, addr := range ids {
				if _, err := r.s.act.Do(ctx, a, "CLUSTER", "FORGET", id); err != nil && !strings.Contains(err.Error(), "Unknown node") {
					mu.Lock()
					errs = append(errs, fmt.Errorf("forget %s on %s: %w", addr, a, err))
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// remaining lists the answering nodes that are not being removed.
func (r *opRun) remaining(ctx context.Context, ids map[string]string) ([]string, error) {
	var addrs []string
	for _, a := range r.addrs() {
		gone := false
		for _, ga := range ids {
			if ga == a {
				gone = true
			}
		}
		if !gone {
			addrs = append(addrs, a)
		}
	}
	l, err := r.s.readLive(ctx, addrs)
	if err != nil {
		return nil, err
	}
	out := sortedKeys(l.views)
	return out, nil
}

func (r *opRun) forget(ctx context.Context, st raftstore.OpStep) error {
	ids := r.removedIDs(st)
	// Recorded first, so that nothing re-attaches the nodes once reset.
	r.mu.Lock()
	r.removed = append(r.removed, st.Nodes...)
	r.mu.Unlock()
	if err := r.commit(ctx, r.cur); err != nil {
		return err
	}
	r.s.forgetDiscovered(r.op.Cluster, st.Nodes)
	for _, a := range st.Nodes {
		// A drained master usually became a replica of the shard that took
		// its last slot (its keys are then a copy); one still a master must
		// hold nothing.
		me, _, err := r.myself(ctx, a)
		if err != nil || !me.Flags.Master {
			continue
		}
		if len(me.Slots) > 0 {
			return fmt.Errorf("%w: %s still serves slots %s; it is not removed", errOpPermanent, a, cluster.FormatSlots(me.Slots))
		}
		v, err := r.s.act.Do(ctx, a, "DBSIZE")
		if err == nil {
			if k, _ := v.(int64); k > 0 {
				return fmt.Errorf("%w: %s still holds %d keys; it is not removed", errOpPermanent, a, k)
			}
		}
	}
	remaining, err := r.remaining(ctx, ids)
	if err != nil {
		return err
	}
	if err := r.forgetEverywhere(ctx, ids, remaining); err != nil {
		return err
	}
	r.mu.Lock()
	r.forgotAt = time.Now()
	r.mu.Unlock()
	return nil
}

// verifyGone watches, through the ban window, that no remaining node
// learns a removed node again (one that does is told to forget it again),
// then resets the removed nodes. They are reset only now: until then they
// answer clients whose slot map is old with MOVED to the new owner, where a
// reset node would answer CLUSTERDOWN; and no remaining node knows them,
// so their gossip is ignored.
func (r *opRun) verifyGone(ctx context.Context, st raftstore.OpStep) error {
	if err := r.watchGone(ctx, st); err != nil {
		return err
	}
	for _, a := range st.Nodes {
		if _, err := r.s.act.Do(ctx, a, "CLUSTER", "RESET", "HARD"); err != nil {
			r.note(fmt.Sprintf("CLUSTER RESET %s: %v (the node keeps its old view; stop it)", a, err))
		}
	}
	return nil
}

func (r *opRun) watchGone(ctx context.Context, st raftstore.OpStep) error {
	ids := r.removedIDs(st)
	// The window runs from the FORGET, also when a new leader resumes here.
	end := time.Now().Add(forgetBan)
	r.mu.Lock()
	if e := r.forgotAt.Add(forgetBan); !r.forgotAt.IsZero() && e.Before(end) {
		end = e
	}
	r.mu.Unlock()
	relearned := 0
	for {
		remaining, err := r.remaining(ctx, ids)
		if err != nil {
			return err
		}
		l, err := r.s.readLive(ctx, remaining)
		if err != nil {
			return err
		}
		var back []string
		for a := range l.views {
			for id, ga := range ids {
				for _, n := range l.views[a] {
					if n.ID == id {
						back = append(back, ga+" on "+a)
					}
				}
			}
		}
		sort.Strings(back)
		if len(back) > 0 {
			relearned++
			if relearned > 3 {
				return fmt.Errorf("%w: nodes learned the removed nodes again: %s", errOpPermanent, strings.Join(back, ", "))
			}
			r.note("forgotten nodes listed again, forgetting them again: " + strings.Join(back, ", "))
			if err := r.forgetEverywhere(ctx, ids, remaining); err != nil {
				return err
			}
			end = time.Now().Add(forgetBan)
		} else if time.Now().After(end) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// verify checks the result: every slot served, no slot open, every node
// says ok, the plan's moves and replicas in place.
func (r *opRun) verify(ctx context.Context, st raftstore.OpStep) error {
	return poll(ctx, opWaitBound, "verify the result", func() (string, error) {
		l, err := r.s.readLive(ctx, r.addrs())
		if err != nil {
			return err.Error(), nil
		}
		if p := l.problems(); len(p) > 0 {
			return strings.Join(p, "; "), nil
		}
		for _, a := range sortedKeys(l.views) {
			if state, err := r.s.clusterState(ctx, a); err != nil || state != "ok" {
				return fmt.Sprintf("%s says cluster_state:%s", a, state), nil
			}
		}
		for _, n := range r.op.Nodes {
			if n.Master == "" || r.op.Kind == raftstore.OpRemoveShard || r.op.Kind == raftstore.OpRemoveReplicas {
				continue
			}
			self, ok := l.self[n.ID]
			if !ok {
				return n.Addr + " does not answer", nil
			}
			if !self.Flags.Replica || self.MasterID != n.Master {
				return fmt.Sprintf("%s does not follow %s", n.Addr, short(n.Master)), nil
			}
		}
		for _, ps := range r.op.Plan {
			for _, m := range ps.Moves {
				rs, _ := cluster.ParseSlots(m.Slots)
				for _, rg := range rs {
					owner, ok := l.topo.Owner(rg.Start)
					if !ok || owner.ID != l.masterOf(m.To) {
						return fmt.Sprintf("slot %d is not at %s", rg.Start, m.ToAddr), nil
					}
				}
			}
		}
		return "", nil
	})
}

package e2e

// The chaos environment: one group (a master and two replicas), three
// watchdogs, a failover-client workload and a probe writer, each on its own
// loopback address, that lives through many faults in a row. Every fault
// is an Episode: injected, held, healed, and then checked against the
// invariants warden promises (Check). The per-scenario tests run one
// episode each; the randomized schedule runs hundreds in one environment.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"warden/config"
)

// ChaosEnvOptions configure StartChaosEnv.
type ChaosEnvOptions struct {
	// Dir holds everything; WardenBinary runs the watchdogs. Required.
	Dir, WardenBinary string
	// DownAfter is detection.down_after (default 1s); BlockAfter
	// failover.block_after (default 3s: episodes follow each other).
	DownAfter, BlockAfter time.Duration
	// Settle bounds the wait for the group to converge after a heal
	// (default 45s).
	Settle time.Duration
	// Configure edits each watchdog's configuration further.
	Configure func(*config.Config)
	// Sentinel runs three Redis Sentinels (down-after DownAfter,
	// failover-timeout 10 s) in the watchdogs' place, for comparison: only
	// the faults of Redis nodes apply, and the members' state is not
	// compared.
	Sentinel bool
	// Logf receives progress lines (default: none).
	Logf func(format string, args ...any)
}

// ChaosEnv is the running environment. Redis[i] listens on NodeIPs[i],
// Wardens[i] on WardenIPs[i] (and dials from it: source_address).
type ChaosEnv struct {
	Redis     []*Redis
	Wardens   []*Warden
	NodeIPs   []string
	WardenIPs []string
	Endpoints []string // the watchdogs' Sentinel endpoints, as Wardens
	ClientIP  string   // the workload's address
	ProbeIP   string   // the probe writer's address
	P         *Partitioner
	WL        *Workload

	o     ChaosEnvOptions
	run   *chaosRun
	probe *probeWriter
	lost  map[string]bool // WAIT keys found lost (reported once)
}

// StartChaosEnv starts the environment and its workload, and waits until
// the watchdogs agree on the master and writes are acknowledged.
func StartChaosEnv(ctx context.Context, p *Partitioner, o ChaosEnvOptions) (*ChaosEnv, error) {
	if o.DownAfter == 0 {
		o.DownAfter = time.Second
	}
	if o.BlockAfter == 0 {
		o.BlockAfter = 3 * time.Second
	}
	if o.Settle == 0 {
		o.Settle = 45 * time.Second
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	cn := NewChaosNet()
	e := &ChaosEnv{P: p, o: o, run: &chaosRun{}, ClientIP: cn.IP(50), ProbeIP: cn.IP(51), lost: map[string]bool{}}
	ok := false
	defer func() {
		if !ok {
			e.Close()
		}
	}()
	for i := 0; i < 3; i++ {
		ip := cn.IP(2 + i)
		replicaOf := ""
		if i > 0 {
			replicaOf = e.run.redis[0].Addr
		}
		r, err := StartRedisAt(ctx, ip, filepath.Join(o.Dir, fmt.Sprintf("redis-%d", i+1)), replicaOf)
		if err != nil {
			return nil, err
		}
		e.run.redis = append(e.run.redis, r)
		e.NodeIPs = append(e.NodeIPs, ip)
	}
	e.Redis = e.run.redis
	for _, r := range e.Redis[1:] {
		if err := r.WaitForReplica(ctx, e.Redis[0].Addr, 20*time.Second); err != nil {
			return nil, err
		}
	}
	for i := 0; i < 3; i++ {
		e.WardenIPs = append(e.WardenIPs, cn.IP(11+i))
	}
	if o.Sentinel {
		if err := e.startSentinels(ctx); err != nil {
			return nil, err
		}
	} else {
		ws, eps, err := startChaosWardens(ctx, IsolatedMasterOptions{
			Dir: o.Dir, WardenBinary: o.WardenBinary, DownAfter: o.DownAfter,
			Configure: func(c *config.Config) {
				c.Failover.BlockAfter = config.Duration(o.BlockAfter)
				if o.Configure != nil {
					o.Configure(c)
				}
			},
		}, e.WardenIPs, e.addrs())
		e.run.wardens = ws
		if err != nil {
			return nil, err
		}
		e.Wardens, e.Endpoints = ws, eps
	}
	e.WL = NewWorkload(DefaultGroup, e.Endpoints, e.ClientIP)
	// About 1,500 writes a second: enough to see any loss, small enough
	// that hundreds of faults in a row keep a dataset that resyncs fast.
	e.WL.Pace = 2 * time.Millisecond
	e.WL.Start(ctx, 2)
	e.probe = startProbeWriter(ctx, e.addrs(), e.ProbeIP)
	if err := WaitFor(ctx, 20*time.Second, "the workload to get plain and WAIT writes acknowledged", func() (bool, error) {
		p, w := e.WL.Acked(WritePlain), e.WL.Acked(WriteWAIT)
		_, ep := e.WL.Failed(WritePlain)
		return p >= 200 && w >= 50, fmt.Errorf("plain %d acknowledged, WAIT %d (last error: %s)", p, w, ep)
	}); err != nil {
		return nil, err
	}
	ok = true
	return e, nil
}

// startSentinels starts three sentinels on the watchdogs' addresses and
// waits until each knows the two replicas and the two other sentinels.
func (e *ChaosEnv) startSentinels(ctx context.Context) error {
	for i, ip := range e.WardenIPs {
		sn, err := StartSentinelAt(ctx, ip, SentinelOptions{
			Dir: filepath.Join(e.o.Dir, fmt.Sprintf("sentinel-%d", i+1)), MasterName: DefaultGroup, Master: e.Redis[0].Addr,
			Quorum: 2, DownAfter: e.o.DownAfter, FailoverTimeout: 10 * time.Second, ParallelSyncs: 1,
		})
		if err != nil {
			return err
		}
		e.run.sentinels = append(e.run.sentinels, sn)
		e.Endpoints = append(e.Endpoints, sn.Addr)
	}
	for _, sn := range e.run.sentinels {
		if err := sn.WaitReady(ctx, 2, 2, 30*time.Second); err != nil {
			return err
		}
	}
	return nil
}

func (e *ChaosEnv) addrs() []string {
	var a []string
	for _, r := range e.Redis {
		a = append(a, r.Addr)
	}
	return a
}

// Close stops the workload and every process the environment started.
func (e *ChaosEnv) Close() {
	if e.probe != nil {
		e.probe.stop()
	}
	if e.WL != nil {
		_ = e.WL.Close()
	}
	e.run.close()
}

// Logs returns the tails of the watchdogs' logs, for a failure message.
func (e *ChaosEnv) Logs(n int) string {
	var b strings.Builder
	for _, w := range e.Wardens {
		fmt.Fprintf(&b, "--- %s (%s)\n%s\n", w.ID, w.LogPath, w.Tail(n))
	}
	return b.String()
}

// Leader returns the index of the watchdog the running members name as
// Raft leader, or -1.
func (e *ChaosEnv) Leader(ctx context.Context) int {
	votes := map[string]int{}
	for _, w := range e.Wardens {
		if !w.Running() {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := w.API.Status(cctx)
		cancel()
		if err == nil && st.LeaderID != "" {
			votes[st.LeaderID]++
		}
	}
	for id, n := range votes {
		if n >= 2 {
			for i, w := range e.Wardens {
				if w.ID == id {
					return i
				}
			}
		}
	}
	return -1
}

// WaitLeader waits for a leader the running members agree on.
func (e *ChaosEnv) WaitLeader(ctx context.Context) (int, error) {
	l := -1
	err := WaitFor(ctx, 20*time.Second, "the watchdogs to agree on a Raft leader", func() (bool, error) {
		l = e.Leader(ctx)
		return l >= 0, nil
	})
	return l, err
}

// reported is the group as the first running watchdog that answers
// reports it.
func (e *ChaosEnv) reported(ctx context.Context) (Group, error) {
	if e.o.Sentinel {
		return e.sentinelReported(ctx)
	}
	var errs []error
	for _, w := range e.Wardens {
		if !w.Running() {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		g, err := w.API.Group(cctx, DefaultGroup)
		cancel()
		if err == nil {
			return g, nil
		}
		errs = append(errs, err)
	}
	return Group{}, fmt.Errorf("no watchdog answered: %w", errors.Join(errs...))
}

// sentinelReported is the master the sentinels name, with its
// config-epoch as the epoch; they must agree.
func (e *ChaosEnv) sentinelReported(ctx context.Context) (Group, error) {
	var g Group
	for i, ep := range e.Endpoints {
		c := sentinelClientAt(ep)
		m, err := c.Master(ctx, DefaultGroup).Result()
		c.Close()
		if err != nil {
			return Group{}, fmt.Errorf("sentinel %s: %w", ep, err)
		}
		var epoch uint64
		fmt.Sscan(m["config-epoch"], &epoch)
		cur := Group{Name: DefaultGroup, Master: net.JoinHostPort(m["ip"], m["port"]), Epoch: epoch, Status: GroupOK}
		if i > 0 && (cur.Master != g.Master || cur.Epoch != g.Epoch) {
			return Group{}, fmt.Errorf("sentinel %s names %s at epoch %d, %s names %s at epoch %d", e.Endpoints[0], g.Master, g.Epoch, ep, cur.Master, cur.Epoch)
		}
		g = cur
	}
	return g, nil
}

func (e *ChaosEnv) nodeIndex(addr string) int {
	for i, r := range e.Redis {
		if r.Addr == addr {
			return i
		}
	}
	return -1
}

// Episode is one fault: Inject applies it and returns what heals it.
type Episode struct {
	Name string
	// Hold is how long the fault lasts before it is healed.
	Hold time.Duration
	// Inject applies the fault to e and returns the heal. It may note
	// facts for the check in the episode's Notes.
	Inject func(ctx context.Context, e *ChaosEnv, ep *Episode) (heal func(context.Context) error, err error)
	// MaxPromotions is how many failovers the episode may cause; 0 means
	// none may happen (the fault never made the master unusable).
	MaxPromotions int
	// During, when set, is checked once just before the heal (for faults
	// whose promise is about what happens while they last).
	During func(ctx context.Context, e *ChaosEnv, ep *Episode) error
	// Notes carries facts from Inject to During.
	Notes map[string]string
}

// EpisodeResult is what an episode measured.
type EpisodeResult struct {
	Name                  string
	Promotions            int
	PlainAcked, PlainLost int
	WAITAcked, WAITLost   int
	// SplitBrain is the longest time two nodes acknowledged writes as
	// masters at once (probe writer, 100 ms resolution).
	SplitBrain time.Duration
	// Converged is the time from the heal to the group settled and every
	// member's state identical.
	Converged  time.Duration
	Violations []string
}

func (r EpisodeResult) String() string {
	s := fmt.Sprintf("%s: %d promotion(s); plain lost %d of %d, WAIT lost %d of %d; split brain %v; converged %v after the heal",
		r.Name, r.Promotions, r.PlainLost, r.PlainAcked, r.WAITLost, r.WAITAcked, r.SplitBrain, r.Converged.Round(time.Millisecond))
	if len(r.Violations) > 0 {
		s += "; VIOLATIONS: " + strings.Join(r.Violations, "; ")
	}
	return s
}

// splitBrainBound is the longest two nodes may both acknowledge writes:
// the fence (min-replicas-max-lag 1 s, measured on replicas' once-a-second
// acknowledgements) stops the old master within about 2 s of losing its
// replicas, and the new one cannot be promoted before down_after (1 s).
const splitBrainBound = 3 * time.Second

// RunEpisode injects ep, holds it, heals it, waits for the group to settle
// and checks every invariant. An error is a failure of the harness (or a
// group that never settled); invariant violations are in the result.
func (e *ChaosEnv) RunEpisode(ctx context.Context, ep *Episode) (EpisodeResult, error) {
	res := EpisodeResult{Name: ep.Name}
	if ep.Notes == nil {
		ep.Notes = map[string]string{}
	}
	before, err := e.reported(ctx)
	if err != nil {
		return res, err
	}
	plainFrom, waitFrom := len(e.WL.Keys(WritePlain)), len(e.WL.Keys(WriteWAIT))
	probeFrom := time.Now()
	heal, err := ep.Inject(ctx, e, ep)
	if err != nil {
		if heal != nil {
			_ = heal(ctx)
		}
		return res, fmt.Errorf("%s: inject: %w", ep.Name, err)
	}
	e.o.Logf("%s: injected, holding %v", ep.Name, ep.Hold)
	if err := pause(ctx, ep.Hold); err != nil {
		_ = heal(ctx)
		return res, err
	}
	if ep.During != nil {
		if err := ep.During(ctx, e, ep); err != nil {
			res.Violations = append(res.Violations, "during the fault: "+err.Error())
		}
	}
	if err := heal(ctx); err != nil {
		return res, fmt.Errorf("%s: heal: %w", ep.Name, err)
	}
	healed := time.Now()
	final, err := e.settle(ctx)
	if err != nil {
		return res, fmt.Errorf("%s: %w", ep.Name, err)
	}
	if err := e.sameState(ctx); err != nil {
		res.Violations = append(res.Violations, err.Error())
	}
	res.Converged = time.Since(healed)
	// Promotions: the epoch counts them.
	res.Promotions = int(final.Epoch - before.Epoch)
	if res.Promotions > ep.MaxPromotions {
		res.Violations = append(res.Violations, fmt.Sprintf("%d promotion(s) (epoch %d → %d, master %s → %s), at most %d allowed",
			res.Promotions, before.Epoch, final.Epoch, before.Master, final.Master, ep.MaxPromotions))
	}
	// Writes: this episode's, and a sample of the earlier WAIT writes.
	plain := e.WL.Keys(WritePlain)[plainFrom:]
	missing, err := Missing(ctx, final.Master, plain)
	if err != nil {
		return res, err
	}
	res.PlainAcked, res.PlainLost = len(plain), len(missing)
	waits := e.WL.Keys(WriteWAIT)
	check := slices.Clone(waits[waitFrom:])
	for i := 0; i < 200 && waitFrom > 0; i++ {
		if k := waits[rand.IntN(waitFrom)]; !e.lost[k] {
			check = append(check, k)
		}
	}
	res.WAITAcked = len(waits) - waitFrom
	missing, err = Missing(ctx, final.Master, check)
	if err != nil {
		return res, err
	}
	if len(missing) > 0 {
		// Count every loss once, here: all the earlier writes too, which
		// later samples then skip.
		if missing, err = Missing(ctx, final.Master, waits); err != nil {
			return res, err
		}
		var fresh []string
		for _, k := range missing {
			if !e.lost[k] {
				e.lost[k] = true
				fresh = append(fresh, k)
			}
		}
		res.WAITLost = len(fresh)
		res.Violations = append(res.Violations, fmt.Sprintf("%d WAIT-acknowledged write(s) lost, e.g. %v", len(fresh), fresh[:min(5, len(fresh))]))
	}
	res.SplitBrain = e.probe.splitBrain(probeFrom, time.Now())
	if res.SplitBrain > splitBrainBound {
		res.Violations = append(res.Violations, fmt.Sprintf("two nodes acknowledged writes as masters for %v at once (bound %v)", res.SplitBrain, splitBrainBound))
	}
	return res, nil
}

// pause waits d or until ctx ends: it holds a fault, and paces loops that
// must watch for a whole window (TestNoFailoverWithoutQuorum).
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// settle waits until every watchdog runs and they agree on a leader and on
// the group (status ok, one master, same epoch), every Sentinel endpoint
// names that master, it is a master in Redis, and every other node
// replicates from it with its link up and caught up: the topology warden
// reports is the one the nodes are in.
func (e *ChaosEnv) settle(ctx context.Context) (Group, error) {
	var g Group
	err := WaitEvery(ctx, e.o.Settle, 100*time.Millisecond, "the group to settle in the topology the watchdogs report", func() (bool, error) {
		var err error
		if e.o.Sentinel {
			if g, err = e.sentinelReported(ctx); err != nil {
				return false, err
			}
		} else {
			if e.Leader(ctx) < 0 {
				return false, errors.New("no Raft leader")
			}
			if g, err = WaitForAgreement(ctx, e.Wardens, DefaultGroup, 0); err != nil {
				return false, err
			}
		}
		for i, ep := range e.Endpoints {
			c := sentinelClientAt(ep)
			v, err := c.GetMasterAddrByName(ctx, DefaultGroup).Result()
			c.Close()
			if err != nil || len(v) != 2 || net.JoinHostPort(v[0], v[1]) != g.Master {
				return false, fmt.Errorf("Sentinel endpoint %d (%s) names %v (%v), the API %s", i+1, ep, v, err, g.Master)
			}
		}
		mi, err := InfoReplication(ctx, g.Master, "")
		if err != nil {
			return false, err
		}
		if mi["role"] != "master" {
			return false, fmt.Errorf("reported master %s has role %s", g.Master, mi["role"])
		}
		for _, r := range e.Redis {
			if r.Addr == g.Master {
				continue
			}
			ri, err := InfoReplication(ctx, r.Addr, "")
			if err != nil {
				return false, err
			}
			if ri["role"] != "slave" || net.JoinHostPort(ri["master_host"], ri["master_port"]) != g.Master || ri["master_link_status"] != "up" {
				return false, fmt.Errorf("%s: role %s, master %s:%s, link %s", r.Addr, ri["role"], ri["master_host"], ri["master_port"], ri["master_link_status"])
			}
		}
		return true, nil
	})
	return g, err
}

// sameState checks that the members' replicated states are identical:
// polled until all three report the same applied index (commands keep
// coming), their digests must then be equal.
func (e *ChaosEnv) sameState(ctx context.Context) error {
	if e.o.Sentinel {
		return nil
	}
	var last []Status
	err := WaitEvery(ctx, 10*time.Second, 5*time.Millisecond, "every member at the same applied index", func() (bool, error) {
		last = last[:0]
		for _, w := range e.Wardens {
			st, err := w.API.Status(ctx)
			if err != nil {
				return false, err
			}
			last = append(last, st)
		}
		for _, st := range last[1:] {
			if st.AppliedIndex != last[0].AppliedIndex || st.AppliedIndex == 0 {
				return false, fmt.Errorf("applied indexes %d, %d, %d", last[0].AppliedIndex, last[1].AppliedIndex, last[2].AppliedIndex)
			}
		}
		return true, nil
	})
	if err != nil {
		return nil // no common index seen: nothing to compare, not a divergence
	}
	for i, st := range last[1:] {
		if st.StateDigest != last[0].StateDigest {
			return fmt.Errorf("state diverged: at index %d %s has digest %s, %s has %s",
				st.AppliedIndex, e.Wardens[0].ID, last[0].StateDigest, e.Wardens[i+1].ID, st.StateDigest)
		}
	}
	return nil
}

// probeWriter writes to every node directly, from its own address, every
// 50 ms, and records when each node acknowledged a write: a node that
// acknowledges a write is acting as a master.
type probeWriter struct {
	mu     sync.Mutex
	acks   map[string][]time.Time
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startProbeWriter(ctx context.Context, addrs []string, ip string) *probeWriter {
	ctx, cancel := context.WithCancel(ctx)
	p := &probeWriter{acks: map[string][]time.Time{}, cancel: cancel}
	for _, a := range addrs {
		o := chaosClientOptions(ip)
		o.Addr, o.PoolSize, o.MaxRetries = a, 1, -1
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout = 200*time.Millisecond, 200*time.Millisecond, 200*time.Millisecond
		c := redis.NewClient(o)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer c.Close()
			t := time.NewTicker(50 * time.Millisecond)
			defer t.Stop()
			for n := 0; ; n++ {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				if c.Set(ctx, "chaos:probe:"+a, n, 0).Err() == nil {
					p.mu.Lock()
					p.acks[a] = append(p.acks[a], time.Now())
					p.mu.Unlock()
				}
			}
		}()
	}
	return p
}

func (p *probeWriter) stop() {
	p.cancel()
	p.wg.Wait()
}

// splitBrain returns the longest run of 100 ms slots in [from, to) in which
// two or more nodes acknowledged a write (one empty slot does not end a
// run: the probes come every 50 ms).
func (p *probeWriter) splitBrain(from, to time.Time) time.Duration {
	const slot = 100 * time.Millisecond
	n := int(to.Sub(from)/slot) + 1
	nodes := make([]map[string]bool, n)
	p.mu.Lock()
	for a, ts := range p.acks {
		i := sort.Search(len(ts), func(i int) bool { return !ts[i].Before(from) })
		for ; i < len(ts) && ts[i].Before(to); i++ {
			k := int(ts[i].Sub(from) / slot)
			if nodes[k] == nil {
				nodes[k] = map[string]bool{}
			}
			nodes[k][a] = true
		}
	}
	p.mu.Unlock()
	best, run, gap := 0, 0, 0
	for _, s := range nodes {
		if len(s) >= 2 {
			run += 1 + gap
			gap = 0
			best = max(best, run)
			continue
		}
		if run > 0 && gap == 0 {
			gap = 1
			continue
		}
		run, gap = 0, 0
	}
	return time.Duration(best) * slot
}

package e2e

// The chaos harness: Redis nodes, watchdogs or Redis Sentinels and a client,
// each on its own loopback address, so that iptables can cut the network
// between chosen addresses; a workload that records every acknowledged
// write; and a checker that counts which of them the final master lost.
//
// Everything stays on loopback: the addresses are 127.a.b.x inside
// 127.0.0.0/8 (all of it is loopback on Linux), a block derived from the
// process id so that two runs on one machine do not meet, and the iptables
// rules match only pairs of this run's own addresses, arriving on lo, in a
// chain named after the process that the run creates and always removes.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"warden/config"
)

// ErrIptablesUnusable is wrapped by NewPartitioner's error when iptables
// is missing or may not change the firewall (not root, no CAP_NET_ADMIN).
var ErrIptablesUnusable = errors.New("iptables is not usable")

// ChaosNet hands out this run's loopback addresses: 127.a.b.x with a and b
// taken from the process id.
type ChaosNet struct {
	prefix string // "127.a.b."
}

// NewChaosNet returns the address block of this process.
func NewChaosNet() ChaosNet {
	pid := os.Getpid()
	return ChaosNet{prefix: fmt.Sprintf("127.%d.%d.", 10+(pid>>8)%240, pid%256)}
}

// IP returns the address with last byte n (2..254).
func (c ChaosNet) IP(n int) string { return c.prefix + strconv.Itoa(n) }

// Partitioner drops packets between chosen loopback addresses with
// iptables: a chain of its own (WARDEN_CHAOS_<pid>) jumped to from INPUT for
// packets arriving on lo. Packets are dropped on arrival, not on sending, so
// the sender sees silence (timeouts), as across a real partition.
type Partitioner struct {
	Chain string

	mu    sync.Mutex
	rules [][2]string // src, dst of the DROP rules in force
}

func iptables(args ...string) error {
	out, err := exec.Command("iptables", append([]string{"-w", "5"}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("iptables %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// NewPartitioner creates the chain and the jump to it. An error wrapping
// ErrIptablesUnusable means iptables cannot be used here (tests skip);
// Close removes everything it added.
func NewPartitioner() (*Partitioner, error) {
	if _, err := exec.LookPath("iptables"); err != nil {
		return nil, fmt.Errorf("%w: not in PATH (install Debian's iptables package: make iptables)", ErrIptablesUnusable)
	}
	removeStaleChains()
	p := &Partitioner{Chain: fmt.Sprintf("WARDEN_CHAOS_%d", os.Getpid())}
	if err := iptables("-N", p.Chain); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIptablesUnusable, err)
	}
	if err := iptables("-I", "INPUT", "1", "-i", "lo", "-j", p.Chain); err != nil {
		_ = iptables("-X", p.Chain)
		return nil, fmt.Errorf("%w: %v", ErrIptablesUnusable, err)
	}
	return p, nil
}

// removeStaleChains removes the chains a killed run left behind: chains
// named WARDEN_CHAOS_<pid> whose process no longer exists, with their jump.
// Nothing else is touched.
func removeStaleChains() {
	out, err := exec.Command("iptables", "-w", "5", "-S").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		chain, ok := strings.CutPrefix(strings.TrimSpace(line), "-N ")
		if !ok {
			continue
		}
		pid, ok := strings.CutPrefix(chain, "WARDEN_CHAOS_")
		if n, err := strconv.Atoi(pid); !ok || err != nil || n <= 0 {
			continue
		}
		if _, err := os.Stat("/proc/" + pid); err == nil {
			continue // its run may still be going
		}
		stale := &Partitioner{Chain: chain}
		_ = stale.Close()
	}
}

// Cut drops every packet from a to b and from b to a, for each b in others.
// Every address must be a loopback address (127.0.0.0/8).
func (p *Partitioner) Cut(a string, others ...string) error {
	return p.drop(a, others)
}

// Lose drops each packet from a to b and from b to a, for each b in others,
// with probability prob (iptables' statistic match): a lossy link.
func (p *Partitioner) Lose(prob float64, a string, others ...string) error {
	return p.drop(a, others, "-m", "statistic", "--mode", "random", "--probability", strconv.FormatFloat(prob, 'f', 3, 64))
}

// drop adds the DROP rules of Cut and Lose, with match (more iptables
// matches) on each.
func (p *Partitioner) drop(a string, others []string, match ...string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range others {
		for _, pair := range [][2]string{{a, b}, {b, a}} {
			for _, ip := range pair {
				if x := net.ParseIP(ip); x == nil || !x.IsLoopback() {
					return fmt.Errorf("partition: %q is not a loopback address", ip)
				}
			}
			args := append([]string{"-A", p.Chain, "-i", "lo", "-s", pair[0], "-d", pair[1]}, match...)
			if err := iptables(append(args, "-j", "DROP")...); err != nil {
				return err
			}
			p.rules = append(p.rules, pair)
		}
	}
	return nil
}

// Heal removes every DROP rule (the chain stays, empty).
func (p *Partitioner) Heal() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = nil
	return iptables("-F", p.Chain)
}

// Close removes the jump and the chain.
func (p *Partitioner) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	// The jump was inserted once; delete until none is left, a few times
	// at most.
	for i := 0; i < 5 && iptables("-D", "INPUT", "-i", "lo", "-j", p.Chain) == nil; i++ {
	}
	if err := iptables("-F", p.Chain); err != nil {
		errs = append(errs, err)
	}
	if err := iptables("-X", p.Chain); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// StartRedisAt starts a redis-server bound to ip (an address of a
// ChaosNet), announcing ip to its master, with protected mode off (it would
// refuse clients not on 127.0.0.1). The returned Redis works as any other
// (Kill, Role, Client...).
func StartRedisAt(ctx context.Context, ip, dir, replicaOf string, args ...string) (*Redis, error) {
	bin, err := RedisServerPath()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("start redis: %w", err)
	}
	for attempt := 1; ; attempt++ {
		port, err := FreePort()
		if err != nil {
			return nil, fmt.Errorf("start redis: %w", err)
		}
		o := RedisOptions{Port: port, Dir: dir, ReplicaOf: replicaOf, StartTimeout: 10 * time.Second,
			Args: append([]string{"--bind", ip, "--protected-mode", "no", "--replica-announce-ip", ip}, args...)}
		r := newRedis(bin, o)
		r.Addr = net.JoinHostPort(ip, strconv.Itoa(port))
		r.proc.name = "redis " + r.Addr
		err = r.start(ctx)
		if err == nil {
			return r, nil
		}
		if attempt >= 3 || !errors.Is(err, errPortTaken) {
			return nil, err
		}
	}
}

// StartSentinelAt is StartSentinel bound to ip and announcing ip to the
// other sentinels.
func StartSentinelAt(ctx context.Context, ip string, o SentinelOptions) (*Sentinel, error) {
	o.IP = ip
	return StartSentinel(ctx, o)
}

// Write kinds of the chaos workload.
const (
	WritePlain = "plain" // SET, acknowledged by its OK
	WriteWAIT  = "wait"  // SET then WAIT 1 100 on the same connection, acknowledged when WAIT says ≥ 1
)

// Workload writes unique keys through one go-redis failover client that
// dials from the client's own address, and records every acknowledged
// write with its kind: PlainWriters goroutines of plain SETs, and one
// stream of SET+WAIT 1 100 pipelines.
type Workload struct {
	Client *redis.Client

	mu      sync.Mutex
	acked   map[string][]string // kind -> keys
	failed  map[string]int
	lastErr map[string]string
	lastOK  time.Time
	gapFrom time.Time     // start of the longest gap without a plain acknowledgement
	gap     time.Duration // its length

	// Pace, when set before Start, spaces each writer's writes (the
	// dataset of a long run stays small enough to resync quickly).
	Pace time.Duration

	stop chan struct{}
	wg   sync.WaitGroup
}

// NewWorkload builds the failover client (master name group, the given
// Sentinel or watchdog Sentinel-endpoint addresses), dialing from clientIP.
func NewWorkload(group string, sentinels []string, clientIP string) *Workload {
	o := chaosClientOptions(clientIP)
	return newWorkload(redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName: group, SentinelAddrs: sentinels, Dialer: o.Dialer, Protocol: o.Protocol, DisableIdentity: o.DisableIdentity,
		DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout, PoolSize: o.PoolSize,
	}))
}

// NewPinnedWorkload writes through a plain client of the node at addr,
// dialing from clientIP: an application that does not follow failovers.
func NewPinnedWorkload(addr, clientIP string) *Workload {
	o := chaosClientOptions(clientIP)
	o.Addr = addr
	return newWorkload(redis.NewClient(o))
}

// chaosClientOptions are the workload's client options: connections leave
// from ip, RESP2, short timeouts, 16 connections.
func chaosClientOptions(ip string) *redis.Options {
	d := &net.Dialer{Timeout: 500 * time.Millisecond, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &redis.Options{
		Dialer:          d.DialContext,
		Protocol:        2,
		DisableIdentity: true,
		DialTimeout:     500 * time.Millisecond,
		ReadTimeout:     500 * time.Millisecond,
		WriteTimeout:    500 * time.Millisecond,
		PoolSize:        16,
	}
}

func newWorkload(c *redis.Client) *Workload {
	return &Workload{Client: c, acked: map[string][]string{}, failed: map[string]int{}, lastErr: map[string]string{}}
}

// Start launches the writers.
func (w *Workload) Start(ctx context.Context, plainWriters int) {
	w.stop = make(chan struct{})
	w.lastOK = time.Now()
	for i := 0; i < plainWriters; i++ {
		w.loop(ctx, WritePlain, func(n int) (string, bool, error) {
			key := fmt.Sprintf("p:%d:%d", i, n)
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			err := w.Client.Set(cctx, key, "1", 0).Err()
			return key, err == nil, err
		})
	}
	w.loop(ctx, WriteWAIT, func(n int) (string, bool, error) {
		key := fmt.Sprintf("w:%d", n)
		var set *redis.StatusCmd
		var wait *redis.Cmd
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := w.Client.Pipelined(cctx, func(p redis.Pipeliner) error {
			set = p.Set(cctx, key, "1", 0)
			wait = p.Do(cctx, "WAIT", 1, 100)
			return nil
		})
		if err != nil || set.Err() != nil {
			return key, false, err
		}
		replicas, err := wait.Int64()
		if err == nil && replicas < 1 {
			err = errors.New("WAIT 1 100: no replica acknowledged")
		}
		return key, err == nil, err
	})
}

// loop runs write(0), write(1), ... in a goroutine until Stop or the end
// of ctx, recording each outcome under kind; it backs off 10 ms after an
// error.
func (w *Workload) loop(ctx context.Context, kind string, write func(n int) (key string, ok bool, err error)) {
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for n := 0; ; n++ {
			select {
			case <-w.stop:
				return
			case <-ctx.Done():
				return
			default:
			}
			key, ok, err := write(n)
			w.record(kind, key, ok, err)
			if d := w.Pace; err != nil || d > 0 {
				if err != nil {
					d = max(d, 10*time.Millisecond)
				}
				time.Sleep(d)
			}
		}
	}()
}

func (w *Workload) record(kind, key string, ok bool, err error) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if ok {
		w.acked[kind] = append(w.acked[kind], key)
		if kind == WritePlain {
			if g := now.Sub(w.lastOK); g > w.gap {
				w.gap, w.gapFrom = g, w.lastOK
			}
			w.lastOK = now
		}
		return
	}
	w.failed[kind]++
	if err != nil {
		w.lastErr[kind] = err.Error()
	}
}

// Stop stops the writers and waits for them.
func (w *Workload) Stop() {
	if w.stop != nil {
		close(w.stop)
		w.wg.Wait()
		w.stop = nil
	}
}

// Close stops the writers and closes the client.
func (w *Workload) Close() error {
	w.Stop()
	return w.Client.Close()
}

// Acked returns how many writes of kind were acknowledged so far.
func (w *Workload) Acked(kind string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked[kind])
}

// Keys returns the acknowledged keys of kind.
func (w *Workload) Keys(kind string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.acked[kind]...)
}

// Failed returns how many writes of kind were not acknowledged and the
// last error seen.
func (w *Workload) Failed(kind string) (int, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failed[kind], w.lastErr[kind]
}

// LongestGap is the longest time between two acknowledged plain writes and
// when it began.
func (w *Workload) LongestGap() (time.Duration, time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.gap, w.gapFrom
}

// Missing returns the keys among keys that addr does not hold (MGET in
// batches).
func Missing(ctx context.Context, addr string, keys []string) ([]string, error) {
	c := NewRedisClient(addr, "")
	defer c.Close()
	var missing []string
	for i := 0; i < len(keys); i += 1000 {
		batch := keys[i:min(i+1000, len(keys))]
		vals, err := c.MGet(ctx, batch...).Result()
		if err != nil {
			return nil, fmt.Errorf("MGET on %s: %w", addr, err)
		}
		for j, v := range vals {
			if v == nil {
				missing = append(missing, batch[j])
			}
		}
	}
	return missing, nil
}

// Chaos systems.
const (
	ChaosWarden   = "warden"
	ChaosSentinel = "sentinel"
)

// IsolatedMasterOptions describes one run of the isolated-master scenario.
type IsolatedMasterOptions struct {
	// System is ChaosWarden or ChaosSentinel; Name labels the run in the
	// result (default System).
	System, Name string
	// WardenBinary runs the watchdogs (System ChaosWarden).
	WardenBinary string
	// Dir holds everything; required.
	Dir string
	// Isolation is how long the master stays cut off; Warmup how long the
	// workload runs before; Settle bounds the wait for one master with
	// every other node replicating from it after healing.
	Isolation, Warmup, Settle time.Duration
	// DownAfter is down_after (down-after-milliseconds); default 1s.
	DownAfter time.Duration
	// PlainWriters is how many goroutines write plain SETs; default 4.
	PlainWriters int
	// Configure edits each watchdog's configuration.
	Configure func(*config.Config)
	// RedisArgs are appended to every redis-server command line.
	RedisArgs []string
	// RestartEmpty, instead of cutting the master off, kills it and starts
	// it again at once, empty (no persistence), then waits Isolation
	// before the usual end (settle, check).
	RestartEmpty bool
	// PinnedClient writes through a plain client of the first master
	// instead of a failover client: an application that never follows a
	// failover.
	PinnedClient bool
	// Logf, when set, receives progress lines.
	Logf func(format string, args ...any)
}

// IsolatedMasterResult is what one run measured.
type IsolatedMasterResult struct {
	System                 string
	OldMaster, FinalMaster string
	PlainAcked, PlainLost  int
	WAITAcked, WAITLost    int
	// PlainAckedIsolated and WAITAckedIsolated count the writes acknowledged
	// during the fault.
	PlainAckedIsolated int
	WAITAckedIsolated  int
	// Announced is the time from the cut until the first Sentinel endpoint
	// names another master (0: none did before healing).
	Announced time.Duration
	// LongestGap is the longest stretch without an acknowledged plain
	// write around the fault (the client's outage).
	LongestGap time.Duration
	// Converged is the time from healing until one master with every
	// other node replicating from it at the same offset.
	Converged  time.Duration
	LostSample []string
}

func (r IsolatedMasterResult) String() string {
	return fmt.Sprintf("%s: plain writes lost %d of %d acknowledged (%d during the fault), WAIT writes lost %d of %d (%d during the fault); new master announced after %v; longest pause of plain writes %v; converged %v after healing (old master %s, final %s)",
		r.System, r.PlainLost, r.PlainAcked, r.PlainAckedIsolated, r.WAITLost, r.WAITAcked, r.WAITAckedIsolated,
		r.Announced.Round(time.Millisecond), r.LongestGap.Round(time.Millisecond), r.Converged.Round(time.Millisecond), r.OldMaster, r.FinalMaster)
}

// chaosRun holds what one run started, for Close.
type chaosRun struct {
	redis     []*Redis
	wardens   []*Warden
	sentinels []*Sentinel
}

func (c *chaosRun) close() {
	for _, w := range c.wardens {
		_ = w.Kill()
	}
	for _, s := range c.sentinels {
		_ = s.Kill()
	}
	for _, r := range c.redis {
		_ = r.Kill()
	}
}

// RunIsolatedMaster runs the isolated-master scenario once: a master and
// two replicas, three watchdogs or three sentinels, a failover client
// writing; the master is cut off from everything but the client for
// o.Isolation, then the network heals; once the group has settled, every
// acknowledged write is looked for on the final master.
func RunIsolatedMaster(ctx context.Context, p *Partitioner, o IsolatedMasterOptions) (IsolatedMasterResult, error) {
	if o.Name == "" {
		o.Name = o.System
	}
	res := IsolatedMasterResult{System: o.Name}
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if o.DownAfter == 0 {
		o.DownAfter = time.Second
	}
	if o.PlainWriters == 0 {
		o.PlainWriters = 4
	}
	if o.Warmup == 0 {
		o.Warmup = 2 * time.Second
	}
	if o.Settle == 0 {
		o.Settle = 60 * time.Second
	}
	cn := NewChaosNet()
	clientIP := cn.IP(50)
	run := &chaosRun{}
	defer run.close()

	// Redis: the master on .2, replicas on .3 and .4.
	var nodeIPs []string
	for i := 0; i < 3; i++ {
		ip := cn.IP(2 + i)
		replicaOf := ""
		if i > 0 {
			replicaOf = run.redis[0].Addr
		}
		r, err := StartRedisAt(ctx, ip, filepath.Join(o.Dir, fmt.Sprintf("redis-%d", i+1)), replicaOf, o.RedisArgs...)
		if err != nil {
			return res, err
		}
		run.redis = append(run.redis, r)
		nodeIPs = append(nodeIPs, ip)
	}
	master := run.redis[0]
	res.OldMaster = master.Addr
	for _, r := range run.redis[1:] {
		if err := r.WaitForReplica(ctx, master.Addr, 20*time.Second); err != nil {
			return res, err
		}
	}
	var addrs []string
	for _, r := range run.redis {
		addrs = append(addrs, r.Addr)
	}
	// Watchdogs or sentinels on .11, .12, .13.
	var watchIPs, endpoints []string
	for i := 0; i < 3; i++ {
		watchIPs = append(watchIPs, cn.IP(11+i))
	}
	switch o.System {
	case ChaosWarden:
		ws, eps, err := startChaosWardens(ctx, o, watchIPs, addrs)
		run.wardens = ws
		if err != nil {
			return res, err
		}
		endpoints = eps
	case ChaosSentinel:
		for i, ip := range watchIPs {
			s, err := StartSentinelAt(ctx, ip, SentinelOptions{
				Dir: filepath.Join(o.Dir, fmt.Sprintf("sentinel-%d", i+1)), MasterName: DefaultGroup, Master: master.Addr,
				Quorum: 2, DownAfter: o.DownAfter, FailoverTimeout: 10 * time.Second, ParallelSyncs: 1,
			})
			if err != nil {
				return res, err
			}
			run.sentinels = append(run.sentinels, s)
			endpoints = append(endpoints, s.Addr)
		}
		for _, s := range run.sentinels {
			if err := s.WaitReady(ctx, 2, 2, 30*time.Second); err != nil {
				return res, err
			}
		}
	default:
		return res, fmt.Errorf("chaos: unknown system %q", o.System)
	}
	announced := func() string {
		for _, e := range endpoints {
			c := sentinelClientAt(e)
			v, err := c.GetMasterAddrByName(ctx, DefaultGroup).Result()
			c.Close()
			if err == nil && len(v) == 2 {
				return net.JoinHostPort(v[0], v[1])
			}
		}
		return ""
	}
	if err := WaitFor(ctx, 30*time.Second, "every endpoint to name the master "+master.Addr, func() (bool, error) {
		for _, e := range endpoints {
			c := sentinelClientAt(e)
			v, err := c.GetMasterAddrByName(ctx, DefaultGroup).Result()
			c.Close()
			if err != nil || len(v) != 2 || net.JoinHostPort(v[0], v[1]) != master.Addr {
				return false, fmt.Errorf("%s says %v, %v", e, v, err)
			}
		}
		return true, nil
	}); err != nil {
		return res, err
	}

	// The workload, warmed up.
	wl := NewWorkload(DefaultGroup, endpoints, clientIP)
	if o.PinnedClient {
		wl.Client.Close()
		wl = NewPinnedWorkload(master.Addr, clientIP)
	}
	defer wl.Close()
	wl.Start(ctx, o.PlainWriters)
	if err := WaitFor(ctx, 20*time.Second, "the workload to get plain and WAIT writes acknowledged", func() (bool, error) {
		p, w := wl.Acked(WritePlain), wl.Acked(WriteWAIT)
		fp, ep := wl.Failed(WritePlain)
		fw, ew := wl.Failed(WriteWAIT)
		return p >= 1000 && w >= 100, fmt.Errorf("plain %d acknowledged (%d failed, last: %s), WAIT %d (%d failed, last: %s)", p, fp, ep, w, fw, ew)
	}); err != nil {
		return res, err
	}
	select {
	case <-ctx.Done():
		return res, ctx.Err()
	case <-time.After(o.Warmup):
	}

	// The cut: the master keeps only the client.
	others := append([]string{"127.0.0.1"}, nodeIPs[1:]...)
	others = append(others, watchIPs...)
	plainBefore, waitBefore := wl.Acked(WritePlain), wl.Acked(WriteWAIT)
	cut := time.Now()
	if o.RestartEmpty {
		if err := master.Restart(ctx); err != nil {
			return res, err
		}
		logf("%s: master %s restarted empty in %v", o.Name, master.Addr, time.Since(cut).Round(time.Millisecond))
	} else {
		if err := p.Cut(nodeIPs[0], others...); err != nil {
			return res, err
		}
		logf("%s: master %s cut off from %v, client %s still reaches it", o.Name, master.Addr, others, clientIP)
	}
	healAt := cut.Add(o.Isolation)
	for time.Now().Before(healAt) {
		if res.Announced == 0 {
			if a := announced(); a != "" && a != master.Addr {
				res.Announced = time.Since(cut)
				logf("%s: %s announced master after %v", o.Name, a, res.Announced.Round(time.Millisecond))
			}
		}
		select {
		case <-ctx.Done():
			_ = p.Heal()
			return res, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	res.PlainAckedIsolated = wl.Acked(WritePlain) - plainBefore
	res.WAITAckedIsolated = wl.Acked(WriteWAIT) - waitBefore
	if err := p.Heal(); err != nil {
		return res, err
	}
	healed := time.Now()
	logf("%s: fault over after %v; %d plain and %d WAIT writes acknowledged during the fault", o.Name, healed.Sub(cut).Round(time.Millisecond), res.PlainAckedIsolated, res.WAITAckedIsolated)
	// Keep writing a little after healing: the writes that go to the old
	// master until the client follows count too.
	select {
	case <-ctx.Done():
		return res, ctx.Err()
	case <-time.After(2 * time.Second):
	}
	wl.Stop()
	res.LongestGap, _ = wl.LongestGap()

	// Settle: one master, the two others replicating from it, caught up.
	err := WaitFor(ctx, o.Settle, "one announced master with every other node replicating from it, caught up", func() (bool, error) {
		a := announced()
		if a == "" {
			return false, errors.New("no master announced")
		}
		mi, err := InfoReplication(ctx, a, "")
		if err != nil {
			return false, err
		}
		if mi["role"] != "master" {
			return false, fmt.Errorf("announced master %s has role %s", a, mi["role"])
		}
		for _, r := range run.redis {
			if r.Addr == a {
				continue
			}
			ri, err := InfoReplication(ctx, r.Addr, "")
			if err != nil {
				return false, err
			}
			if ri["role"] != "slave" || net.JoinHostPort(ri["master_host"], ri["master_port"]) != a || ri["master_link_status"] != "up" {
				return false, fmt.Errorf("%s: role %s, master %s:%s, link %s", r.Addr, ri["role"], ri["master_host"], ri["master_port"], ri["master_link_status"])
			}
			if ri["slave_repl_offset"] != mi["master_repl_offset"] {
				return false, fmt.Errorf("%s at offset %s, master at %s", r.Addr, ri["slave_repl_offset"], mi["master_repl_offset"])
			}
		}
		res.FinalMaster = a
		return true, nil
	})
	if err != nil {
		return res, err
	}
	res.Converged = time.Since(healed)

	// Check every acknowledged write on the final master.
	for _, kind := range []string{WritePlain, WriteWAIT} {
		keys := wl.Keys(kind)
		missing, err := Missing(ctx, res.FinalMaster, keys)
		if err != nil {
			return res, err
		}
		if kind == WritePlain {
			res.PlainAcked, res.PlainLost = len(keys), len(missing)
		} else {
			res.WAITAcked, res.WAITLost = len(keys), len(missing)
		}
		res.LostSample = append(res.LostSample, missing[:min(5, len(missing))]...)
	}
	return res, nil
}

func sentinelClientAt(addr string) *redis.SentinelClient {
	return redis.NewSentinelClient(&redis.Options{
		Addr: addr, Protocol: 2, DisableIdentity: true,
		DialTimeout: 500 * time.Millisecond, ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond, MaxRetries: -1,
	})
}

// startChaosWardens starts three watchdogs, each with its raft, HTTP and
// Sentinel endpoint on its own address, and waits until they agree on the
// master and every watchdog sees every node up. It returns the Sentinel
// endpoints.
func startChaosWardens(ctx context.Context, o IsolatedMasterOptions, ips, nodes []string) ([]*Warden, []string, error) {
	ports, err := FreePorts(3 * len(ips))
	if err != nil {
		return nil, nil, err
	}
	n := len(ips)
	at := func(i, kind int) string { return net.JoinHostPort(ips[i], strconv.Itoa(ports[kind*n+i])) }
	var boot, endpoints, paths []string
	for i := range ips {
		boot = append(boot, fmt.Sprintf("w%d=%s", i+1, at(i, 0)))
		endpoints = append(endpoints, at(i, 2))
	}
	for i := range ips {
		id := fmt.Sprintf("w%d", i+1)
		c := config.Default()
		c.ID = id
		c.DataDir = filepath.Join(o.Dir, "warden-"+id)
		c.Raft.Bind = at(i, 0)
		c.SourceAddress = ips[i] // so that iptables can tell the watchdogs apart
		c.Raft.Bootstrap = boot
		c.HTTP.Listen = at(i, 1)
		c.Sentinel.Listen = at(i, 2)
		c.Detection.ProbeInterval = config.Duration(200 * time.Millisecond)
		c.Detection.DownAfter = config.Duration(o.DownAfter)
		c.Detection.NodeStrategy = config.StrategyMajority
		c.Detection.RequiredWatchdogs = 2
		c.Failover.Strategy = config.FailoverOffset
		c.Failover.ParallelSyncs = 1
		c.Failover.BlockAfter = config.Duration(time.Minute)
		c.Log.Level = "info"
		c.Groups = []config.GroupConfig{{Name: DefaultGroup, Nodes: nodes}}
		if o.Configure != nil {
			o.Configure(&c)
		}
		b, err := c.Marshal()
		if err != nil {
			return nil, nil, fmt.Errorf("chaos: config of %s: %w", id, err)
		}
		if _, err := config.Parse(b); err != nil {
			return nil, nil, fmt.Errorf("chaos: config of %s does not parse: %w\n%s", id, err, b)
		}
		if err := os.MkdirAll(c.DataDir, 0o755); err != nil {
			return nil, nil, err
		}
		p := filepath.Join(o.Dir, id+".yaml")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return nil, nil, err
		}
		paths = append(paths, p)
	}
	ws := make([]*Warden, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ws[i], errs[i] = StartWarden(ctx, o.WardenBinary, paths[i], filepath.Join(o.Dir, fmt.Sprintf("w%d.log", i+1)))
		}()
	}
	wg.Wait()
	var started []*Warden
	for _, w := range ws {
		if w != nil {
			started = append(started, w)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return started, nil, err
	}
	if _, err := WaitForAgreement(ctx, started, DefaultGroup, 30*time.Second); err != nil {
		return started, nil, err
	}
	return started, endpoints, WaitAllUp(ctx, started, DefaultGroup, nodes, 30*time.Second)
}

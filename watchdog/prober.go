package watchdog

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"warden/actions"
)

// ProberConfig is what the prober needs.
type ProberConfig struct {
	ID        string
	Interval  time.Duration
	Timeout   time.Duration
	DownAfter time.Duration
	Username  string
	Password  string
	// TLS, when set, is used towards every node.
	TLS *tls.Config
	// Local is the source address of every connection (nil: the system's).
	Local net.Addr
}

// Prober probes every node of every watched group every interval and keeps
// this watchdog's verdict per node.
type Prober struct {
	cfg ProberConfig
	log *zap.Logger

	mu        sync.Mutex
	nodes     map[string]*probed
	seq       uint64
	lastBuild time.Time
	tiltUntil time.Time
	tiltWhy   string

	nudge chan struct{}
	// metrics, when set, receives every probe's outcome.
	metrics *Metrics
	// dns caches host name resolutions for canonical.
	dns map[string]resolved
}

// resolved is a host's addresses as last looked up.
type resolved struct {
	ips []string
	at  time.Time
}

// dnsFor bounds how long a resolution is reused: a pod that comes back
// with a new IP is recognised within it.
const dnsFor = 5 * time.Second

type probed struct {
	// cluster: the node is a Redis Cluster node (its probe asks CLUSTER
	// NODES and CLUSTER INFO too).
	cluster      bool
	obs          Obs
	lastAttempt  time.Time
	failingSince time.Time // zero while answering
	authChecked  string    // run id whose masterauth was last checked
	authAt       time.Time // when masterauth was last checked
	lastErr      string
	cancel       context.CancelFunc
	done         chan struct{}
	// wake asks the probe loop for a probe now (the watch connection
	// dropped).
	wake chan struct{}
}

// NewProber returns a prober with no nodes.
func NewProber(cfg ProberConfig, lg *zap.Logger) *Prober {
	return &Prober{cfg: cfg, log: lg, nodes: map[string]*probed{}, nudge: make(chan struct{}, 1), dns: map[string]resolved{}}
}

// Nudge delivers a signal when a node starts or stops answering, so that a
// report goes out at once.
func (p *Prober) Nudge() <-chan struct{} { return p.nudge }

func (p *Prober) poke() {
	select {
	case p.nudge <- struct{}{}:
	default:
	}
}

// SetNodes starts probing nodes not yet probed and stops the ones no longer
// listed; targets maps each address to whether it is a Redis Cluster node.
// ctx bounds the probe loops.
func (p *Prober) SetNodes(ctx context.Context, targets map[string]bool) {
	want := targets
	p.mu.Lock()
	var stopped []*probed
	for a, n := range p.nodes {
		if _, keep := want[a]; !keep {
			n.cancel()
			stopped = append(stopped, n)
			delete(p.nodes, a)
		}
	}
	for a, isCluster := range want {
		if _, ok := p.nodes[a]; ok {
			continue
		}
		nctx, cancel := context.WithCancel(ctx)
		n := &probed{cluster: isCluster, cancel: cancel, done: make(chan struct{}), wake: make(chan struct{}, 1)}
		p.nodes[a] = n
		go p.loop(nctx, a, n)
	}
	p.mu.Unlock()
	for _, n := range stopped {
		<-n.done
	}
}

// Stop ends every probe loop and waits for them.
func (p *Prober) Stop() {
	p.SetNodes(context.Background(), map[string]bool{})
}

func (p *Prober) loop(ctx context.Context, addr string, n *probed) {
	defer close(n.done)
	watchDone := make(chan struct{})
	go func() { defer close(watchDone); p.watch(ctx, addr, n) }()
	defer func() { <-watchDone }()
	var c *redis.Client
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		if c == nil {
			c = p.newClient(addr)
		}
		if !p.probeOnce(ctx, addr, c, n) {
			// A fresh client after a failure: the pool's own dial back-off
			// would otherwise hide a node that answers again for a second.
			c.Close()
			c = nil
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-n.wake:
		}
	}
}

// watch holds one idle subscribed connection to the node. A crashed or
// killed process closes it at once, long before the next probe would find
// out: the loss wakes the probe loop, so a dead node's failing time starts
// within a millisecond of its death instead of up to a probe interval later.
// A hung process keeps the connection open; the probes' timeouts catch it.
func (p *Prober) watch(ctx context.Context, addr string, n *probed) {
	for {
		c := redis.NewClient(&redis.Options{
			Addr: addr, Username: p.cfg.Username, Password: p.cfg.Password, TLSConfig: p.cfg.TLS,
			DialTimeout: p.cfg.Timeout, ReadTimeout: -1, WriteTimeout: p.cfg.Timeout,
			DialerRetries: 1, MaxRetries: -1, PoolSize: 1, Protocol: 2, DisableIdentity: true,
			Dialer: actions.Dialer(p.cfg.Local, p.cfg.Timeout, p.cfg.TLS),
		})
		ps := c.Subscribe(ctx, "__warden__:watch")
		// A blocked Receive does not watch ctx: closing unblocks it.
		stop := context.AfterFunc(ctx, func() { ps.Close() })
		_, err := ps.Receive(ctx)
		if err == nil {
			// Nothing is published on the channel: this returns when the
			// connection is lost (or ctx ends).
			_, err = ps.Receive(ctx)
		}
		stop()
		ps.Close()
		c.Close()
		if ctx.Err() != nil {
			return
		}
		select {
		case n.wake <- struct{}{}:
		default:
		}
		p.log.Debug("watch connection lost", zap.String("redis-addr", addr), zap.Error(err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(p.cfg.Interval):
		}
	}
}

func (p *Prober) newClient(addr string) *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr: addr, Username: p.cfg.Username, Password: p.cfg.Password, TLSConfig: p.cfg.TLS,
		DialTimeout: p.cfg.Timeout, ReadTimeout: p.cfg.Timeout, WriteTimeout: p.cfg.Timeout,
		DialerRetries: 1, MaxRetries: -1, PoolSize: 1, Protocol: 2, DisableIdentity: true,
		ContextTimeoutEnabled: true,
		Dialer:                actions.Dialer(p.cfg.Local, p.cfg.Timeout, p.cfg.TLS),
	})
}

// ErrNotReady marks replies that prove the process is alive but not
// serving (LOADING, MASTERDOWN, BUSY).
var ErrNotReady = errors.New("node answers but is not serving")

// probeOnce probes addr once and records the verdict; it reports whether
// the node answered.
func (p *Prober) probeOnce(ctx context.Context, addr string, c *redis.Client, n *probed) bool {
	start := time.Now()
	pctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	var (
		ping                *redis.StatusCmd
		role                *redis.Cmd
		info, cnodes, cinfo *redis.StringCmd
	)
	_, err := c.Pipelined(pctx, func(pipe redis.Pipeliner) error {
		ping = pipe.Ping(pctx)
		role = pipe.Do(pctx, "ROLE")
		info = pipe.Info(pctx, "server", "replication")
		if n.cluster {
			cnodes = pipe.ClusterNodes(pctx)
			cinfo = pipe.ClusterInfo(pctx)
		}
		return nil
	})
	lat := time.Since(start)
	if ctx.Err() != nil {
		return true
	}
	var o Obs
	if err == nil {
		err = ping.Err()
	}
	if err == nil {
		o.ApplyInfo(ParseInfo(info.Val()))
		o.MasterAddr = p.canonical(ctx, o.MasterAddr)
		if v, rerr := role.Slice(); rerr == nil && len(v) > 0 {
			if r, _ := v[0].(string); r == "master" {
				o.Role = RoleMaster
			} else if r == "slave" {
				o.Role = RoleReplica
			}
		}
		o.LatencyMs = float64(lat.Microseconds()) / 1000
		if n.cluster {
			state := ""
			for _, line := range strings.Split(cinfo.Val(), "\n") {
				if v, ok := strings.CutPrefix(strings.TrimSpace(line), "cluster_state:"); ok {
					state = v
				}
			}
			o.Cluster = &ClusterObs{Nodes: cnodes.Val(), State: state}
			p.mu.Lock()
			o.Cluster.NodeTimeoutMs = n.obs.clusterTimeout()
			p.mu.Unlock()
			if o.Cluster.NodeTimeoutMs == 0 {
				o.Cluster.NodeTimeoutMs = p.nodeTimeout(ctx, c)
			}
		}
	}
	if err != nil {
		if isNotReady(err) {
			err = fmt.Errorf("%w: %v", ErrNotReady, err)
		}
	}
	authMissing := false
	if err == nil && p.cfg.Password != "" {
		p.mu.Lock()
		due := n.authChecked != o.RunID || time.Since(n.authAt) >= authRecheck
		authMissing = n.obs.MasterAuthMissing
		p.mu.Unlock()
		if due {
			missing, known := p.masterauthMissing(ctx, c, addr)
			p.mu.Lock()
			n.authChecked, n.authAt = o.RunID, time.Now()
			if known {
				if missing && !authMissing {
					p.log.Warn("node has no masterauth while the group has a password: after a failover it could not replicate",
						zap.String("redis-addr", addr))
				}
				authMissing = missing
			}
			p.mu.Unlock()
		}
	}

	if p.metrics != nil {
		p.metrics.observeProbe(addr, err == nil, lat)
	}
	p.mu.Lock()
	wasUp, wasKnown := n.obs.Up, n.obs.Known
	n.lastAttempt = start
	if err == nil {
		o.Up, o.Known, o.MasterAuthMissing = true, true, authMissing
		n.obs, n.failingSince, n.lastErr = o, time.Time{}, ""
	} else {
		prev := n.obs
		prev.Up, prev.Known, prev.Err = false, true, err.Error()
		n.obs = prev
		if n.failingSince.IsZero() {
			n.failingSince = start
		}
		if n.lastErr != err.Error() {
			p.log.Info("probe failed", zap.String("redis-addr", addr), zap.Error(err))
			n.lastErr = err.Error()
		}
	}
	changed := wasUp != n.obs.Up || !wasKnown
	p.mu.Unlock()
	if changed {
		if n.obs.Up && wasKnown {
			p.log.Info("node answers again", zap.String("redis-addr", addr))
		}
		p.poke()
	}
	return err == nil
}

func isNotReady(err error) bool {
	var re redis.Error
	if !errors.As(err, &re) {
		return false
	}
	msg := re.Error()
	for _, prefix := range []string{"LOADING", "MASTERDOWN", "BUSY"} {
		if len(msg) >= len(prefix) && msg[:len(prefix)] == prefix {
			return true
		}
	}
	return false
}

// authRecheck is how often masterauth is read again on a node whose run
// id did not change (it can be changed at run time with CONFIG SET).
const authRecheck = 30 * time.Second

// masterauthMissing checks CONFIG GET masterauth; a node without it could
// not replicate from a password-protected master after a failover. known
// is false when the check could not be made.
func (p *Prober) masterauthMissing(ctx context.Context, c *redis.Client, addr string) (missing, known bool) {
	cctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	v, err := c.ConfigGet(cctx, "masterauth").Result()
	if err != nil {
		p.log.Info("cannot check the node's masterauth (CONFIG GET refused?)", zap.String("redis-addr", addr), zap.Error(err))
		return false, false
	}
	return v["masterauth"] == "", true
}

func (o Obs) clusterTimeout() int64 {
	if o.Cluster == nil {
		return 0
	}
	return o.Cluster.NodeTimeoutMs
}

// nodeTimeout reads cluster-node-timeout (0 when it cannot).
func (p *Prober) nodeTimeout(ctx context.Context, c *redis.Client) int64 {
	cctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	v, err := c.ConfigGet(cctx, "cluster-node-timeout").Result()
	if err != nil {
		return 0
	}
	ms, _ := strconv.ParseInt(v["cluster-node-timeout"], 10, 64)
	return ms
}

// NextDeadline is the earliest moment a failing node becomes subjectively
// down (zero when none is pending).
func (p *Prober) NextDeadline() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	var next time.Time
	for _, n := range p.nodes {
		if n.failingSince.IsZero() {
			continue
		}
		dl := n.failingSince.Add(p.cfg.DownAfter)
		if next.IsZero() || dl.Before(next) {
			next = dl
		}
	}
	return next
}

// Report builds this watchdog's report at now. A stall of this process
// longer than down_after (a paused process, a clock jump) or every node
// failing at once puts the report in tilt: its down votes are withheld.
func (p *Prober) Report(now time.Time) Report {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seq++
	if !p.lastBuild.IsZero() {
		gap := now.Sub(p.lastBuild)
		if gap > p.cfg.DownAfter || gap < -p.cfg.Interval {
			p.tiltUntil = now.Add(p.cfg.DownAfter)
			p.tiltWhy = fmt.Sprintf("no report built for %s (process stalled or clock jumped)", gap.Round(time.Millisecond))
			for _, n := range p.nodes {
				if !n.failingSince.IsZero() {
					n.failingSince = now
				}
			}
			p.log.Warn("entering tilt: down votes withheld", zap.String("reason", p.tiltWhy))
		}
	}
	p.lastBuild = now
	r := Report{From: p.cfg.ID, Seq: p.seq, Sent: now, Obs: make(map[string]Obs, len(p.nodes))}
	down := 0
	for a, n := range p.nodes {
		o := n.obs
		if !n.lastAttempt.IsZero() {
			o.AgeMs = now.Sub(n.lastAttempt).Milliseconds()
			if o.AgeMs < 0 {
				o.AgeMs = 0
			}
		}
		if !o.Up && !n.failingSince.IsZero() {
			ff := now.Sub(n.failingSince)
			o.FailingForMs = ff.Milliseconds()
			o.Down = ff >= p.cfg.DownAfter
		}
		if o.Down {
			down++
		}
		r.Obs[a] = o
	}
	if now.Before(p.tiltUntil) {
		r.Tilt = true
	} else if len(p.nodes) >= 2 && down == len(p.nodes) {
		r.Tilt = true
	}
	return r
}

// Addrs lists the probed nodes (sorted).
func (p *Prober) Addrs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.nodes))
	for a := range p.nodes {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// Local returns this watchdog's own latest view of addr.
func (p *Prober) Local(addr string) (Obs, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n, ok := p.nodes[addr]
	if !ok {
		return Obs{}, false
	}
	return n.obs, true
}

// canonical maps the address a replica names its master by to the address
// warden probes that node at, when both denote the same endpoint: the same
// port and a host name and an IP (or two names) that resolve to a common
// address. A replica set up by hand with "replicaof 10.0.0.5 6379" is then
// recognised as following "redis-0.redis:6379". An address matching no
// probed node is returned unchanged.
func (p *Prober) canonical(ctx context.Context, addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	p.mu.Lock()
	_, known := p.nodes[addr]
	var names []string
	for a, n := range p.nodes {
		if !n.cluster {
			names = append(names, a)
		}
	}
	p.mu.Unlock()
	if known {
		return addr
	}
	sort.Strings(names)
	want := map[string]bool{}
	for _, ip := range p.resolve(ctx, host) {
		want[ip] = true
	}
	for _, a := range names {
		h, pt, err := net.SplitHostPort(a)
		if err != nil || pt != port {
			continue
		}
		for _, ip := range p.resolve(ctx, h) {
			if want[ip] {
				return a
			}
		}
	}
	return addr
}

// resolve looks host up (an IP stands for itself), reusing a lookup for
// dnsFor; a failed lookup gives no addresses.
func (p *Prober) resolve(ctx context.Context, host string) []string {
	if ip := net.ParseIP(host); ip != nil {
		return []string{ip.String()}
	}
	p.mu.Lock()
	r, ok := p.dns[host]
	p.mu.Unlock()
	if ok && time.Since(r.at) < dnsFor {
		return r.ips
	}
	lctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupHost(lctx, host)
	if err != nil {
		addrs = nil
	}
	var ips []string
	for _, a := range addrs {
		if ip := net.ParseIP(a); ip != nil {
			ips = append(ips, ip.String())
		}
	}
	p.mu.Lock()
	p.dns[host] = resolved{ips: ips, at: time.Now()}
	p.mu.Unlock()
	return ips
}

package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"warden/config"
)

// DefaultGroup is the group name a sandbox uses unless told otherwise.
const DefaultGroup = "mymaster"

// SandboxOptions describes a sandbox; the zero value (plus WardenBinary for
// watchdogs) gives 3 Redis nodes and 3 watchdogs with fast detection.
type SandboxOptions struct {
	// Dir holds everything; "" makes a new temporary directory. Close
	// removes the directory when the sandbox created it, else only what
	// the sandbox created inside it. KeepDir keeps all of it.
	Dir     string
	KeepDir bool
	// Group names the master/replica group; default DefaultGroup.
	Group string
	// RedisNodes is how many redis-server to start: the first is the
	// master, the others replicate from it. Default 3.
	RedisNodes int
	// Password, when set, protects the Redis nodes (requirepass and
	// masterauth) and is handed to the watchdogs in a password file
	// (redis-password in Dir, mode 0600, named by redis.password_file).
	Password string
	// WardenPassword, when set, is written to the watchdogs' password file
	// instead of Password: a wrong secret, to test watchdogs that cannot
	// authenticate.
	WardenPassword string
	// RedisArgs are appended to every redis-server command line.
	RedisArgs []string
	// WardenBinary is the warden executable; "" starts no watchdog.
	WardenBinary string
	// Wardens is how many watchdogs to start when WardenBinary is set;
	// default 3.
	Wardens int
	// ProbeInterval and DownAfter tune detection; defaults 200ms and 1s.
	ProbeInterval time.Duration
	DownAfter     time.Duration
	// LogLevel of the watchdogs; default "debug".
	LogLevel string
	// Sentinel gives each watchdog a Sentinel-protocol endpoint
	// (sentinel.listen) on a port drawn with the watchdogs' other ports, so
	// that no two of them can meet.
	Sentinel bool
	// Configure, when set, edits each watchdog's configuration before it
	// is written.
	Configure func(*config.Config)
	// BeforeWardens, when set and watchdogs are to be started, runs once
	// the Redis nodes replicate and before any watchdog starts: to change
	// a node behind the watchdogs' backs (CONFIG SET). An error stops the
	// sandbox.
	BeforeWardens func(context.Context, *Sandbox) error
}

// Sandbox is a set of Redis nodes and watchdogs on loopback, all children
// of this process, under one directory.
type Sandbox struct {
	Dir   string
	Group string
	// Redis holds the nodes; Redis[0] started as the master.
	Redis []*Redis
	// Wardens holds the watchdogs, in the order of Configs.
	Wardens []*Warden
	// Configs holds the watchdogs' configurations as written to disk.
	Configs     []config.Config
	ConfigPaths []string

	opts    SandboxOptions
	ownDir  bool
	created []string // paths inside a caller's Dir to remove on Close
	mu      sync.Mutex
	closed  bool
}

// NewSandbox starts the Redis nodes, waits until every replica's link to
// the master is up, then writes the watchdogs' configurations and starts
// them (when opts.WardenBinary is set). On error everything started so far
// is stopped again.
func NewSandbox(ctx context.Context, opts SandboxOptions) (*Sandbox, error) {
	if opts.Group == "" {
		opts.Group = DefaultGroup
	}
	if opts.RedisNodes == 0 {
		opts.RedisNodes = 3
	}
	if opts.Wardens == 0 && opts.WardenBinary != "" {
		opts.Wardens = 3
	}
	if opts.ProbeInterval == 0 {
		opts.ProbeInterval = 200 * time.Millisecond
	}
	if opts.DownAfter == 0 {
		opts.DownAfter = time.Second
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "debug"
	}
	if _, err := RedisServerPath(); err != nil {
		return nil, err
	}
	s := &Sandbox{Group: opts.Group, opts: opts}
	if opts.Dir == "" {
		d, err := os.MkdirTemp("", "warden-sandbox-")
		if err != nil {
			return nil, fmt.Errorf("sandbox: %w", err)
		}
		s.Dir, s.ownDir = d, true
	} else {
		d, err := filepath.Abs(opts.Dir)
		if err != nil {
			return nil, fmt.Errorf("sandbox: %w", err)
		}
		if _, err := os.Stat(d); errors.Is(err, os.ErrNotExist) {
			s.ownDir = true
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("sandbox: %w", err)
		}
		s.Dir = d
	}
	if err := s.start(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Sandbox) start(ctx context.Context) error {
	if err := s.startRedis(ctx); err != nil {
		return err
	}
	if s.opts.WardenBinary == "" {
		return nil
	}
	if s.opts.BeforeWardens != nil {
		if err := s.opts.BeforeWardens(ctx, s); err != nil {
			return fmt.Errorf("sandbox: before starting the watchdogs: %w", err)
		}
	}
	if err := s.writeWardenConfigs(); err != nil {
		return err
	}
	return s.startWardens(ctx)
}

func (s *Sandbox) path(name string) string {
	p := filepath.Join(s.Dir, name)
	s.created = append(s.created, p)
	return p
}

func (s *Sandbox) startRedis(ctx context.Context) error {
	for i := 0; i < s.opts.RedisNodes; i++ {
		port, err := FreePort()
		if err != nil {
			return err
		}
		o := RedisOptions{
			Port:     port,
			Dir:      s.path(fmt.Sprintf("redis-%d", port)),
			Password: s.opts.Password,
			Args:     s.opts.RedisArgs,
		}
		if i > 0 {
			o.ReplicaOf = s.Redis[0].Addr
		}
		r, err := StartRedis(ctx, o)
		if err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
		s.Redis = append(s.Redis, r)
	}
	for _, r := range s.Redis[1:] {
		if err := r.WaitForReplica(ctx, s.Redis[0].Addr, 20*time.Second); err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
	}
	return nil
}

// RedisAddrs returns the nodes' addresses in order.
func (s *Sandbox) RedisAddrs() []string {
	out := make([]string, len(s.Redis))
	for i, r := range s.Redis {
		out[i] = r.Addr
	}
	return out
}

// Node returns the Redis node at addr, or nil.
func (s *Sandbox) Node(addr string) *Redis {
	for _, r := range s.Redis {
		if r.Addr == addr {
			return r
		}
	}
	return nil
}

func (s *Sandbox) writeWardenConfigs() error {
	n := s.opts.Wardens
	perWarden := 2
	if s.opts.Sentinel {
		perWarden = 3
	}
	ports, err := FreePorts(perWarden * n)
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	var boot []string
	for i := 0; i < n; i++ {
		boot = append(boot, fmt.Sprintf("w%d=%s", i+1, Addr(ports[i])))
	}
	pwFile := ""
	pw := s.opts.Password
	if s.opts.WardenPassword != "" {
		pw = s.opts.WardenPassword
	}
	if pw != "" {
		pwFile = s.path("redis-password")
		if err := os.WriteFile(pwFile, []byte(pw+"\n"), 0o600); err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
	}
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("w%d", i+1)
		c := config.Default()
		c.ID = id
		c.DataDir = s.path(id)
		c.Raft.Bind = Addr(ports[i])
		c.Raft.Bootstrap = boot
		c.HTTP.Listen = Addr(ports[n+i])
		if s.opts.Sentinel {
			c.Sentinel.Listen = Addr(ports[2*n+i])
		}
		c.Detection.ProbeInterval = config.Duration(s.opts.ProbeInterval)
		c.Detection.DownAfter = config.Duration(s.opts.DownAfter)
		c.Detection.NodeStrategy = config.StrategyMajority
		c.Detection.RequiredWatchdogs = min(2, n)
		c.Failover.Strategy = config.FailoverOffset
		c.Failover.ParallelSyncs = 1
		c.Failover.BlockAfter = config.Duration(time.Minute)
		c.Redis.PasswordFile = pwFile
		c.Log.Level = s.opts.LogLevel
		c.Groups = []config.GroupConfig{{Name: s.Group, Nodes: s.RedisAddrs()}}
		if s.opts.Configure != nil {
			s.opts.Configure(&c)
		}
		b, err := c.Marshal()
		if err != nil {
			return fmt.Errorf("sandbox: marshal config of %s: %w", id, err)
		}
		parsed, err := config.Parse(b)
		if err != nil {
			return fmt.Errorf("sandbox: generated config of %s does not parse: %w\n%s", id, err, b)
		}
		// Write the parsed form, derived defaults filled in, so the file
		// shows the values in force.
		if b, err = parsed.Marshal(); err != nil {
			return fmt.Errorf("sandbox: marshal config of %s: %w", id, err)
		}
		if _, err := config.Parse(b); err != nil {
			return fmt.Errorf("sandbox: config of %s does not survive a round trip: %w\n%s", id, err, b)
		}
		if err := os.MkdirAll(c.DataDir, 0o755); err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
		p := s.path(id + ".yaml")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
		s.Configs = append(s.Configs, parsed)
		s.ConfigPaths = append(s.ConfigPaths, p)
	}
	return nil
}

// startWardens starts every watchdog at once (a watchdog may answer its API
// only once the Raft group has formed, which needs the others running).
func (s *Sandbox) startWardens(ctx context.Context) error {
	n := len(s.Configs)
	ws := make([]*Warden, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range s.Configs {
		logPath := s.path(s.Configs[i].ID + ".log")
		wg.Add(1)
		go func() {
			defer wg.Done()
			ws[i], errs[i] = StartWarden(ctx, s.opts.WardenBinary, s.ConfigPaths[i], logPath)
		}()
	}
	wg.Wait()
	for _, w := range ws {
		if w != nil {
			s.Wardens = append(s.Wardens, w)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	return nil
}

// OwnsDir reports whether the sandbox created Dir (and so removes all of
// it on Close, unless told to keep it).
func (s *Sandbox) OwnsDir() bool { return s.ownDir }

// LiveWardens returns the watchdogs whose process runs (paused included).
func (s *Sandbox) LiveWardens() []*Warden {
	var out []*Warden
	for _, w := range s.Wardens {
		if w.Running() {
			out = append(out, w)
		}
	}
	return out
}

// Warden returns the watchdog with the given id, or nil.
func (s *Sandbox) Warden(id string) *Warden {
	for _, w := range s.Wardens {
		if w.ID == id {
			return w
		}
	}
	return nil
}

// Pids returns the process ids of everything the sandbox runs.
func (s *Sandbox) Pids() []int {
	var out []int
	for _, r := range s.Redis {
		if r.Running() {
			out = append(out, r.Pid())
		}
	}
	for _, w := range s.Wardens {
		if w.Running() {
			out = append(out, w.Pid())
		}
	}
	return out
}

// LogTails returns the last n lines of every watchdog's log, each under a
// header naming the file, for printing when a test fails.
func (s *Sandbox) LogTails(n int) string {
	var b strings.Builder
	for _, w := range s.Wardens {
		fmt.Fprintf(&b, "----- %s (pid %d, running %v): last %d lines of %s\n%s\n", w.ID, w.Pid(), w.Running(), n, w.LogPath, w.Tail(n))
	}
	return b.String()
}

// RedisLogTails is LogTails for the Redis nodes.
func (s *Sandbox) RedisLogTails(n int) string {
	var b strings.Builder
	for _, r := range s.Redis {
		fmt.Fprintf(&b, "----- redis %s (pid %d, running %v): last %d lines of %s\n%s\n", r.Addr, r.Pid(), r.Running(), n, r.LogPath, Tail(r.LogPath, n))
	}
	return b.String()
}

// Close kills and reaps every process the sandbox started, then removes
// its files (see SandboxOptions.Dir). It may be called more than once.
func (s *Sandbox) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	var wg sync.WaitGroup
	var emu sync.Mutex
	kill := func(f func() error) {
		defer wg.Done()
		if err := f(); err != nil {
			emu.Lock()
			errs = append(errs, err)
			emu.Unlock()
		}
	}
	for _, w := range s.Wardens {
		wg.Add(1)
		go kill(w.Kill)
	}
	for _, r := range s.Redis {
		wg.Add(1)
		go kill(r.Kill)
	}
	wg.Wait()
	if !s.opts.KeepDir {
		if s.ownDir {
			if err := os.RemoveAll(s.Dir); err != nil {
				errs = append(errs, err)
			}
		} else {
			for _, p := range s.created {
				if err := os.RemoveAll(p); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

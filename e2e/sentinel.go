package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// SentinelCommand returns how to run Redis Sentinel with the config file
// conf: redis-sentinel conf when installed, else redis-server conf
// --sentinel.
func SentinelCommand(conf string) (path string, args []string, err error) {
	if p, err := exec.LookPath("redis-sentinel"); err == nil {
		return p, []string{conf}, nil
	}
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p, []string{conf, "--sentinel"}, nil
	}
	return "", nil, ErrSentinelMissing
}

// SentinelOptions describes one Redis Sentinel watching one master.
type SentinelOptions struct {
	// Port to listen on; 0 picks a free one.
	Port int
	// Dir holds the sentinel's config file (which it rewrites) and log.
	Dir string
	// MasterName and Master (host:port) name the monitored master.
	MasterName string
	Master     string
	// Quorum is how many sentinels must agree the master is down.
	Quorum int
	// DownAfter is down-after-milliseconds.
	DownAfter time.Duration
	// FailoverTimeout is failover-timeout; default 10s.
	FailoverTimeout time.Duration
	// ParallelSyncs is parallel-syncs; default 1.
	ParallelSyncs int
	// Password, when set, is given as auth-pass for the master.
	Password string
	// IP is the loopback address to bind and announce to the other
	// sentinels; default 127.0.0.1 (announced as seen).
	IP string
}

// Sentinel is one Redis Sentinel process on loopback.
type Sentinel struct {
	Addr       string
	Port       int
	Dir        string
	ConfigPath string
	LogPath    string
	MasterName string

	proc *process
}

// StartSentinel writes the sentinel's own config file and starts it, then
// waits until it answers PING.
func StartSentinel(ctx context.Context, o SentinelOptions) (*Sentinel, error) {
	if o.Dir == "" || o.MasterName == "" || o.Master == "" {
		return nil, errors.New("start sentinel: Dir, MasterName and Master are required")
	}
	if o.Quorum == 0 {
		o.Quorum = 2
	}
	if o.FailoverTimeout == 0 {
		o.FailoverTimeout = 10 * time.Second
	}
	if o.ParallelSyncs == 0 {
		o.ParallelSyncs = 1
	}
	if o.Port == 0 {
		var err error
		if o.Port, err = FreePort(); err != nil {
			return nil, fmt.Errorf("start sentinel: %w", err)
		}
	}
	ip := o.IP
	if ip == "" {
		ip = "127.0.0.1"
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("start sentinel: %w", err)
	}
	host, port, err := net.SplitHostPort(o.Master)
	if err != nil {
		return nil, fmt.Errorf("start sentinel: master %q: %w", o.Master, err)
	}
	s := &Sentinel{
		Addr:       net.JoinHostPort(ip, strconv.Itoa(o.Port)),
		Port:       o.Port,
		Dir:        o.Dir,
		ConfigPath: filepath.Join(o.Dir, "sentinel.conf"),
		LogPath:    filepath.Join(o.Dir, "sentinel.log"),
		MasterName: o.MasterName,
	}
	lines := []string{
		"port " + strconv.Itoa(o.Port),
		"bind " + ip,
		"protected-mode no",
		"daemonize no",
		"dir " + o.Dir,
		"logfile " + s.LogPath,
		"sentinel resolve-hostnames no",
	}
	if o.IP != "" {
		lines = append(lines, "sentinel announce-ip "+ip)
	}
	lines = append(lines,
		fmt.Sprintf("sentinel monitor %s %s %s %d", o.MasterName, host, port, o.Quorum),
		fmt.Sprintf("sentinel down-after-milliseconds %s %d", o.MasterName, o.DownAfter.Milliseconds()),
		fmt.Sprintf("sentinel failover-timeout %s %d", o.MasterName, o.FailoverTimeout.Milliseconds()),
		fmt.Sprintf("sentinel parallel-syncs %s %d", o.MasterName, o.ParallelSyncs),
	)
	if o.Password != "" {
		lines = append(lines, fmt.Sprintf("sentinel auth-pass %s %s", o.MasterName, o.Password))
	}
	if err := os.WriteFile(s.ConfigPath, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("start sentinel: %w", err)
	}
	bin, args, err := SentinelCommand(s.ConfigPath)
	if err != nil {
		return nil, err
	}
	s.proc = &process{
		name:    "sentinel " + s.Addr,
		path:    bin,
		args:    args,
		logPath: filepath.Join(o.Dir, "sentinel.stdout.log"),
	}
	if err := s.proc.start(); err != nil {
		return nil, err
	}
	c := NewRedisClient(s.Addr, "")
	defer c.Close()
	err = WaitFor(ctx, 10*time.Second, "sentinel "+s.Addr+" to answer PING", func() (bool, error) {
		select {
		case <-s.proc.exited():
			return false, fmt.Errorf("sentinel exited: %v", s.proc.exitErr())
		default:
		}
		if err := c.Ping(ctx).Err(); err != nil {
			return false, err
		}
		return true, nil
	})
	if err != nil {
		_ = s.proc.kill()
		return nil, fmt.Errorf("start sentinel %s: %w\n%s\n%s", s.Addr, err, Tail(s.LogPath, 15), Tail(s.proc.logPath, 5))
	}
	return s, nil
}

// Pid is the process id.
func (s *Sentinel) Pid() int { return s.proc.pid() }

// Kill sends SIGKILL and waits until the process is reaped.
func (s *Sentinel) Kill() error { return s.proc.kill() }

// MasterAddr is SENTINEL get-master-addr-by-name.
func (s *Sentinel) MasterAddr(ctx context.Context) (string, error) {
	c := NewRedisClient(s.Addr, "")
	defer c.Close()
	v, err := c.Do(ctx, "SENTINEL", "get-master-addr-by-name", s.MasterName).StringSlice()
	if err != nil {
		return "", fmt.Errorf("SENTINEL get-master-addr-by-name on %s: %w", s.Addr, err)
	}
	if len(v) != 2 {
		return "", fmt.Errorf("SENTINEL get-master-addr-by-name on %s: reply %v", s.Addr, v)
	}
	return net.JoinHostPort(v[0], v[1]), nil
}

// MasterState is SENTINEL MASTER as a map (flags, num-slaves,
// num-other-sentinels, ...).
func (s *Sentinel) MasterState(ctx context.Context) (map[string]string, error) {
	c := NewRedisClient(s.Addr, "")
	defer c.Close()
	v, err := c.Do(ctx, "SENTINEL", "MASTER", s.MasterName).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("SENTINEL MASTER on %s: %w", s.Addr, err)
	}
	m := map[string]string{}
	for i := 0; i+1 < len(v); i += 2 {
		m[v[i]] = v[i+1]
	}
	return m, nil
}

// WaitReady waits until the sentinel sees the master up with the given
// number of replicas and of other sentinels.
func (s *Sentinel) WaitReady(ctx context.Context, replicas, others int, timeout time.Duration) error {
	what := fmt.Sprintf("sentinel %s to see %d replicas and %d other sentinels", s.Addr, replicas, others)
	return WaitFor(ctx, timeout, what, func() (bool, error) {
		m, err := s.MasterState(ctx)
		if err != nil {
			return false, err
		}
		if m["flags"] != "master" || m["num-slaves"] != strconv.Itoa(replicas) || m["num-other-sentinels"] != strconv.Itoa(others) {
			return false, fmt.Errorf("flags %s, num-slaves %s, num-other-sentinels %s", m["flags"], m["num-slaves"], m["num-other-sentinels"])
		}
		rs, err := s.Replicas(ctx)
		if err != nil {
			return false, err
		}
		for _, r := range rs {
			if r["flags"] != "slave" || r["master-link-status"] != "ok" {
				return false, fmt.Errorf("replica %s:%s flags %s master-link-status %s", r["ip"], r["port"], r["flags"], r["master-link-status"])
			}
		}
		return true, nil
	})
}

// Replicas is SENTINEL REPLICAS, each replica as a map.
func (s *Sentinel) Replicas(ctx context.Context) ([]map[string]string, error) {
	c := NewRedisClient(s.Addr, "")
	defer c.Close()
	v, err := c.Do(ctx, "SENTINEL", "REPLICAS", s.MasterName).Slice()
	if err != nil {
		return nil, fmt.Errorf("SENTINEL REPLICAS on %s: %w", s.Addr, err)
	}
	var out []map[string]string
	for _, e := range v {
		kv, ok := e.([]any)
		if !ok {
			continue
		}
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[fmt.Sprint(kv[i])] = fmt.Sprint(kv[i+1])
		}
		out = append(out, m)
	}
	return out, nil
}

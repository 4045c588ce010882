package e2e

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// ErrRedisMissing is returned when redis-server is not in PATH.
var ErrRedisMissing = errors.New("redis-server not found in PATH: install Debian's redis-server package (apt-get install redis-server)")

// ErrSentinelMissing is returned when neither redis-sentinel nor
// redis-server is in PATH.
var ErrSentinelMissing = errors.New("redis-sentinel not found in PATH: install Debian's redis-sentinel package (apt-get install redis-sentinel)")

// RedisServerPath looks redis-server up in PATH.
func RedisServerPath() (string, error) {
	p, err := exec.LookPath("redis-server")
	if err != nil {
		return "", ErrRedisMissing
	}
	return p, nil
}

// RedisVersion returns the version redis-server reports ("7.0.15").
func RedisVersion() (string, error) {
	p, err := RedisServerPath()
	if err != nil {
		return "", err
	}
	out, err := exec.Command(p, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("redis-server --version: %w", err)
	}
	for _, f := range strings.Fields(string(out)) {
		if v, ok := strings.CutPrefix(f, "v="); ok {
			return v, nil
		}
	}
	return strings.TrimSpace(string(out)), nil
}

// RedisOptions describes one redis-server to start.
type RedisOptions struct {
	// Port to listen on; 0 picks a free one (and retries with another when
	// the port was taken in the meantime).
	Port int
	// Dir holds the node's log (redis.log) and working files; created when
	// missing. Required.
	Dir string
	// ReplicaOf is the master's host:port; empty starts a master.
	ReplicaOf string
	// Password sets requirepass and masterauth.
	Password string
	// Args are appended to the command line ("--maxmemory", "10mb", ...).
	Args []string
	// StartTimeout bounds the wait for the first PONG; default 10s.
	StartTimeout time.Duration
	// TLS, when set, makes the node speak TLS only (tls-port instead of
	// port, TLS replication, client certificates optional).
	TLS *Certs
}

// Redis is one redis-server process on 127.0.0.1.
type Redis struct {
	Addr     string
	Port     int
	Dir      string
	LogPath  string
	Password string
	// TLS is the client side of the node's TLS (nil: plain TCP).
	TLS *tls.Config

	opts RedisOptions
	proc *process
}

// StartRedis starts redis-server and waits until it answers PING. It always
// binds 127.0.0.1, saves nothing (no RDB, no AOF: a restart comes back
// empty) and starts replication without the diskless-sync delay.
func StartRedis(ctx context.Context, opts RedisOptions) (*Redis, error) {
	if opts.Dir == "" {
		return nil, errors.New("start redis: RedisOptions.Dir is required")
	}
	bin, err := RedisServerPath()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("start redis: %w", err)
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 10 * time.Second
	}
	pick := opts.Port == 0
	for attempt := 1; ; attempt++ {
		o := opts
		if pick {
			if o.Port, err = FreePort(); err != nil {
				return nil, fmt.Errorf("start redis: %w", err)
			}
		}
		r := newRedis(bin, o)
		err := r.start(ctx)
		if err == nil {
			return r, nil
		}
		if !pick || attempt >= 3 || !errors.Is(err, errPortTaken) {
			return nil, err
		}
	}
}

func newRedis(bin string, o RedisOptions) *Redis {
	r := &Redis{
		Addr:     Addr(o.Port),
		Port:     o.Port,
		Dir:      o.Dir,
		LogPath:  filepath.Join(o.Dir, "redis.log"),
		Password: o.Password,
		opts:     o,
	}
	portArgs := []string{"--port", strconv.Itoa(o.Port)}
	if o.TLS != nil {
		r.TLS = o.TLS.Client
		portArgs = []string{"--port", "0", "--tls-port", strconv.Itoa(o.Port),
			"--tls-cert-file", o.TLS.CertFile, "--tls-key-file", o.TLS.KeyFile, "--tls-ca-cert-file", o.TLS.CAFile,
			"--tls-replication", "yes", "--tls-auth-clients", "optional"}
	}
	args := []string{
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--repl-diskless-sync-delay", "0",
		"--daemonize", "no",
		"--logfile", r.LogPath,
		"--dir", o.Dir,
	}
	args = append(portArgs, args...)
	if o.ReplicaOf != "" {
		host, port, _ := net.SplitHostPort(o.ReplicaOf)
		args = append(args, "--replicaof", host, port)
	}
	if o.Password != "" {
		args = append(args, "--requirepass", o.Password, "--masterauth", o.Password)
	}
	args = append(args, o.Args...)
	r.proc = &process{
		name:    "redis " + r.Addr,
		path:    bin,
		args:    args,
		logPath: filepath.Join(o.Dir, "redis.stdout.log"),
	}
	return r
}

var errPortTaken = errors.New("port already in use")

func (r *Redis) start(ctx context.Context) error {
	if err := r.proc.start(); err != nil {
		return err
	}
	c := r.Client()
	defer c.Close()
	err := WaitFor(ctx, r.opts.StartTimeout, fmt.Sprintf("redis %s to answer PING", r.Addr), func() (bool, error) {
		select {
		case <-r.proc.exited():
			return false, fmt.Errorf("redis-server exited: %v", r.proc.exitErr())
		default:
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if err := c.Ping(pctx).Err(); err != nil {
			return false, err
		}
		return true, nil
	})
	if err == nil {
		return nil
	}
	_ = r.proc.kill()
	tail := Tail(r.LogPath, 15) + "\n" + Tail(r.proc.logPath, 5)
	if strings.Contains(tail, "Address already in use") {
		return fmt.Errorf("start redis %s: %w\n%s", r.Addr, errPortTaken, tail)
	}
	return fmt.Errorf("start redis %s: %w\nlast lines of %s and %s:\n%s", r.Addr, err, r.LogPath, r.proc.logPath, tail)
}

// Pid is the current process id (0 before the first start).
func (r *Redis) Pid() int { return r.proc.pid() }

// Running reports whether the process is alive (a paused one is alive).
func (r *Redis) Running() bool { return r.proc.running() }

// Kill sends SIGKILL and waits until the process is reaped.
func (r *Redis) Kill() error { return r.proc.kill() }

// Pause stops the process with SIGSTOP: its port still accepts connections
// (the kernel completes the handshake) but nothing is answered.
func (r *Redis) Pause() error { return r.proc.signal(syscall.SIGSTOP) }

// Resume continues a paused process with SIGCONT.
func (r *Redis) Resume() error { return r.proc.signal(syscall.SIGCONT) }

// Stop shuts the server down (SIGTERM; SIGKILL after 5 s).
func (r *Redis) Stop() error { return r.proc.stop(5 * time.Second) }

// Restart starts the server again on the same port and directory with the
// same arguments, killing it first if it still runs. Nothing is saved, so it
// comes back empty; a node started as a replica comes back as a replica of
// the same address.
func (r *Redis) Restart(ctx context.Context) error {
	if err := r.proc.kill(); err != nil {
		return err
	}
	return r.start(ctx)
}

// Client returns a new go-redis client for this node; the caller closes it.
func (r *Redis) Client() *redis.Client { return NewRedisClientTLS(r.Addr, r.Password, r.TLS) }

// NewRedisClient returns a client with short timeouts, RESP2, no CLIENT
// SETINFO and no maintenance notifications: plain commands a Redis 7.0
// server understands, failing fast when the node is down or paused.
func NewRedisClient(addr, password string) *redis.Client {
	return NewRedisClientTLS(addr, password, nil)
}

// NewRedisClientTLS is NewRedisClient over TLS when cfg is set.
func NewRedisClientTLS(addr, password string, cfg *tls.Config) *redis.Client {
	return redis.NewClient(&redis.Options{
		TLSConfig:                cfg,
		Addr:                     addr,
		Password:                 password,
		Protocol:                 2,
		DisableIdentity:          true,
		DialTimeout:              time.Second,
		ReadTimeout:              time.Second,
		WriteTimeout:             time.Second,
		MaxRetries:               -1,
		PoolSize:                 2,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
}

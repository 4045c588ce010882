// Package actions performs every side effect warden has on Redis: promote,
// repoint, fence, demote. Each call is idempotent and bounded by its context.
package actions

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrTimeout is returned when a wait for a Redis state ran out.
var ErrTimeout = errors.New("timed out")

// Redis runs admin commands on Redis nodes.
type Redis struct {
	username, password string
	timeout            time.Duration
	tls                *tls.Config
	local              net.Addr

	mu      sync.Mutex
	clients map[string]*redis.Client
}

// NewRedis returns a Redis runner authenticating with username/password
// (both may be empty); timeout bounds each single command.
func NewRedis(username, password string, timeout time.Duration) *Redis {
	return &Redis{username: username, password: password, timeout: timeout, clients: map[string]*redis.Client{}}
}

// SetTLS makes every later connection use TLS (nil: plain TCP).
func (r *Redis) SetTLS(cfg *tls.Config) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tls = cfg
	for a, c := range r.clients {
		c.Close()
		delete(r.clients, a)
	}
}

// SetLocalAddr makes every later connection leave from local (nil: the
// system's choice); set it before the first command.
func (r *Redis) SetLocalAddr(local net.Addr) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.local = local
}

// Dialer returns a go-redis dialer whose connections leave from local, over
// TLS when tlsCfg is set, or nil (go-redis's own) when local is nil.
func Dialer(local net.Addr, timeout time.Duration, tlsCfg *tls.Config) func(context.Context, string, string) (net.Conn, error) {
	if local == nil {
		return nil
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := &net.Dialer{Timeout: timeout, LocalAddr: local, KeepAlive: 5 * time.Minute}
		if tlsCfg == nil {
			return d.DialContext(ctx, network, addr)
		}
		return (&tls.Dialer{NetDialer: d, Config: tlsCfg}).DialContext(ctx, network, addr)
	}
}

func (r *Redis) client(addr string) *redis.Client {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.clients[addr]
	if !ok {
		c = redis.NewClient(&redis.Options{
			Addr: addr, Username: r.username, Password: r.password, TLSConfig: r.tls,
			DialTimeout: r.timeout, ReadTimeout: r.timeout, WriteTimeout: r.timeout,
			DialerRetries: 1, MaxRetries: -1, PoolSize: 8, Protocol: 2, DisableIdentity: true,
			Dialer: Dialer(r.local, r.timeout, r.tls),
		})
		r.clients[addr] = c
	}
	return c
}

// Close releases every connection.
func (r *Redis) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for a, c := range r.clients {
		c.Close()
		delete(r.clients, a)
	}
}

// drop forgets addr's client after a connection failure, so that the next
// call dials afresh instead of meeting the pool's dial back-off.
func (r *Redis) drop(addr string, err error) {
	var re redis.Error
	if err == nil || errors.As(err, &re) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.clients[addr]; ok {
		c.Close()
		delete(r.clients, addr)
	}
}

func (r *Redis) cmdCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.timeout)
}

// Promote makes addr a master (REPLICAOF NO ONE).
func (r *Redis) Promote(ctx context.Context, addr string) error {
	cctx, cancel := r.cmdCtx(ctx)
	defer cancel()
	if err := r.client(addr).Do(cctx, "REPLICAOF", "NO", "ONE").Err(); err != nil {
		r.drop(addr, err)
		return fmt.Errorf("REPLICAOF NO ONE on %s: %w", addr, err)
	}
	return nil
}

// ReplicaOf points addr at master (REPLICAOF host port). It is a no-op on
// Redis's side when addr already follows master.
func (r *Redis) ReplicaOf(ctx context.Context, addr, master string) error {
	host, port, err := net.SplitHostPort(master)
	if err != nil {
		return fmt.Errorf("master address %q: %w", master, err)
	}
	cctx, cancel := r.cmdCtx(ctx)
	defer cancel()
	if err := r.client(addr).Do(cctx, "REPLICAOF", host, port).Err(); err != nil {
		r.drop(addr, err)
		return fmt.Errorf("REPLICAOF %s on %s: %w", master, addr, err)
	}
	return nil
}

// Role returns the first element of ROLE ("master", "slave", "sentinel") and,
// for a replica, the master it follows and its link state.
func (r *Redis) Role(ctx context.Context, addr string) (role, master, link string, err error) {
	cctx, cancel := r.cmdCtx(ctx)
	defer cancel()
	v, err := r.client(addr).Do(cctx, "ROLE").Slice()
	if err != nil {
		r.drop(addr, err)
		return "", "", "", fmt.Errorf("ROLE on %s: %w", addr, err)
	}
	return ParseRole(v)
}

// ParseRole reads a ROLE reply.
func ParseRole(v []any) (role, master, link string, err error) {
	if len(v) == 0 {
		return "", "", "", errors.New("empty ROLE reply")
	}
	role, _ = v[0].(string)
	if role == "slave" && len(v) >= 4 {
		host, _ := v[1].(string)
		port := fmt.Sprint(v[2])
		master = net.JoinHostPort(host, port)
		link, _ = v[3].(string)
	}
	return role, master, link, nil
}

// WaitMaster polls ROLE until addr reports master.
func (r *Redis) WaitMaster(ctx context.Context, addr string, poll time.Duration) error {
	return r.waitRole(ctx, addr, poll, func(role, _, _ string) bool { return role == "master" }, "master")
}

// WaitFollowing polls ROLE until addr is a replica of master with the link
// connected.
func (r *Redis) WaitFollowing(ctx context.Context, addr, master string, poll time.Duration) error {
	return r.waitRole(ctx, addr, poll, func(role, m, link string) bool {
		return role == "slave" && m == master && link == "connected"
	}, "replica of "+master+" with link connected")
}

func (r *Redis) waitRole(ctx context.Context, addr string, poll time.Duration, ok func(role, master, link string) bool, want string) error {
	var last string
	for {
		role, m, link, err := r.Role(ctx, addr)
		if err == nil && ok(role, m, link) {
			return nil
		}
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("role %s master %s link %s", role, m, link)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w waiting for %s to be %s (last: %s)", ErrTimeout, addr, want, last)
		case <-time.After(poll):
		}
	}
}

// PauseWrites stops addr from accepting writes for d (CLIENT PAUSE WRITE).
func (r *Redis) PauseWrites(ctx context.Context, addr string, d time.Duration) error {
	cctx, cancel := r.cmdCtx(ctx)
	defer cancel()
	ms := d.Milliseconds()
	if ms < 1 {
		ms = 1
	}
	if err := r.client(addr).Do(cctx, "CLIENT", "PAUSE", ms, "WRITE").Err(); err != nil {
		r.drop(addr, err)
		return fmt.Errorf("CLIENT PAUSE WRITE on %s: %w", addr, err)
	}
	return nil
}

// Unpause lifts CLIENT PAUSE on addr.
func (r *Redis) Unpause(ctx context.Context, addr string) error {
	cctx, cancel := r.cmdCtx(ctx)
	defer cancel()
	if err := r.client(addr).Do(cctx, "CLIENT", "UNPAUSE").Err(); err != nil {
		r.drop(addr, err)
		return fmt.Errorf("CLIENT UNPAUSE on %s: %w", addr, err)
	}
	return nil
}

// KillNormalClients disconnects addr's normal clients (not replicas, not
// this connection) so that they reconnect through discovery.
func (r *Redis) KillNormalClients(ctx context.Context, addr string) (int64, error) {
	cctx, cancel := r.cmdCtx(ctx)
	defer cancel()
	n, err := r.client(addr).Do(cctx, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes").Int64()
	if err != nil {
		r.drop(addr, err)
		return 0, fmt.Errorf("CLIENT KILL TYPE normal on %s: %w", addr, err)
	}
	return n, nil
}

// RunID returns addr's run_id from INFO server.
func (r *Redis) RunID(ctx context.Context, addr string) (string, error) {
	cctx, cancel := r.cmdCtx(ctx)
	defer cancel()
	s, err := r.client(addr).Info(cctx, "server").Result()
	if err != nil {
		r.drop(addr, err)
		return "", fmt.Errorf("INFO server on %s: %w", addr, err)
	}
	for _, line := range strings.Split(s, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "run_id:"); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("INFO server on %s has no run_id", addr)
}

// Offset returns addr's replication offset: master_repl_offset on a
// master, slave_repl_offset on a replica.
func (r *Redis) Offset(ctx context.Context, addr string) (role string, offset int64, err error) {
	kv, err := r.Replication(ctx, addr)
	if err != nil {
		return "", 0, err
	}
	role = kv["role"]
	key := "master_repl_offset"
	if role == "slave" {
		key = "slave_repl_offset"
	}
	offset, err = strconv.ParseInt(kv[key], 10, 64)
	if err != nil {
		return role, 0, fmt.Errorf("INFO replication on %s: %s is %q", addr, key, kv[key])
	}
	return role, offset, nil
}

// WaitCaughtUp polls replica's offset until it reaches offset.
func (r *Redis) WaitCaughtUp(ctx context.Context, replica string, offset int64, poll time.Duration) error {
	var last string
	for {
		role, off, err := r.Offset(ctx, replica)
		switch {
		case err != nil:
			last = err.Error()
		case role != "slave":
			last = "role " + role
		case off >= offset:
			return nil
		default:
			last = fmt.Sprintf("offset %d of %d", off, offset)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w waiting for %s to reach offset %d (last: %s)", ErrTimeout, replica, offset, last)
		case <-time.After(poll):
		}
	}
}

// ClusterFailover runs CLUSTER FAILOVER on replica addr: mode "graceful"
// (no argument), "force" or "takeover".
func (r *Redis) ClusterFailover(ctx context.Context, addr, mode string) error {
	args := []any{"CLUSTER", "FAILOVER"}
	switch mode {
	case "force":
		args = append(args, "FORCE")
	case "takeover":
		args = append(args, "TAKEOVER")
	}
	cctx, cancel := r.cmdCtx(ctx)
	defer cancel()
	if err := r.client(addr).Do(cctx, args...).Err(); err != nil {
		r.drop(addr, err)
		return fmt.Errorf("CLUSTER FAILOVER %s on %s: %w", mode, addr, err)
	}
	return nil
}

// ClusterReplicate makes addr a replica of the node masterID.
func (r *Redis) ClusterReplicate(ctx context.Context, addr, masterID string) error {
	cctx, cancel := r.cmdCtx(ctx)
	defer cancel()
	if err := r.client(addr).Do(cctx, "CLUSTER", "REPLICATE", masterID).Err(); err != nil {
		r.drop(addr, err)
		return fmt.Errorf("CLUSTER REPLICATE %s on %s: %w", masterID, addr, err)
	}
	return nil
}

// ClusterMeet makes addr meet the node at other (host:port).
func (r *Redis) ClusterMeet(ctx context.Context, addr, other string) error {
	host, port, err := net.SplitHostPort(other)
	if err != nil {
		return fmt.Errorf("meet address %q: %w", other, err)
	}
	cctx, cancel := r.cmdCtx(ctx)
	defer cancel()
	if err := r.client(addr).Do(cctx, "CLUSTER", "MEET", host, port).Err(); err != nil {
		r.drop(addr, err)
		return fmt.Errorf("CLUSTER MEET %s on %s: %w", other, addr, err)
	}
	return nil
}

// ClusterNodes returns addr's CLUSTER NODES reply.
func (r *Redis) ClusterNodes(ctx context.Context, addr string) (string, error) {
	cctx, cancel := r.cmdCtx(ctx)
	defer cancel()
	s, err := r.client(addr).ClusterNodes(cctx).Result()
	if err != nil {
		r.drop(addr, err)
		return "", fmt.Errorf("CLUSTER NODES on %s: %w", addr, err)
	}
	return s, nil
}

// Do runs one command on addr (the cluster repairs use a handful of
// CLUSTER and MIGRATE forms).
func (r *Redis) Do(ctx context.Context, addr string, args ...any) (any, error) {
	cctx, cancel := r.cmdCtx(ctx)
	defer cancel()
	v, err := r.client(addr).Do(cctx, args...).Result()
	if err != nil {
		r.drop(addr, err)
		return nil, fmt.Errorf("%v on %s: %w", args, addr, err)
	}
	return v, nil
}

// Fence returns addr's write fence: min-replicas-to-write and
// min-replicas-max-lag (seconds).
func (r *Redis) Fence(ctx context.Context, addr string) (minReplicas, maxLag int, err error) {
	cctx, cancel := r.cmdCtx(ctx)
	defer cancel()
	m, err := r.client(addr).ConfigGet(cctx, "min-replicas-*").Result()
	if err != nil {
		r.drop(addr, err)
		return 0, 0, fmt.Errorf("CONFIG GET min-replicas-* on %s: %w", addr, err)
	}
	minReplicas, err = strconv.Atoi(m["min-replicas-to-write"])
	if err != nil {
		return 0, 0, fmt.Errorf("CONFIG GET on %s: min-replicas-to-write is %q", addr, m["min-replicas-to-write"])
	}
	maxLag, err = strconv.Atoi(m["min-replicas-max-lag"])
	if err != nil {
		return 0, 0, fmt.Errorf("CONFIG GET on %s: min-replicas-max-lag is %q", addr, m["min-replicas-max-lag"])
	}
	return minReplicas, maxLag, nil
}

// SetFence sets addr's min-replicas-max-lag (when maxLag > 0) and then
// min-replicas-to-write, so that a fence never starts with a stale lag.
func (r *Redis) SetFence(ctx context.Context, addr string, minReplicas, maxLag int) error {
	cctx, cancel := r.cmdCtx(ctx)
	defer cancel()
	c := r.client(addr)
	if maxLag > 0 {
		if err := c.ConfigSet(cctx, "min-replicas-max-lag", strconv.Itoa(maxLag)).Err(); err != nil {
			r.drop(addr, err)
			return fmt.Errorf("CONFIG SET min-replicas-max-lag on %s: %w", addr, err)
		}
	}
	if err := c.ConfigSet(cctx, "min-replicas-to-write", strconv.Itoa(minReplicas)).Err(); err != nil {
		r.drop(addr, err)
		return fmt.Errorf("CONFIG SET min-replicas-to-write on %s: %w", addr, err)
	}
	return nil
}

// Replication returns addr's INFO replication as key → value.
func (r *Redis) Replication(ctx context.Context, addr string) (map[string]string, error) {
	cctx, cancel := r.cmdCtx(ctx)
	defer cancel()
	s, err := r.client(addr).Info(cctx, "replication").Result()
	if err != nil {
		r.drop(addr, err)
		return nil, fmt.Errorf("INFO replication on %s: %w", addr, err)
	}
	kv := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			kv[k] = v
		}
	}
	return kv, nil
}

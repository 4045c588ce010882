package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"warden/cluster"
)

// ErrRedisCLIMissing is returned when redis-cli, which creates a Redis
// Cluster, is not in PATH.
var ErrRedisCLIMissing = errors.New("redis-cli not found in PATH: install Debian's redis-tools package (apt-get install redis-tools)")

// ClusterConfigFile is the name of every cluster node's nodes.conf, in the
// node's Dir.
const ClusterConfigFile = "nodes.conf"

// ClusterOptions describes a Redis Cluster to start.
type ClusterOptions struct {
	// Dir holds one directory per node (node-PORT); created when missing.
	// Required.
	Dir string
	// Masters is how many masters to create (default 3), each with
	// ReplicasPerMaster replicas (default 1).
	Masters           int
	ReplicasPerMaster int
	// NodeTimeout is cluster-node-timeout; default 1s.
	NodeTimeout time.Duration
	// Args are appended to every node's command line.
	Args []string
	// ReadyTimeout bounds creating the cluster and waiting until every
	// node says cluster_state:ok; default 60s.
	ReadyTimeout time.Duration
}

// RedisCluster is a Redis Cluster of redis-server processes on loopback,
// created with `redis-cli --cluster create`.
type RedisCluster struct {
	// Nodes in the order they were started (and handed to redis-cli).
	Nodes       []*Redis
	NodeTimeout time.Duration
	Dir         string
}

// StartCluster starts the nodes with cluster mode on, creates the cluster
// and waits until every node says cluster_state:ok, knows every other node,
// and every replica's link to its master is up. On error every node started
// is killed again.
func StartCluster(ctx context.Context, o ClusterOptions) (*RedisCluster, error) {
	if o.Dir == "" {
		return nil, errors.New("start cluster: ClusterOptions.Dir is required")
	}
	if o.Masters == 0 {
		o.Masters = 3
	}
	if o.ReplicasPerMaster == 0 {
		o.ReplicasPerMaster = 1
	}
	if o.NodeTimeout == 0 {
		o.NodeTimeout = time.Second
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 60 * time.Second
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		return nil, ErrRedisCLIMissing
	}
	n := o.Masters * (1 + o.ReplicasPerMaster)
	ports, err := FreePorts(n)
	if err != nil {
		return nil, fmt.Errorf("start cluster: %w", err)
	}
	c := &RedisCluster{NodeTimeout: o.NodeTimeout, Dir: o.Dir}
	args := append([]string{
		"--cluster-enabled", "yes",
		"--cluster-node-timeout", strconv.FormatInt(o.NodeTimeout.Milliseconds(), 10),
		"--cluster-config-file", ClusterConfigFile,
	}, o.Args...)
	nodes := make([]*Redis, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, p := range ports {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nodes[i], errs[i] = StartRedis(ctx, RedisOptions{Port: p, Dir: filepath.Join(o.Dir, fmt.Sprintf("node-%d", p)), Args: args})
		}()
	}
	wg.Wait()
	for _, r := range nodes {
		if r != nil {
			c.Nodes = append(c.Nodes, r)
		}
	}
	if err := errors.Join(errs...); err != nil {
		c.Close()
		return nil, fmt.Errorf("start cluster: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, o.ReadyTimeout)
	defer cancel()
	create := append([]string{"--cluster", "create"}, c.Addrs()...)
	create = append(create, "--cluster-replicas", strconv.Itoa(o.ReplicasPerMaster), "--cluster-yes")
	out, err := exec.CommandContext(cctx, cli, create...).CombinedOutput()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("start cluster: redis-cli %s: %w\n%s", strings.Join(create, " "), err, out)
	}
	if err := c.WaitHealthy(ctx, c.Addrs(), o.ReadyTimeout); err != nil {
		c.Close()
		return nil, fmt.Errorf("start cluster: %w", err)
	}
	return c, nil
}

// Addrs returns the nodes' addresses in order.
func (c *RedisCluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, r := range c.Nodes {
		out[i] = r.Addr
	}
	return out
}

// Node returns the node at addr, or nil.
func (c *RedisCluster) Node(addr string) *Redis {
	for _, r := range c.Nodes {
		if r.Addr == addr {
			return r
		}
	}
	return nil
}

// Running returns the nodes whose process runs.
func (c *RedisCluster) Running() []*Redis {
	var out []*Redis
	for _, r := range c.Nodes {
		if r.Running() {
			out = append(out, r)
		}
	}
	return out
}

// Close kills and reaps every node; their files stay in Dir.
func (c *RedisCluster) Close() error {
	var errs []error
	for _, r := range c.Nodes {
		if err := r.Kill(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// RestartEmpty kills r, deletes its nodes.conf and starts it again on the
// same port: a node with a new ID that knows no other node and serves no
// slot (as after CLUSTER RESET HARD or a lost disk).
func (c *RedisCluster) RestartEmpty(ctx context.Context, r *Redis) error {
	if err := r.Kill(); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(r.Dir, ClusterConfigFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return r.Restart(ctx)
}

// ClusterInfo returns the key:value lines of CLUSTER INFO on addr.
func ClusterInfo(ctx context.Context, addr string) (map[string]string, error) {
	rc := NewRedisClient(addr, "")
	defer rc.Close()
	s, err := rc.ClusterInfo(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("CLUSTER INFO on %s: %w", addr, err)
	}
	return ParseInfo(s), nil
}

// ClusterNodesText returns the CLUSTER NODES reply of addr as it is.
func ClusterNodesText(ctx context.Context, addr string) (string, error) {
	rc := NewRedisClient(addr, "")
	defer rc.Close()
	s, err := rc.ClusterNodes(ctx).Result()
	if err != nil {
		return "", fmt.Errorf("CLUSTER NODES on %s: %w", addr, err)
	}
	return s, nil
}

// ClusterTopology returns addr's view of the cluster.
func ClusterTopology(ctx context.Context, addr string) (*cluster.Topology, error) {
	s, err := ClusterNodesText(ctx, addr)
	if err != nil {
		return nil, err
	}
	nodes, err := cluster.ParseNodes(s)
	if err != nil {
		return nil, fmt.Errorf("CLUSTER NODES on %s: %w", addr, err)
	}
	t, err := cluster.NewTopology(nodes)
	if err != nil {
		return nil, fmt.Errorf("CLUSTER NODES on %s: %w", addr, err)
	}
	return t, nil
}

// ClusterStateOK reports whether addr says cluster_state:ok; the error
// says what it says otherwise.
func ClusterStateOK(ctx context.Context, addr string) (bool, error) {
	info, err := ClusterInfo(ctx, addr)
	if err != nil {
		return false, err
	}
	if st := info["cluster_state"]; st != "ok" {
		return false, fmt.Errorf("%s: cluster_state:%s (slots ok %s, pfail %s, fail %s)", addr, st,
			info["cluster_slots_ok"], info["cluster_slots_pfail"], info["cluster_slots_fail"])
	}
	return true, nil
}

// WaitStateOK polls until every node of addrs says cluster_state:ok.
func (c *RedisCluster) WaitStateOK(ctx context.Context, addrs []string, timeout time.Duration) error {
	return WaitFor(ctx, timeout, fmt.Sprintf("cluster_state:ok on %s", strings.Join(addrs, ", ")), func() (bool, error) {
		for _, a := range addrs {
			if ok, err := ClusterStateOK(ctx, a); !ok {
				return false, err
			}
		}
		return true, nil
	})
}

// WaitHealthy polls until every node of addrs says cluster_state:ok, knows
// every node of the cluster (and no other), no node flagged failing, and
// every replica among them has its replication link up.
func (c *RedisCluster) WaitHealthy(ctx context.Context, addrs []string, timeout time.Duration) error {
	want := len(c.Nodes)
	return WaitFor(ctx, timeout, fmt.Sprintf("a healthy cluster of %d nodes seen from %s", want, strings.Join(addrs, ", ")), func() (bool, error) {
		for _, a := range addrs {
			if ok, err := ClusterStateOK(ctx, a); !ok {
				return false, err
			}
			t, err := ClusterTopology(ctx, a)
			if err != nil {
				return false, err
			}
			if len(t.Nodes) != want {
				return false, fmt.Errorf("%s knows %d nodes, want %d", a, len(t.Nodes), want)
			}
			for _, n := range t.Nodes {
				if n.Flags.Failing() || n.Flags.Handshake || n.Flags.NoAddr {
					return false, fmt.Errorf("%s sees %s %s flagged %s", a, n.ID[:8], n.Addr, n.Flags)
				}
			}
			self, _ := t.Node(t.Myself)
			if self.Flags.Replica {
				m, up, err := ReplicaOf(ctx, a)
				if err != nil {
					return false, err
				}
				if !up {
					return false, fmt.Errorf("replica %s: link to %s down", a, m)
				}
			}
		}
		return true, nil
	})
}

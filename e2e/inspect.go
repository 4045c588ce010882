package e2e

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// RoleInfo is what the ROLE command says about a node.
type RoleInfo struct {
	// Role is "master", "slave" or "sentinel".
	Role string
	// Master is the master's host:port when Role is "slave".
	Master string
	// State is the replication state of a replica ("connected", "sync", ...).
	State string
	// Offset is the replication offset.
	Offset int64
	// Replicas lists host:port of the replicas a master knows.
	Replicas []string
}

// Role sends ROLE to the node at addr (no password).
func Role(ctx context.Context, addr string) (RoleInfo, error) { return role(ctx, addr, "") }

// Role sends ROLE to this node.
func (r *Redis) Role(ctx context.Context) (RoleInfo, error) { return role(ctx, r.Addr, r.Password) }

func role(ctx context.Context, addr, password string) (RoleInfo, error) {
	c := NewRedisClient(addr, password)
	defer c.Close()
	v, err := c.Do(ctx, "ROLE").Slice()
	if err != nil {
		return RoleInfo{}, fmt.Errorf("ROLE on %s: %w", addr, err)
	}
	if len(v) == 0 {
		return RoleInfo{}, fmt.Errorf("ROLE on %s: empty reply", addr)
	}
	ri := RoleInfo{Role: fmt.Sprint(v[0])}
	switch ri.Role {
	case "master":
		if len(v) >= 2 {
			ri.Offset = toInt64(v[1])
		}
		if len(v) >= 3 {
			if rs, ok := v[2].([]any); ok {
				for _, x := range rs {
					if e, ok := x.([]any); ok && len(e) >= 2 {
						ri.Replicas = append(ri.Replicas, net.JoinHostPort(fmt.Sprint(e[0]), fmt.Sprint(e[1])))
					}
				}
			}
		}
	case "slave":
		if len(v) < 5 {
			return RoleInfo{}, fmt.Errorf("ROLE on %s: short replica reply %v", addr, v)
		}
		ri.Master = net.JoinHostPort(fmt.Sprint(v[1]), fmt.Sprint(toInt64(v[2])))
		ri.State = fmt.Sprint(v[3])
		ri.Offset = toInt64(v[4])
	}
	return ri, nil
}

func toInt64(x any) int64 {
	switch n := x.(type) {
	case int64:
		return n
	case string:
		i, _ := strconv.ParseInt(n, 10, 64)
		return i
	}
	return 0
}

// ReplicaOf reads INFO replication on the node at addr (no password) and
// returns its master's host:port ("" when the node is a master) and whether
// its link to that master is up.
func ReplicaOf(ctx context.Context, addr string) (master string, linkUp bool, err error) {
	return replicaOf(ctx, addr, "")
}

// ReplicaOf is the package-level ReplicaOf for this node.
func (r *Redis) ReplicaOf(ctx context.Context) (master string, linkUp bool, err error) {
	return replicaOf(ctx, r.Addr, r.Password)
}

func replicaOf(ctx context.Context, addr, password string) (string, bool, error) {
	info, err := InfoReplication(ctx, addr, password)
	if err != nil {
		return "", false, err
	}
	if info["role"] != "slave" {
		return "", false, nil
	}
	return net.JoinHostPort(info["master_host"], info["master_port"]), info["master_link_status"] == "up", nil
}

// InfoReplication returns the key:value lines of INFO replication.
func InfoReplication(ctx context.Context, addr, password string) (map[string]string, error) {
	c := NewRedisClient(addr, password)
	defer c.Close()
	s, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return nil, fmt.Errorf("INFO replication on %s: %w", addr, err)
	}
	return ParseInfo(s), nil
}

// ParseInfo turns an INFO reply into a map, skipping comments.
func ParseInfo(s string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = v
		}
	}
	return m
}

// DBSize returns the number of keys on this node.
func (r *Redis) DBSize(ctx context.Context) (int64, error) {
	c := r.Client()
	defer c.Close()
	n, err := c.DBSize(ctx).Result()
	if err != nil {
		return 0, fmt.Errorf("DBSIZE on %s: %w", r.Addr, err)
	}
	return n, nil
}

// WaitForReplica waits until the node at r replicates from master with its
// link up.
func (r *Redis) WaitForReplica(ctx context.Context, master string, timeout time.Duration) error {
	return WaitFor(ctx, timeout, fmt.Sprintf("%s to replicate from %s with link up", r.Addr, master), func() (bool, error) {
		m, up, err := r.ReplicaOf(ctx)
		if err != nil {
			return false, err
		}
		if m != master || !up {
			if m == "" {
				return false, fmt.Errorf("%s is a master", r.Addr)
			}
			return false, fmt.Errorf("%s replicates from %q, link up=%v", r.Addr, m, up)
		}
		return true, nil
	})
}

// WaitForRole waits until ROLE on r answers want ("master" or "slave").
func (r *Redis) WaitForRole(ctx context.Context, want string, timeout time.Duration) error {
	return WaitFor(ctx, timeout, fmt.Sprintf("%s to answer ROLE %s", r.Addr, want), func() (bool, error) {
		ri, err := r.Role(ctx)
		if err != nil {
			return false, err
		}
		if ri.Role != want {
			return false, fmt.Errorf("ROLE says %s", ri.Role)
		}
		return true, nil
	})
}

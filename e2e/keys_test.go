package e2e

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// writeKeys writes n keys prefix:0..n-1 (value "v-<i>") to r and then sends
// WAIT replicas 1000 on the same connection, returning how many replicas
// acknowledged.
func writeKeys(ctx context.Context, r *Redis, prefix string, n int, replicas int) (int64, error) {
	c := r.Client()
	defer c.Close()
	conn := c.Conn()
	defer conn.Close()
	var wait *redis.Cmd
	_, err := conn.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := 0; i < n; i++ {
			p.Set(ctx, fmt.Sprintf("%s:%d", prefix, i), fmt.Sprintf("v-%d", i), 0)
		}
		wait = p.Do(ctx, "WAIT", replicas, 1000)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("SET %d keys and WAIT on %s: %w", n, r.Addr, err)
	}
	return wait.Int64()
}

// checkKeys returns an error unless r holds exactly the n keys writeKeys
// wrote, with their values.
func checkKeys(ctx context.Context, r *Redis, prefix string, n int) error {
	c := r.Client()
	defer c.Close()
	size, err := c.DBSize(ctx).Result()
	if err != nil {
		return fmt.Errorf("DBSIZE on %s: %w", r.Addr, err)
	}
	if size != int64(n) {
		return fmt.Errorf("%s holds %d keys, want %d", r.Addr, size, n)
	}
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%s:%d", prefix, i)
	}
	vals, err := c.MGet(ctx, keys...).Result()
	if err != nil {
		return fmt.Errorf("MGET on %s: %w", r.Addr, err)
	}
	for i, v := range vals {
		if want := fmt.Sprintf("v-%d", i); v != want {
			return fmt.Errorf("%s: %s = %v, want %q", r.Addr, keys[i], v, want)
		}
	}
	return nil
}

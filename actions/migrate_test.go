package actions

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"warden/cluster"
	"warden/e2e"
)

func TestChunkLen(t *testing.T) {
	for _, tc := range []struct {
		name     string
		sizes    []int64
		batch    int
		maxBytes int64
		want     int
	}{
		{"empty", nil, 10, 100, 0},
		{"all fit", []int64{10, 10, 10}, 10, 100, 3},
		{"batch bounds", []int64{1, 1, 1, 1}, 2, 100, 2},
		{"bytes bound", []int64{40, 40, 40}, 10, 100, 2},
		{"exactly max bytes", []int64{50, 50, 1}, 10, 100, 2},
		{"one key above max goes alone", []int64{500, 1}, 10, 100, 1},
		{"large key after small ones waits", []int64{10, 500}, 10, 100, 1},
		{"unknown sizes count zero", []int64{0, 0, 0}, 10, 1, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := chunkLen(tc.sizes, tc.batch, tc.maxBytes); got != tc.want {
				t.Errorf("chunkLen(%v, %d, %d) = %d, want %d", tc.sizes, tc.batch, tc.maxBytes, got, tc.want)
			}
		})
	}
}

func TestNextBatch(t *testing.T) {
	const block = 100 * time.Millisecond
	for _, tc := range []struct {
		cur, most int
		took      time.Duration
		want      int
	}{
		{500, 500, time.Millisecond, 500},       // fast, already at most
		{500, 500, 101 * time.Millisecond, 250}, // slow: halve
		{1, 500, time.Second, 1},                // never below one
		{250, 500, 10 * time.Millisecond, 500},  // fast: double
		{300, 500, 10 * time.Millisecond, 500},  // capped at most
		{100, 500, 70 * time.Millisecond, 100},  // between half and all of MaxBlock: kept
		{100, 500, block, 100},                  // exactly MaxBlock is not slower
	} {
		if got := nextBatch(tc.cur, tc.most, tc.took, block); got != tc.want {
			t.Errorf("nextBatch(%d, %d, %v, %v) = %d, want %d", tc.cur, tc.most, tc.took, block, got, tc.want)
		}
	}
}

func TestMigrateArgs(t *testing.T) {
	for _, tc := range []struct {
		name, user, pass string
		want             []any
	}{
		{"no auth", "", "", []any{"MIGRATE", "10.0.0.1", "7000", "", 0, int64(5000), "KEYS"}},
		{"password", "", "pw", []any{"MIGRATE", "10.0.0.1", "7000", "", 0, int64(5000), "AUTH", "pw", "KEYS"}},
		{"user and password", "u", "pw", []any{"MIGRATE", "10.0.0.1", "7000", "", 0, int64(5000), "AUTH2", "u", "pw", "KEYS"}},
		{"user without password", "u", "", []any{"MIGRATE", "10.0.0.1", "7000", "", 0, int64(5000), "KEYS"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := migrateArgs("10.0.0.1", "7000", 5*time.Second, tc.user, tc.pass)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("migrateArgs = %v, want %v", got, tc.want)
			}
			for _, a := range got {
				if a == "REPLACE" {
					t.Errorf("migrateArgs has REPLACE: %v", got)
				}
			}
		})
	}
}

func TestMigrateOptionsDefaults(t *testing.T) {
	got := MigrateOptions{}.withDefaults()
	want := MigrateOptions{Batch: 500, MaxBytes: 8 << 20, MaxBlock: 250 * time.Millisecond, Timeout: 10 * time.Second}
	if got != want {
		t.Errorf("defaults %+v, want %+v", got, want)
	}
	set := MigrateOptions{Batch: 7, MaxBytes: 9, MaxBlock: time.Second, Timeout: time.Minute}
	if got := set.withDefaults(); got != set {
		t.Errorf("withDefaults changed set options: %+v", got)
	}
}

// The tests below run against real redis-server processes.

// migrateSettle bounds every wait for the cluster to agree.
const migrateSettle = 30 * time.Second

// clusterArgs are the cluster options the e2e harness gives its nodes, for
// the nodes the tests start themselves.
var clusterArgs = []string{"--cluster-enabled", "yes", "--cluster-node-timeout", "1000", "--cluster-config-file", e2e.ClusterConfigFile}

type testCluster struct {
	rc *e2e.RedisCluster
	r  *Redis
}

func needRedis(t *testing.T) {
	t.Helper()
	if _, err := e2e.RedisServerPath(); err != nil {
		t.Skipf("slot moves are tested against real Redis: %v", err)
	}
}

// startCluster starts 3 masters with a replica each, closed when t ends;
// on failure the tail of every node's log is printed.
func startCluster(t *testing.T) *testCluster {
	t.Helper()
	needRedis(t)
	rc, err := e2e.StartCluster(t.Context(), e2e.ClusterOptions{Dir: t.TempDir(), Masters: 3, ReplicasPerMaster: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range rc.Nodes {
				t.Logf("last lines of %s:\n%s", n.LogPath, e2e.Tail(n.LogPath, 15))
			}
		}
		if err := rc.Close(); err != nil {
			t.Errorf("close cluster: %v", err)
		}
	})
	r := NewRedis("", "", 2*time.Second)
	t.Cleanup(r.Close)
	return &testCluster{rc: rc, r: r}
}

// move is slot from its owner to another master, every other master told.
func (tc *testCluster) move(t *testing.T, slot int) SlotMove {
	t.Helper()
	topo, err := e2e.ClusterTopology(t.Context(), tc.rc.Nodes[0].Addr)
	if err != nil {
		t.Fatal(err)
	}
	src, ok := topo.Owner(slot)
	if !ok {
		t.Fatalf("nobody serves slot %d", slot)
	}
	m := SlotMove{Slot: slot, Src: src.Addr, SrcID: src.ID}
	for _, n := range topo.Nodes {
		switch {
		case !n.Flags.Master || n.ID == src.ID:
		case m.Dst == "":
			m.Dst, m.DstID = n.Addr, n.ID
		default:
			m.Others = append(m.Others, n.Addr)
		}
	}
	return m
}

// waitAgreed polls every node until each says owner serves slot and
// carries no migrating or importing mark for it.
func waitAgreed(t *testing.T, addrs []string, slot int, owner string) {
	t.Helper()
	err := e2e.WaitFor(t.Context(), migrateSettle, fmt.Sprintf("every node to give slot %d to %s with no open mark", slot, owner), func() (bool, error) {
		for _, a := range addrs {
			topo, err := e2e.ClusterTopology(t.Context(), a)
			if err != nil {
				return false, err
			}
			if o, ok := topo.Owner(slot); !ok || o.ID != owner {
				return false, fmt.Errorf("%s gives slot %d to %s", a, slot, o.ID)
			}
			if mig, imp := openMarks(topo, slot); mig != nil || imp != nil {
				return false, fmt.Errorf("%s: slot %d still open (migrating %v, importing %v)", a, slot, mig, imp)
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// openMarks returns the answering node's own marks on slot.
func openMarks(topo *cluster.Topology, slot int) (migrating, importing *cluster.OpenSlot) {
	self, _ := topo.Node(topo.Myself)
	for _, o := range self.Migrating {
		if o.Slot == slot {
			migrating = &o
		}
	}
	for _, o := range self.Importing {
		if o.Slot == slot {
			importing = &o
		}
	}
	return migrating, importing
}

func nodeClient(addr string) *redis.Client { return e2e.NewRedisClient(addr, "") }

func clusterClient(addrs []string) *redis.ClusterClient {
	return redis.NewClusterClient(&redis.ClusterOptions{
		Addrs: addrs, Protocol: 2, DisableIdentity: true,
		DialTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
}

// do runs one command on addr and fails t on an error.
func do(t *testing.T, addr string, args ...any) any {
	t.Helper()
	c := nodeClient(addr)
	defer c.Close()
	v, err := c.Do(t.Context(), args...).Result()
	if err != nil {
		t.Fatalf("%v on %s: %v", args, addr, err)
	}
	return v
}

// asking runs one command after ASKING on one connection of addr.
func asking(ctx context.Context, addr string, args ...any) (any, error) {
	c := nodeClient(addr)
	defer c.Close()
	pipe := c.Pipeline()
	pipe.Do(ctx, "ASKING")
	cmd := pipe.Do(ctx, args...)
	_, _ = pipe.Exec(ctx)
	return cmd.Result()
}

func countKeys(t *testing.T, addr string, slot int) int64 {
	t.Helper()
	return do(t, addr, "CLUSTER", "COUNTKEYSINSLOT", slot).(int64)
}

// slotKeys returns n key names of slot: most share one hash tag; among
// the first hundred, every fifth is an untagged name that hashes there.
func slotKeys(slot, n int, prefix string) []string {
	tag := ""
	for i := 0; tag == ""; i++ {
		if s := fmt.Sprintf("t%d", i); cluster.KeySlot(s) == slot {
			tag = s
		}
	}
	var keys []string
	plain := 0
	for i := 0; len(keys) < n; i++ {
		if i%5 == 4 && i < 100 {
			for ; ; plain++ {
				if k := fmt.Sprintf("%s:%d", prefix, plain); cluster.KeySlot(k) == slot {
					keys = append(keys, k)
					plain++
					break
				}
			}
			continue
		}
		keys = append(keys, fmt.Sprintf("{%s}:%s:%d", tag, prefix, i))
	}
	return keys
}

var keyTypes = []string{"string", "hash", "list", "set", "zset", "stream"}

// writeMixed writes keys on addr, their type by position, every fourth
// with a TTL; a few hashes, sets and lists are big enough for another
// encoding.
func writeMixed(t *testing.T, addr string, keys []string) {
	t.Helper()
	ctx := t.Context()
	c := nodeClient(addr)
	defer c.Close()
	_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			n := 2 + i%4
			if i%50 == 1 {
				n = 300
			}
			switch keyTypes[i%len(keyTypes)] {
			case "string":
				p.Set(ctx, k, fmt.Sprintf("value-%d-%s", i, strings.Repeat("x", i%40)), 0)
			case "hash":
				for f := range n {
					p.HSet(ctx, k, fmt.Sprintf("f%d", f), fmt.Sprintf("v%d-%d", i, f))
				}
			case "list":
				for e := range n {
					p.RPush(ctx, k, fmt.Sprintf("e%d", e))
				}
			case "set":
				for e := range n {
					if i%2 == 0 {
						p.SAdd(ctx, k, e*7) // intset
					} else {
						p.SAdd(ctx, k, fmt.Sprintf("m%d", e))
					}
				}
			case "zset":
				for e := range n {
					p.ZAdd(ctx, k, redis.Z{Score: float64(e) * 1.5, Member: fmt.Sprintf("z%d", e)})
				}
			case "stream":
				for e := range n {
					p.XAdd(ctx, &redis.XAddArgs{Stream: k, Values: []any{"field", e, "at", i}})
				}
			}
			if i%4 == 0 {
				p.PExpire(ctx, k, 10*time.Minute)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("write %d keys on %s: %v", len(keys), addr, err)
	}
}

// keyState is what a key holds, read through any client.
type keyState struct {
	Type  string
	Value any
	TTL   int64 // PTTL: ms, -1 without one, -2 when missing
}

// doer is a Redis client, single node or cluster.
type doer interface {
	redis.Cmdable
	Do(ctx context.Context, args ...any) *redis.Cmd
}

func readKeys(ctx context.Context, c doer, keys []string) (map[string]keyState, error) {
	out := map[string]keyState{}
	for _, k := range keys {
		var s keyState
		var err error
		if s.Type, err = c.Type(ctx, k).Result(); err != nil {
			return nil, fmt.Errorf("TYPE %s: %w", k, err)
		}
		switch s.Type {
		case "string":
			s.Value, err = c.Get(ctx, k).Result()
		case "hash":
			s.Value, err = c.HGetAll(ctx, k).Result()
		case "list":
			s.Value, err = c.LRange(ctx, k, 0, -1).Result()
		case "set":
			var m []string
			m, err = c.SMembers(ctx, k).Result()
			sort.Strings(m)
			s.Value = m
		case "zset":
			s.Value, err = c.ZRangeWithScores(ctx, k, 0, -1).Result()
		case "stream":
			s.Value, err = c.XRange(ctx, k, "-", "+").Result()
		}
		if err != nil {
			return nil, fmt.Errorf("value of %s: %w", k, err)
		}
		if s.TTL, err = c.Do(ctx, "PTTL", k).Int64(); err != nil {
			return nil, fmt.Errorf("PTTL %s: %w", k, err)
		}
		out[k] = s
	}
	return out, nil
}

// checkKeys reads keys through a cluster client and compares them with
// before: same type and value, a TTL where there was one, no longer.
func checkKeys(t *testing.T, addrs []string, before map[string]keyState) {
	t.Helper()
	c := clusterClient(addrs)
	defer c.Close()
	keys := make([]string, 0, len(before))
	for k := range before {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	after, err := readKeys(t.Context(), c, keys)
	if err != nil {
		t.Fatal(err)
	}
	bad := 0
	for _, k := range keys {
		b, a := before[k], after[k]
		ttlOK := (b.TTL == -1 && a.TTL == -1) || (b.TTL > 0 && a.TTL > 0 && a.TTL <= b.TTL && a.TTL > b.TTL-int64(migrateSettle/time.Millisecond)*4)
		if b.Type != a.Type || !reflect.DeepEqual(b.Value, a.Value) || !ttlOK {
			if bad++; bad <= 5 {
				t.Errorf("key %s: before %+v, after %+v", k, b, a)
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d keys differ after the move", bad, len(keys))
	}
}

// fill writes n keys of mixed types in slot on addr and returns them with
// what they hold.
func fill(t *testing.T, addr string, slot, n int, prefix string) ([]string, map[string]keyState) {
	t.Helper()
	keys := slotKeys(slot, n, prefix)
	writeMixed(t, addr, keys)
	return keys, snapshot(t, addr, keys)
}

// snapshot reads keys on the node at addr.
func snapshot(t *testing.T, addr string, keys []string) map[string]keyState {
	t.Helper()
	c := nodeClient(addr)
	defer c.Close()
	s, err := readKeys(t.Context(), c, keys)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// openByHand sets the marks an interrupted reshard leaves: IMPORTING on
// the target, MIGRATING on the source.
func openByHand(t *testing.T, m SlotMove) {
	t.Helper()
	do(t, m.Dst, "CLUSTER", "SETSLOT", m.Slot, "IMPORTING", m.SrcID)
	do(t, m.Src, "CLUSTER", "SETSLOT", m.Slot, "MIGRATING", m.DstID)
}

// mustMove runs MigrateSlot, fails t on an error and waits until every
// node agrees on the new owner.
func (tc *testCluster) mustMove(t *testing.T, m SlotMove, o MigrateOptions) MoveStats {
	t.Helper()
	st, err := tc.r.MigrateSlot(t.Context(), m, o)
	if err != nil {
		t.Fatalf("MigrateSlot %+v: %v", m, err)
	}
	t.Logf("moved slot %d: %+v", m.Slot, st)
	waitAgreed(t, tc.rc.Addrs(), m.Slot, m.DstID)
	return st
}

func TestMigrateSlot(t *testing.T) {
	tc := startCluster(t)
	addrs := tc.rc.Addrs()

	t.Run("mixed types with TTLs and hash tags", func(t *testing.T) {
		m := tc.move(t, 100)
		keys, before := fill(t, m.Src, m.Slot, 600, "mixed")
		types := map[string]int{}
		ttls := 0
		for _, s := range before {
			types[s.Type]++
			if s.TTL > 0 {
				ttls++
			}
		}
		if len(types) != len(keyTypes) || ttls == 0 {
			t.Fatalf("test data: types %v, %d keys with a TTL", types, ttls)
		}
		st := tc.mustMove(t, m, MigrateOptions{Batch: 100})
		if st.Keys != int64(len(keys)) || st.Same != 0 || st.Bytes <= 0 || st.Migrates < int64(len(keys)/100) {
			t.Errorf("stats %+v, want %d keys in at least %d MIGRATEs", st, len(keys), len(keys)/100)
		}
		if n := countKeys(t, m.Src, m.Slot); n != 0 {
			t.Errorf("%s still holds %d keys of slot %d", m.Src, n, m.Slot)
		}
		if n := countKeys(t, m.Dst, m.Slot); n != int64(len(keys)) {
			t.Errorf("%s holds %d keys of slot %d, want %d", m.Dst, n, m.Slot, len(keys))
		}
		checkKeys(t, addrs, before)
	})

	t.Run("ten thousand small keys", func(t *testing.T) {
		ctx := t.Context()
		m := tc.move(t, 200)
		const n = 10000
		keys := slotKeys(m.Slot, n, "small")
		src := nodeClient(m.Src)
		defer src.Close()
		for i := 0; i < n; i += 1000 {
			_, err := src.Pipelined(ctx, func(p redis.Pipeliner) error {
				for j := i; j < i+1000; j++ {
					p.Set(ctx, keys[j], "v"+strconv.Itoa(j), 0)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		st, err := tc.r.MigrateSlot(ctx, m, MigrateOptions{})
		took := time.Since(start)
		if err != nil {
			t.Fatalf("MigrateSlot %+v: %v", m, err)
		}
		t.Logf("%d keys (%d bytes estimated) in %d MIGRATEs took %v: %.0f keys/s", st.Keys, st.Bytes, st.Migrates, took.Round(time.Millisecond), float64(st.Keys)/took.Seconds())
		if st.Keys != n {
			t.Errorf("moved %d keys, want %d", st.Keys, n)
		}
		waitAgreed(t, addrs, m.Slot, m.DstID)
		if got := countKeys(t, m.Dst, m.Slot); got != n {
			t.Errorf("%s holds %d keys of slot %d, want %d", m.Dst, got, m.Slot, n)
		}
		c := clusterClient(addrs)
		defer c.Close()
		for _, j := range []int{0, 1, n / 2, n - 1} {
			if v, err := c.Get(ctx, keys[j]).Result(); err != nil || v != "v"+strconv.Itoa(j) {
				t.Errorf("key %s: %q, %v", keys[j], v, err)
			}
		}
	})

	t.Run("BUSYKEY with the same value is settled", func(t *testing.T) {
		ctx := t.Context()
		m := tc.move(t, 300)
		keys, before := fill(t, m.Src, m.Slot, 60, "same")
		// The target holds three of the keys already, as a copy left by an
		// earlier attempt would: a string equal byte for byte, a hash equal
		// in content but in another encoding, a set built in another order.
		do(t, m.Dst, "CLUSTER", "SETSLOT", m.Slot, "IMPORTING", m.SrcID)
		str, hash, set := keys[0], keys[7], keys[3]
		if before[str].Type != "string" || before[hash].Type != "hash" || before[set].Type != "set" {
			t.Fatalf("test data: %s %s, %s %s, %s %s", str, before[str].Type, hash, before[hash].Type, set, before[set].Type)
		}
		copyTo := func(args ...any) {
			t.Helper()
			if _, err := asking(ctx, m.Dst, args...); err != nil {
				t.Fatalf("%v on %s: %v", args, m.Dst, err)
			}
		}
		copyTo("SET", str, before[str].Value)
		do(t, m.Dst, "CONFIG", "SET", "hash-max-listpack-entries", "0")
		hargs := []any{"HSET", hash}
		for f, v := range before[hash].Value.(map[string]string) {
			hargs = append(hargs, f, v)
		}
		copyTo(hargs...)
		do(t, m.Dst, "CONFIG", "SET", "hash-max-listpack-entries", "128")
		sargs := []any{"SADD", set}
		members := before[set].Value.([]string)
		for i := len(members) - 1; i >= 0; i-- {
			sargs = append(sargs, members[i])
		}
		copyTo(sargs...)
		for _, k := range []string{str, hash, set} {
			if ttl := before[k].TTL; ttl > 0 {
				copyTo("PEXPIRE", k, ttl)
			}
		}
		srcDump := do(t, m.Src, "DUMP", hash)
		dstDump, _ := asking(ctx, m.Dst, "DUMP", hash)
		if srcDump == dstDump {
			t.Fatalf("the hash copy on %s has the same DUMP: the logical comparison goes untested", m.Dst)
		}

		st := tc.mustMove(t, m, MigrateOptions{Batch: 20})
		if st.Same != 3 || st.Keys != int64(len(keys)-3) {
			t.Errorf("stats %+v, want 3 keys the same and %d moved", st, len(keys)-3)
		}
		checkKeys(t, addrs, before)
	})

	t.Run("BUSYKEY with another value stops, then resumes", func(t *testing.T) {
		ctx := t.Context()
		m := tc.move(t, 400)
		keys, before := fill(t, m.Src, m.Slot, 50, "conflict")
		do(t, m.Dst, "CLUSTER", "SETSLOT", m.Slot, "IMPORTING", m.SrcID)
		busy := keys[12] // a string
		if _, err := asking(ctx, m.Dst, "SET", busy, "the target's own value"); err != nil {
			t.Fatal(err)
		}

		st, err := tc.r.MigrateSlot(ctx, m, MigrateOptions{Batch: 20})
		t.Logf("first attempt: %+v, %v", st, err)
		if !errors.Is(err, ErrKeyConflict) {
			t.Fatalf("MigrateSlot: %v, want ErrKeyConflict", err)
		}
		for _, s := range []string{strconv.Quote(busy), strconv.Itoa(m.Slot), m.Src, m.Dst} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("error %q does not name %s", err, s)
			}
		}
		if v, err := asking(ctx, m.Dst, "GET", busy); err != nil || v != "the target's own value" {
			t.Errorf("key %s on the target: %v, %v: overwritten", busy, v, err)
		}
		if v := do(t, m.Src, "GET", busy); v != before[busy].Value {
			t.Errorf("key %s on the source: %q, want %q", busy, v, before[busy].Value)
		}
		if st.Keys < 1 || st.Keys >= int64(len(keys)) {
			t.Errorf("stats %+v: want some keys moved before the conflict, not all", st)
		}
		// Both marks stay, so that every key stays reachable (with ASK).
		topo, err := e2e.ClusterTopology(ctx, m.Src)
		if err != nil {
			t.Fatal(err)
		}
		if mig, _ := openMarks(topo, m.Slot); mig == nil || mig.To != m.DstID {
			t.Errorf("%s: slot %d not migrating to %s after the conflict", m.Src, m.Slot, m.DstID)
		}
		if topo, err = e2e.ClusterTopology(ctx, m.Dst); err != nil {
			t.Fatal(err)
		}
		if _, imp := openMarks(topo, m.Slot); imp == nil || imp.From != m.SrcID {
			t.Errorf("%s: slot %d not importing from %s after the conflict", m.Dst, m.Slot, m.SrcID)
		}
		c := clusterClient(addrs)
		defer c.Close()
		if v, err := c.Get(ctx, busy).Result(); err != nil || v != before[busy].Value {
			t.Errorf("key %s through a cluster client while the slot is open: %q, %v", busy, v, err)
		}

		// The operator settles the key (here: the target's copy goes).
		if _, err := asking(ctx, m.Dst, "DEL", busy); err != nil {
			t.Fatal(err)
		}
		st2 := tc.mustMove(t, m, MigrateOptions{Batch: 20})
		if st.Keys+st2.Keys != int64(len(keys)) {
			t.Errorf("moved %d + %d keys, want %d", st.Keys, st2.Keys, len(keys))
		}
		checkKeys(t, addrs, before)
	})

	t.Run("resume a half-moved slot", func(t *testing.T) {
		m := tc.move(t, 500)
		keys, before := fill(t, m.Src, m.Slot, 80, "half")
		// An interrupted reshard: marks set, half of the keys moved.
		openByHand(t, m)
		host, port, _ := strings.Cut(m.Dst, ":")
		args := []any{"MIGRATE", host, port, "", 0, 5000, "KEYS"}
		for _, k := range keys[:40] {
			args = append(args, k)
		}
		do(t, m.Src, args...)

		st := tc.mustMove(t, m, MigrateOptions{})
		if st.Keys != 40 {
			t.Errorf("stats %+v, want the 40 keys left", st)
		}
		checkKeys(t, addrs, before)
	})

	t.Run("resume when the target owns the slot already", func(t *testing.T) {
		ctx := t.Context()
		m := tc.move(t, 600)
		_, before := fill(t, m.Src, m.Slot, 30, "owned")
		// A run stopped right after SETSLOT NODE on the target.
		openByHand(t, m)
		if _, err := tc.r.MigrateKeys(ctx, m.Src, m.Dst, m.Slot, MigrateOptions{}); err != nil {
			t.Fatal(err)
		}
		do(t, m.Dst, "CLUSTER", "SETSLOT", m.Slot, "NODE", m.DstID)

		st := tc.mustMove(t, m, MigrateOptions{})
		if st.Keys != 0 {
			t.Errorf("stats %+v, want nothing moved", st)
		}
		checkKeys(t, addrs, before)
	})

	t.Run("large values are split by MaxBytes", func(t *testing.T) {
		ctx := t.Context()
		m := tc.move(t, 700)
		keys := slotKeys(m.Slot, 20, "large")
		src := nodeClient(m.Src)
		defer src.Close()
		for i, k := range keys {
			if err := src.Set(ctx, k, strings.Repeat(string(rune('a'+i)), 10000), 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
		before := snapshot(t, m.Src, keys)
		calls := func() int64 {
			t.Helper()
			info := e2e.ParseInfo(do(t, m.Src, "INFO", "commandstats").(string))
			s := info["cmdstat_migrate"]
			v, _, _ := strings.Cut(strings.TrimPrefix(s, "calls="), ",")
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
		was := calls()
		// About 10 KB a key: three keys fit in 32 KiB, a fourth does not.
		st := tc.mustMove(t, m, MigrateOptions{MaxBytes: 32 << 10})
		if st.Keys != 20 || st.Migrates != 7 || st.Bytes < 20*10000 {
			t.Errorf("stats %+v, want 20 keys of 10 KB in 7 MIGRATEs", st)
		}
		if n := calls() - was; n != st.Migrates {
			t.Errorf("%s counts %d MIGRATE calls, the stats %d", m.Src, n, st.Migrates)
		}
		checkKeys(t, addrs, before)
	})

	t.Run("MigrateKeys moves keys from an importing node back to the owner", func(t *testing.T) {
		ctx := t.Context()
		m := tc.move(t, 800)
		// A slot left importing on another master, some keys written there
		// (with ASKING), one of them on the owner too with the same value.
		do(t, m.Dst, "CLUSTER", "SETSLOT", m.Slot, "IMPORTING", m.SrcID)
		keys := slotKeys(m.Slot, 25, "back")
		for i, k := range keys {
			if _, err := asking(ctx, m.Dst, "SET", k, "v"+strconv.Itoa(i)); err != nil {
				t.Fatal(err)
			}
		}
		do(t, m.Src, "SET", keys[0], "v0")
		before := map[string]keyState{}
		for i, k := range keys {
			before[k] = keyState{Type: "string", Value: "v" + strconv.Itoa(i), TTL: -1}
		}

		st, err := tc.r.MigrateKeys(ctx, m.Dst, m.Src, m.Slot, MigrateOptions{Batch: 10})
		if err != nil {
			t.Fatalf("MigrateKeys from the importing %s to the owner %s: %v", m.Dst, m.Src, err)
		}
		if st.Keys != 24 || st.Same != 1 {
			t.Errorf("stats %+v, want 24 keys moved and 1 the same", st)
		}
		if n := countKeys(t, m.Dst, m.Slot); n != 0 {
			t.Errorf("%s still holds %d keys of slot %d", m.Dst, n, m.Slot)
		}
		do(t, m.Dst, "CLUSTER", "SETSLOT", m.Slot, "STABLE")
		waitAgreed(t, addrs, m.Slot, m.SrcID)
		checkKeys(t, addrs, before)
	})
}

// TestMigrateSlotLastSlotOfMaster moves a slot to a new master with a
// replica and back: losing its last slot, Redis 7 turns that master into
// a replica of the slot's new owner, which answers SETSLOT with "only with
// masters".
func TestMigrateSlotLastSlotOfMaster(t *testing.T) {
	tc := startCluster(t)
	ctx := t.Context()
	rc := tc.rc
	var added []*e2e.Redis
	for _, name := range []string{"new-master", "new-replica"} {
		n, err := e2e.StartRedis(ctx, e2e.RedisOptions{Dir: filepath.Join(rc.Dir, name), Args: clusterArgs})
		if err != nil {
			t.Fatal(err)
		}
		rc.Nodes = append(rc.Nodes, n) // closed with the cluster
		added = append(added, n)
		do(t, n.Addr, "CLUSTER", "MEET", "127.0.0.1", rc.Nodes[0].Port)
	}
	newMaster, newReplica := added[0], added[1]
	newID := do(t, newMaster.Addr, "CLUSTER", "MYID").(string)
	err := e2e.WaitFor(ctx, migrateSettle, newReplica.Addr+" to know "+newMaster.Addr, func() (bool, error) {
		topo, err := e2e.ClusterTopology(ctx, newReplica.Addr)
		if err != nil {
			return false, err
		}
		n, ok := topo.Node(newID)
		return ok && !n.Flags.Handshake, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	do(t, newReplica.Addr, "CLUSTER", "REPLICATE", newID)
	if err := rc.WaitHealthy(ctx, rc.Addrs(), migrateSettle); err != nil {
		t.Fatal(err)
	}

	out := tc.move(t, 1000)
	owner, ownerID := out.Src, out.SrcID
	out.Dst, out.DstID = newMaster.Addr, newID
	out.Others = nil
	for _, a := range rc.Addrs() {
		if r, err := e2e.Role(ctx, a); err == nil && r.Role == "master" && a != owner && a != newMaster.Addr {
			out.Others = append(out.Others, a)
		}
	}
	if len(out.Others) != 2 {
		t.Fatalf("other masters %v, want 2", out.Others)
	}
	keys, before := fill(t, owner, out.Slot, 50, "last")
	tc.mustMove(t, out, MigrateOptions{})

	back := SlotMove{Slot: out.Slot, Src: newMaster.Addr, SrcID: newID, Dst: owner, DstID: ownerID, Others: out.Others}
	if st := tc.mustMove(t, back, MigrateOptions{}); st.Keys != int64(len(keys)) {
		t.Errorf("stats %+v, want %d keys", st, len(keys))
	}
	for _, n := range added {
		err := e2e.WaitFor(ctx, migrateSettle, n.Addr+" to replicate "+owner, func() (bool, error) {
			r, err := e2e.Role(ctx, n.Addr)
			if err != nil {
				return false, err
			}
			if r.Role != "slave" || r.Master != owner {
				return false, fmt.Errorf("%s: role %s of %s", n.Addr, r.Role, r.Master)
			}
			return true, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Run again, as after a crash before SETSLOT reached the old master:
	// the target owns the slot, the source is a replica now and answers
	// SETSLOT with "only with masters".
	if _, err := tc.r.MigrateSlot(ctx, back, MigrateOptions{}); err != nil {
		t.Fatalf("MigrateSlot again after the source became a replica: %v", err)
	}
	if err := tc.r.setSlot(ctx, newMaster.Addr, out.Slot, "NODE", ownerID); !isReply(err, "only with masters") {
		t.Errorf("SETSLOT NODE on the former master: %v, want an error about masters", err)
	} else {
		t.Logf("Redis %s answers SETSLOT on a replica: %v", redisVersion(), err)
	}
	checkKeys(t, rc.Addrs(), before)
}

func redisVersion() string {
	v, err := e2e.RedisVersion()
	if err != nil {
		return err.Error()
	}
	return v
}

// TestMigrateSlotWithAuth moves slots between two masters that require a
// password, MIGRATE authenticating with AUTH and, for an ACL user, AUTH2.
func TestMigrateSlotWithAuth(t *testing.T) {
	needRedis(t)
	ctx := t.Context()
	dir := t.TempDir()
	const password = "secret-pw"
	var nodes []*e2e.Redis
	for _, name := range []string{"a", "b"} {
		n, err := e2e.StartRedis(ctx, e2e.RedisOptions{Dir: filepath.Join(dir, name), Password: password, Args: clusterArgs})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Kill() })
		nodes = append(nodes, n)
	}
	a, b := nodes[0], nodes[1]
	admin := NewRedis("", password, 2*time.Second)
	t.Cleanup(admin.Close)
	for _, s := range []struct {
		n        *e2e.Redis
		from, to int
	}{{a, 0, 8191}, {b, 8192, 16383}} {
		if _, err := admin.Do(ctx, s.n.Addr, "CLUSTER", "ADDSLOTSRANGE", s.from, s.to); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.Do(ctx, s.n.Addr, "ACL", "SETUSER", "mover", "on", ">mover-pw", "~*", "&*", "+@all"); err != nil {
			t.Fatal(err)
		}
	}
	if err := admin.ClusterMeet(ctx, a.Addr, b.Addr); err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	err := e2e.WaitFor(ctx, migrateSettle, "both nodes to know each other and every slot, and say cluster_state:ok", func() (bool, error) {
		for _, n := range nodes {
			info, err := admin.Do(ctx, n.Addr, "CLUSTER", "INFO")
			if err != nil {
				return false, err
			}
			if st := e2e.ParseInfo(fmt.Sprint(info))["cluster_state"]; st != "ok" {
				return false, fmt.Errorf("%s: cluster_state:%s", n.Addr, st)
			}
			text, err := admin.ClusterNodes(ctx, n.Addr)
			if err != nil {
				return false, err
			}
			ns, err := cluster.ParseNodes(text)
			if err != nil {
				return false, err
			}
			topo, err := cluster.NewTopology(ns)
			if err != nil {
				return false, err
			}
			if len(topo.Nodes) != 2 || len(topo.Coverage()) != 0 {
				return false, fmt.Errorf("%s: %d nodes, uncovered %v", n.Addr, len(topo.Nodes), topo.Coverage())
			}
			ids[n.Addr] = topo.Myself
		}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}

	for i, user := range []string{"", "mover"} {
		pw := password
		if user != "" {
			pw = "mover-pw"
		}
		t.Run("user "+strconv.Quote(user), func(t *testing.T) {
			r := NewRedis(user, pw, 2*time.Second)
			defer r.Close()
			m := SlotMove{Slot: 100 + i, Src: a.Addr, SrcID: ids[a.Addr], Dst: b.Addr, DstID: ids[b.Addr]}
			keys := slotKeys(m.Slot, 30, "auth")
			for _, k := range keys {
				if _, err := admin.Do(ctx, a.Addr, "SET", k, "v-"+k); err != nil {
					t.Fatal(err)
				}
			}
			st, err := r.MigrateSlot(ctx, m, MigrateOptions{Batch: 7})
			if err != nil {
				t.Fatalf("MigrateSlot as %q: %v", user, err)
			}
			if st.Keys != int64(len(keys)) {
				t.Errorf("stats %+v, want %d keys", st, len(keys))
			}
			for _, k := range keys {
				if v, err := admin.Do(ctx, b.Addr, "GET", k); err != nil || v != "v-"+k {
					t.Fatalf("key %s on %s: %v, %v", k, b.Addr, v, err)
				}
			}
		})
	}
}

// TestMigrateSlots moves groups of slots: small ones through the pipelined
// path, a slot with more keys than a batch, one whose key the target holds
// already with the same value, and one half-moved by hand, all at once;
// then a group whose target owns some slots already.
func TestMigrateSlots(t *testing.T) {
	tc := startCluster(t)
	addrs := tc.rc.Addrs()
	ctx := t.Context()
	first := tc.move(t, 1000)
	g := SlotGroup{Src: first.Src, SrcID: first.SrcID, Dst: first.Dst, DstID: first.DstID, Others: first.Others}
	before := map[string]keyState{}
	var slots []int
	for sl := 1000; sl < 1010; sl++ {
		if m := tc.move(t, sl); m.SrcID != g.SrcID {
			t.Fatalf("slot %d is not on %s: the test assumes slots 1000-1009 share a master", sl, g.Src)
		}
		n := 30
		if sl == 1003 {
			n = 250 // more than the batch below: moved alone
		}
		_, b := fill(t, g.Src, sl, n, fmt.Sprintf("grp%d", sl))
		for k, v := range b {
			before[k] = v
		}
		slots = append(slots, sl)
	}
	// Slot 1005: the target holds one key already, with the same value.
	busy := slotKeys(1005, 30, "grp1005")[0]
	if before[busy].Type != "string" {
		t.Fatalf("test data: %s is a %s", busy, before[busy].Type)
	}
	do(t, g.Dst, "CLUSTER", "SETSLOT", 1005, "IMPORTING", g.SrcID)
	if _, err := asking(ctx, g.Dst, "SET", busy, before[busy].Value); err != nil {
		t.Fatal(err)
	}
	if ttl := before[busy].TTL; ttl > 0 {
		if _, err := asking(ctx, g.Dst, "PEXPIRE", busy, ttl); err != nil {
			t.Fatal(err)
		}
	}
	// Slot 1007: half moved by hand.
	openByHand(t, SlotMove{Slot: 1007, Src: g.Src, SrcID: g.SrcID, Dst: g.Dst, DstID: g.DstID})
	half := slotKeys(1007, 30, "grp1007")[:10]
	margs := append([]any{"MIGRATE", hostOf(g.Dst), portOf(g.Dst), "", 0, 5000, "KEYS"}, anys(half)...)
	do(t, g.Src, margs...)

	g.Slots = slots[:8]
	st, err := tc.r.MigrateSlots(ctx, g, MigrateOptions{Batch: 100})
	if err != nil {
		t.Fatalf("MigrateSlots: %v", err)
	}
	t.Logf("moved slots %v: %+v", g.Slots, st)
	want := int64(7*30 + 250 - 10 - 1)
	if st.Keys != want || st.Same != 1 {
		t.Errorf("stats %+v, want %d keys moved and 1 the same", st, want)
	}
	for _, sl := range g.Slots {
		waitAgreed(t, addrs, sl, g.DstID)
	}
	// The rest, with two slots the target owns already.
	g.Slots = slots[6:]
	if _, err := tc.r.MigrateSlots(ctx, g, MigrateOptions{}); err != nil {
		t.Fatalf("MigrateSlots with slots moved already: %v", err)
	}
	for _, sl := range slots {
		waitAgreed(t, addrs, sl, g.DstID)
		if n := countKeys(t, g.Src, sl); n != 0 {
			t.Errorf("%s still holds %d keys of slot %d", g.Src, n, sl)
		}
	}
	checkKeys(t, addrs, before)
}

func hostOf(addr string) string { h, _, _ := net.SplitHostPort(addr); return h }
func portOf(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }

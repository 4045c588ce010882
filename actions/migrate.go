package actions

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrKeyConflict is returned when a key of the slot exists on both ends of
// a move with different values (MIGRATE answered BUSYKEY). Nothing is
// overwritten: the slot stays open until someone settles the key.
var ErrKeyConflict = errors.New("key exists on both nodes with different values")

// ErrOwnerNotAnnounced is returned by MigrateSlot when the slot has moved
// (both ends agree on the new owner) but some other master could not be
// told. Callers may treat it as a warning: gossip carries the new owner's
// higher config epoch to them.
var ErrOwnerNotAnnounced = errors.New("slot moved, but not every master was told its new owner")

// Defaults of MigrateOptions.
const (
	defaultMigrateBatch    = 500
	defaultMigrateMaxBytes = 8 << 20
	defaultMigrateMaxBlock = 250 * time.Millisecond
	defaultMigrateTimeout  = 10 * time.Second
)

// busyRetries is how many rounds in a row may end in BUSYKEY without a
// single key moved or settled before MigrateKeys gives up.
const busyRetries = 5

// MigrateOptions bounds each MIGRATE. Zero fields take their defaults.
type MigrateOptions struct {
	// Batch is the most keys per MIGRATE (default 500).
	Batch int
	// MaxBytes is the most estimated bytes per MIGRATE (default 8 MiB),
	// estimated with MEMORY USAGE; a single larger key goes alone.
	MaxBytes int64
	// MaxBlock: a MIGRATE that takes longer halves the next batch; one
	// that takes less than half of it doubles the batch again, up to Batch
	// (default 250ms). MIGRATE blocks the source node while it runs.
	MaxBlock time.Duration
	// Timeout is MIGRATE's own timeout argument (default 10s).
	Timeout time.Duration
}

func (o MigrateOptions) withDefaults() MigrateOptions {
	if o.Batch <= 0 {
		o.Batch = defaultMigrateBatch
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = defaultMigrateMaxBytes
	}
	if o.MaxBlock <= 0 {
		o.MaxBlock = defaultMigrateMaxBlock
	}
	if o.Timeout <= 0 {
		o.Timeout = defaultMigrateTimeout
	}
	return o
}

// SlotMove is one slot going from Src to Dst (addresses host:port, and
// node IDs). Others are the addresses of every other master, told the new
// owner at the end.
type SlotMove struct {
	Slot                   int
	Src, SrcID, Dst, DstID string
	Others                 []string
}

// MoveStats counts what a move carried.
type MoveStats struct {
	// Keys moved by MIGRATE and their estimated size (MEMORY USAGE).
	Keys, Bytes int64
	// Migrates is how many MIGRATE commands were sent.
	Migrates int64
	// Same counts the keys the target already held with an equal value:
	// they were deleted from the source instead of moved.
	Same int64
}

// MigrateSlot moves slot m.Slot with its keys from m.Src to m.Dst by the
// Redis Cluster reshard protocol: SETSLOT IMPORTING on the target and
// MIGRATING on the source, the keys in batches (MigrateKeys), then SETSLOT
// NODE on the target, the source and every other master.
//
// It resumes a move a previous run left: the marks are set again (Redis
// accepts that), and when the target already owns the slot only the closing
// SETSLOT NODE steps remain. On any error before the slot's owner changed
// the slot stays open (MIGRATING/IMPORTING): each key is on one end, and
// Redis redirects clients with ASK, so the cluster serves every key; run
// MigrateSlot again to finish. Errors from Others alone wrap
// ErrOwnerNotAnnounced.
func (r *Redis) MigrateSlot(ctx context.Context, m SlotMove, o MigrateOptions) (MoveStats, error) {
	var st MoveStats
	resumed := false
	var first []string // the first keys to move, asked for with MIGRATING
	if err := r.setSlot(ctx, m.Dst, m.Slot, "IMPORTING", m.SrcID); err != nil {
		// "ERR I'm already the owner of hash slot N": a previous run got as
		// far as SETSLOT NODE on the target.
		if !isReply(err, "already the owner") {
			return st, err
		}
		resumed = true
	} else if first, err = r.migrating(ctx, m, o.withDefaults().Batch); err != nil {
		return st, err
	}
	drain := true
	if resumed {
		// The keys were drained before the target took the slot. The source
		// may since have become the target's replica (it lost its last slot),
		// and a replica holds the target's keys and cannot MIGRATE.
		role, _, _, err := r.Role(ctx, m.Src)
		if err != nil {
			return st, err
		}
		drain = role == "master"
	}
	if drain {
		var err error
		if st, err = r.migrateKeys(ctx, m.Src, m.Dst, m.Slot, o, first); err != nil {
			return st, err
		}
	}
	return st, r.setOwner(ctx, m)
}

// migrating marks the slot MIGRATING on the source and, in the same round
// trip, asks for its first keys.
func (r *Redis) migrating(ctx context.Context, m SlotMove, batch int) ([]string, error) {
	cctx, cancel := r.cmdCtx(ctx)
	defer cancel()
	pipe := r.client(m.Src).Pipeline()
	set := pipe.Do(cctx, "CLUSTER", "SETSLOT", m.Slot, "MIGRATING", m.DstID)
	get := pipe.ClusterGetKeysInSlot(cctx, m.Slot, batch)
	_, _ = pipe.Exec(cctx)
	if err := set.Err(); err != nil {
		r.drop(m.Src, err)
		return nil, fmt.Errorf("CLUSTER SETSLOT %d MIGRATING %s on %s: %w", m.Slot, m.DstID, m.Src, err)
	}
	keys, err := get.Result()
	if err != nil {
		r.drop(m.Src, err)
		return nil, fmt.Errorf("CLUSTER GETKEYSINSLOT %d on %s: %w", m.Slot, m.Src, err)
	}
	if keys == nil {
		keys = []string{}
	}
	return keys, nil
}

// setOwner runs SETSLOT NODE: on the target first (it bumps its config
// epoch, so its claim wins in gossip), then on the source and every other
// master at once.
func (r *Redis) setOwner(ctx context.Context, m SlotMove) error {
	return r.setOwners(ctx, SlotGroup{Slots: []int{m.Slot}, Src: m.Src, SrcID: m.SrcID, Dst: m.Dst, DstID: m.DstID, Others: m.Others})
}

func (r *Redis) setSlot(ctx context.Context, addr string, slot int, args ...string) error {
	cmd := []any{"CLUSTER", "SETSLOT", slot}
	for _, a := range args {
		cmd = append(cmd, a)
	}
	cctx, cancel := r.cmdCtx(ctx)
	defer cancel()
	if err := r.client(addr).Do(cctx, cmd...).Err(); err != nil {
		r.drop(addr, err)
		return fmt.Errorf("CLUSTER SETSLOT %d %s on %s: %w", slot, strings.Join(args, " "), addr, err)
	}
	return nil
}

// isReply says whether err carries a Redis error reply containing s.
func isReply(err error, s string) bool {
	var re redis.Error
	return errors.As(err, &re) && strings.Contains(re.Error(), s)
}

// MigrateKeys moves every key of slot from src to dst (host:port) with
// MIGRATE ... KEYS, without REPLACE, until src holds none: step 2 of a slot
// move, also used to finish an open slot. src may be the slot's owner or a
// node importing it (both serve GETKEYSINSLOT and MIGRATE for an open slot;
// the other reads are sent after ASKING).
//
// A key that exists on dst already (BUSYKEY) is compared on both ends: when
// the values are equal it is deleted from src, otherwise MigrateKeys stops
// with an error wrapping ErrKeyConflict. Any other error stops it too; what
// moved so far is counted in the stats.
func (r *Redis) MigrateKeys(ctx context.Context, src, dst string, slot int, o MigrateOptions) (MoveStats, error) {
	return r.migrateKeys(ctx, src, dst, slot, o, nil)
}

// migrateKeys is MigrateKeys with the first keys already asked for (nil:
// ask).
func (r *Redis) migrateKeys(ctx context.Context, src, dst string, slot int, o MigrateOptions, first []string) (MoveStats, error) {
	o = o.withDefaults()
	host, port, err := net.SplitHostPort(dst)
	if err != nil {
		return MoveStats{}, fmt.Errorf("target address %q: %w", dst, err)
	}
	mv := &slotMover{
		r: r, src: src, dst: dst, slot: slot, o: o, batch: o.Batch,
		wait: o.Timeout + r.timeout,
		args: migrateArgs(host, port, o.Timeout, r.username, r.password),
	}
	return mv.run(ctx, first)
}

// migrateArgs is MIGRATE's command line up to KEYS; the keys follow.
func migrateArgs(host, port string, timeout time.Duration, username, password string) []any {
	ms := timeout.Milliseconds()
	if ms < 1 {
		ms = 1
	}
	args := []any{"MIGRATE", host, port, "", 0, ms}
	switch {
	case password != "" && username != "":
		args = append(args, "AUTH2", username, password)
	case password != "":
		args = append(args, "AUTH", password)
	}
	return append(args, "KEYS")
}

// nextBatch adapts the batch to how long the last MIGRATE blocked.
func nextBatch(cur, most int, took, maxBlock time.Duration) int {
	switch {
	case took > maxBlock:
		return max(1, cur/2)
	case took < maxBlock/2:
		return min(most, cur*2)
	}
	return cur
}

// chunkLen is how many of the keys (their estimated sizes in order) the
// next MIGRATE carries: at most batch, at most maxBytes, at least one.
func chunkLen(sizes []int64, batch int, maxBytes int64) int {
	n, sum := 0, int64(0)
	for n < len(sizes) && n < batch {
		if n > 0 && sum+sizes[n] > maxBytes {
			break
		}
		sum += sizes[n]
		n++
	}
	return n
}

// slotMover is one MigrateKeys run.
type slotMover struct {
	r        *Redis
	src, dst string
	slot     int
	o        MigrateOptions
	batch    int           // keys per MIGRATE now, adapted to MaxBlock
	wait     time.Duration // bound of a MIGRATE round trip: its timeout and a margin
	args     []any         // MIGRATE up to KEYS
	asking   bool          // src answered MOVED: send ASKING before its keyed reads
	st       MoveStats
}

func (m *slotMover) run(ctx context.Context, first []string) (MoveStats, error) {
	next := first // the keys still to move, when already asked for; nil: ask now
	busy := 0
	for {
		keys := next
		if keys == nil {
			var err error
			if keys, err = m.keys(ctx); err != nil {
				return m.st, err
			}
		}
		if len(keys) == 0 {
			return m.st, nil
		}
		next = nil
		sizes, err := m.sizes(ctx, keys)
		if err != nil {
			return m.st, err
		}
		for len(keys) > 0 {
			if err := ctx.Err(); err != nil {
				return m.st, fmt.Errorf("moving the keys of slot %d from %s to %s: %w", m.slot, m.src, m.dst, err)
			}
			n := chunkLen(sizes, m.batch, m.o.MaxBytes)
			chunk, csizes := keys[:n], sizes[:n]
			keys, sizes = keys[n:], sizes[n:]
			got, err := m.migrate(ctx, chunk, len(keys) == 0)
			if err == nil {
				m.st.Keys += got.keys
				m.st.Bytes += sum(csizes)
				next, busy = got.next, 0
				continue
			}
			if !isReply(err, "BUSYKEY") {
				return m.st, err
			}
			before := m.st
			if err := m.settle(ctx, chunk, csizes); err != nil {
				return m.st, err
			}
			if m.st.Keys > before.Keys || m.st.Same > before.Same {
				busy = 0
			} else if busy++; busy >= busyRetries {
				return m.st, fmt.Errorf("slot %d from %s to %s: MIGRATE answered BUSYKEY %d times in a row without a key moved or settled", m.slot, m.src, m.dst, busy)
			}
			// Ask again: the settling changed what src holds.
			keys, sizes = nil, nil
		}
	}
}

func sum(v []int64) int64 {
	var s int64
	for _, x := range v {
		s += x
	}
	return s
}

// keys asks src for up to a batch of the slot's keys.
func (m *slotMover) keys(ctx context.Context) ([]string, error) {
	cctx, cancel := m.r.cmdCtx(ctx)
	defer cancel()
	keys, err := m.r.client(m.src).ClusterGetKeysInSlot(cctx, m.slot, m.batch).Result()
	if err != nil {
		m.r.drop(m.src, err)
		return nil, fmt.Errorf("CLUSTER GETKEYSINSLOT %d on %s: %w", m.slot, m.src, err)
	}
	return keys, nil
}

// sizes estimates each key's size with MEMORY USAGE, pipelined; a key gone
// meanwhile counts 0. An importing source answers keyed commands for the
// slot with MOVED unless they follow ASKING: on the first MOVED, the reads
// are sent again after ASKING, and so are all later ones.
//
// Only a sample of the keys is measured (sizeSample, evenly spread), the
// others are given the sample's mean, unless a sampled key is large
// (above MaxBytes / sizeSample): then every key is measured. Asking for
// every key's size would cost the source as many commands as keys; the
// time bound (MaxBlock) catches a large key the sample missed.
func (m *slotMover) sizes(ctx context.Context, keys []string) ([]int64, error) {
	sample := keys
	if len(keys) > sizeSample {
		sample = make([]string, sizeSample)
		for i := range sample {
			sample[i] = keys[i*len(keys)/sizeSample]
		}
	}
	got, err := m.measure(ctx, sample)
	if err != nil || len(sample) == len(keys) {
		return got, err
	}
	var total int64
	for _, n := range got {
		if n > m.o.MaxBytes/sizeSample {
			return m.measure(ctx, keys)
		}
		total += n
	}
	out := make([]int64, len(keys))
	mean := total / int64(len(got))
	for i := range out {
		out[i] = mean
	}
	return out, nil
}

// sizeSample is how many keys of a batch MEMORY USAGE measures.
const sizeSample = 8

func (m *slotMover) measure(ctx context.Context, keys []string) ([]int64, error) {
	out, moved, err := m.memoryUsage(ctx, keys)
	if err == nil && moved && !m.asking {
		m.asking = true
		out, _, err = m.memoryUsage(ctx, keys)
	}
	return out, err
}

func (m *slotMover) memoryUsage(ctx context.Context, keys []string) (sizes []int64, moved bool, err error) {
	cctx, cancel := m.r.cmdCtx(ctx)
	defer cancel()
	pipe := m.r.client(m.src).Pipeline()
	cmds := make([]*redis.IntCmd, len(keys))
	for i, k := range keys {
		if m.asking {
			pipe.Do(cctx, "ASKING")
		}
		cmds[i] = pipe.MemoryUsage(cctx, k)
	}
	if _, err := pipe.Exec(cctx); err != nil && !isRedisError(err) {
		m.r.drop(m.src, err)
		return nil, false, fmt.Errorf("MEMORY USAGE of %d keys of slot %d on %s: %w", len(keys), m.slot, m.src, err)
	}
	sizes = make([]int64, len(keys))
	for i, c := range cmds {
		// A key gone since GETKEYSINSLOT answers nil, or ASK on a migrating
		// source: it will not be moved, its size does not matter.
		n, err := c.Result()
		if err == nil {
			sizes[i] = n
		}
		moved = moved || isReply(err, "MOVED ")
	}
	return sizes, moved, nil
}

func isRedisError(err error) bool {
	var re redis.Error
	return errors.Is(err, redis.Nil) || errors.As(err, &re)
}

type migrated struct {
	keys int64
	next []string // the next keys of the slot, when asked for
}

// migrate sends one MIGRATE and, when fetch is set, the next GETKEYSINSLOT
// behind it in the same round trip: MIGRATE deletes what it moved, so the
// answer is the keys still to move.
func (m *slotMover) migrate(ctx context.Context, keys []string, fetch bool) (migrated, error) {
	args := append(append(make([]any, 0, len(m.args)+len(keys)), m.args...), anys(keys)...)
	cctx, cancel := context.WithTimeout(ctx, m.wait)
	defer cancel()
	pipe := m.r.client(m.src).WithTimeout(m.wait).Pipeline()
	mig := pipe.Do(cctx, args...)
	var get *redis.StringSliceCmd
	if fetch {
		get = pipe.ClusterGetKeysInSlot(cctx, m.slot, m.batch)
	}
	start := time.Now()
	_, _ = pipe.Exec(cctx)
	m.batch = nextBatch(m.batch, m.o.Batch, time.Since(start), m.o.MaxBlock)
	m.st.Migrates++
	reply, err := mig.Text()
	if err != nil {
		m.r.drop(m.src, err)
		return migrated{}, fmt.Errorf("MIGRATE %d keys of slot %d from %s to %s: %w", len(keys), m.slot, m.src, m.dst, err)
	}
	var out migrated
	if reply != "NOKEY" { // NOKEY: every key was gone already
		out.keys = int64(len(keys))
	}
	if get != nil {
		if out.next, err = get.Result(); err != nil {
			m.r.drop(m.src, err)
			return out, fmt.Errorf("CLUSTER GETKEYSINSLOT %d on %s: %w", m.slot, m.src, err)
		}
		if out.next == nil {
			out.next = []string{}
		}
	}
	return out, nil
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// settle handles a MIGRATE that failed with BUSYKEY. MIGRATE deleted from
// src every key the target accepted; each key left on src that dst holds
// too is compared, and deleted from src when the values are equal.
func (m *slotMover) settle(ctx context.Context, keys []string, sizes []int64) error {
	srcDumps, err := m.dumps(ctx, m.src, keys)
	if err != nil {
		return err
	}
	dstDumps, err := m.dumps(ctx, m.dst, keys)
	if err != nil {
		return err
	}
	var conflicts []string
	for i, k := range keys {
		s, d := srcDumps[i], dstDumps[i]
		switch {
		case s == nil: // moved by the failed MIGRATE
			m.st.Keys++
			m.st.Bytes += sizes[i]
			continue
		case d == nil: // on src alone now: the next MIGRATE takes it
			continue
		}
		same := *s == *d
		if !same {
			if same, err = m.sameValue(ctx, k); err != nil {
				return err
			}
		}
		if !same {
			conflicts = append(conflicts, k)
			continue
		}
		deleted, err := m.deleteIfUnchanged(ctx, k, *s)
		if err != nil {
			return err
		}
		if deleted {
			m.st.Same++
		}
	}
	if len(conflicts) > 0 {
		more := ""
		if len(conflicts) > 1 {
			more = fmt.Sprintf(" (and %d more keys of this batch)", len(conflicts)-1)
		}
		return fmt.Errorf("%w: key %q of slot %d differs between %s and %s%s; nothing was overwritten and the slot stays open",
			ErrKeyConflict, conflicts[0], m.slot, m.src, m.dst, more)
	}
	return nil
}

// asked runs each command after ASKING, pipelined on one connection of
// addr, bounded like a MIGRATE (the replies may be whole values).
func (m *slotMover) asked(ctx context.Context, addr string, cmds ...[]any) ([]*redis.Cmd, error) {
	cctx, cancel := context.WithTimeout(ctx, m.wait)
	defer cancel()
	pipe := m.r.client(addr).WithTimeout(m.wait).Pipeline()
	out := make([]*redis.Cmd, len(cmds))
	for i, c := range cmds {
		pipe.Do(cctx, "ASKING")
		out[i] = pipe.Do(cctx, c...)
	}
	if _, err := pipe.Exec(cctx); err != nil && !isRedisError(err) {
		m.r.drop(addr, err)
		return nil, fmt.Errorf("%v on %s: %w", cmds[0], addr, err)
	}
	return out, nil
}

// dumps returns DUMP of each key on addr, nil for a key addr does not hold.
func (m *slotMover) dumps(ctx context.Context, addr string, keys []string) ([]*string, error) {
	cmds := make([][]any, len(keys))
	for i, k := range keys {
		cmds[i] = []any{"DUMP", k}
	}
	res, err := m.asked(ctx, addr, cmds...)
	if err != nil {
		return nil, err
	}
	out := make([]*string, len(keys))
	for i, c := range res {
		s, err := c.Text()
		switch {
		case err == nil:
			out[i] = &s
		case errors.Is(err, redis.Nil), isReply(err, "ASK "):
			// Absent: nil, or ASK from a migrating node that lacks the key.
		default:
			return nil, fmt.Errorf("DUMP %q on %s: %w", keys[i], addr, err)
		}
	}
	return out, nil
}

// readCmd is the command that reads key's whole value of type typ, for
// the logical comparison; nil for the types it does not compare.
func readCmd(typ, key string) []any {
	switch typ {
	case "string":
		return []any{"GET", key}
	case "hash":
		return []any{"HGETALL", key}
	case "list":
		return []any{"LRANGE", key, 0, -1}
	case "set":
		return []any{"SMEMBERS", key}
	case "zset":
		return []any{"ZRANGE", key, 0, -1, "WITHSCORES"}
	case "stream":
		return []any{"XRANGE", key, "-", "+"}
	}
	return nil
}

// sameValue compares key's value on both ends logically, for when their
// DUMP payloads differ (the same value may be encoded differently).
// Streams are compared by their entries only; types readCmd does not know
// never compare equal.
func (m *slotMover) sameValue(ctx context.Context, key string) (bool, error) {
	var types [2]string
	for i, addr := range []string{m.src, m.dst} {
		res, err := m.asked(ctx, addr, []any{"TYPE", key})
		if err != nil {
			return false, err
		}
		if types[i], err = res[0].Text(); err != nil {
			return false, fmt.Errorf("TYPE %q on %s: %w", key, addr, err)
		}
	}
	cmd := readCmd(types[0], key)
	if types[0] != types[1] || cmd == nil {
		return false, nil
	}
	var vals [2]any
	for i, addr := range []string{m.src, m.dst} {
		res, err := m.asked(ctx, addr, cmd)
		if err != nil {
			return false, err
		}
		if vals[i], err = res[0].Result(); err != nil {
			return false, fmt.Errorf("%v on %s: %w", cmd, addr, err)
		}
		vals[i] = normalize(types[i], vals[i])
	}
	return reflect.DeepEqual(vals[0], vals[1]), nil
}

// normalize puts the replies whose order depends on the encoding into one
// order: a set's members, a hash's field-value pairs.
func normalize(typ string, v any) any {
	items, ok := v.([]any)
	if !ok {
		return v
	}
	switch typ {
	case "set":
		ss := make([]string, len(items))
		for i, x := range items {
			ss[i] = fmt.Sprint(x)
		}
		sort.Strings(ss)
		return ss
	case "hash":
		pairs := make([][2]string, 0, len(items)/2)
		for i := 0; i+1 < len(items); i += 2 {
			pairs = append(pairs, [2]string{fmt.Sprint(items[i]), fmt.Sprint(items[i+1])})
		}
		sort.Slice(pairs, func(i, j int) bool { return pairs[i][0] < pairs[j][0] })
		return pairs
	}
	return v
}

// deleteIfUnchanged deletes key from src when its DUMP is still payload, in
// one script so that no write in between is lost.
const deleteIfUnchangedScript = `if redis.call('DUMP', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`

func (m *slotMover) deleteIfUnchanged(ctx context.Context, key, payload string) (bool, error) {
	res, err := m.asked(ctx, m.src, []any{"EVAL", deleteIfUnchangedScript, 1, key, payload})
	if err != nil {
		return false, err
	}
	n, err := res[0].Int64()
	if err != nil {
		return false, fmt.Errorf("deleting %q from %s after comparing it with %s: %w", key, m.src, m.dst, err)
	}
	return n == 1, nil
}

// SlotGroup is several slots going from one source to one target
// together (addresses host:port and node ids); Others are the other
// masters, told the new owner at the end.
type SlotGroup struct {
	Slots                  []int
	Src, SrcID, Dst, DstID string
	Others                 []string
}

// MigrateSlots moves a group of slots by the same protocol as MigrateSlot,
// each step pipelined over the whole group: IMPORTING on the target in one
// round trip, MIGRATING and the first keys on the source in one, one
// MIGRATE per slot pipelined in one (MIGRATE refuses keys of several slots),
// SETSLOT NODE on the target in one, then on the source and the others at
// once. A slot whose keys do not fit one small MIGRATE (more than a batch,
// or larger than MaxBytes shared by the group), or that met BUSYKEY, goes
// through MigrateKeys alone. On an error the slots already moved stay
// moved and the others stay open (consistent: run it again to finish).
// Errors from Others alone wrap ErrOwnerNotAnnounced.
func (r *Redis) MigrateSlots(ctx context.Context, g SlotGroup, o MigrateOptions) (MoveStats, error) {
	o = o.withDefaults()
	if len(g.Slots) == 1 {
		return r.MigrateSlot(ctx, SlotMove{Slot: g.Slots[0], Src: g.Src, SrcID: g.SrcID, Dst: g.Dst, DstID: g.DstID, Others: g.Others}, o)
	}
	var st MoveStats
	host, port, err := net.SplitHostPort(g.Dst)
	if err != nil {
		return st, fmt.Errorf("target address %q: %w", g.Dst, err)
	}
	// 1. IMPORTING on the target.
	imp, err := r.pipelined(ctx, g.Dst, len(g.Slots), func(i int) []any {
		return []any{"CLUSTER", "SETSLOT", g.Slots[i], "IMPORTING", g.SrcID}
	})
	if err != nil {
		return st, err
	}
	var open, resumed []int
	for i, c := range imp {
		switch err := c.Err(); {
		case err == nil:
			open = append(open, g.Slots[i])
		case isReply(err, "already the owner"):
			resumed = append(resumed, g.Slots[i])
		default:
			return st, fmt.Errorf("CLUSTER SETSLOT %d IMPORTING %s on %s: %w", g.Slots[i], g.SrcID, g.Dst, err)
		}
	}
	// 2. MIGRATING on the source, with each slot's first keys.
	mig, err := r.pipelined(ctx, g.Src, 2*len(open), func(i int) []any {
		if i%2 == 0 {
			return []any{"CLUSTER", "SETSLOT", open[i/2], "MIGRATING", g.DstID}
		}
		return []any{"CLUSTER", "GETKEYSINSLOT", open[i/2], o.Batch}
	})
	if err != nil {
		return st, err
	}
	keys := map[int][]string{}
	var withKeys []int
	for i, s := range open {
		if err := mig[2*i].Err(); err != nil {
			return st, fmt.Errorf("CLUSTER SETSLOT %d MIGRATING %s on %s: %w", s, g.DstID, g.Src, err)
		}
		ks, err := mig[2*i+1].StringSlice()
		if err != nil {
			return st, fmt.Errorf("CLUSTER GETKEYSINSLOT %d on %s: %w", s, g.Src, err)
		}
		if keys[s] = ks; len(ks) > 0 {
			withKeys = append(withKeys, s)
		}
	}
	// 3. Sizes from each slot's first key; the small slots go in one
	// pipeline of MIGRATEs, the others alone.
	sizes, err := r.pipelined(ctx, g.Src, len(withKeys), func(i int) []any {
		return []any{"MEMORY", "USAGE", keys[withKeys[i]][0]}
	})
	if err != nil {
		return st, err
	}
	share := o.MaxBytes / int64(len(g.Slots))
	var fast, slow []int
	est := map[int]int64{}
	for i, s := range withKeys {
		n, _ := sizes[i].Int64()
		est[s] = n * int64(len(keys[s]))
		if len(keys[s]) >= o.Batch || n > share || est[s] > share {
			slow = append(slow, s)
		} else {
			fast = append(fast, s)
		}
	}
	args := migrateArgs(host, port, o.Timeout, r.username, r.password)
	moved, err := r.pipelinedWait(ctx, g.Src, 2*len(fast), o.Timeout+r.timeout, func(i int) []any {
		s := fast[i/2]
		if i%2 == 0 {
			return append(append(make([]any, 0, len(args)+len(keys[s])), args...), anys(keys[s])...)
		}
		return []any{"CLUSTER", "GETKEYSINSLOT", s, 1}
	})
	if err != nil {
		return st, err
	}
	retry := map[int][]string{} // slots that met BUSYKEY: their keys, to settle
	for i, s := range fast {
		st.Migrates++
		reply, err := moved[2*i].Text()
		switch {
		case isReply(err, "BUSYKEY"):
			// MIGRATE moved every key but the first busy one; the batch
			// goes again through MigrateKeys, which counts what moved and
			// compares what is on both ends.
			slow, retry[s] = append(slow, s), keys[s]
			continue
		case err != nil:
			return st, fmt.Errorf("MIGRATE %d keys of slot %d from %s to %s: %w", len(keys[s]), s, g.Src, g.Dst, err)
		case reply != "NOKEY":
			st.Keys += int64(len(keys[s]))
			st.Bytes += est[s]
		}
		if left, err := moved[2*i+1].StringSlice(); err != nil || len(left) > 0 {
			slow = append(slow, s) // keys written meanwhile, or a question left open
		}
	}
	for _, s := range slow {
		ks, err := r.migrateKeys(ctx, g.Src, g.Dst, s, o, retry[s])
		st.add(ks)
		if err != nil {
			return st, err
		}
	}
	if len(resumed) > 0 {
		// The target took these slots already; the source may since have
		// become its replica (MigrateSlot explains why it is not drained
		// then).
		role, _, _, err := r.Role(ctx, g.Src)
		if err != nil {
			return st, err
		}
		for _, s := range resumed {
			if role != "master" {
				break
			}
			ks, err := r.migrateKeys(ctx, g.Src, g.Dst, s, o, nil)
			st.add(ks)
			if err != nil {
				return st, err
			}
		}
	}
	return st, r.setOwners(ctx, g)
}

func (st *MoveStats) add(o MoveStats) {
	st.Keys += o.Keys
	st.Bytes += o.Bytes
	st.Migrates += o.Migrates
	st.Same += o.Same
}

// setOwners runs SETSLOT NODE for a group: on the target first, in one
// round trip (it bumps its config epoch, so its claim wins in gossip), then
// on the source and every other master at once.
func (r *Redis) setOwners(ctx context.Context, g SlotGroup) error {
	node := func(i int) []any { return []any{"CLUSTER", "SETSLOT", g.Slots[i], "NODE", g.DstID} }
	res, err := r.pipelined(ctx, g.Dst, len(g.Slots), node)
	if err == nil {
		for i, c := range res {
			if err = c.Err(); err != nil {
				err = fmt.Errorf("CLUSTER SETSLOT %d NODE %s on %s: %w", g.Slots[i], g.DstID, g.Dst, err)
				break
			}
		}
	}
	if err != nil {
		return err
	}
	var others []string
	for _, a := range g.Others {
		if a != g.Src && a != g.Dst {
			others = append(others, a)
		}
	}
	errs := make([]error, len(others)+1)
	var wg sync.WaitGroup
	for i, a := range append([]string{g.Src}, others...) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := r.pipelined(ctx, a, len(g.Slots), node)
			if err != nil {
				errs[i] = err
				return
			}
			for j, c := range res {
				// A Redis 7 master that loses its last slot becomes the
				// target's replica (cluster-allow-replica-migration),
				// possibly before this command reaches it: "ERR Please use
				// SETSLOT only with masters."
				if err := c.Err(); err != nil && !isReply(err, "only with masters") {
					errs[i] = fmt.Errorf("CLUSTER SETSLOT %d NODE %s on %s: %w", g.Slots[j], g.DstID, a, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if errs[0] != nil {
		return errs[0]
	}
	if err := errors.Join(errs[1:]...); err != nil {
		return fmt.Errorf("%w: %w", ErrOwnerNotAnnounced, err)
	}
	return nil
}

// pipelined sends n commands to addr in one round trip and returns their
// replies; the error is a connection's, each command's own is in its reply.
func (r *Redis) pipelined(ctx context.Context, addr string, n int, cmd func(i int) []any) ([]*redis.Cmd, error) {
	return r.pipelinedWait(ctx, addr, n, r.timeout, cmd)
}

func (r *Redis) pipelinedWait(ctx context.Context, addr string, n int, wait time.Duration, cmd func(i int) []any) ([]*redis.Cmd, error) {
	if n == 0 {
		return nil, nil
	}
	cctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	pipe := r.client(addr).WithTimeout(wait).Pipeline()
	out := make([]*redis.Cmd, n)
	for i := range out {
		out[i] = pipe.Do(cctx, cmd(i)...)
	}
	if _, err := pipe.Exec(cctx); err != nil && !isRedisError(err) {
		r.drop(addr, err)
		return nil, fmt.Errorf("%d pipelined commands on %s: %w", n, addr, err)
	}
	return out, nil
}

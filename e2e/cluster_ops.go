package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"warden/cluster"
)

// Harness for the cluster topology operations (create, add and remove a
// shard, rebalance, cancel): empty cluster-mode nodes to build or grow a
// cluster with, a client for the operation routes, and data of every type
// to check that nothing is lost on the way.

// Operation states as GET /v1/operations/{id} reports them.
const (
	OpRunning   = "running"
	OpDone      = "done"
	OpFailed    = "failed"
	OpCancelled = "cancelled"
)

// Operation is GET /v1/operations/{id}: a topology operation with the
// rates the API derives from it (the fields the tests read).
type Operation struct {
	ID              string          `json:"id"`
	Cluster         string          `json:"cluster"`
	Kind            string          `json:"kind"`
	State           string          `json:"state"`
	Step            string          `json:"step"`
	Cursor          int             `json:"cursor"`
	Plan            []OperationStep `json:"plan"`
	CancelRequested bool            `json:"cancel_requested"`
	SlotsTotal      int             `json:"slots_total"`
	SlotsMoved      int             `json:"slots_moved"`
	KeysMoved       int64           `json:"keys_moved"`
	MigrateSeconds  float64         `json:"migrate_seconds"`
	KeysPerSec      float64         `json:"keys_per_sec"`
	BytesPerSec     float64         `json:"bytes_per_sec"`
	Error           string          `json:"error"`
	Errors          []string        `json:"errors"`
	StartedAt       time.Time       `json:"started_at"`
	EndedAt         *time.Time      `json:"ended_at"`
}

// OperationStep is one step of an operation's plan.
type OperationStep struct {
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
}

// OperationMove is slots going from one master to another.
type OperationMove struct {
	FromAddr string `json:"from_addr"`
	ToAddr   string `json:"to_addr"`
	Count    int    `json:"count"`
}

// Took is how long the operation ran (until now while it runs).
func (o Operation) Took() time.Duration {
	if o.EndedAt == nil {
		return time.Since(o.StartedAt)
	}
	return o.EndedAt.Sub(o.StartedAt)
}

func (o Operation) String() string {
	s := fmt.Sprintf("%s (%s of %s) %s at step %q (cursor %d of %d): %d/%d slots, %d keys, %.0f keys/s",
		o.ID, o.Kind, o.Cluster, o.State, o.Step, o.Cursor, len(o.Plan), o.SlotsMoved, o.SlotsTotal, o.KeysMoved, o.KeysPerSec)
	if o.Error != "" {
		s += "; error: " + o.Error
	}
	if len(o.Errors) > 0 {
		s += "; errors survived: " + strings.Join(o.Errors, " | ")
	}
	return s
}

// RebalancePlan is the answer of a rebalance dry run, or of a rebalance
// with nothing to do.
type RebalancePlan struct {
	Balanced    bool              `json:"balanced"`
	SlotsToMove int               `json:"slots_to_move"`
	Moves       []OperationMove   `json:"moves"`
	Targets     map[string]int    `json:"targets"`
	Current     map[string]int    `json:"current"`
	Addrs       map[string]string `json:"addrs"`
	Problems    []string          `json:"problems"`
}

// opCallTimeout bounds one mutating call: the leader asks the nodes
// before it answers, maybe after a follower forwarded the call.
const opCallTimeout = 20 * time.Second

// Send makes a call with body (nil: none; []byte: sent as it is; else
// encoded as JSON), decodes a 2xx answer into out (unless nil) and returns
// the status code. A non-2xx answer is an *APIError.
func (c *Client) Send(ctx context.Context, method, path string, body, out any) (int, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		enc, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(enc)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return 0, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := *c.HTTP
	hc.Timeout = opCallTimeout
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s %s%s: %w", method, c.Base, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s%s: read body: %w", method, c.Base, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var env struct {
			Error APIError `json:"error"`
		}
		_ = json.Unmarshal(raw, &env)
		ae := env.Error
		ae.HTTPStatus, ae.Body = resp.StatusCode, string(raw)
		return resp.StatusCode, fmt.Errorf("%s %s%s: %w", method, c.Base, path, &ae)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s%s: decode %q: %w", method, c.Base, path, truncate(string(raw), 200), err)
		}
	}
	return resp.StatusCode, nil
}

// StartOperation sends a call that begins an operation and returns the
// operation; any answer but 202 is an error.
func (c *Client) StartOperation(ctx context.Context, method, path string, body any) (Operation, error) {
	var o Operation
	code, err := c.Send(ctx, method, path, body, &o)
	if err != nil {
		return o, err
	}
	if code != http.StatusAccepted || o.ID == "" {
		return o, fmt.Errorf("%s %s: HTTP %d, operation %q; want 202 and an operation", method, path, code, o.ID)
	}
	return o, nil
}

// Operation is GET /v1/operations/{id}.
func (c *Client) Operation(ctx context.Context, id string) (Operation, error) {
	var o Operation
	err := c.get(ctx, "/v1/operations/"+id, &o)
	return o, err
}

// Operations is GET /v1/operations.
func (c *Client) Operations(ctx context.Context) ([]Operation, error) {
	var out struct {
		Operations []Operation `json:"operations"`
	}
	err := c.get(ctx, "/v1/operations", &out)
	return out.Operations, err
}

// OperationFromAny returns operation id as the first running watchdog of
// ws that answers reports it.
func OperationFromAny(ctx context.Context, ws []*Warden, id string) (Operation, error) {
	var errs []error
	for _, w := range ws {
		if !w.Running() {
			continue
		}
		o, err := w.API.Operation(ctx, id)
		if err == nil {
			return o, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", w.ID, err))
	}
	return Operation{}, fmt.Errorf("operation %s: %w", id, errors.Join(errs...))
}

// WaitOperation polls the running watchdogs of ws until operation id
// satisfies ok (nil: has ended) and returns it. An operation that ends
// otherwise than ok wants stops the wait at once.
func WaitOperation(ctx context.Context, ws []*Warden, id string, timeout time.Duration, what string, ok func(Operation) error) (Operation, error) {
	if ok == nil {
		ok = func(o Operation) error {
			if o.State == OpRunning {
				return errors.New("still running")
			}
			return nil
		}
	}
	var got Operation
	var ended error
	err := WaitFor(ctx, timeout, what, func() (bool, error) {
		o, err := OperationFromAny(ctx, ws, id)
		if err != nil {
			return false, err
		}
		got = o
		if err := ok(o); err != nil {
			if o.State != OpRunning {
				ended = fmt.Errorf("waiting for %s: the operation ended: %s (%v)", what, o, err)
				return true, nil
			}
			return false, fmt.Errorf("%w: %s", err, o)
		}
		return true, nil
	})
	if err == nil {
		err = ended
	}
	return got, err
}

// StartEmptyNodes starts n cluster-mode redis-server nodes that know no
// other node and serve no slot, each in a directory under o.Dir (which is
// required; o.NodeTimeout defaults to 1s, o.Args are appended). They are
// not made a cluster: an operation does that. On error the nodes started
// are killed again.
func StartEmptyNodes(ctx context.Context, o ClusterOptions, n int) (*RedisCluster, error) {
	if o.Dir == "" {
		return nil, errors.New("start empty nodes: ClusterOptions.Dir is required")
	}
	if o.NodeTimeout == 0 {
		o.NodeTimeout = time.Second
	}
	args := append([]string{
		"--cluster-enabled", "yes",
		"--cluster-node-timeout", strconv.FormatInt(o.NodeTimeout.Milliseconds(), 10),
		"--cluster-config-file", ClusterConfigFile,
	}, o.Args...)
	c := &RedisCluster{NodeTimeout: o.NodeTimeout, Dir: o.Dir}
	for i := 0; i < n; i++ {
		r, err := StartRedis(ctx, RedisOptions{Dir: filepath.Join(o.Dir, fmt.Sprintf("new-%d", i)), Args: args})
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("start empty nodes: %w", err)
		}
		c.Nodes = append(c.Nodes, r)
	}
	return c, nil
}

// Alone reports whether the node at addr knows no other node, serves no
// slot and holds no key; the error says what it is otherwise.
func Alone(ctx context.Context, addr string) (bool, error) {
	t, err := ClusterTopology(ctx, addr)
	if err != nil {
		return false, err
	}
	if len(t.Nodes) != 1 {
		return false, fmt.Errorf("%s knows %d nodes, want only itself", addr, len(t.Nodes))
	}
	if me := t.Nodes[0]; len(me.Slots) > 0 || me.Flags.Replica {
		return false, fmt.Errorf("%s is %s serving %s", addr, me.Flags, cluster.FormatSlots(me.Slots))
	}
	rc := NewRedisClient(addr, "")
	defer rc.Close()
	n, err := rc.DBSize(ctx).Result()
	if err != nil {
		return false, fmt.Errorf("DBSIZE on %s: %w", addr, err)
	}
	if n != 0 {
		return false, fmt.Errorf("%s holds %d keys", addr, n)
	}
	return true, nil
}

// NodeID returns the id the node at addr gives itself.
func NodeID(ctx context.Context, addr string) (string, error) {
	t, err := ClusterTopology(ctx, addr)
	if err != nil {
		return "", err
	}
	return t.Myself, nil
}

// NoOpenSlot checks the own line of every node of addrs: no slot
// migrating or importing.
func NoOpenSlot(ctx context.Context, addrs []string) error {
	for _, a := range addrs {
		t, err := ClusterTopology(ctx, a)
		if err != nil {
			return err
		}
		me, _ := t.Node(t.Myself)
		if len(me.Migrating) > 0 || len(me.Importing) > 0 {
			return fmt.Errorf("%s has open slots: migrating %v, importing %v", a, me.Migrating, me.Importing)
		}
	}
	return nil
}

// SlotsByMaster returns, as addr sees the cluster, how many slots every
// master serves, by the master's address.
func SlotsByMaster(ctx context.Context, addr string) (map[string]int, error) {
	t, err := ClusterTopology(ctx, addr)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, sh := range t.Shards {
		if n := cluster.CountSlots(sh.Slots); n > 0 {
			out[sh.Master.Addr] = n
		}
	}
	return out, nil
}

// Even checks that every node of addrs sees masters masters serving
// slots, each within tolPct percent of an even share.
func Even(ctx context.Context, addrs []string, masters int, tolPct float64) error {
	share := float64(cluster.SlotCount) / float64(masters)
	for _, a := range addrs {
		counts, err := SlotsByMaster(ctx, a)
		if err != nil {
			return err
		}
		if len(counts) != masters {
			return fmt.Errorf("%s sees %d masters serving slots %v, want %d", a, len(counts), counts, masters)
		}
		for m, n := range counts {
			if d := float64(n) - share; d > share*tolPct/100 || -d > share*tolPct/100 {
				return fmt.Errorf("%s sees %s serve %d slots, not within %v%% of %.0f (all: %v)", a, m, n, tolPct, share, counts)
			}
		}
	}
	return nil
}

// Listing says which nodes of addrs list in CLUSTER NODES a node whose id
// or address is in gone ("" when none does).
func Listing(ctx context.Context, addrs, gone []string) (string, error) {
	var out []string
	for _, a := range addrs {
		t, err := ClusterTopology(ctx, a)
		if err != nil {
			return "", err
		}
		for _, n := range t.Nodes {
			if slices.Contains(gone, n.ID) || slices.Contains(gone, n.Addr) {
				out = append(out, fmt.Sprintf("%s lists %s (%s, %s)", a, n.ID, n.Addr, n.Flags))
			}
		}
	}
	return strings.Join(out, "; "), nil
}

// MastersKeys returns the sum of DBSIZE over the masters addr sees.
func MastersKeys(ctx context.Context, addr string) (int64, error) {
	t, err := ClusterTopology(ctx, addr)
	if err != nil {
		return 0, err
	}
	var sum int64
	for _, sh := range t.Shards {
		rc := NewRedisClient(sh.Master.Addr, "")
		n, err := rc.DBSize(ctx).Result()
		rc.Close()
		if err != nil {
			return 0, fmt.Errorf("DBSIZE on %s: %w", sh.Master.Addr, err)
		}
		sum += n
	}
	return sum, nil
}

// Mixed data: key i is a string, hash, list, set or sorted set by i mod 5,
// keys spread over all slots (no hash tag), one in ten of every type with
// a TTL of an hour. Every value is derived from i, so a reader can check
// it without keeping anything.

// MixedTTL is the TTL of the mixed keys that have one.
const MixedTTL = time.Hour

// mixedBatch is how many keys one pipeline carries.
const mixedBatch = 2000

func mixedKey(i int) string { return "mx:" + strconv.Itoa(i) }

// mixedHasTTL: 5 keys in 50, one of every type.
func mixedHasTTL(i int) bool { return i%50 < 5 }

// mixedTypes names the type of key i by i mod 5, as TYPE answers.
var mixedTypes = [5]string{"string", "hash", "list", "set", "zset"}

// mixedMembers are the elements of key i (fields, items, members); pad
// fills the string and the first element to about pad bytes.
func mixedMembers(i, pad int) []string {
	first := "a" + strconv.Itoa(i)
	if len(first) < pad {
		first += strings.Repeat("x", pad-len(first))
	}
	return []string{first, "b" + strconv.Itoa(i), "c"}
}

// LoadMixed writes keys from to to-1 through c in pipelines.
func LoadMixed(ctx context.Context, c *redis.ClusterClient, from, to, pad int) error {
	for lo := from; lo < to; lo += mixedBatch {
		hi := min(lo+mixedBatch, to)
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := lo; i < hi; i++ {
				k, m := mixedKey(i), mixedMembers(i, pad)
				switch i % 5 {
				case 0:
					p.Set(ctx, k, m[0], 0)
				case 1:
					p.HSet(ctx, k, m[0], "1", m[1], "2", m[2], "3")
				case 2:
					p.RPush(ctx, k, m[0], m[1], m[2])
				case 3:
					p.SAdd(ctx, k, m[0], m[1], m[2])
				case 4:
					p.ZAdd(ctx, k, redis.Z{Score: 1, Member: m[0]}, redis.Z{Score: 2, Member: m[1]}, redis.Z{Score: 3, Member: m[2]})
				}
				if mixedHasTTL(i) {
					p.Expire(ctx, k, MixedTTL)
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("load keys %d to %d: %w", lo, hi-1, err)
		}
	}
	return nil
}

// CheckMixed reads keys from to to-1 (every step-th) through c and checks
// each one's type (the read is of that type's command, which any other
// type refuses with WRONGTYPE), value and TTL (set, and at most an hour,
// for the keys that have one; none for the others).
func CheckMixed(ctx context.Context, c *redis.ClusterClient, from, to, step, pad int) error {
	var bad []string
	checked := 0
	for lo := from; lo < to; lo += mixedBatch * step {
		hi := min(lo+mixedBatch*step, to)
		type read struct {
			i   int
			val redis.Cmder
			ttl *redis.DurationCmd
		}
		var reads []read
		_, _ = c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := lo; i < hi; i += step {
				k := mixedKey(i)
				rd := read{i: i, ttl: p.PTTL(ctx, k)}
				switch i % 5 {
				case 0:
					rd.val = p.Get(ctx, k)
				case 1:
					rd.val = p.HGetAll(ctx, k)
				case 2:
					rd.val = p.LRange(ctx, k, 0, -1)
				case 3:
					rd.val = p.SMembers(ctx, k)
				case 4:
					rd.val = p.ZRangeWithScores(ctx, k, 0, -1)
				}
				reads = append(reads, rd)
			}
			return nil
		})
		for _, rd := range reads {
			checked++
			if msg := checkMixedRead(rd.i, pad, rd.val, rd.ttl); msg != "" {
				bad = append(bad, msg)
			}
		}
	}
	if len(bad) > 0 {
		n := len(bad)
		if n > 5 {
			bad = append(bad[:5], fmt.Sprintf("and %d more", n-5))
		}
		return fmt.Errorf("%d of %d mixed keys wrong: %s", n, checked, strings.Join(bad, "; "))
	}
	return nil
}

func checkMixedRead(i, pad int, val redis.Cmder, ttl *redis.DurationCmd) string {
	k, m := mixedKey(i), mixedMembers(i, pad)
	where := fmt.Sprintf("%s (%s, slot %d)", k, mixedTypes[i%5], cluster.KeySlot(k))
	if err := val.Err(); err != nil {
		return fmt.Sprintf("%s: %v", where, err)
	}
	var got, want string
	switch v := val.(type) {
	case *redis.StringCmd:
		got, want = v.Val(), m[0]
	case *redis.MapStringStringCmd:
		got, want = fmt.Sprint(v.Val()), fmt.Sprint(map[string]string{m[0]: "1", m[1]: "2", m[2]: "3"})
	case *redis.StringSliceCmd:
		g := v.Val()
		if i%5 == 3 {
			g = slices.Sorted(slices.Values(g))
		}
		got, want = fmt.Sprint(g), fmt.Sprint(slices.Sorted(slices.Values(m)))
		if i%5 == 2 {
			want = fmt.Sprint(m)
		}
	case *redis.ZSliceCmd:
		got, want = fmt.Sprint(v.Val()), fmt.Sprint([]redis.Z{{Score: 1, Member: m[0]}, {Score: 2, Member: m[1]}, {Score: 3, Member: m[2]}})
	}
	if got != want {
		return fmt.Sprintf("%s: %q, want %q", where, truncate(got, 60), truncate(want, 60))
	}
	d, err := ttl.Result()
	switch {
	case err != nil:
		return fmt.Sprintf("%s: PTTL: %v", where, err)
	case mixedHasTTL(i) && (d <= 0 || d > MixedTTL):
		return fmt.Sprintf("%s: TTL %v, want above 0 and at most %v", where, d, MixedTTL)
	case !mixedHasTTL(i) && d != -1:
		// go-redis gives -1 (no TTL) as the duration -1.
		return fmt.Sprintf("%s: TTL %v, want none", where, d)
	}
	return ""
}

// Writer writes new string keys through a cluster client, one after
// another at a steady pace, and reads each back at once. Every error the
// client returns (after its own retries and redirects) is counted; a write
// that returned OK is acknowledged and must never be lost.
type Writer struct {
	c      *redis.ClusterClient
	prefix string
	every  time.Duration
	stop   context.CancelFunc
	done   chan struct{}

	closeOnce sync.Once

	next     atomic.Int64 // keys tried: prefix:0 .. next-1
	mu       sync.Mutex
	errs     []string       // the first errors returned to the writer
	nerrs    int            // how many errors were returned to it
	lastErr  string         // the newest of them
	unacked  []int          // keys whose write was not acknowledged
	attempts []string       // the latest failed attempts, with the node asked
	failedOn map[string]int // attempts failed otherwise than by a redirect, by node
}

// writerErrorsKept bounds Writer's list of first errors (all are
// counted).
const writerErrorsKept = 20

// StartWriter starts writing prefix:0, prefix:1, ... through c, one key
// every interval, until Stop (which closes c). c must not have been used
// yet: the writer hooks every node client it makes, to tell what each
// attempt of a failed command met.
func StartWriter(ctx context.Context, c *redis.ClusterClient, prefix string, every time.Duration) *Writer {
	ctx, cancel := context.WithCancel(ctx)
	w := &Writer{c: c, prefix: prefix, every: every, stop: cancel, done: make(chan struct{})}
	c.OnNewNode(func(rdb *redis.Client) { rdb.AddHook(attemptHook{w: w, addr: rdb.Options().Addr}) })
	go w.run(ctx)
	return w
}

// attemptsKept bounds Writer's log of failed attempts.
const attemptsKept = 256

// attemptHook logs every command a node client of the writer sent that
// failed (redirects included).
type attemptHook struct {
	w    *Writer
	addr string
}

func (h attemptHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h attemptHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if err != nil {
			h.w.attempt(h.addr, cmd.String(), err)
		}
		return err
	}
}

func (h attemptHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, cmd := range cmds {
			if cmd.Err() != nil {
				h.w.attempt(h.addr, cmd.String(), cmd.Err())
			}
		}
		return err
	}
}

func (w *Writer) attempt(addr, cmd string, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if msg := err.Error(); !strings.HasPrefix(msg, "MOVED ") && !strings.HasPrefix(msg, "ASK ") {
		if w.failedOn == nil {
			w.failedOn = map[string]int{}
		}
		w.failedOn[addr]++
	}
	w.attempts = append(w.attempts, fmt.Sprintf("%s %s: %s -> %v", time.Now().Format("15:04:05.000"), addr, cmd, err))
	if over := len(w.attempts) - attemptsKept; over > 0 {
		w.attempts = w.attempts[over:]
	}
}

// attemptsOf returns the logged attempts of commands on key.
func (w *Writer) attemptsOf(key string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, a := range w.attempts {
		if strings.Contains(a, " "+key+" ") || strings.Contains(a, " "+key+":") {
			out = append(out, a)
		}
	}
	return out
}

func (w *Writer) key(i int) string { return w.prefix + ":" + strconv.Itoa(i) }
func (w *Writer) val(i int) string { return "w-" + strconv.Itoa(i) }

func (w *Writer) run(ctx context.Context) {
	defer close(w.done)
	t := time.NewTicker(w.every)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		w.next.Store(int64(i + 1))
		k := w.key(i)
		if err := w.c.Set(ctx, k, w.val(i), 0).Err(); err != nil {
			if ctx.Err() != nil {
				w.next.Store(int64(i))
				return
			}
			w.fail(i, fmt.Sprintf("SET %s (slot %d) at %s: %v; attempts: %s", k, cluster.KeySlot(k), time.Now().Format("15:04:05.000"), err,
				strings.Join(w.attemptsOf(k), " | ")))
			continue
		}
		v, err := w.c.Get(ctx, k).Result()
		if err != nil && ctx.Err() != nil {
			return
		}
		if err != nil || v != w.val(i) {
			w.fail(-1, fmt.Sprintf("GET %s (slot %d) right after its SET at %s: %q, %v; attempts: %s", k, cluster.KeySlot(k), time.Now().Format("15:04:05.000"), v, err,
				strings.Join(w.attemptsOf(k), " | ")))
		}
	}
}

func (w *Writer) fail(unacked int, msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if unacked >= 0 {
		w.unacked = append(w.unacked, unacked)
	}
	w.nerrs++
	w.lastErr = msg
	if len(w.errs) < writerErrorsKept {
		w.errs = append(w.errs, msg)
	}
}

// WriterStats is what a Writer met.
type WriterStats struct {
	// Acked counts the acknowledged writes, Errors the errors returned to
	// the writer.
	Acked, Errors int
	// First holds the first errors (writerErrorsKept at most), Last the
	// newest.
	First []string
	Last  string
	// FailedOn counts the attempts (the client's own retries included)
	// that failed otherwise than by a redirect, by the node asked.
	FailedOn map[string]int
}

// Stats returns what the writer met so far.
func (w *Writer) Stats() WriterStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return WriterStats{Acked: int(w.next.Load()) - len(w.unacked), Errors: w.nerrs, First: slices.Clone(w.errs), Last: w.lastErr,
		FailedOn: maps.Clone(w.failedOn)}
}

// Stop ends the writing and closes the client; it may be called again.
func (w *Writer) Stop() {
	w.stop()
	<-w.done
	w.closeOnce.Do(func() { w.c.Close() })
}

// Check reads every acknowledged key through c (while the writer runs,
// all but the write under way).
func (w *Writer) Check(ctx context.Context, c *redis.ClusterClient) error {
	n := int(w.next.Load())
	select {
	case <-w.done:
	default:
		n--
	}
	w.mu.Lock()
	unacked := map[int]bool{}
	for _, i := range w.unacked {
		unacked[i] = true
	}
	w.mu.Unlock()
	var bad []string
	for lo := 0; lo < n; lo += mixedBatch {
		hi := min(lo+mixedBatch, n)
		cmds := map[int]*redis.StringCmd{}
		_, _ = c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := lo; i < hi; i++ {
				if !unacked[i] {
					cmds[i] = p.Get(ctx, w.key(i))
				}
			}
			return nil
		})
		for i := lo; i < hi; i++ {
			if cmd, ok := cmds[i]; ok {
				if v, err := cmd.Result(); err != nil || v != w.val(i) {
					bad = append(bad, fmt.Sprintf("%s (slot %d): %q %v", w.key(i), cluster.KeySlot(w.key(i)), v, err))
				}
			}
		}
	}
	if len(bad) > 0 {
		k := len(bad)
		if k > 5 {
			bad = append(bad[:5], fmt.Sprintf("and %d more", k-5))
		}
		return fmt.Errorf("%d acknowledged writes lost: %s", k, strings.Join(bad, "; "))
	}
	return nil
}

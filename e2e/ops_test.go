package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/redis/go-redis/v9"

	"warden/config"
)

// The operator commands (`warden failover`, `maintenance`, `ack`, `history`,
// `peers`) run as the same warden binary against three real watchdogs,
// with WARDEN_ADDR naming the member they talk to.

const (
	// opsStart bounds the first agreement: Raft election, first probes.
	opsStart = 30 * time.Second
	// opsFailover bounds detection plus vote and promotion.
	opsFailover = 30 * time.Second
	// opsSettle bounds a resync, a repoint, a membership change.
	opsSettle = 20 * time.Second
	// opsCLITimeout bounds one run of a warden client command.
	opsCLITimeout = 2 * time.Minute
)

// opsResult is how one client command ended.
type opsResult struct {
	args           []string
	stdout, stderr string
	code           int
}

func (r opsResult) String() string {
	return fmt.Sprintf("warden %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// opsRun runs `warden ARGS...` with WARDEN_ADDR=addr (an HTTP API
// address) and no token.
func opsRun(t *testing.T, addr string, args ...string) opsResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), opsCLITimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, needWarden(t), args...)
	cmd.Env = append(os.Environ(), "WARDEN_ADDR="+addr, "WARDEN_TOKEN=")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err := cmd.Run()
	res := opsResult{args: args, stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("still running after %v: %s", opsCLITimeout, res)
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("warden %s: %v", strings.Join(args, " "), err)
	}
	return res
}

// opsMust is opsRun that fails t unless the command exits 0.
func opsMust(t *testing.T, addr string, args ...string) opsResult {
	t.Helper()
	res := opsRun(t, addr, args...)
	if res.code != 0 {
		t.Fatalf("%s", res)
	}
	t.Logf("%s", res)
	return res
}

// opsGroup starts a sandbox with three watchdogs and waits until they all
// report the first node as master.
func opsGroup(t *testing.T) (*Sandbox, Group) {
	t.Helper()
	sb := newSandbox(t, true, SandboxOptions{})
	g, err := WaitForAgreement(t.Context(), sb.Wardens, sb.Group, opsStart)
	if err != nil {
		t.Fatal(err)
	}
	if g.Master != sb.Redis[0].Addr {
		t.Fatalf("watchdogs agree on master %s, but the master is %s", g.Master, sb.Redis[0].Addr)
	}
	// An operator's failover needs the leader's votes on the master: until
	// the first reports after discovery, its health is unknown.
	if err := WaitAllUp(t.Context(), sb.Wardens, sb.Group, nil, opsStart); err != nil {
		t.Fatal(err)
	}
	return sb, g
}

// opsSettled waits until every watchdog reports master want with status
// ok, want answers ROLE master, and every other running node but those
// in skip follows it.
func opsSettled(t *testing.T, sb *Sandbox, want string, skip ...string) Group {
	t.Helper()
	ctx := t.Context()
	var g Group
	err := WaitFor(ctx, opsSettle, "every watchdog to report master "+want+" with status ok", func() (bool, error) {
		for _, w := range sb.LiveWardens() {
			var err error
			if g, err = w.API.Group(ctx, sb.Group); err != nil {
				return false, fmt.Errorf("%s: %w", w.ID, err)
			}
			if g.Master != want || g.Status != GroupOK {
				return false, fmt.Errorf("%s: master %q epoch %d status %q %s", w.ID, g.Master, g.Epoch, g.Status, g.Reason)
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	m := sb.Node(want)
	if err := m.WaitForRole(ctx, "master", opsSettle); err != nil {
		t.Fatal(err)
	}
	for _, r := range sb.Redis {
		if r != m && r.Running() && !slices.Contains(skip, r.Addr) {
			if err := r.WaitForReplica(ctx, want, opsSettle); err != nil {
				t.Fatal(err)
			}
		}
	}
	return g
}

// opsFollower returns a watchdog that is a follower of the agreed leader.
func opsFollower(t *testing.T, sb *Sandbox) (leader, follower *Warden) {
	t.Helper()
	ctx := t.Context()
	leader, err := WaitForLeader(ctx, sb.Wardens, opsStart)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range sb.Wardens {
		if w == leader {
			continue
		}
		st, err := w.API.Status(ctx)
		if err == nil && st.RaftState == RaftFollower && st.LeaderID == leader.ID {
			return leader, w
		}
	}
	t.Fatalf("no watchdog is a follower of %s", leader.ID)
	return nil, nil
}

// ackedWriter SETs keys on the master the watchdogs name, one at a time,
// and keeps the keys the master acknowledged. An error (READONLY, a
// timeout while writes are paused, a closed connection) means not
// acknowledged: it asks the watchdogs for the master again and goes on.
type ackedWriter struct {
	sb *Sandbox

	mu      sync.Mutex
	acked   []string
	perNode map[string]int
	errs    []string
}

func (a *ackedWriter) run(ctx context.Context, stop <-chan struct{}) {
	var c *redis.Client
	master := ""
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	// backoff waits a little before the next try, unless told to stop.
	backoff := func() bool {
		select {
		case <-stop:
			return false
		case <-ctx.Done():
			return false
		case <-time.After(20 * time.Millisecond):
			return true
		}
	}
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		default:
		}
		if c == nil {
			g, _, err := GroupFromAny(ctx, a.sb.LiveWardens(), a.sb.Group)
			if err != nil || g.Master == "" {
				if !backoff() {
					return
				}
				continue
			}
			master, c = g.Master, NewRedisClient(g.Master, "")
		}
		key := fmt.Sprintf("sw:%d", i)
		err := c.Set(ctx, key, "v-"+key, 0).Err()
		a.mu.Lock()
		if err == nil {
			a.acked = append(a.acked, key)
			a.perNode[master]++
		} else {
			a.errs = append(a.errs, fmt.Sprintf("%s on %s: %v", key, master, err))
		}
		a.mu.Unlock()
		if err != nil {
			c.Close()
			c = nil
			if !backoff() {
				return
			}
		}
	}
}

func (a *ackedWriter) ackedOn(node string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.perNode[node]
}

// missingKeys returns how many of keys node does not hold with the value
// the writer gave them, and the first few of them.
func missingKeys(ctx context.Context, node *Redis, keys []string) (int, []string, error) {
	c := node.Client()
	defer c.Close()
	missing := 0
	var first []string
	for start := 0; start < len(keys); start += 500 {
		batch := keys[start:min(start+500, len(keys))]
		vals, err := c.MGet(ctx, batch...).Result()
		if err != nil {
			return 0, nil, fmt.Errorf("MGET on %s: %w", node.Addr, err)
		}
		for i, v := range vals {
			if v != "v-"+batch[i] {
				missing++
				if len(first) < 10 {
					first = append(first, fmt.Sprintf("%s=%v", batch[i], v))
				}
			}
		}
	}
	return missing, first, nil
}

// TestOpsSwitchoverUnderWrites: `warden failover GROUP --wait`, sent to a
// follower (which forwards it to the leader) while a client writes, loses
// no acknowledged write: every key the old or the new master acknowledged
// is on the new master, and the old master follows the new one.
func TestOpsSwitchoverUnderWrites(t *testing.T) {
	sb, g := opsGroup(t)
	ctx := t.Context()
	_, follower := opsFollower(t, sb)
	old := g.Master

	w := &ackedWriter{sb: sb, perNode: map[string]int{}}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		w.run(ctx, stop)
	}()
	stopped := false
	stopWriter := func() {
		if !stopped {
			stopped = true
			close(stop)
			<-done
		}
	}
	defer stopWriter()

	if err := WaitFor(ctx, opsSettle, "the writer to get 200 writes acknowledged by "+old, func() (bool, error) {
		return w.ackedOn(old) >= 200, nil
	}); err != nil {
		t.Fatal(err)
	}
	res := opsMust(t, follower.HTTPAddr, "failover", sb.Group, "--wait")
	if !strings.Contains(res.stdout, "switchover") || !strings.Contains(res.stdout, ", ok in ") {
		t.Errorf("the command did not report a completed switchover:\n%s", res)
	}
	ng, err := WaitForMaster(ctx, sb.Wardens, sb.Group, old, opsSettle)
	if err != nil {
		t.Fatal(err)
	}
	nowMaster := ng.Master
	if nowMaster == old || ng.Epoch <= g.Epoch {
		t.Fatalf("after the switchover the watchdogs report master %s epoch %d (before: %s epoch %d)", nowMaster, ng.Epoch, old, g.Epoch)
	}
	if !strings.Contains(res.stdout, old+" -> "+nowMaster) {
		t.Errorf("the command's output does not name %s -> %s", old, nowMaster)
	}
	if err := WaitFor(ctx, opsSettle, "the writer to get 200 writes acknowledged by the new master "+nowMaster, func() (bool, error) {
		return w.ackedOn(nowMaster) >= 200, nil
	}); err != nil {
		t.Fatal(err)
	}
	stopWriter()

	w.mu.Lock()
	acked, errs := slices.Clone(w.acked), slices.Clone(w.errs)
	onOld, onNew := w.perNode[old], w.perNode[nowMaster]
	w.mu.Unlock()
	t.Logf("%d writes acknowledged (%d by the old master %s, %d by the new master %s), %d not acknowledged; first errors: %v",
		len(acked), onOld, old, onNew, nowMaster, len(errs), errs[:min(len(errs), 5)])

	missing, first, err := missingKeys(ctx, sb.Node(nowMaster), acked)
	if err != nil {
		t.Fatal(err)
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged keys are missing on the new master %s, e.g. %v", missing, len(acked), nowMaster, first)
	}
	if err := sb.Node(old).WaitForReplica(ctx, nowMaster, opsSettle); err != nil {
		t.Errorf("the old master does not follow the new one: %v", err)
	}
	opsSettled(t, sb, nowMaster)
}

// TestOpsFailoverTo: `--to` the second replica promotes that node.
func TestOpsFailoverTo(t *testing.T) {
	sb, g := opsGroup(t)
	target := sb.Redis[2].Addr
	res := opsMust(t, sb.Wardens[0].HTTPAddr, "failover", sb.Group, "--to", target, "--wait")
	if !strings.Contains(res.stdout, g.Master+" -> "+target) {
		t.Errorf("the command's output does not name %s -> %s:\n%s", g.Master, target, res)
	}
	opsSettled(t, sb, target)
}

// opsMaintenance is GET /v1/maintenance as the CLI prints it with --json.
type opsMaintenance struct {
	Maintenance map[string]struct {
		Reason string    `json:"reason"`
		Until  time.Time `json:"until"`
	} `json:"maintenance"`
}

// TestOpsMaintenancePreventsPromotion: a replica in maintenance is not
// promoted when the master dies; the other one is. Once out of
// maintenance, it follows the new master.
func TestOpsMaintenancePreventsPromotion(t *testing.T) {
	sb, g := opsGroup(t)
	ctx := t.Context()
	api := sb.Wardens[1].HTTPAddr
	inMaint, other := sb.Redis[1], sb.Redis[2]
	opsMust(t, api, "maintenance", inMaint.Addr, "on", "--reason", "e2e: disk swap", "--for", "10m")
	var m opsMaintenance
	err := WaitFor(ctx, opsSettle, "`warden maintenance` to list "+inMaint.Addr, func() (bool, error) {
		res := opsRun(t, api, "maintenance", "--json")
		if res.code != 0 {
			return false, errors.New(res.String())
		}
		if err := json.Unmarshal([]byte(res.stdout), &m); err != nil {
			return false, err
		}
		_, ok := m.Maintenance[inMaint.Addr]
		return ok, fmt.Errorf("listed: %s", res.stdout)
	})
	if err != nil {
		t.Fatal(err)
	}
	if e := m.Maintenance[inMaint.Addr]; e.Reason != "e2e: disk swap" || time.Until(e.Until) < 9*time.Minute {
		t.Errorf("maintenance entry %+v, want the reason given and about 10m left", e)
	}
	if res := opsMust(t, api, "maintenance"); !strings.Contains(res.stdout, inMaint.Addr) || !strings.Contains(res.stdout, "e2e: disk swap") {
		t.Errorf("the maintenance table does not show %s:\n%s", inMaint.Addr, res)
	}

	if err := sb.Node(g.Master).Kill(); err != nil {
		t.Fatal(err)
	}
	ng, err := WaitForMaster(ctx, sb.Wardens, sb.Group, g.Master, opsFailover)
	if err != nil {
		t.Fatal(err)
	}
	if ng.Master != other.Addr {
		t.Fatalf("promoted %s, want %s (%s is in maintenance)", ng.Master, other.Addr, inMaint.Addr)
	}
	// A replica in maintenance is left alone: not repointed either.
	opsSettled(t, sb, other.Addr, inMaint.Addr)
	// The ranking recorded with the failover says why it was skipped.
	var rec struct {
		LastFailover struct {
			To      string `json:"to"`
			Ranking []struct {
				Addr    string `json:"addr"`
				Skipped string `json:"skipped"`
			} `json:"ranking"`
		} `json:"last_failover"`
	}
	err = WaitFor(ctx, opsSettle, "the failover to "+other.Addr+" to be recorded as ended", func() (bool, error) {
		err := sb.Wardens[1].API.get(ctx, "/v1/groups/"+sb.Group, &rec)
		return err == nil && rec.LastFailover.To == other.Addr, fmt.Errorf("last failover to %q: %v", rec.LastFailover.To, err)
	})
	if err != nil {
		t.Fatal(err)
	}
	skipped := "not ranked"
	for _, c := range rec.LastFailover.Ranking {
		if c.Addr == inMaint.Addr {
			skipped = c.Skipped
		}
	}
	if !strings.Contains(skipped, "maintenance") {
		t.Errorf("the failover's ranking says of %s: %q; want it skipped for maintenance (ranking %+v)", inMaint.Addr, skipped, rec.LastFailover.Ranking)
	}
	ri, err := inMaint.Role(ctx)
	if err != nil || ri.Role != "slave" {
		t.Errorf("the node in maintenance: ROLE %+v, %v; want a replica", ri, err)
	}

	// Out of maintenance, it is re-attached to the new master.
	opsMust(t, api, "maintenance", inMaint.Addr, "off")
	err = WaitFor(ctx, opsSettle, "`warden maintenance` to list no node", func() (bool, error) {
		res := opsRun(t, api, "maintenance")
		return res.code == 0 && strings.TrimSpace(res.stdout) == "no node is in maintenance", errors.New(res.String())
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := inMaint.WaitForReplica(ctx, other.Addr, opsSettle); err != nil {
		t.Error(err)
	}
}

// opsHistory is GET /v1/history as the CLI prints it with --json.
type opsHistory struct {
	History []struct {
		Seq     uint64 `json:"seq"`
		Kind    string `json:"kind"`
		Group   string `json:"group"`
		Node    string `json:"node"`
		Message string `json:"message"`
	} `json:"history"`
}

// TestOpsAckClearsWindow: after a failover, the new master's death within
// block_after is refused (the refusal is in `warden history` and the
// master stays); `warden ack` lets the next failover happen.
func TestOpsAckClearsWindow(t *testing.T) {
	sb, g := opsGroup(t)
	ctx := t.Context()
	api := sb.Wardens[0].HTTPAddr
	opsMust(t, api, "failover", sb.Group, "--wait")
	first, err := WaitForMaster(ctx, sb.Wardens, sb.Group, g.Master, opsSettle)
	if err != nil {
		t.Fatal(err)
	}
	m1 := opsSettled(t, sb, first.Master)
	seq := opsLastSeq(t, api, sb.Group)

	// The new master dies inside the window (block_after is 1m).
	if err := sb.Node(m1.Master).Kill(); err != nil {
		t.Fatal(err)
	}
	err = WaitFor(ctx, opsFailover, "a refusal citing the anti-flapping window in `warden history`", func() (bool, error) {
		h, err := opsHistoryOf(t, api, sb.Group)
		if err != nil {
			return false, err
		}
		for _, e := range h.History {
			if e.Seq > seq && e.Kind == "refusal" && strings.Contains(e.Message, "anti-flapping") {
				t.Logf("refusal %d: %s", e.Seq, e.Message)
				return true, nil
			}
		}
		return false, fmt.Errorf("history after %d: %+v", seq, h.History)
	})
	if err != nil {
		t.Fatal(err)
	}
	if res := opsMust(t, api, "history", "--group", sb.Group); !strings.Contains(res.stdout, "refusal") {
		t.Errorf("the history table shows no refusal:\n%s", res)
	}
	for _, w := range sb.Wardens {
		gw, err := w.API.Group(ctx, sb.Group)
		if err != nil || gw.Master != m1.Master || gw.Epoch != m1.Epoch {
			t.Errorf("%s after the refusal: master %s epoch %d (%v); want %s epoch %d kept", w.ID, gw.Master, gw.Epoch, err, m1.Master, m1.Epoch)
		}
	}

	opsMust(t, api, "ack", sb.Group)
	ng, err := WaitForMaster(ctx, sb.Wardens, sb.Group, m1.Master, opsFailover)
	if err != nil {
		t.Fatal(err)
	}
	opsSettled(t, sb, ng.Master)
}

// opsHistoryOf is `warden history --group G --json`, decoded.
func opsHistoryOf(t *testing.T, addr, group string) (opsHistory, error) {
	var h opsHistory
	res := opsRun(t, addr, "history", "--group", group, "--json")
	if res.code != 0 {
		return h, errors.New(res.String())
	}
	err := json.Unmarshal([]byte(res.stdout), &h)
	return h, err
}

// opsLastSeq returns the newest history entry's sequence number.
func opsLastSeq(t *testing.T, addr, group string) uint64 {
	t.Helper()
	h, err := opsHistoryOf(t, addr, group)
	if err != nil {
		t.Fatal(err)
	}
	var seq uint64
	for _, e := range h.History {
		seq = max(seq, e.Seq)
	}
	return seq
}

// TestOpsJoinAndRemoveMember: a fourth watchdog started with raft.join is
// added with `warden peers add`, then removed with `warden peers remove`.
func TestOpsJoinAndRemoveMember(t *testing.T) {
	sb, _ := opsGroup(t)
	w4 := opsStartJoiner(t, sb, "w4")
	api := sb.Wardens[0].HTTPAddr
	opsMust(t, api, "peers", "add", w4.ID, w4.RaftAddr)
	all := append(slices.Clone(sb.Wardens), w4)
	opsWaitVoters(t, all, []string{"w1", "w2", "w3", "w4"})
	leader, err := WaitForLeader(t.Context(), all, opsSettle)
	if err != nil {
		t.Fatal(err)
	}
	if err := WaitFor(t.Context(), opsSettle, "w4 to name the leader "+leader.ID, func() (bool, error) {
		st, err := w4.API.Status(t.Context())
		return err == nil && st.LeaderID == leader.ID, fmt.Errorf("status %+v, %v", st, err)
	}); err != nil {
		t.Fatal(err)
	}
	if res := opsMust(t, w4.HTTPAddr, "peers"); !strings.Contains(res.stdout, w4.RaftAddr) {
		t.Errorf("`warden peers` on w4 does not list w4 at %s", w4.RaftAddr)
	}

	opsMust(t, api, "peers", "remove", w4.ID)
	opsWaitVoters(t, sb.Wardens, []string{"w1", "w2", "w3"})
}

// opsStartJoiner starts one more watchdog with raft.join: true (no
// bootstrap list), watching the sandbox's group, and stops it when t ends.
func opsStartJoiner(t *testing.T, sb *Sandbox, id string) *Warden {
	t.Helper()
	ports, err := FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := sb.Configs[0]
	c.ID = id
	c.DataDir = filepath.Join(dir, id)
	c.Raft.Bind, c.Raft.Advertise = Addr(ports[0]), ""
	c.Raft.Bootstrap, c.Raft.Join = nil, true
	c.HTTP.Listen = Addr(ports[1])
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := config.Parse(b); err != nil {
		// config.Validate runs the raft.bootstrap checks for a joining
		// member too, so no raft.join configuration is accepted.
		t.Fatalf("a configuration with raft.join: true and no raft.bootstrap is refused: %v\n%s", err, b)
	}
	path := filepath.Join(dir, id+".yaml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := StartWarden(t.Context(), needWarden(t), path, filepath.Join(dir, id+".log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if tail := raceReport(w.LogPath); tail != "" {
			t.Errorf("watchdog %s reported a data race (%s):\n%s", w.ID, w.LogPath, tail)
		}
		if t.Failed() {
			t.Logf("----- %s: last 60 lines of %s\n%s", w.ID, w.LogPath, w.Tail(60))
		}
		if err := w.Kill(); err != nil {
			t.Errorf("kill %s: %v", w.ID, err)
		}
	})
	return w
}

// opsWaitVoters polls GET /v1/raft/peers on every member of ws until each
// lists exactly the voters ids.
func opsWaitVoters(t *testing.T, ws []*Warden, ids []string) {
	t.Helper()
	ctx := t.Context()
	want := slices.Sorted(slices.Values(ids))
	err := WaitFor(ctx, opsSettle, fmt.Sprintf("every member to list the voters %v", want), func() (bool, error) {
		for _, w := range ws {
			var p struct {
				Peers []Peer `json:"peers"`
			}
			if err := w.API.get(ctx, "/v1/raft/peers", &p); err != nil {
				return false, fmt.Errorf("%s: %w", w.ID, err)
			}
			var got []string
			for _, pe := range p.Peers {
				if pe.Suffrage == "Voter" {
					got = append(got, pe.ID)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				return false, fmt.Errorf("%s lists voters %v", w.ID, got)
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestOpsMetrics: /metrics parses as Prometheus text on every member, and
// warden_failovers_total on the leader counts a failover run through the
// CLI.
func TestOpsMetrics(t *testing.T) {
	sb, _ := opsGroup(t)
	ctx := t.Context()
	leader, err := WaitForLeader(ctx, sb.Wardens, opsStart)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range sb.Wardens {
		fams, err := opsMetrics(ctx, w)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := fams["warden_probe_latency_seconds"]; !ok {
			t.Errorf("%s: /metrics has no warden_probe_latency_seconds", w.ID)
		}
	}
	completed := map[string]string{"group": sb.Group, "kind": "switchover", "outcome": "completed"}
	fams, err := opsMetrics(ctx, leader)
	if err != nil {
		t.Fatal(err)
	}
	before, beforeAll := opsCounter(fams, "warden_failovers_total", completed), opsCounter(fams, "warden_failovers_total", nil)

	res := opsMust(t, leader.HTTPAddr, "failover", sb.Group, "--wait", "--json")
	var fo struct {
		Leader string `json:"leader"`
		Kind   string `json:"kind"`
		OK     bool   `json:"ok"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &fo); err != nil {
		t.Fatalf("--json output does not decode: %v\n%s", err, res)
	}
	if fo.Leader != leader.ID || fo.Kind != "switchover" || !fo.OK {
		t.Fatalf("failover %+v; want a completed switchover led by %s", fo, leader.ID)
	}
	err = WaitFor(ctx, opsSettle, "warden_failovers_total on the leader "+leader.ID+" to count the switchover", func() (bool, error) {
		fams, err := opsMetrics(ctx, leader)
		if err != nil {
			return false, err
		}
		after, afterAll := opsCounter(fams, "warden_failovers_total", completed), opsCounter(fams, "warden_failovers_total", nil)
		return after == before+1 && afterAll == beforeAll+1,
			fmt.Errorf("completed switchovers %v -> %v, all %v -> %v", before, after, beforeAll, afterAll)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// opsCounter sums the counter name over the series whose labels include
// want (every series when want is nil); an absent family counts 0.
func opsCounter(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	var sum float64
	f, ok := fams[name]
	if !ok {
		return 0
	}
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			match = match && labels[k] == v
		}
		if match {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// opsMetrics fetches and parses w's /metrics as Prometheus text.
func opsMetrics(ctx context.Context, w *Warden) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.API.Base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := w.API.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics on %s: HTTP %d: %s", w.ID, resp.StatusCode, truncate(string(body), 200))
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("GET /metrics on %s does not parse as Prometheus text: %w", w.ID, err)
	}
	return fams, nil
}

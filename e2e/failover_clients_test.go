package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"warden/config"
)

// The old master's clients are killed before the promotion. warden does it
// in a failover of a master that some watchdog still reaches (fence: true):
// the master's writes are paused (CLIENT PAUSE WRITE), its normal clients
// disconnected, and only then is the replica promoted, so that an
// application connected to the old master cannot go on writing there
// while the new master takes writes. (A planned switchover pauses writes
// too, but disconnects the clients after the demotion.)
//
// To get a master that one watchdog reaches and the two others do not,
// without touching the network, the watchdogs log in as ACL users: w1 as
// "seer", w2 and w3 as "blind", and the test deletes "blind" on the master
// only. With down_after long, the master stays up for w1 and failing for
// the others: neither healthy (up for a majority) nor objectively down, so
// an operator failover with force is a fenced failover.

const (
	aclPassword = "fence-test-secret"
	pinnedName  = "pinned-app"
	// targetHold is how long the target's commands are paused when the
	// failover is requested.
	targetHold = 700 * time.Millisecond
)

// pinnedWrite is one SET of the pinned client.
type pinnedWrite struct {
	key        string
	sent, done time.Time
	err        error
	// killCheck is set on the first write that failed because the old
	// master closed the connection: what was seen right after.
	killCheck *killCheck
}

// killCheck is what the old master showed right after it closed the
// pinned client's connection.
type killCheck struct {
	// replicasBefore and replicasAfter are the replicas the old master
	// had (ROLE) before and after the write probe.
	replicasBefore, replicasAfter []string
	// probe is the outcome of a SET on a new connection, given
	// pausedProbeTimeout: a timeout means writes were paused.
	probe error
}

// pausedProbeTimeout bounds the SET that checks the old master's pause.
const pausedProbeTimeout = 150 * time.Millisecond

// checkAfterKill reads the old master's replicas, tries a write on it, and
// reads its replicas again.
func checkAfterKill(ctx context.Context, addr string) *killCheck {
	kc := &killCheck{}
	if ri, err := Role(ctx, addr); err == nil {
		kc.replicasBefore = ri.Replicas
	}
	c := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true, MaxRetries: -1, ReadTimeout: pausedProbeTimeout})
	kc.probe = c.Set(ctx, "paused-probe", "v", 0).Err()
	c.Close()
	if ri, err := Role(ctx, addr); err == nil {
		kc.replicasAfter = ri.Replicas
	} else {
		kc.replicasAfter = []string{err.Error()}
	}
	return kc
}

// respConn is a bare RESP2 connection: no pool, no health check, no
// reconnection behind the caller's back, so that a connection the server
// closes shows as an error of the command it was carrying or of the next.
type respConn struct {
	c net.Conn
	r *bufio.Reader
}

func dialRESP(addr, name string) (*respConn, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return nil, err
	}
	rc := &respConn{c: c, r: bufio.NewReader(c)}
	if err := rc.do("CLIENT", "SETNAME", name); err != nil {
		c.Close()
		return nil, err
	}
	return rc, nil
}

// replyError is an error reply of the server.
type replyError string

func (e replyError) Error() string { return string(e) }

// do sends one command and reads a simple reply: nil for +..., a
// replyError for -..., a network error when the connection broke.
func (rc *respConn) do(args ...string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	_ = rc.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := rc.c.Write([]byte(b.String())); err != nil {
		return err
	}
	line, err := rc.r.ReadString('\n')
	if err != nil {
		return err
	}
	line = strings.TrimRight(line, "\r\n")
	switch {
	case strings.HasPrefix(line, "+"):
		return nil
	case strings.HasPrefix(line, "-"):
		return replyError(line[1:])
	default:
		return fmt.Errorf("unexpected reply %q", line)
	}
}

// pinnedWriter writes keys on one bare connection to addr (a new one after
// an error) until stop is closed, and records every write. At the first
// write that fails because the connection was closed it checks the old
// master at once (checkAfterKill).
func pinnedWriter(ctx context.Context, addr string, stop <-chan struct{}) ([]pinnedWrite, error) {
	rc, err := dialRESP(addr, pinnedName)
	if err != nil {
		return nil, err
	}
	defer func() { rc.c.Close() }()
	var out []pinnedWrite
	killed := false
	for i := 0; ; i++ {
		select {
		case <-stop:
			return out, nil
		case <-ctx.Done():
			return out, ctx.Err()
		default:
		}
		w := pinnedWrite{key: fmt.Sprintf("pinned:%d", i), sent: time.Now()}
		w.err = rc.do("SET", w.key, "v")
		w.done = time.Now()
		var re replyError
		if w.err != nil && !errors.As(w.err, &re) {
			if !killed {
				killed = true
				w.killCheck = checkAfterKill(ctx, addr)
			}
			rc.c.Close()
			if rc, err = dialRESP(addr, pinnedName); err != nil {
				out = append(out, w)
				return out, err
			}
		}
		out = append(out, w)
		if w.err != nil {
			if err := pause(ctx, 5*time.Millisecond); err != nil {
				return out, err
			}
		}
	}
}

// isTimeout reports whether err is a network timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// clientIDs returns the ids of the clients of addr named name (CLIENT LIST).
func clientIDs(ctx context.Context, addr, name string) ([]string, error) {
	c := NewRedisClient(addr, "")
	defer c.Close()
	list, err := c.ClientList(ctx).Result()
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, line := range strings.Split(list, "\n") {
		f := map[string]string{}
		for _, kv := range strings.Fields(line) {
			if k, v, ok := strings.Cut(kv, "="); ok {
				f[k] = v
			}
		}
		if f["name"] == name {
			ids = append(ids, f["id"])
		}
	}
	return ids, nil
}

// TestFailoverKillsClientsBeforePromote: an operator failover (force) of
// a master that only the leader reaches. A client connected straight to
// the old master sees its connection closed while the target is still a
// replica; from then on the old master acknowledges none of its writes
// (paused, then demoted); the failover record's steps are fence,
// kill-clients, promote in that order; every write the old master
// acknowledged is on the new master.
func TestFailoverKillsClientsBeforePromote(t *testing.T) {
	pwFile := filepath.Join(t.TempDir(), "redis-password")
	if err := os.WriteFile(pwFile, []byte(aclPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sb, g0 := startGroupWith(t, SandboxOptions{
		DownAfter: time.Minute, LogLevel: "info",
		BeforeWardens: func(ctx context.Context, sb *Sandbox) error {
			for _, r := range sb.Redis {
				c := r.Client()
				for _, u := range []string{"seer", "blind"} {
					if err := c.Do(ctx, "ACL", "SETUSER", u, "on", ">"+aclPassword, "~*", "&*", "+@all").Err(); err != nil {
						c.Close()
						return err
					}
				}
				c.Close()
			}
			return nil
		},
		Configure: func(c *config.Config) {
			c.Redis.PasswordFile = pwFile
			c.Redis.Username = "blind"
			// Room for the target's promotion to wait on its pause.
			c.Detection.ProbeTimeout = config.Duration(2 * time.Second)
			if c.ID == "w1" {
				c.Redis.Username = "seer"
			}
		},
	})
	ctx := t.Context()
	old := sb.Node(g0.Master)
	seer := sb.Warden("w1")
	// The leader carries the failover out: it must be the one that
	// reaches the master.
	if err := TransferLeadership(ctx, sb.Wardens, seer.ID, startTimeout); err != nil {
		t.Fatal(err)
	}
	var target string
	for _, r := range sb.Redis {
		if r != old {
			target = r.Addr
			break
		}
	}

	stop := make(chan struct{})
	var writes []pinnedWrite
	var werr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		writes, werr = pinnedWriter(ctx, old.Addr, stop)
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()
	var before []string
	if err := WaitFor(ctx, 5*time.Second, "the pinned client in the old master's CLIENT LIST", func() (bool, error) {
		ids, err := clientIDs(ctx, old.Addr, pinnedName)
		before = ids
		return len(ids) == 1, fmt.Errorf("clients named %s: %v (%v)", pinnedName, ids, err)
	}); err != nil {
		t.Fatal(err)
	}

	// Blind w2 and w3 to the master.
	c := old.Client()
	err := c.Do(ctx, "ACL", "DELUSER", "blind").Err()
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	// Up for w1 only in a view made of all three reports (right after an
	// election the leader's view may hold its own report alone).
	if err := WaitFor(ctx, 10*time.Second, "the leader to see the master up for w1 only", func() (bool, error) {
		var g struct {
			Reporters []string `json:"reporters"`
			Nodes     []struct {
				Addr    string `json:"addr"`
				Health  string `json:"health"`
				VotesUp int    `json:"votes_up"`
			} `json:"nodes"`
		}
		if _, err := seer.API.Send(ctx, http.MethodGet, "/v1/groups/"+sb.Group, nil, &g); err != nil {
			return false, err
		}
		for _, n := range g.Nodes {
			if n.Addr == old.Addr {
				return n.VotesUp == 1 && len(g.Reporters) == 3, fmt.Errorf("master %s votes_up %d, reporters %v", n.Health, n.VotesUp, g.Reporters)
			}
		}
		return false, errors.New("master not in the view")
	}); err != nil {
		t.Fatal(err)
	}

	var fo struct {
		Kind  string `json:"kind"`
		Fence bool   `json:"fence"`
		From  string `json:"from"`
		To    string `json:"to"`
		OK    bool   `json:"ok"`
		Error string `json:"error"`
		Steps []struct {
			Name       string  `json:"name"`
			Node       string  `json:"node"`
			DurationMs float64 `json:"duration_ms"`
			Error      string  `json:"error"`
		} `json:"steps"`
	}
	// The target's promotion (REPLICAOF NO ONE) is held back by a pause of
	// all its clients' commands: time for the pinned client to look at
	// the old master after its connection was closed, whenever that
	// happens before the promotion.
	// A 503 (w1 lost its leadership on a loaded machine, or has no fresh
	// view yet) began nothing: w1 is made leader again and asked again.
	var heldAt time.Time
	err = WaitFor(ctx, startTimeout, "w1 to carry out the fenced failover", func() (bool, error) {
		if err := TransferLeadership(ctx, sb.Wardens, seer.ID, 10*time.Second); err != nil {
			return false, err
		}
		tc := sb.Node(target).Client()
		heldAt = time.Now()
		err := tc.Do(ctx, "CLIENT", "PAUSE", targetHold.Milliseconds(), "ALL").Err()
		tc.Close()
		if err != nil {
			return false, err
		}
		_, err = seer.API.Send(ctx, http.MethodPost, "/v1/groups/"+sb.Group+"/failover?wait=1", map[string]any{"to": target, "force": true}, &fo)
		var ae *APIError
		if errors.As(err, &ae) && ae.HTTPStatus == http.StatusServiceUnavailable {
			if g, gerr := seer.API.Group(ctx, sb.Group); gerr == nil && (g.FailingOver() || g.LastFailover != nil) {
				t.Fatalf("the failover began, then w1 answered %v", err)
			}
			return false, err
		}
		if err != nil {
			t.Fatal(err)
		}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	if werr != nil {
		t.Fatal(werr)
	}
	t.Logf("failover: kind %s fence %v %s -> %s ok %v %s; steps %+v", fo.Kind, fo.Fence, fo.From, fo.To, fo.OK, fo.Error, fo.Steps)
	if fo.Kind != "failover" || !fo.Fence || !fo.OK || fo.From != old.Addr || fo.To != target {
		t.Fatalf("want an ok fenced failover %s -> %s", old.Addr, target)
	}
	var names []string
	for _, s := range fo.Steps {
		if s.Error != "" {
			t.Errorf("step %s on %s failed: %s", s.Name, s.Node, s.Error)
		}
		names = append(names, s.Name)
	}
	if got := strings.Join(names, ","); !strings.HasPrefix(got, "fence,kill-clients,promote,") {
		t.Errorf("steps %s, want fence, kill-clients, promote first", got)
	}

	// What the client saw.
	kill := -1
	for i, w := range writes {
		if w.killCheck != nil {
			kill = i
			break
		}
	}
	if kill < 0 {
		t.Fatalf("the pinned client's connection was never closed (%d writes)", len(writes))
	}
	k := writes[kill]
	kc := k.killCheck
	t.Logf("pinned client: %d writes, then its connection closed (%v) %v after the target's hold began; right after, the old master had replicas %v, a write on it answered %v within %v, then replicas %v",
		kill, k.err, k.done.Sub(heldAt).Round(time.Microsecond), kc.replicasBefore, kc.probe, pausedProbeTimeout, kc.replicasAfter)
	if !slices.Contains(kc.replicasBefore, target) || !slices.Contains(kc.replicasAfter, target) {
		t.Errorf("the target %s was no longer a replica of the old master when the client's connection had been closed: promoted before the kill", target)
	}
	if !isTimeout(kc.probe) {
		t.Errorf("a write on the old master after the kill, before the promotion, answered %v; want no answer (writes paused)", kc.probe)
	}
	var ackedAfter []string
	for _, w := range writes[kill+1:] {
		if w.err == nil {
			ackedAfter = append(ackedAfter, w.key)
		}
	}
	if len(ackedAfter) > 0 {
		t.Errorf("the old master acknowledged %d writes after it closed the client's connection (paused, then demoted: want none): %q", len(ackedAfter), ackedAfter[:min(5, len(ackedAfter))])
	}
	if kill+1 < len(writes) {
		w := writes[kill+1]
		t.Logf("after the kill: %d writes tried; the first waited %v (paused) and ended with %v; the last: %v",
			len(writes)-kill-1, w.done.Sub(w.sent).Round(time.Microsecond), w.err, writes[len(writes)-1].err)
	}

	// The old master: a replica of the new one, the pinned connection gone.
	if err := old.WaitForReplica(ctx, target, settleTimeout); err != nil {
		t.Fatal(err)
	}
	after, err := clientIDs(ctx, old.Addr, pinnedName)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range after {
		if id == before[0] {
			t.Errorf("the pinned client's connection (id %s) is still in the old master's CLIENT LIST", id)
		}
	}
	// The writes acknowledged before the hold: those after it may not
	// have reached the paused target when it was promoted.
	var acked []string
	for _, w := range writes[:kill] {
		if w.err == nil && w.done.Before(heldAt) {
			acked = append(acked, w.key)
		}
	}
	missing, err := Missing(ctx, target, acked)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d writes acknowledged by the old master before the hold, %d missing on the new master", len(acked), len(missing))
	if len(missing) > 0 {
		t.Errorf("%d of the %d writes the old master acknowledged are missing on the new master: %q", len(missing), len(acked), missing[:min(5, len(missing))])
	}
	if err := WaitFor(ctx, settleTimeout, "the nodes and the leader to agree on the new master", func() (bool, error) {
		_, err := CheckTopology(ctx, seer, sb.Group, sb.Redis)
		return err == nil, err
	}); err != nil {
		t.Error(err)
	}
}

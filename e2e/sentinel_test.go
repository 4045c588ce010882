package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"warden/config"
)

// The Sentinel-protocol tests run three watchdogs with sentinel.listen
// set and talk to them as existing Sentinel clients do: go-redis's
// failover client, redis-cli, and a pub/sub subscriber.

// sentinelGroup is a started group whose watchdogs answer the Sentinel
// protocol.
type sentinelGroup struct {
	sb *Sandbox
	g  Group
	// addr maps a watchdog id to its Sentinel address; pw to the password
	// its endpoint wants ("" for none).
	addr map[string]string
	pw   map[string]string
}

// addrs returns the Sentinel addresses in watchdog order.
func (sg *sentinelGroup) addrs() []string {
	var out []string
	for _, w := range sg.sb.Wardens {
		out = append(out, sg.addr[w.ID])
	}
	return out
}

// startSentinelGroup starts a group (startGroupWith) whose watchdogs listen
// for the Sentinel protocol on free loopback ports; edit, when set,
// changes each watchdog's configuration further. It waits until every
// endpoint names the master and lists the two other watchdogs.
func startSentinelGroup(t *testing.T, edit func(*config.Config)) *sentinelGroup {
	t.Helper()
	sg := &sentinelGroup{addr: map[string]string{}, pw: map[string]string{}}
	opts := SandboxOptions{Sentinel: true, Configure: edit}
	sg.sb, sg.g = startGroupWith(t, opts)
	for _, c := range sg.sb.Configs {
		sg.addr[c.ID] = c.Sentinel.Listen
		pw, err := c.SentinelPassword()
		if err != nil {
			t.Fatal(err)
		}
		sg.pw[c.ID] = pw
	}
	ctx := t.Context()
	for _, w := range sg.sb.Wardens {
		sc := sentinelAt(sg.addr[w.ID], sg.pw[w.ID])
		err := WaitFor(ctx, startTimeout, fmt.Sprintf("%s's Sentinel endpoint %s to name master %s, list 2 other sentinels and see the group healthy", w.ID, sg.addr[w.ID], sg.g.Master), func() (bool, error) {
			m, err := sc.GetMasterAddrByName(ctx, sg.sb.Group).Result()
			if err != nil {
				return false, err
			}
			if got := net.JoinHostPort(m[0], m[1]); got != sg.g.Master {
				return false, fmt.Errorf("get-master-addr-by-name says %s", got)
			}
			ss, err := sc.Sentinels(ctx, sg.sb.Group).Result()
			if err != nil || len(ss) != 2 {
				return false, fmt.Errorf("SENTINEL sentinels: %v, %v", ss, err)
			}
			// Right after discovery the views are not in yet (flags
			// disconnected), as a Sentinel that has just started knows
			// little: wait until this endpoint sees the group healthy.
			mf, err := sc.Master(ctx, sg.sb.Group).Result()
			if err != nil || mf["flags"] != "master" {
				return false, fmt.Errorf("SENTINEL master: flags %q, %v", mf["flags"], err)
			}
			rs, err := sc.Replicas(ctx, sg.sb.Group).Result()
			if err != nil || len(rs) != 2 {
				return false, fmt.Errorf("SENTINEL replicas: %v, %v", rs, err)
			}
			for _, r := range rs {
				if r["flags"] != "slave" || r["master-link-status"] != "ok" {
					return false, fmt.Errorf("SENTINEL replicas: %s flags %q master-link-status %q", r["name"], r["flags"], r["master-link-status"])
				}
			}
			return true, nil
		})
		sc.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	return sg
}

// sentinelAt is a plain go-redis Sentinel client for one endpoint; the
// caller closes it.
func sentinelAt(addr, password string) *redis.SentinelClient {
	return redis.NewSentinelClient(&redis.Options{
		Addr: addr, Password: password, Protocol: 2, DisableIdentity: true,
		DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second, MaxRetries: -1,
	})
}

// failoverClient is go-redis's Sentinel-aware client as an application
// builds it: the master's name and the Sentinel addresses, with shorter
// timeouts than the defaults so that the test notices a dead node sooner.
func failoverClient(group string, sentinels []string) *redis.Client {
	return redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName:    group,
		SentinelAddrs: sentinels,
		DialTimeout:   500 * time.Millisecond,
		ReadTimeout:   time.Second,
		WriteTimeout:  time.Second,
	})
}

// serverPort is the tcp_port of the Redis server c is connected to.
func serverPort(ctx context.Context, c *redis.Client) (string, error) {
	s, err := c.Info(ctx, "server").Result()
	if err != nil {
		return "", err
	}
	return ParseInfo(s)["tcp_port"], nil
}

// incrWriter INCRs one counter through a client, each INCR followed by
// WAIT 1 100 in the same pipeline (so on the same connection), and keeps
// count of what was acknowledged and of the gaps between successes.
type incrWriter struct {
	c   *redis.Client
	key string

	mu         sync.Mutex
	ok         int       // INCRs answered
	acked      int       // INCRs whose WAIT said at least one replica has them
	maxAcked   int64     // the largest counter value acknowledged so
	errs       int       // pipelines that failed
	lastErrs   []string  // the last few errors, for the log
	lastOK     time.Time // when the last INCR was answered
	longestGap time.Duration
	okSince    map[string]int // successes counted from a mark on
}

func (w *incrWriter) run(ctx context.Context, stop <-chan struct{}) {
	pace := time.NewTicker(5 * time.Millisecond)
	defer pace.Stop()
	w.mu.Lock()
	w.lastOK = time.Now()
	w.mu.Unlock()
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-pace.C:
		}
		var incr *redis.IntCmd
		var wait *redis.Cmd
		_, err := w.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			incr = p.Incr(ctx, w.key)
			wait = p.Do(ctx, "WAIT", 1, 100)
			return nil
		})
		now := time.Now()
		w.mu.Lock()
		if incr != nil && incr.Err() == nil {
			w.ok++
			for k := range w.okSince {
				w.okSince[k]++
			}
			if gap := now.Sub(w.lastOK); gap > w.longestGap {
				w.longestGap = gap
			}
			w.lastOK = now
			if n, werr := wait.Int64(); werr == nil && n >= 1 {
				w.acked++
				w.maxAcked = max(w.maxAcked, incr.Val())
			}
		}
		if err != nil {
			w.errs++
			w.lastErrs = append(w.lastErrs, now.Format("15:04:05.000")+" "+err.Error())
			if len(w.lastErrs) > 8 {
				w.lastErrs = w.lastErrs[1:]
			}
		}
		w.mu.Unlock()
	}
}

// mark starts counting successes under name.
func (w *incrWriter) mark(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.okSince == nil {
		w.okSince = map[string]int{}
	}
	w.okSince[name] = 0
}

func (w *incrWriter) counts() (ok, acked int, since map[string]int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	since = map[string]int{}
	for k, v := range w.okSince {
		since[k] = v
	}
	return w.ok, w.acked, since
}

// TestSentinelFailoverClientKeepsWriting: an application using go-redis's
// failover client with the watchdogs' Sentinel addresses writes through a
// SIGKILL of the master, without being recreated, and loses no write that
// a replica acknowledged.
func TestSentinelFailoverClientKeepsWriting(t *testing.T) {
	sg := startSentinelGroup(t, nil)
	ctx := t.Context()
	fc := failoverClient(sg.sb.Group, sg.addrs())
	defer fc.Close()
	w := &incrWriter{c: fc, key: "sentinel:counter"}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.run(ctx, stop)
	}()
	stopped := false
	stopWriter := func() {
		if !stopped {
			close(stop)
			<-done
			stopped = true
		}
	}
	defer stopWriter()

	if err := WaitFor(ctx, 20*time.Second, "50 acknowledged increments through the failover client", func() (bool, error) {
		ok, acked, _ := w.counts()
		return acked >= 50, fmt.Errorf("%d answered, %d acknowledged", ok, acked)
	}); err != nil {
		t.Fatal(err)
	}
	if port, err := serverPort(ctx, fc); err != nil || net.JoinHostPort("127.0.0.1", port) != sg.g.Master {
		t.Fatalf("the failover client talks to port %q (%v), want the master %s", port, err, sg.g.Master)
	}

	old := sg.sb.Node(sg.g.Master)
	began := time.Now()
	w.mark("kill")
	if err := old.Kill(); err != nil {
		t.Fatal(err)
	}
	g, err := WaitForMaster(ctx, sg.sb.LiveWardens(), sg.sb.Group, old.Addr, failoverTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("watchdogs name %s master after %v", g.Master, time.Since(began).Round(time.Millisecond))
	w.mark("announced")
	// Every INCR answered after the kill was answered by a master, and the
	// only master left is the new one (the other replica refuses writes).
	if err := WaitFor(ctx, settleTimeout, "100 increments answered after the new master was announced", func() (bool, error) {
		ok, acked, since := w.counts()
		return since["announced"] >= 100, fmt.Errorf("%d answered (%d since the kill, %d since the announcement), %d acknowledged", ok, since["kill"], since["announced"], acked)
	}); err != nil {
		t.Fatal(err)
	}
	stopWriter()

	if port, err := serverPort(ctx, fc); err != nil || net.JoinHostPort("127.0.0.1", port) != g.Master {
		t.Errorf("after the failover the same client talks to port %q (%v), want the new master %s", port, err, g.Master)
	}
	nm := sg.sb.Node(g.Master)
	if nm == nil {
		t.Fatalf("new master %s is none of the nodes", g.Master)
	}
	rc := nm.Client()
	defer rc.Close()
	final, err := rc.Get(ctx, w.key).Int64()
	if err != nil {
		t.Fatalf("GET %s on the new master %s: %v", w.key, nm.Addr, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	t.Logf("%d INCRs answered, %d acknowledged by WAIT 1 (largest acknowledged value %d); counter on the new master %d; %d failed pipelines; longest time without a successful write %v",
		w.ok, w.acked, w.maxAcked, final, w.errs, w.longestGap.Round(time.Millisecond))
	if len(w.lastErrs) > 0 {
		t.Logf("last errors:\n  %s", strings.Join(w.lastErrs, "\n  "))
	}
	if final < int64(w.acked) {
		t.Errorf("acknowledged increments lost: the counter is %d on the new master, %d increments were acknowledged", final, w.acked)
	}
	if final < w.maxAcked {
		t.Errorf("acknowledged increments lost: the counter is %d on the new master, value %d was acknowledged", final, w.maxAcked)
	}
	if final < int64(w.ok) {
		// Not a guarantee (unacknowledged writes may be lost), but say so.
		t.Logf("%d answered but unacknowledged increments were lost in the failover", int64(w.ok)-final)
	}
}

// redisCLI runs redis-cli against a Sentinel endpoint and returns its
// standard output as lines (redis-cli writes plain output when it is not
// on a terminal: one line per element, nested arrays flattened, an error's
// text as it is, an empty line for null) and its standard error.
func redisCLI(t *testing.T, addr, password string, args ...string) ([]string, string) {
	t.Helper()
	bin, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatalf("redis-cli: %v", err)
	}
	host, port, _ := net.SplitHostPort(addr)
	full := []string{"-h", host, "-p", port}
	if password != "" {
		full = append(full, "-a", password, "--no-auth-warning")
	}
	full = append(full, args...)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, full...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("redis-cli %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	out := strings.TrimRight(stdout.String(), "\n")
	if out == "" {
		return []string{""}, stderr.String()
	}
	return strings.Split(out, "\n"), stderr.String()
}

// cliRecords cuts redis-cli's flattened field/value lines into records,
// each beginning at a "name" field.
func cliRecords(t *testing.T, lines []string) []map[string]string {
	t.Helper()
	if len(lines)%2 != 0 {
		t.Fatalf("odd number of field/value lines: %q", lines)
	}
	var out []map[string]string
	for i := 0; i < len(lines); i += 2 {
		if lines[i] == "name" || len(out) == 0 {
			out = append(out, map[string]string{})
		}
		out[len(out)-1][lines[i]] = lines[i+1]
	}
	return out
}

func wantLines(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s: redis-cli printed %q, want %q", what, got, want)
	}
}

func wantPrefix(t *testing.T, what string, got []string, prefix string) {
	t.Helper()
	if len(got) == 0 || !strings.HasPrefix(got[0], prefix) {
		t.Errorf("%s: redis-cli printed %q, want a line starting %q", what, got, prefix)
	}
}

// TestSentinelRedisCLI drives every command warden answers with redis-cli
// against a live group: w1 and w2 want a password, w3 wants none and
// admits at most two connections.
func TestSentinelRedisCLI(t *testing.T) {
	const pw = "sentinel-e2e-password"
	pwFile := filepath.Join(t.TempDir(), "sentinel-password")
	if err := os.WriteFile(pwFile, []byte(pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sg := startSentinelGroup(t, func(c *config.Config) {
		if c.ID == "w3" {
			c.Sentinel.MaxConnections = 2
			return
		}
		c.Sentinel.PasswordFile = pwFile
	})
	ctx := t.Context()
	open, locked := sg.addr["w3"], sg.addr["w1"]
	master := sg.sb.Node(sg.g.Master)
	mh, mp, _ := net.SplitHostPort(master.Addr)
	group := sg.sb.Group

	// Connection commands.
	out, _ := redisCLI(t, open, "", "PING")
	wantLines(t, "PING", out, "PONG")
	out, _ = redisCLI(t, open, "", "PING", "hello")
	wantLines(t, "PING hello", out, "hello")
	out, _ = redisCLI(t, open, "", "HELLO", "3")
	wantPrefix(t, "HELLO 3", out, "NOPROTO")
	out, _ = redisCLI(t, open, "", "AUTH", "x")
	wantPrefix(t, "AUTH x without a password configured", out, "ERR AUTH <password> called without any password configured")
	out, _ = redisCLI(t, open, "", "CLIENT", "SETNAME", "my-app")
	wantLines(t, "CLIENT SETNAME", out, "OK")

	// Password: NOAUTH before AUTH, WRONGPASS for a wrong one.
	out, _ = redisCLI(t, locked, "", "PING")
	wantPrefix(t, "PING without the password", out, "NOAUTH Authentication required.")
	out, _ = redisCLI(t, locked, "", "SENTINEL", "get-master-addr-by-name", group)
	wantPrefix(t, "get-master-addr-by-name without the password", out, "NOAUTH")
	out, errOut := redisCLI(t, locked, "wrong-password", "PING")
	if !strings.Contains(errOut, "WRONGPASS") {
		t.Errorf("redis-cli -a wrong-password: stderr %q, want WRONGPASS", errOut)
	}
	wantPrefix(t, "PING after a wrong password", out, "NOAUTH")
	out, _ = redisCLI(t, locked, pw, "PING")
	wantLines(t, "PING with the password", out, "PONG")
	out, _ = redisCLI(t, locked, "", "AUTH", "wrong-password")
	wantPrefix(t, "AUTH wrong-password", out, "WRONGPASS")
	out, _ = redisCLI(t, locked, "", "AUTH", pw)
	wantLines(t, "AUTH with the password", out, "OK")
	out, _ = redisCLI(t, locked, "", "AUTH", "default", pw)
	wantLines(t, "AUTH default with the password", out, "OK")

	// ROLE and INFO.
	out, _ = redisCLI(t, open, "", "ROLE")
	wantLines(t, "ROLE", out, "sentinel", group)
	out, _ = redisCLI(t, locked, pw, "INFO")
	info := strings.Join(out, "\n")
	for _, want := range []string{"# Sentinel", "redis_mode:sentinel", "sentinel_masters:1",
		fmt.Sprintf("master0:name=%s,status=ok,address=%s,slaves=2,sentinels=3", group, master.Addr)} {
		if !strings.Contains(info, want) {
			t.Errorf("INFO lacks %q:\n%s", want, info)
		}
	}

	// SENTINEL get-master-addr-by-name, known and unknown.
	for id, a := range sg.addr {
		out, _ = redisCLI(t, a, sg.pw[id], "SENTINEL", "get-master-addr-by-name", group)
		wantLines(t, id+" get-master-addr-by-name", out, mh, mp)
	}
	out, _ = redisCLI(t, open, "", "SENTINEL", "get-master-addr-by-name", "no-such-group")
	wantLines(t, "get-master-addr-by-name of an unknown group (null)", out, "")

	// SENTINEL masters and master: the real master's run id, its two
	// replicas, the two other watchdogs, the epoch.
	runID := ParseInfo(redisInfo(t, master, "server"))["run_id"]
	wantMaster := map[string]string{"name": group, "ip": mh, "port": mp, "runid": runID, "flags": "master",
		"num-slaves": "2", "num-other-sentinels": "2", "quorum": "2", "config-epoch": strconv.FormatUint(sg.g.Epoch, 10)}
	out, _ = redisCLI(t, open, "", "SENTINEL", "masters")
	if recs := cliRecords(t, out); len(recs) != 1 {
		t.Errorf("SENTINEL masters: %d records, want 1: %q", len(recs), out)
	} else {
		checkRecord(t, "SENTINEL masters", recs[0], wantMaster)
	}
	out, _ = redisCLI(t, locked, pw, "SENTINEL", "master", group)
	if recs := cliRecords(t, out); len(recs) != 1 {
		t.Errorf("SENTINEL master: %d records, want 1: %q", len(recs), out)
	} else {
		checkRecord(t, "SENTINEL master", recs[0], wantMaster)
		for _, k := range []string{"link-pending-commands", "down-after-milliseconds", "failover-timeout", "parallel-syncs", "role-reported"} {
			if _, ok := recs[0][k]; !ok {
				t.Errorf("SENTINEL master lacks %s: %v", k, recs[0])
			}
		}
	}
	out, _ = redisCLI(t, open, "", "SENTINEL", "master", "no-such-group")
	wantLines(t, "SENTINEL master of an unknown group", out, "ERR No such master with that name")

	// SENTINEL replicas and slaves: both replicas, with their real run ids
	// and offsets near their own. The offsets come from the probes: wait
	// until one has run since the keys were written.
	err := WaitFor(t.Context(), 5*time.Second, "SENTINEL replicas to show the replicas' offsets", func() (bool, error) {
		out, _ := redisCLI(t, open, "", "SENTINEL", "replicas", group)
		for _, rec := range cliRecords(t, out) {
			if off, err := strconv.ParseInt(rec["slave-repl-offset"], 10, 64); err != nil || off <= 0 {
				return false, fmt.Errorf("%s: slave-repl-offset %q", rec["name"], rec["slave-repl-offset"])
			}
		}
		return true, nil
	})
	if err != nil {
		t.Error(err)
	}
	for _, sub := range []string{"replicas", "slaves"} {
		out, _ = redisCLI(t, open, "", "SENTINEL", sub, group)
		recs := cliRecords(t, out)
		if len(recs) != 2 {
			t.Errorf("SENTINEL %s: %d records, want 2: %q", sub, len(recs), out)
			continue
		}
		for _, rec := range recs {
			r := sg.sb.Node(rec["name"])
			if r == nil || r == master {
				t.Errorf("SENTINEL %s lists %q, not a replica", sub, rec["name"])
				continue
			}
			h, p, _ := net.SplitHostPort(r.Addr)
			rinfo := ParseInfo(redisInfo(t, r, "server"))
			checkRecord(t, "SENTINEL "+sub+" "+r.Addr, rec, map[string]string{
				"ip": h, "port": p, "runid": rinfo["run_id"], "flags": "slave", "master-link-status": "ok",
				"master-host": mh, "master-port": mp, "role-reported": "slave",
			})
			if off, err := strconv.ParseInt(rec["slave-repl-offset"], 10, 64); err != nil || off <= 0 {
				t.Errorf("SENTINEL %s %s: slave-repl-offset %q, want a positive offset", sub, r.Addr, rec["slave-repl-offset"])
			}
		}
	}

	// SENTINEL sentinels: the two others, by their Sentinel addresses.
	out, _ = redisCLI(t, open, "", "SENTINEL", "sentinels", group)
	recs := cliRecords(t, out)
	var listed []string
	for _, r := range recs {
		listed = append(listed, r["name"]+"="+net.JoinHostPort(r["ip"], r["port"]))
		if r["flags"] != "sentinel" {
			t.Errorf("SENTINEL sentinels: %v has flags %q", r, r["flags"])
		}
	}
	if want := "w1=" + sg.addr["w1"] + ",w2=" + sg.addr["w2"]; strings.Join(listed, ",") != want {
		t.Errorf("w3's SENTINEL sentinels: %q, want %s", listed, want)
	}

	// SENTINEL ckquorum, myid; errors.
	out, _ = redisCLI(t, open, "", "SENTINEL", "ckquorum", group)
	wantPrefix(t, "SENTINEL ckquorum", out, "OK 3 usable watchdogs")
	out, _ = redisCLI(t, open, "", "SENTINEL", "ckquorum", "no-such-group")
	wantLines(t, "SENTINEL ckquorum of an unknown group", out, "ERR No such master with that name")
	out, _ = redisCLI(t, locked, pw, "SENTINEL", "myid")
	wantLines(t, "SENTINEL myid", out, "w1")
	out, _ = redisCLI(t, open, "", "FOO", "bar")
	wantLines(t, "FOO bar", out, "ERR unknown command 'FOO', with args beginning with: 'bar' ")
	out, _ = redisCLI(t, open, "", "SENTINEL", "bogus")
	wantPrefix(t, "SENTINEL bogus", out, "ERR unknown sentinel subcommand 'bogus'")

	// Malformed input closes that connection only.
	bad, err := net.DialTimeout("tcp", open, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(bad, "*x\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = bad.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, _ := io.ReadAll(bad)
	bad.Close()
	if string(got) != "-ERR Protocol error: invalid multibulk length\r\n" {
		t.Errorf("malformed input: the server sent %q, want the protocol error and the end of the connection", got)
	}
	out, _ = redisCLI(t, open, "", "PING")
	wantLines(t, "PING after malformed input", out, "PONG")

	// Connection limit: w3 admits two.
	var held []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.DialTimeout("tcp", open, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
		if _, err := io.WriteString(c, "PING\r\n"); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 7)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "+PONG\r\n" {
			t.Fatalf("held connection %d: %q, %v", i, buf, err)
		}
	}
	out, _ = redisCLI(t, open, "", "PING")
	wantLines(t, "a third client", out, "ERR max number of clients reached")
	for _, c := range held {
		c.Close()
	}
	if err := WaitFor(ctx, 10*time.Second, "w3 to admit a client again", func() (bool, error) {
		out, _ := redisCLI(t, open, "", "PING")
		return len(out) == 1 && out[0] == "PONG", fmt.Errorf("redis-cli printed %q", out)
	}); err != nil {
		t.Fatal(err)
	}

	// SENTINEL failover on a member that may not lead: a planned
	// switchover, passed on to the leader.
	leader, err := WaitForLeader(ctx, sg.sb.Wardens, startTimeout)
	if err != nil {
		t.Fatal(err)
	}
	var follower *Warden
	for _, w := range sg.sb.Wardens {
		if w != leader {
			follower = w
			break
		}
	}
	out, _ = redisCLI(t, sg.addr[follower.ID], sg.pw[follower.ID], "SENTINEL", "failover", group)
	wantLines(t, "SENTINEL failover on follower "+follower.ID, out, "OK")
	g, err := WaitForMaster(ctx, sg.sb.Wardens, group, master.Addr, failoverTimeout)
	if err != nil {
		t.Fatal(err)
	}
	nh, np, _ := net.SplitHostPort(g.Master)
	if err := WaitFor(ctx, settleTimeout, "every endpoint to name the new master "+g.Master, func() (bool, error) {
		for id, a := range sg.addr {
			out, _ := redisCLI(t, a, sg.pw[id], "SENTINEL", "get-master-addr-by-name", group)
			if strings.Join(out, ":") != nh+":"+np {
				return false, fmt.Errorf("%s says %q", id, out)
			}
		}
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := sg.sb.Node(g.Master).WaitForRole(ctx, "master", settleTimeout); err != nil {
		t.Fatal(err)
	}
	if err := master.WaitForReplica(ctx, g.Master, settleTimeout); err != nil {
		t.Fatal(err)
	}
	if err := checkKeys(ctx, sg.sb.Node(g.Master), "k", nKeys); err != nil {
		t.Fatalf("after SENTINEL failover: %v", err)
	}
}

// checkRecord compares the listed fields ("" for the value: only present).
func checkRecord(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			t.Errorf("%s lacks %s: %v", what, k, got)
		case w != "" && g != w:
			t.Errorf("%s: %s = %q, want %q", what, k, g, w)
		}
	}
}

// redisInfo is INFO section on a node.
func redisInfo(t *testing.T, r *Redis, section string) string {
	t.Helper()
	c := r.Client()
	defer c.Close()
	s, err := c.Info(t.Context(), section).Result()
	if err != nil {
		t.Fatalf("INFO %s on %s: %v", section, r.Addr, err)
	}
	return s
}

// TestSentinelSwitchMasterWithWatchdogKilled: a client subscribed to
// +switch-master on one watchdog hears of the failover in Sentinel's
// format, and failover clients whose first (or only configured) Sentinel
// is the watchdog leader, SIGKILLed during the failover, reach the new
// master through the other watchdogs.
func TestSentinelSwitchMasterWithWatchdogKilled(t *testing.T) {
	sg := startSentinelGroup(t, nil)
	ctx := t.Context()
	leader, err := WaitForLeader(ctx, sg.sb.Wardens, startTimeout)
	if err != nil {
		t.Fatal(err)
	}
	var listener *Warden
	var others []string
	for _, w := range sg.sb.Wardens {
		if w != leader {
			others = append(others, sg.addr[w.ID])
			if listener == nil {
				listener = w
			}
		}
	}

	sub := sentinelAt(sg.addr[listener.ID], "")
	defer sub.Close()
	ps := sub.Subscribe(ctx, "+switch-master", "+odown", "+try-failover", "+failover-end")
	defer ps.Close()
	for i := 0; i < 4; i++ {
		if _, err := ps.Receive(ctx); err != nil {
			t.Fatalf("subscription confirmation %d on %s: %v", i, listener.ID, err)
		}
	}
	msgs := ps.Channel()

	// Client A knows only the leader's Sentinel address and learns the
	// others from SENTINEL sentinels; client B lists the leader first.
	onlyLeader := failoverClient(sg.sb.Group, []string{sg.addr[leader.ID]})
	defer onlyLeader.Close()
	leaderFirst := failoverClient(sg.sb.Group, append([]string{sg.addr[leader.ID]}, others...))
	defer leaderFirst.Close()
	clients := map[string]*redis.Client{"client with only " + leader.ID: onlyLeader, "client with " + leader.ID + " first": leaderFirst}
	for name, c := range clients {
		if err := c.Set(ctx, "sentinel:before", name, 0).Err(); err != nil {
			t.Fatalf("%s: SET before the failover: %v", name, err)
		}
	}

	old := sg.sb.Node(sg.g.Master)
	oh, op, _ := net.SplitHostPort(old.Addr)
	began := time.Now()
	if err := old.Kill(); err != nil {
		t.Fatal(err)
	}
	// Kill the leader as soon as the listener announces the failover's
	// first step.
	var switchMsg string
	deadline := time.NewTimer(failoverTimeout)
	defer deadline.Stop()
	leaderKilled := false
	var seen []string
	for switchMsg == "" {
		select {
		case m, ok := <-msgs:
			if !ok {
				t.Fatalf("subscription on %s ended; messages so far: %q", listener.ID, seen)
			}
			seen = append(seen, fmt.Sprintf("%v %s %s", time.Since(began).Round(time.Millisecond), m.Channel, m.Payload))
			if !leaderKilled {
				if err := leader.Kill(); err != nil {
					t.Fatal(err)
				}
				leaderKilled = true
				t.Logf("SIGKILLed watchdog leader %s on %s %q, %v after the master", leader.ID, m.Channel, m.Payload, time.Since(began).Round(time.Millisecond))
			}
			if m.Channel == "+switch-master" {
				switchMsg = m.Payload
			}
		case <-deadline.C:
			t.Fatalf("no +switch-master on %s within %v of the master's death; messages: %q", listener.ID, failoverTimeout, seen)
		}
	}
	t.Logf("messages on %s: %q", listener.ID, seen)
	g, err := WaitForMaster(ctx, sg.sb.LiveWardens(), sg.sb.Group, old.Addr, failoverTimeout)
	if err != nil {
		t.Fatal(err)
	}
	nh, np, _ := net.SplitHostPort(g.Master)
	if want := strings.Join([]string{sg.sb.Group, oh, op, nh, np}, " "); switchMsg != want {
		t.Errorf("+switch-master %q, want %q", switchMsg, want)
	}
	if !leaderKilled {
		t.Fatal("the leader was never killed")
	}

	// Both clients at once: each must write to the new master, through
	// the same client object.
	var wg sync.WaitGroup
	for name, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var errs []string
			err := WaitFor(ctx, settleTimeout, name+" to write to the new master "+g.Master, func() (bool, error) {
				err := c.Set(ctx, "sentinel:after", name, 0).Err()
				if err == nil {
					var port string
					if port, err = serverPort(ctx, c); err == nil && port != np {
						err = fmt.Errorf("connected to port %s", port)
					}
				}
				if err != nil {
					line := err.Error()
					if len(errs) == 0 || !strings.HasSuffix(errs[len(errs)-1], line) {
						errs = append(errs, fmt.Sprintf("%v %s", time.Since(began).Round(time.Millisecond), line))
					}
					return false, err
				}
				return true, nil
			})
			if err != nil {
				t.Errorf("%v\nerrors seen by the client: %q", err, errs)
				return
			}
			t.Logf("%s writes to %s %v after the master's death; errors on the way: %q", name, g.Master, time.Since(began).Round(time.Millisecond), errs)
		}()
	}
	wg.Wait()
}

package watchdog

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"github.com/tidwall/redcon"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"warden/raftstore"
)

// The Sentinel-endpoint tests run a sentinelServer on a loopback port in
// front of a Service on a single-member in-memory Raft node (newLeader),
// and talk to it as clients do: go-redis (SentinelClient, PubSub) for what
// client libraries parse, and raw RESP for the exact bytes. No Redis runs:
// the group's state is applied to the FSM and the watchdogs' views are
// seeded (seedView), as in the API tests.

// Addresses of the test group; nothing listens there.
const (
	sentMaster = "10.0.9.1:6379"
	sentRep1   = "10.0.9.2:6380"
	sentRep2   = "10.0.9.3:6381"
)

// sentinelEndpoint serves ss on a fresh loopback listener the way
// runSentinel does (same accept hook, same publisher, same connection
// limit) and stops it when t ends.
func sentinelEndpoint(t *testing.T, s *Service, password string, maxConns int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ss := &sentinelServer{s: s, password: password, ln: newLimitListener(ln, maxConns)}
	ss.srv = redcon.NewServerNetwork("tcp", ln.Addr().String(), ss.handle,
		func(c redcon.Conn) bool { c.SetContext(&sentinelConn{}); return true }, nil)
	ctx, cancel := context.WithCancel(context.Background())
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		ss.publish(ctx)
	}()
	srvDone := make(chan error, 1)
	go func() { srvDone <- ss.srv.Serve(ss.ln) }()
	t.Cleanup(func() {
		cancel()
		_ = ss.srv.Close()
		ss.ln.closeAll()
		<-pubDone
		if err := <-srvDone; err != nil {
			t.Errorf("sentinel server: %v", err)
		}
	})
	return ln.Addr().String()
}

// sentinelGroup is a leader holding group "g" (sentMaster and two
// replicas, master known at epoch 3) and "h" (no master yet), with the
// Sentinel endpoint on a loopback port.
type sentinelGroup struct {
	m    *apiMember
	addr string
}

func newSentinelGroup(t *testing.T, password string, maxConns int) *sentinelGroup {
	t.Helper()
	m := newLeader(t, "")
	now := time.Now()
	m.apply(t, &raftstore.GroupsEnsure{Groups: []raftstore.GroupSpec{
		{Name: "g", Nodes: []string{sentMaster, sentRep1, sentRep2}},
		{Name: "h", Nodes: []string{"10.0.8.1:6379", "10.0.8.2:6379"}},
	}, At: now})
	m.apply(t, &raftstore.MasterDiscovered{Group: "g", Master: sentMaster, RunID: "run-master-1", Epoch: 3, Reason: "test", At: now})
	if maxConns == 0 {
		maxConns = m.s.cfg.Sentinel.MaxConnections
	}
	m.s.cfg.Sentinel.Listen = "127.0.0.1:26379"
	return &sentinelGroup{m: m, addr: sentinelEndpoint(t, m.s, password, maxConns)}
}

// seedHealthy gives "g" fresh views from w1 and w2: master up, both
// replicas following it with their links up, at different offsets.
func (sg *sentinelGroup) seedHealthy(t *testing.T) {
	t.Helper()
	r1, r2 := obsReplica(sentMaster, 100), obsReplica(sentMaster, 10)
	r1.Offset, r2.Offset = 4242, 4100
	sg.m.seedView(t, "g", twoReporters(map[string]Obs{sentMaster: obsMaster(), sentRep1: r1, sentRep2: r2}), time.Now())
}

// sentinelClient is a go-redis Sentinel client as client libraries build
// it, speaking RESP2.
func sentinelClient(t *testing.T, addr, password string) *redis.SentinelClient {
	t.Helper()
	c := redis.NewSentinelClient(&redis.Options{
		Addr: addr, Password: password, Protocol: 2, DisableIdentity: true,
		DialTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: time.Second, MaxRetries: -1,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// respValue is one RESP2 reply.
type respValue struct {
	kind byte // + - : $ *
	str  string
	n    int64
	null bool
	arr  []respValue
}

func (v respValue) String() string {
	switch {
	case v.null:
		return fmt.Sprintf("%cnull", v.kind)
	case v.kind == '*':
		parts := make([]string, len(v.arr))
		for i, e := range v.arr {
			parts[i] = e.String()
		}
		return "[" + strings.Join(parts, " ") + "]"
	case v.kind == ':':
		return fmt.Sprintf(":%d", v.n)
	}
	return fmt.Sprintf("%c%q", v.kind, v.str)
}

// strings returns the elements of an array of bulk strings.
func (v respValue) strings(t *testing.T) []string {
	t.Helper()
	if v.kind != '*' || v.null {
		t.Fatalf("reply %s is not an array", v)
	}
	out := make([]string, len(v.arr))
	for i, e := range v.arr {
		if e.kind != '$' || e.null {
			t.Fatalf("element %d of %s is not a bulk string", i, v)
		}
		out[i] = e.str
	}
	return out
}

// respConn is a raw RESP connection.
type respConn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialRESP(t *testing.T, addr string) *respConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &respConn{t: t, c: c, r: bufio.NewReader(c)}
}

// raw writes bytes as they are.
func (rc *respConn) raw(s string) {
	rc.t.Helper()
	if err := rc.c.SetWriteDeadline(time.Now().Add(2 * time.Second)); err != nil {
		rc.t.Fatal(err)
	}
	if _, err := io.WriteString(rc.c, s); err != nil {
		rc.t.Fatalf("write: %v", err)
	}
}

// send writes one command as a RESP array of bulk strings.
func (rc *respConn) send(args ...string) {
	rc.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	rc.raw(b.String())
}

// do sends a command and reads its reply.
func (rc *respConn) do(args ...string) respValue {
	rc.t.Helper()
	rc.send(args...)
	return rc.read()
}

// read reads one reply, failing the test after 2 seconds.
func (rc *respConn) read() respValue {
	rc.t.Helper()
	v, err := rc.readWithin(2 * time.Second)
	if err != nil {
		rc.t.Fatalf("read a reply: %v", err)
	}
	return v
}

func (rc *respConn) readWithin(d time.Duration) (respValue, error) {
	if err := rc.c.SetReadDeadline(time.Now().Add(d)); err != nil {
		return respValue{}, err
	}
	return readRESP(rc.r)
}

// expectClosed checks that the server closes the connection.
func (rc *respConn) expectClosed(what string) {
	rc.t.Helper()
	v, err := rc.readWithin(2 * time.Second)
	if !errors.Is(err, io.EOF) {
		rc.t.Fatalf("%s: want the connection closed (EOF), got %s, %v", what, v, err)
	}
}

func readRESP(r *bufio.Reader) (respValue, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return respValue{}, err
	}
	if len(line) < 3 || !strings.HasSuffix(line, "\r\n") {
		return respValue{}, fmt.Errorf("bad RESP line %q", line)
	}
	v := respValue{kind: line[0]}
	body := line[1 : len(line)-2]
	switch v.kind {
	case '+', '-':
		v.str = body
	case ':':
		v.n, err = strconv.ParseInt(body, 10, 64)
	case '$':
		n, perr := strconv.Atoi(body)
		if perr != nil {
			return v, perr
		}
		if n < 0 {
			v.null = true
			return v, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return v, err
		}
		v.str = string(buf[:n])
	case '*':
		n, perr := strconv.Atoi(body)
		if perr != nil {
			return v, perr
		}
		if n < 0 {
			v.null = true
			return v, nil
		}
		for i := 0; i < n; i++ {
			e, err := readRESP(r)
			if err != nil {
				return v, err
			}
			v.arr = append(v.arr, e)
		}
	default:
		return v, fmt.Errorf("unknown RESP type in %q", line)
	}
	return v, err
}

func wantStatus(t *testing.T, what string, v respValue, want string) {
	t.Helper()
	if v.kind != '+' || v.str != want {
		t.Errorf("%s: reply %s, want +%s", what, v, want)
	}
}

func wantError(t *testing.T, what string, v respValue, prefix string) {
	t.Helper()
	if v.kind != '-' || !strings.HasPrefix(v.str, prefix) {
		t.Errorf("%s: reply %s, want an error starting %q", what, v, prefix)
	}
}

func wantBulk(t *testing.T, what string, v respValue, want string) {
	t.Helper()
	if v.kind != '$' || v.null || v.str != want {
		t.Errorf("%s: reply %s, want bulk %q", what, v, want)
	}
}

// fieldMap reads a flat field/value array.
func fieldMap(t *testing.T, v respValue) map[string]string {
	t.Helper()
	s := v.strings(t)
	if len(s)%2 != 0 {
		t.Fatalf("field list %s has an odd length", v)
	}
	m := map[string]string{}
	for i := 0; i < len(s); i += 2 {
		if _, dup := m[s[i]]; dup {
			t.Errorf("field %q appears twice in %s", s[i], v)
		}
		m[s[i]] = s[i+1]
	}
	return m
}

// wantFields checks the listed fields' values ("" skips the value check,
// only the field must be there).
func wantFields(t *testing.T, what string, got map[string]string, want map[string]string) {
	t.Helper()
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			t.Errorf("%s: field %q missing (fields: %v)", what, k, got)
		case w != "" && g != w:
			t.Errorf("%s: %s = %q, want %q", what, k, g, w)
		}
	}
}

func TestSentinelPingAndHello(t *testing.T) {
	sg := newSentinelGroup(t, "", 0)
	c := dialRESP(t, sg.addr)
	wantStatus(t, "PING", c.do("PING"), "PONG")
	wantBulk(t, "PING hello", c.do("PING", "hello there"), "hello there")
	wantStatus(t, "lower-case ping", c.do("ping"), "PONG")
	// HELLO is refused with an error: a RESP3 client falls back to RESP2.
	wantError(t, "HELLO 3", c.do("HELLO", "3"), "NOPROTO")
	wantError(t, "HELLO 3 AUTH", c.do("HELLO", "3", "AUTH", "default", "x"), "NOPROTO")
	wantStatus(t, "PING after HELLO", c.do("PING"), "PONG")

	// go-redis with its default protocol (3) sends HELLO 3 first, gets the
	// error and carries on in RESP2.
	gc := redis.NewSentinelClient(&redis.Options{Addr: sg.addr, DialTimeout: time.Second, ReadTimeout: 2 * time.Second})
	defer gc.Close()
	if got, err := gc.Ping(t.Context()).Result(); err != nil || got != "PONG" {
		t.Errorf("go-redis (RESP3 by default) PING: %q, %v", got, err)
	}
	if got, err := gc.GetMasterAddrByName(t.Context(), "g").Result(); err != nil || len(got) != 2 {
		t.Errorf("go-redis (RESP3 by default) get-master-addr-by-name: %q, %v", got, err)
	}
}

func TestSentinelAuthWithoutPassword(t *testing.T) {
	sg := newSentinelGroup(t, "", 0)
	c := dialRESP(t, sg.addr)
	// Every command works without AUTH; AUTH itself is Redis's error.
	wantStatus(t, "PING", c.do("PING"), "PONG")
	wantError(t, "AUTH x", c.do("AUTH", "x"), "ERR AUTH <password> called without any password configured")
	wantError(t, "AUTH", c.do("AUTH"), "ERR wrong number of arguments for 'auth' command")
	if got := c.do("SENTINEL", "get-master-addr-by-name", "g").strings(t); len(got) != 2 {
		t.Errorf("get-master-addr-by-name after a refused AUTH: %q", got)
	}
}

func TestSentinelAuthWithPassword(t *testing.T) {
	const pw = "sentinel-secret-1"
	sg := newSentinelGroup(t, pw, 0)
	c := dialRESP(t, sg.addr)

	// Before AUTH: everything but AUTH, HELLO and QUIT is refused.
	for _, cmd := range [][]string{
		{"PING"}, {"SENTINEL", "get-master-addr-by-name", "g"}, {"SENTINEL", "masters"},
		{"ROLE"}, {"INFO"}, {"CLIENT", "SETNAME", "x"}, {"SUBSCRIBE", "+switch-master"}, {"NOSUCHCOMMAND"},
	} {
		wantError(t, strings.Join(cmd, " ")+" before AUTH", c.do(cmd...), "NOAUTH Authentication required.")
	}
	wantError(t, "HELLO before AUTH", c.do("HELLO", "3"), "NOPROTO")
	wantError(t, "AUTH wrong", c.do("AUTH", "wrong"), "WRONGPASS invalid username-password pair or user is disabled.")
	wantError(t, "AUTH default wrong", c.do("AUTH", "default", "wrong"), "WRONGPASS")
	wantError(t, "AUTH with a prefix of the password", c.do("AUTH", pw[:len(pw)-1]), "WRONGPASS")
	wantError(t, "PING after a wrong AUTH", c.do("PING"), "NOAUTH")
	wantStatus(t, "AUTH right", c.do("AUTH", pw), "OK")
	wantStatus(t, "PING after AUTH", c.do("PING"), "PONG")
	if got := c.do("SENTINEL", "get-master-addr-by-name", "g").strings(t); len(got) != 2 {
		t.Errorf("get-master-addr-by-name after AUTH: %q", got)
	}

	// AUTH username password (the ACL form clients send with a user).
	c2 := dialRESP(t, sg.addr)
	wantStatus(t, "AUTH default right", c2.do("AUTH", "default", pw), "OK")
	wantStatus(t, "PING after AUTH default", c2.do("PING"), "PONG")

	// Authentication belongs to the connection.
	c3 := dialRESP(t, sg.addr)
	wantError(t, "PING on a new connection", c3.do("PING"), "NOAUTH")
	// QUIT is allowed before AUTH and closes the connection.
	wantStatus(t, "QUIT", c3.do("QUIT"), "OK")
	c3.expectClosed("after QUIT")

	// go-redis: HELLO fails, AUTH succeeds, commands work; without the
	// password the client gets NOAUTH; with a wrong one, WRONGPASS.
	ctx := t.Context()
	if got, err := sentinelClient(t, sg.addr, pw).GetMasterAddrByName(ctx, "g").Result(); err != nil || len(got) != 2 {
		t.Errorf("go-redis with the password: %q, %v", got, err)
	}
	if _, err := sentinelClient(t, sg.addr, "").GetMasterAddrByName(ctx, "g").Result(); err == nil || !strings.HasPrefix(err.Error(), "NOAUTH") {
		t.Errorf("go-redis without the password: err %v, want NOAUTH", err)
	}
	if _, err := sentinelClient(t, sg.addr, "nope").GetMasterAddrByName(ctx, "g").Result(); err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Errorf("go-redis with a wrong password: err %v, want WRONGPASS", err)
	}
}

func TestSentinelClientCommands(t *testing.T) {
	sg := newSentinelGroup(t, "", 0)
	c := dialRESP(t, sg.addr)
	wantStatus(t, "CLIENT SETNAME", c.do("CLIENT", "SETNAME", "my-app"), "OK")
	wantStatus(t, "CLIENT SETINFO", c.do("CLIENT", "SETINFO", "LIB-NAME", "go-redis"), "OK")
	if v := c.do("CLIENT", "ID"); v.kind != ':' {
		t.Errorf("CLIENT ID: %s, want an integer", v)
	}
	if v := c.do("CLIENT", "GETNAME"); v.kind != '$' || !v.null {
		t.Errorf("CLIENT GETNAME: %s, want a null bulk string", v)
	}
	if v := c.do("COMMAND"); v.kind != '*' || v.null {
		t.Errorf("COMMAND: %s, want an array", v)
	}
	if v := c.do("SENTINEL", "myid"); v.kind != '$' || v.str != "w1" {
		t.Errorf("SENTINEL myid: %s, want \"w1\"", v)
	}
}

func TestSentinelRole(t *testing.T) {
	sg := newSentinelGroup(t, "", 0)
	c := dialRESP(t, sg.addr)
	v := c.do("ROLE")
	if v.kind != '*' || len(v.arr) != 2 {
		t.Fatalf("ROLE: %s, want [\"sentinel\", [names]]", v)
	}
	wantBulk(t, "ROLE[0]", v.arr[0], "sentinel")
	if got := v.arr[1].strings(t); strings.Join(got, ",") != "g,h" {
		t.Errorf("ROLE names %q, want [g h]", got)
	}
	// go-redis reads it as a two-element slice.
	rc := redis.NewClient(&redis.Options{Addr: sg.addr, Protocol: 2, DisableIdentity: true})
	defer rc.Close()
	if got, err := rc.Do(t.Context(), "ROLE").Slice(); err != nil || len(got) != 2 || got[0] != "sentinel" {
		t.Errorf("go-redis ROLE: %v, %v", got, err)
	}
}

func TestSentinelInfo(t *testing.T) {
	sg := newSentinelGroup(t, "", 0)
	sg.seedHealthy(t)
	sg.m.s.receive(Report{From: "w2", Sentinel: "127.0.0.1:26380"})
	c := dialRESP(t, sg.addr)
	for _, args := range [][]string{{"INFO"}, {"INFO", "sentinel"}} {
		v := c.do(args...)
		if v.kind != '$' || v.null {
			t.Fatalf("%v: %s, want a bulk string", args, v)
		}
		for _, want := range []string{
			"# Server\r\n", "redis_mode:sentinel\r\n", "tcp_port:26379\r\n",
			"# Clients\r\n", "connected_clients:1\r\n",
			"# Sentinel\r\n", "sentinel_masters:2\r\n", "sentinel_tilt:0\r\n",
			"master0:name=g,status=ok,address=" + sentMaster + ",slaves=2,sentinels=2\r\n",
			"master1:name=h,",
		} {
			if !strings.Contains(v.str, want) {
				t.Errorf("%v lacks %q:\n%s", args, want, v.str)
			}
		}
		if !strings.HasPrefix(v.str, "# Server\r\n") {
			t.Errorf("%v does not start with a section header:\n%s", args, v.str)
		}
		info := ParseInfo(v.str)
		if info["sentinel_masters"] != "2" {
			t.Errorf("ParseInfo(%v) sentinel_masters = %q", args, info["sentinel_masters"])
		}
	}
	// A master the watchdogs see objectively down is status=odown.
	sg.m.seedView(t, "g", twoReporters(map[string]Obs{sentMaster: obsDown(), sentRep1: obsReplica(sentMaster, 100), sentRep2: obsReplica(sentMaster, 100)}), time.Now())
	if v := c.do("INFO"); !strings.Contains(v.str, "master0:name=g,status=odown,") {
		t.Errorf("INFO with the master odown:\n%s", v.str)
	}
}

func TestSentinelGetMasterAddrByName(t *testing.T) {
	sg := newSentinelGroup(t, "", 0)
	c := dialRESP(t, sg.addr)
	v := c.do("SENTINEL", "get-master-addr-by-name", "g")
	if got := v.strings(t); len(got) != 2 || got[0] != "10.0.9.1" || got[1] != "6379" {
		t.Errorf("get-master-addr-by-name g: %q, want [10.0.9.1 6379]", got)
	}
	// The subcommand is case-insensitive, the name is not.
	if got := c.do("sentinel", "GET-MASTER-ADDR-BY-NAME", "g").strings(t); len(got) != 2 {
		t.Errorf("upper-case subcommand: %q", got)
	}
	for _, name := range []string{"nope", "G", "h"} { // unknown, wrong case, no master yet
		if v := c.do("SENTINEL", "get-master-addr-by-name", name); !v.null || (v.kind != '*' && v.kind != '$') {
			t.Errorf("get-master-addr-by-name %s: %s, want a null reply", name, v)
		}
	}
	wantError(t, "get-master-addr-by-name without a name", c.do("SENTINEL", "get-master-addr-by-name"), "ERR wrong number of arguments")
	t.Run("null array as Redis Sentinel sends", func(t *testing.T) {
		// Redis 7.0's Sentinel answers an unknown name with a null array
		// (*-1), byte for byte.
		if v := c.do("SENTINEL", "get-master-addr-by-name", "nope"); v.kind != '*' || !v.null {
			t.Errorf("get-master-addr-by-name nope: %s, want *-1", v)
		}
	})

	ctx := t.Context()
	sc := sentinelClient(t, sg.addr, "")
	if got, err := sc.GetMasterAddrByName(ctx, "g").Result(); err != nil || strings.Join(got, ":") != sentMaster {
		t.Errorf("go-redis get-master-addr-by-name g: %q, %v", got, err)
	}
	if got, err := sc.GetMasterAddrByName(ctx, "nope").Result(); !errors.Is(err, redis.Nil) {
		t.Errorf("go-redis get-master-addr-by-name nope: %q, %v; want redis.Nil", got, err)
	}

	// After a promotion, the new address.
	sg.promote(t, sentRep1)
	if got, err := sc.GetMasterAddrByName(ctx, "g").Result(); err != nil || strings.Join(got, ":") != sentRep1 {
		t.Errorf("get-master-addr-by-name after the promotion: %q, %v; want %s", got, err, sentRep1)
	}
}

// promote records a failover of "g" to addr up to the promotion (as the
// leader does), and returns the failover's epoch.
func (sg *sentinelGroup) promote(t *testing.T, addr string) uint64 {
	t.Helper()
	g := sg.m.group(t, "g")
	epoch := g.Epoch + 1
	now := time.Now()
	sg.m.apply(t, &raftstore.FailoverBegin{Group: "g", Failover: raftstore.Failover{
		Kind: raftstore.KindFailover, Cause: raftstore.CauseODown, Epoch: epoch, From: g.Master, To: addr,
		Reason: "test: master down", Leader: "w1",
	}, At: now})
	sg.m.apply(t, &raftstore.FailoverPromoted{Group: "g", Epoch: epoch, RunID: "run-new", At: now})
	return epoch
}

func (sg *sentinelGroup) endFailover(t *testing.T, epoch uint64) {
	t.Helper()
	sg.m.apply(t, &raftstore.FailoverEnd{Group: "g", Epoch: epoch, OK: true, At: time.Now()})
}

func TestSentinelMasters(t *testing.T) {
	sg := newSentinelGroup(t, "", 0)
	sg.seedHealthy(t)
	c := dialRESP(t, sg.addr)
	v := c.do("SENTINEL", "masters")
	if v.kind != '*' || len(v.arr) != 2 {
		t.Fatalf("SENTINEL masters: %s, want two masters", v)
	}
	g, h := fieldMap(t, v.arr[0]), fieldMap(t, v.arr[1])
	wantFields(t, "masters[0]", g, map[string]string{"name": "g", "ip": "10.0.9.1", "port": "6379", "flags": "master", "num-slaves": "2", "config-epoch": "3"})
	wantFields(t, "masters[1]", h, map[string]string{"name": "h", "flags": "master,disconnected", "num-slaves": "1", "config-epoch": "0"})

	// go-redis reads the list.
	ms, err := sentinelClient(t, sg.addr, "").Masters(t.Context()).Result()
	if err != nil || len(ms) != 2 {
		t.Fatalf("go-redis SENTINEL masters: %v, %v", ms, err)
	}
	first, ok := ms[0].([]any)
	if !ok || len(first) < 2 || first[0] != "name" || first[1] != "g" {
		t.Errorf("go-redis masters[0] = %v", ms[0])
	}
}

func TestSentinelMaster(t *testing.T) {
	sg := newSentinelGroup(t, "", 0)
	sg.seedHealthy(t)
	sg.m.s.receive(Report{From: "w2", Sentinel: "127.0.0.1:26380"})
	sg.m.s.receive(Report{From: "w3", Sentinel: "127.0.0.1:26381"})
	c := dialRESP(t, sg.addr)
	v := c.do("SENTINEL", "master", "g")
	got := fieldMap(t, v)
	// Sentinel's own order starts name, ip, port, runid, flags.
	if s := v.strings(t); strings.Join([]string{s[0], s[2], s[4], s[6], s[8]}, ",") != "name,ip,port,runid,flags" {
		t.Errorf("SENTINEL master g starts with fields %q %q %q %q %q, want name ip port runid flags", s[0], s[2], s[4], s[6], s[8])
	}
	wantFields(t, "SENTINEL master g", got, map[string]string{
		"name": "g", "ip": "10.0.9.1", "port": "6379", "runid": "run-master-1", "flags": "master",
		"link-pending-commands": "0", "link-refcount": "", "last-ping-sent": "", "last-ok-ping-reply": "", "last-ping-reply": "",
		"down-after-milliseconds": "1000", "info-refresh": "200", "role-reported": "master", "role-reported-time": "",
		"config-epoch": "3", "num-slaves": "2", "num-other-sentinels": "2", "quorum": "2",
		"failover-timeout": "30000", "parallel-syncs": "1",
	})
	for k, val := range got {
		if k == "name" || k == "ip" || k == "runid" || k == "flags" || k == "role-reported" {
			continue
		}
		if _, err := strconv.ParseInt(val, 10, 64); err != nil {
			t.Errorf("SENTINEL master g: %s = %q is not an integer", k, val)
		}
	}

	// Health shows in the flags as Sentinel writes them.
	sg.m.seedView(t, "g", twoReporters(map[string]Obs{sentMaster: obsDown(), sentRep1: obsReplica(sentMaster, 100), sentRep2: obsReplica(sentMaster, 100)}), time.Now())
	if f := fieldMap(t, c.do("SENTINEL", "master", "g"))["flags"]; f != "master,s_down,o_down" {
		t.Errorf("flags with the master objectively down: %q, want master,s_down,o_down", f)
	}
	// Group without a master yet.
	if f := fieldMap(t, c.do("SENTINEL", "master", "h")); f["flags"] != "master,disconnected" || f["ip"] != "" {
		t.Errorf("SENTINEL master h (no master yet): flags %q ip %q", f["flags"], f["ip"])
	}
	wantError(t, "SENTINEL master nope", c.do("SENTINEL", "master", "nope"), "ERR No such master with that name")
	wantError(t, "SENTINEL master", c.do("SENTINEL", "master"), "ERR wrong number of arguments")

	// go-redis reads it as a map.
	m, err := sentinelClient(t, sg.addr, "").Master(t.Context(), "g").Result()
	if err != nil || m["name"] != "g" || m["port"] != "6379" || m["num-other-sentinels"] != "2" {
		t.Errorf("go-redis SENTINEL master g: %v, %v", m, err)
	}
}

func TestSentinelReplicas(t *testing.T) {
	sg := newSentinelGroup(t, "", 0)
	sg.seedHealthy(t)
	c := dialRESP(t, sg.addr)
	for _, sub := range []string{"replicas", "slaves"} {
		v := c.do("SENTINEL", sub, "g")
		if v.kind != '*' || len(v.arr) != 2 {
			t.Fatalf("SENTINEL %s g: %s, want two replicas", sub, v)
		}
		byName := map[string]map[string]string{}
		for _, e := range v.arr {
			f := fieldMap(t, e)
			byName[f["name"]] = f
		}
		for addr, offset := range map[string]string{sentRep1: "4242", sentRep2: "4100"} {
			h, p, _ := net.SplitHostPort(addr)
			f, ok := byName[addr]
			if !ok {
				t.Fatalf("SENTINEL %s g lacks %s: %v", sub, addr, byName)
			}
			wantFields(t, "SENTINEL "+sub+" "+addr, f, map[string]string{
				"name": addr, "ip": h, "port": p, "runid": "", "flags": "slave",
				"link-pending-commands": "0", "link-refcount": "", "role-reported": "slave",
				"master-link-down-time": "0", "master-link-status": "ok",
				"master-host": "10.0.9.1", "master-port": "6379",
				"slave-priority": "", "slave-repl-offset": offset, "replica-announced": "1",
			})
		}
	}
	wantError(t, "SENTINEL replicas nope", c.do("SENTINEL", "replicas", "nope"), "ERR No such master with that name")

	// A replica down and one whose link is down: flags and link status
	// as Sentinel's, and go-redis keeps neither as a usable replica.
	down := obsReplica(sentMaster, 100)
	down.LinkUp = false
	sg.m.seedView(t, "g", twoReporters(map[string]Obs{sentMaster: obsMaster(), sentRep1: obsDown(), sentRep2: down}), time.Now())
	byName := map[string]map[string]string{}
	for _, e := range c.do("SENTINEL", "replicas", "g").arr {
		f := fieldMap(t, e)
		byName[f["name"]] = f
	}
	if f := byName[sentRep1]["flags"]; f != "slave,s_down,o_down" {
		t.Errorf("flags of a replica the watchdogs see down: %q, want slave,s_down,o_down", f)
	}
	if f := byName[sentRep2]; f["flags"] != "slave" || f["master-link-status"] != "err" {
		t.Errorf("replica with its link down: flags %q master-link-status %q, want slave and err", f["flags"], f["master-link-status"])
	}

	// go-redis reads the list of maps.
	rs, err := sentinelClient(t, sg.addr, "").Replicas(t.Context(), "g").Result()
	if err != nil || len(rs) != 2 {
		t.Fatalf("go-redis SENTINEL replicas g: %v, %v", rs, err)
	}
	for _, r := range rs {
		if r["ip"] == "" || r["port"] == "" || !strings.HasPrefix(r["flags"], "slave") {
			t.Errorf("go-redis replica %v", r)
		}
	}
}

func TestSentinelSentinels(t *testing.T) {
	sg := newSentinelGroup(t, "", 0)
	c := dialRESP(t, sg.addr)
	if v := c.do("SENTINEL", "sentinels", "g"); v.kind != '*' || len(v.arr) != 0 {
		t.Errorf("SENTINEL sentinels g with no other watchdog known: %s, want an empty array", v)
	}
	// The leader learns the others' addresses from their reports; its own
	// is not listed (as Sentinel lists only the others).
	sg.m.s.receive(Report{From: "w1", Sentinel: "127.0.0.1:26379"})
	sg.m.s.receive(Report{From: "w3", Sentinel: "127.0.0.1:26381"})
	sg.m.s.receive(Report{From: "w2", Sentinel: "127.0.0.1:26380"})
	sg.m.s.receive(Report{From: "w4"}) // no Sentinel endpoint
	v := c.do("SENTINEL", "sentinels", "g")
	if v.kind != '*' || len(v.arr) != 2 {
		t.Fatalf("SENTINEL sentinels g: %s, want w2 and w3", v)
	}
	for i, want := range []struct{ name, port string }{{"w2", "26380"}, {"w3", "26381"}} {
		wantFields(t, "sentinels["+strconv.Itoa(i)+"]", fieldMap(t, v.arr[i]), map[string]string{
			"name": want.name, "ip": "127.0.0.1", "port": want.port, "runid": "", "flags": "sentinel",
		})
	}
	wantError(t, "SENTINEL sentinels nope", c.do("SENTINEL", "sentinels", "nope"), "ERR No such master with that name")

	// go-redis (which uses this list to find more sentinels).
	ss, err := sentinelClient(t, sg.addr, "").Sentinels(t.Context(), "g").Result()
	if err != nil || len(ss) != 2 || ss[0]["ip"] != "127.0.0.1" || ss[1]["port"] != "26381" {
		t.Errorf("go-redis SENTINEL sentinels g: %v, %v", ss, err)
	}
}

func TestSentinelCkquorum(t *testing.T) {
	sg := newSentinelGroup(t, "", 0)
	c := dialRESP(t, sg.addr)
	// No views at all.
	wantError(t, "ckquorum without views", c.do("SENTINEL", "ckquorum", "g"), "NOQUORUM 0 usable watchdogs, 2 needed")
	// Fresh views from two watchdogs.
	sg.seedHealthy(t)
	wantStatus(t, "ckquorum with two fresh reporters", c.do("SENTINEL", "ckquorum", "g"), "OK 2 usable watchdogs. Quorum and failover authorization can be reached")
	if got, err := sentinelClient(t, sg.addr, "").CkQuorum(t.Context(), "g").Result(); err != nil || !strings.HasPrefix(got, "OK 2 usable") {
		t.Errorf("go-redis ckquorum: %q, %v", got, err)
	}
	// Views older than three probe intervals are not fresh.
	old := time.Now().Add(-time.Second)
	sg.m.seedView(t, "g", twoReporters(map[string]Obs{sentMaster: obsMaster(), sentRep1: obsReplica(sentMaster, 100), sentRep2: obsReplica(sentMaster, 100)}), old)
	wantError(t, "ckquorum with stale views", c.do("SENTINEL", "ckquorum", "g"), "NOQUORUM 0 usable watchdogs, 2 needed")
	// One fresh reporter is not enough.
	sg.m.seedView(t, "g", map[string]map[string]Obs{"w1": {sentMaster: obsMaster()}}, time.Now())
	wantError(t, "ckquorum with one fresh reporter", c.do("SENTINEL", "ckquorum", "g"), "NOQUORUM 1 usable watchdogs, 2 needed")
	wantError(t, "ckquorum nope", c.do("SENTINEL", "ckquorum", "nope"), "ERR No such master with that name")
}

func TestSentinelFailoverCommand(t *testing.T) {
	sg := newSentinelGroup(t, "", 0)
	c := dialRESP(t, sg.addr)
	wantError(t, "failover nope", c.do("SENTINEL", "failover", "nope"), "ERR No such master with that name")
	// The leader loop is not running: an error, not a hang.
	wantError(t, "failover without the leader loop", c.do("SENTINEL", "failover", "g"), "ERR ")
	// With a failover already recorded: Sentinel's INPROG.
	sg.m.startLeading(t)
	epoch := sg.promote(t, sentRep1)
	wantError(t, "failover while one runs", c.do("SENTINEL", "failover", "g"), "INPROG Failover already in progress")
	sg.endFailover(t, epoch)
}

func TestSentinelUnknownCommands(t *testing.T) {
	sg := newSentinelGroup(t, "", 0)
	c := dialRESP(t, sg.addr)
	// The exact text Redis 7 sends for an unknown command.
	if v := c.do("FOO", "bar", "baz"); v.kind != '-' || v.str != "ERR unknown command 'FOO', with args beginning with: 'bar' 'baz' " {
		t.Errorf("FOO bar baz: %s", v)
	}
	if v := c.do("GET", "k"); v.kind != '-' || v.str != "ERR unknown command 'GET', with args beginning with: 'k' " {
		t.Errorf("GET k: %s", v)
	}
	wantError(t, "SENTINEL bogus", c.do("SENTINEL", "bogus"), "ERR unknown sentinel subcommand 'bogus'")
	wantError(t, "SENTINEL", c.do("SENTINEL"), "ERR wrong number of arguments for 'sentinel' command")
	wantError(t, "SUBSCRIBE", c.do("SUBSCRIBE"), "ERR wrong number of arguments for 'subscribe' command")
	// The connection still works after errors.
	wantStatus(t, "PING after errors", c.do("PING"), "PONG")
	// Pipelined commands are answered in order.
	c.raw("*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nPING\r\n$1\r\nx\r\n*1\r\n$3\r\nFOO\r\n")
	wantStatus(t, "pipelined PING", c.read(), "PONG")
	wantBulk(t, "pipelined PING x", c.read(), "x")
	wantError(t, "pipelined FOO", c.read(), "ERR unknown command 'FOO'")
}

func TestSentinelMalformedInput(t *testing.T) {
	sg := newSentinelGroup(t, "", 0)
	other := dialRESP(t, sg.addr)
	wantStatus(t, "PING on the other connection", other.do("PING"), "PONG")
	for _, bad := range []struct{ in, err string }{
		{"*x\r\n", "ERR Protocol error: invalid multibulk length"},
		{"*1\r\n$x\r\n", "ERR Protocol error: invalid bulk length"},
		{"*1\r\n+PING\r\n", "ERR Protocol error: expected '$'"},
		{"*1\r\n$-5\r\n", "ERR Protocol error: invalid bulk length"},
		{"PING \"unbalanced\r\n", "ERR Protocol error: unbalanced quotes"},
	} {
		c := dialRESP(t, sg.addr)
		wantStatus(t, "PING before "+strconv.Quote(bad.in), c.do("PING"), "PONG")
		c.raw(bad.in)
		wantError(t, strconv.Quote(bad.in), c.read(), bad.err)
		c.expectClosed("after " + strconv.Quote(bad.in))
		// The server goes on serving the others, and new connections.
		wantStatus(t, "PING on the other connection after "+strconv.Quote(bad.in), other.do("PING"), "PONG")
		wantStatus(t, "PING on a new connection after "+strconv.Quote(bad.in), dialRESP(t, sg.addr).do("PING"), "PONG")
	}
	// Inline commands (telnet style) are valid input.
	c := dialRESP(t, sg.addr)
	c.raw("PING\r\n")
	wantStatus(t, "inline PING", c.read(), "PONG")
	// A client that sends half a command and disconnects costs nothing.
	half := dialRESP(t, sg.addr)
	half.raw("*3\r\n$8\r\nSENTINEL\r\n")
	half.c.Close()
	wantStatus(t, "PING after a half command", other.do("PING"), "PONG")
}

func TestSentinelConnectionLimit(t *testing.T) {
	sg := newSentinelGroup(t, "", 2)
	a, b := dialRESP(t, sg.addr), dialRESP(t, sg.addr)
	wantStatus(t, "first connection", a.do("PING"), "PONG")
	wantStatus(t, "second connection", b.do("PING"), "PONG")
	if v := a.do("INFO"); !strings.Contains(v.str, "connected_clients:2\r\n") {
		t.Errorf("INFO with two clients:\n%s", v.str)
	}
	third := dialRESP(t, sg.addr)
	v, err := third.readWithin(2 * time.Second)
	if err != nil || v.kind != '-' || v.str != "ERR max number of clients reached" {
		t.Fatalf("third connection: %s, %v; want -ERR max number of clients reached", v, err)
	}
	third.expectClosed("third connection after the refusal")
	// The two admitted connections keep working.
	wantStatus(t, "first connection after the refusal", a.do("PING"), "PONG")
	wantStatus(t, "second connection after the refusal", b.do("PING"), "PONG")

	// A closed connection frees its slot (once the server has seen it go).
	b.c.Close()
	var last string
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := dialRESP(t, sg.addr)
		// A refused connection may be closed before the write: the reply
		// (or its absence) tells.
		_, _ = io.WriteString(c.c, "PING\r\n")
		v, err := c.readWithin(2 * time.Second)
		if err == nil && v.kind == '+' && v.str == "PONG" {
			break
		}
		last = fmt.Sprintf("%s, %v", v, err)
		c.c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("no slot freed 5s after a client left; last try: %s", last)
		}
	}
}

// subscriber is a raw RESP connection in subscribed mode.
type subscriber struct{ *respConn }

func subscribe(t *testing.T, addr string, channels ...string) subscriber {
	t.Helper()
	c := dialRESP(t, addr)
	c.send(append([]string{"SUBSCRIBE"}, channels...)...)
	for i, ch := range channels {
		v := c.read()
		if v.kind != '*' || len(v.arr) != 3 || v.arr[0].str != "subscribe" || v.arr[1].str != ch ||
			v.arr[2].kind != ':' || v.arr[2].n != int64(i+1) {
			t.Fatalf("SUBSCRIBE reply %d: %s, want [subscribe %s :%d]", i, v, ch, i+1)
		}
	}
	return subscriber{c}
}

// next returns the next message as channel and payload.
func (s subscriber) next(within time.Duration) (string, string, error) {
	v, err := s.readWithin(within)
	if err != nil {
		return "", "", err
	}
	if v.kind != '*' || len(v.arr) != 3 || v.arr[0].str != "message" {
		return "", "", fmt.Errorf("not a message: %s", v)
	}
	return v.arr[1].str, v.arr[2].str, nil
}

// expect reads messages until one on channel arrives and returns its
// payload; messages on other channels are returned in skipped.
func (s subscriber) expect(t *testing.T, channel string) (payload string, skipped []string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ch, msg, err := s.next(time.Until(deadline))
		if err != nil {
			t.Fatalf("waiting for a message on %s (skipped %q): %v", channel, skipped, err)
		}
		if ch == channel {
			return msg, skipped
		}
		if ch == "+sdown" && msg == primeMessage {
			continue // a late answer to primePublisher
		}
		skipped = append(skipped, ch+" "+msg)
	}
}

// primeMessage is the +sdown that primePublisher's events produce.
const primeMessage = "slave 10.0.9.3:6381 10.0.9.3 6381 @ g 10.0.9.1 6379"

// primePublisher applies node_sdown events of this watchdog for sentRep2
// until the subscriber gets +sdown: from then on the publisher follows the
// log (it starts at the newest event when it starts).
func primePublisher(t *testing.T, sg *sentinelGroup, s subscriber) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		sg.m.apply(t, &raftstore.Events{Events: []raftstore.Event{{
			Kind: raftstore.EvNodeSDown, Severity: raftstore.SeverityWarning, Group: "g", Node: sentRep2, Watchdog: "w1", Message: "test",
		}}, At: time.Now()})
		ch, msg, err := s.next(500 * time.Millisecond)
		if err == nil && ch == "+sdown" {
			return msg
		}
		var ne net.Error
		if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
			t.Fatalf("waiting for +sdown: %v", err)
		}
		if err == nil {
			t.Fatalf("waiting for +sdown: got %s %q", ch, msg)
		}
		if time.Now().After(deadline) {
			t.Fatal("no +sdown within 5s of node_sdown events")
		}
	}
}

func TestSentinelSwitchMasterMessage(t *testing.T) {
	sg := newSentinelGroup(t, "", 0)
	sub := subscribe(t, sg.addr, "+sdown", "+switch-master", "+try-failover", "+failover-end", "+odown", "-sdown", "+convert-to-slave")
	other := subscribe(t, sg.addr, "+switch-master")

	// Sentinel's instance format: <type> <name> <ip> <port> @ <master-name> <master-ip> <master-port>.
	if msg := primePublisher(t, sg, sub); msg != primeMessage {
		t.Errorf("+sdown %q, want %q", msg, primeMessage)
	}
	// Another watchdog's view is not this sentinel's to announce; its own
	// node_up is -sdown.
	sg.m.apply(t, &raftstore.Events{Events: []raftstore.Event{
		{Kind: raftstore.EvNodeSDown, Group: "g", Node: sentRep1, Watchdog: "w2", Message: "test"},
		{Kind: raftstore.EvNodeUp, Group: "g", Node: sentRep2, Watchdog: "w1", Message: "test"},
		{Kind: raftstore.EvNodeODown, Group: "g", Node: sentMaster, Message: "test", Details: map[string]string{"votes_down": "2"}},
	}, At: time.Now()})
	if msg, skipped := sub.expect(t, "-sdown"); msg != primeMessage || len(skipped) > 0 {
		t.Errorf("after node_sdown by w2 and node_up by w1: -sdown %q (skipped %q); want -sdown %q and nothing for w2's view", msg, skipped, primeMessage)
	}
	if msg, skipped := sub.expect(t, "+odown"); msg != "master g 10.0.9.1 6379 #quorum 2/2" || len(skipped) > 0 {
		t.Errorf("+odown %q (skipped %q), want \"master g 10.0.9.1 6379 #quorum 2/2\"", msg, skipped)
	}

	// The failover: +try-failover, then +switch-master in Sentinel's
	// format <name> <old-ip> <old-port> <new-ip> <new-port>, then
	// +failover-end.
	epoch := sg.promote(t, sentRep1)
	if msg, skipped := sub.expect(t, "+try-failover"); msg != "master g 10.0.9.1 6379" || len(skipped) > 0 {
		t.Errorf("+try-failover %q (skipped %q), want \"master g 10.0.9.1 6379\"", msg, skipped)
	}
	if msg, skipped := sub.expect(t, "+switch-master"); msg != "g 10.0.9.1 6379 10.0.9.2 6380" || len(skipped) > 0 {
		t.Errorf("+switch-master %q (skipped %q), want \"g 10.0.9.1 6379 10.0.9.2 6380\"", msg, skipped)
	}
	if ch, msg, err := other.next(5 * time.Second); err != nil || ch != "+switch-master" || msg != "g 10.0.9.1 6379 10.0.9.2 6380" {
		t.Errorf("second subscriber: %s %q, %v", ch, msg, err)
	}
	sg.endFailover(t, epoch)
	if msg, skipped := sub.expect(t, "+failover-end"); msg != "master g 10.0.9.1 6379" || len(skipped) > 0 {
		t.Errorf("+failover-end %q (skipped %q), want \"master g 10.0.9.1 6379\"", msg, skipped)
	}
	// The old master made a replica of the new one: +convert-to-slave.
	sg.m.apply(t, &raftstore.Record{Entry: raftstore.Entry{Kind: raftstore.EntryReattach, Group: "g", Node: sentMaster, Message: "test"}, At: time.Now()})
	if msg, skipped := sub.expect(t, "+convert-to-slave"); msg != "slave 10.0.9.1:6379 10.0.9.1 6379 @ g 10.0.9.2 6380" || len(skipped) > 0 {
		t.Errorf("+convert-to-slave %q (skipped %q)", msg, skipped)
	}

	// PING in subscribed mode is answered as Redis does there.
	sub.send("PING")
	if v := sub.read(); v.kind != '*' || len(v.arr) != 2 || v.arr[0].str != "pong" {
		t.Errorf("PING while subscribed: %s, want [pong \"\"]", v)
	}
}

func TestSentinelPubSubGoRedis(t *testing.T) {
	const pw = "pubsub-secret"
	sg := newSentinelGroup(t, pw, 0)
	ctx := t.Context()
	// Subscribing needs AUTH first.
	c := dialRESP(t, sg.addr)
	wantError(t, "SUBSCRIBE before AUTH", c.do("SUBSCRIBE", "+switch-master"), "NOAUTH")

	// go-redis's SentinelClient.Subscribe, as its failover client uses it.
	sc := sentinelClient(t, sg.addr, pw)
	ps := sc.Subscribe(ctx, "+switch-master", "+sdown")
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil {
		t.Fatalf("subscription confirmation: %v", err)
	}
	ch := ps.Channel()
	// Prime the publisher as primePublisher does, through go-redis.
	deadline := time.Now().Add(5 * time.Second)
	primed := false
	for !primed {
		sg.m.apply(t, &raftstore.Events{Events: []raftstore.Event{{Kind: raftstore.EvNodeSDown, Group: "g", Node: sentRep2, Watchdog: "w1", Message: "test"}}, At: time.Now()})
		select {
		case m := <-ch:
			primed = m.Channel == "+sdown"
		case <-time.After(100 * time.Millisecond):
		}
		if !primed && time.Now().After(deadline) {
			t.Fatal("no +sdown through go-redis within 5s")
		}
	}
	sg.promote(t, sentRep2)
	timeout := time.NewTimer(5 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case m := <-ch:
			if m.Channel != "+switch-master" {
				continue
			}
			// go-redis's failover client splits the payload on spaces and
			// dials parts[3]:parts[4].
			parts := strings.Split(m.Payload, " ")
			if len(parts) != 5 || parts[0] != "g" || net.JoinHostPort(parts[3], parts[4]) != sentRep2 || net.JoinHostPort(parts[1], parts[2]) != sentMaster {
				t.Errorf("+switch-master %q", m.Payload)
			}
			return
		case <-timeout.C:
			t.Fatal("no +switch-master through go-redis within 5s of the promotion")
		}
	}
}

func TestSentinelPatternSubscribe(t *testing.T) {
	sg := newSentinelGroup(t, "", 0)
	sub := subscribe(t, sg.addr, "+sdown")
	primePublisher(t, sg, sub)
	p := dialRESP(t, sg.addr)
	p.send("PSUBSCRIBE", "*")
	if v := p.read(); v.kind != '*' || len(v.arr) != 3 || v.arr[0].str != "psubscribe" || v.arr[1].str != "*" {
		t.Fatalf("PSUBSCRIBE *: %s", v)
	}
	sg.promote(t, sentRep1)
	deadline := time.Now().Add(5 * time.Second)
	for {
		v, err := p.readWithin(time.Until(deadline))
		if err != nil {
			t.Fatalf("waiting for pmessage +switch-master: %v", err)
		}
		if v.kind == '*' && len(v.arr) == 4 && v.arr[0].str == "pmessage" && v.arr[2].str == "+switch-master" {
			if v.arr[1].str != "*" || v.arr[3].str != "g 10.0.9.1 6379 10.0.9.2 6380" {
				t.Errorf("pmessage %s", v)
			}
			return
		}
	}
}

// TestSentinelRunStops runs the real runSentinel: it listens, serves,
// and when its context ends it returns nil and closes every client
// connection, subscribed ones included.
func TestSentinelRunStops(t *testing.T) {
	m := newLeader(t, "")
	core, logs := observer.New(zap.InfoLevel)
	m.s.log = zap.New(core)
	m.s.cfg.Sentinel.Listen = "127.0.0.1:0"
	m.s.cfg.Sentinel.MaxConnections = 10
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- m.s.runSentinel(ctx, "") }()
	var addr string
	waitUntil(t, 5*time.Second, "the sentinel endpoint's listening log line", func() bool {
		for _, e := range logs.FilterMessage("sentinel endpoint listening").All() {
			if a, ok := e.ContextMap()["sentinel-listen"].(string); ok {
				addr = a
				return true
			}
		}
		return false
	})
	plain := dialRESP(t, addr)
	wantStatus(t, "PING", plain.do("PING"), "PONG")
	sub := subscribe(t, addr, "+switch-master")
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("runSentinel returned %v after its context ended, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("runSentinel still running 5s after its context ended")
	}
	plain.expectClosed("plain connection after shutdown")
	sub.expectClosed("subscribed connection after shutdown")
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after shutdown", addr)
	}
}

// TestSentinelFailoverOnFollower: SENTINEL failover sent to a member that
// does not lead is passed on to the leader's API, and the answer is the
// one the leader's own endpoint gives.
func TestSentinelFailoverOnFollower(t *testing.T) {
	pn := &peerNet{}
	w1 := newMember(t, pn, "w1", "127.0.0.1:7101", []string{"w1=127.0.0.1:7101"}, "", 400*time.Millisecond)
	w2 := newMember(t, pn, "w2", "127.0.0.1:7102", nil, "", 400*time.Millisecond)
	w1.trans.Connect(w2.addr, w2.trans)
	w2.trans.Connect(w1.addr, w1.trans)
	waitUntil(t, 5*time.Second, "w1 to lead", w1.node.IsLeader)
	w1.call("POST", "/v1/raft/peers", `{"id":"w2","addr":"127.0.0.1:7102"}`).expect(t, 200)
	waitUntil(t, 5*time.Second, "w2 to follow w1", func() bool { _, id := w2.node.Leader(); return id == "w1" })
	now := time.Now()
	w1.apply(t, &raftstore.GroupsEnsure{Groups: []raftstore.GroupSpec{{Name: "g", Nodes: []string{sentMaster, sentRep1, sentRep2}}}, At: now})
	w1.apply(t, &raftstore.MasterDiscovered{Group: "g", Master: sentMaster, Epoch: 3, Reason: "test", At: now})
	waitUntil(t, 5*time.Second, "w2 to hold the group", func() bool { g, ok := w2.node.FSM().Group("g"); return ok && g.Master == sentMaster })
	w1.startLeading(t)
	onLeader := dialRESP(t, sentinelEndpoint(t, w1.s, "", 10))
	onFollower := dialRESP(t, sentinelEndpoint(t, w2.s, "", 10))

	// The master neither healthy nor objectively down: the leader refuses.
	failing := map[string]Obs{sentMaster: obsFailing(), sentRep1: obsReplica(sentMaster, 100), sentRep2: obsReplica(sentMaster, 100)}
	w1.seedView(t, "g", twoReporters(failing), time.Now())
	lead := onLeader.do("SENTINEL", "failover", "g")
	wantError(t, "failover on the leader", lead, "ERR conflict: master "+sentMaster+" is unknown, neither healthy nor objectively down")
	w1.seedView(t, "g", twoReporters(failing), time.Now())
	fol := onFollower.do("SENTINEL", "failover", "g")
	wantError(t, "failover on the follower", fol, "ERR ")
	t.Run("the follower's text is the leader's", func(t *testing.T) {
		if fol.str != lead.str {
			t.Errorf("the follower answers %q, the leader %q", fol.str, lead.str)
		}
	})

	// A failover already running: INPROG from either member.
	g, _ := w1.node.FSM().Group("g")
	w1.apply(t, &raftstore.FailoverBegin{Group: "g", Failover: raftstore.Failover{
		Kind: raftstore.KindFailover, Epoch: g.Epoch + 1, From: sentMaster, To: sentRep1, Reason: "test", Leader: "w1",
	}, At: time.Now()})
	waitUntil(t, 5*time.Second, "w2 to see the failover", func() bool { g, _ := w2.node.FSM().Group("g"); return g.Failover != nil })
	wantError(t, "failover on the leader while one runs", onLeader.do("SENTINEL", "failover", "g"), "INPROG Failover already in progress")
	wantError(t, "failover on the follower while one runs", onFollower.do("SENTINEL", "failover", "g"), "INPROG Failover already in progress")
	wantError(t, "failover of an unknown group on the follower", onFollower.do("SENTINEL", "failover", "nope"), "ERR No such master with that name")
	w1.apply(t, &raftstore.FailoverEnd{Group: "g", Epoch: g.Epoch + 1, OK: false, Error: "test", At: time.Now()})
}

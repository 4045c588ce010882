package watchdog

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tidwall/redcon"
	"go.uber.org/zap"

	"warden/raftstore"
)

// sentinelServer answers the part of the Redis Sentinel protocol that
// Sentinel-aware clients use, from this member's copy of the state.
type sentinelServer struct {
	s        *Service
	password string
	ps       redcon.PubSub
	srv      *redcon.Server
	ln       *limitListener
}

type sentinelConn struct{ authed bool }

// runSentinel serves the Sentinel endpoint until ctx ends.
func (s *Service) runSentinel(ctx context.Context, password string) error {
	ln, err := net.Listen("tcp", s.cfg.Sentinel.Listen)
	if err != nil {
		return fmt.Errorf("sentinel.listen %s: %w", s.cfg.Sentinel.Listen, err)
	}
	ss := &sentinelServer{s: s, password: password, ln: newLimitListener(ln, s.cfg.Sentinel.MaxConnections)}
	ss.srv = redcon.NewServerNetwork("tcp", s.cfg.Sentinel.Listen, ss.handle,
		func(c redcon.Conn) bool { c.SetContext(&sentinelConn{}); return true }, nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		ss.publish(ctx)
	}()
	errc := make(chan error, 1)
	go func() { errc <- ss.srv.Serve(ss.ln) }()
	s.log.Info("sentinel endpoint listening", zap.String("sentinel-listen", ln.Addr().String()))
	select {
	case <-ctx.Done():
		err = nil
	case err = <-errc:
	}
	_ = ss.srv.Close()
	ss.ln.closeAll()
	<-done
	return err
}

// publish turns new events of the replicated log into Sentinel's pub/sub
// messages. Every member publishes, since a client may listen to any.
func (ss *sentinelServer) publish(ctx context.Context) {
	since := ss.s.fsm.LastEventSeq()
	for {
		changed := ss.s.fsm.Changed()
		evs, _ := ss.s.fsm.EventsSince(since, 0)
		for _, e := range evs {
			since = e.Seq
			if ch, msg, ok := ss.sentinelMessage(e); ok {
				ss.ps.Publish(ch, msg)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

func hostPort(addr string) (string, string) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, "0"
	}
	return h, p
}

// instance formats an instance as Sentinel does in its messages; master is
// the group's master when the event happened.
func instance(g raftstore.Group, master, node string) string {
	if master == "" {
		master = g.Master
	}
	mh, mp := hostPort(master)
	h, p := hostPort(node)
	if node == master {
		return fmt.Sprintf("master %s %s %s", g.Name, h, p)
	}
	return fmt.Sprintf("slave %s %s %s @ %s %s %s", node, h, p, g.Name, mh, mp)
}

// sentinelMessage maps an event to a Sentinel channel and message.
func (ss *sentinelServer) sentinelMessage(e raftstore.Event) (string, string, bool) {
	g, ok := ss.s.fsm.Group(e.Group)
	if !ok {
		return "", "", false
	}
	switch e.Kind {
	case raftstore.EvMasterSwitched:
		oh, op := hostPort(e.Details["old_master"])
		nh, np := hostPort(e.Details["new_master"])
		return "+switch-master", fmt.Sprintf("%s %s %s %s %s", g.Name, oh, op, nh, np), true
	case raftstore.EvNodeSDown, raftstore.EvNodeUp:
		if e.Watchdog != ss.s.cfg.ID {
			return "", "", false // each sentinel speaks for its own view
		}
		ch := "+sdown"
		if e.Kind == raftstore.EvNodeUp {
			ch = "-sdown"
		}
		return ch, instance(g, e.Details["master"], e.Node), true
	case raftstore.EvNodeODown:
		master := e.Details["master"]
		if master == "" {
			master = g.Master
		}
		if e.Node != master {
			return "", "", false
		}
		return "+odown", fmt.Sprintf("%s #quorum %s/%d", instance(g, master, e.Node), e.Details["votes_down"], ss.s.cfg.Detection.RequiredWatchdogs), true
	case raftstore.EvFailoverStarted:
		return "+try-failover", fmt.Sprintf("master %s %s", g.Name, strings.Join(split(e.Details["from"]), " ")), true
	case raftstore.EvFailoverCompleted:
		return "+failover-end", fmt.Sprintf("master %s %s", g.Name, strings.Join(split(e.Details["from"]), " ")), true
	case raftstore.EvMasterReattached, raftstore.EvReplicaRepointed:
		return "+convert-to-slave", instance(g, "", e.Node), true
	}
	return "", "", false
}

func split(addr string) []string {
	h, p := hostPort(addr)
	return []string{h, p}
}

func (ss *sentinelServer) handle(conn redcon.Conn, cmd redcon.Command) {
	st, _ := conn.Context().(*sentinelConn)
	if st == nil {
		st = &sentinelConn{}
		conn.SetContext(st)
	}
	name := strings.ToLower(string(cmd.Args[0]))
	if ss.password != "" && !st.authed && name != "auth" && name != "hello" && name != "quit" {
		conn.WriteError("NOAUTH Authentication required.")
		return
	}
	arg := func(i int) string { return string(cmd.Args[i]) }
	switch name {
	case "ping":
		if len(cmd.Args) > 1 {
			conn.WriteBulk(cmd.Args[1])
			return
		}
		conn.WriteString("PONG")
	case "hello":
		conn.WriteError("NOPROTO this server speaks RESP2 only")
	case "auth":
		if len(cmd.Args) < 2 || len(cmd.Args) > 3 {
			conn.WriteError("ERR wrong number of arguments for 'auth' command")
			return
		}
		if ss.password == "" {
			conn.WriteError("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
			return
		}
		if subtle.ConstantTimeCompare([]byte(arg(len(cmd.Args)-1)), []byte(ss.password)) != 1 {
			conn.WriteError("WRONGPASS invalid username-password pair or user is disabled.")
			return
		}
		st.authed = true
		conn.WriteString("OK")
	case "quit":
		conn.WriteString("OK")
		conn.Close()
	case "client":
		sub := ""
		if len(cmd.Args) > 1 {
			sub = strings.ToLower(arg(1))
		}
		switch sub {
		case "getname":
			conn.WriteNull()
		case "id":
			conn.WriteInt(1)
		default:
			conn.WriteString("OK")
		}
	case "command":
		conn.WriteArray(0)
	case "role":
		names := ss.groupNames()
		conn.WriteArray(2)
		conn.WriteBulkString("sentinel")
		conn.WriteArray(len(names))
		for _, n := range names {
			conn.WriteBulkString(n)
		}
	case "info":
		conn.WriteBulkString(ss.info())
	case "subscribe", "psubscribe":
		if len(cmd.Args) < 2 {
			conn.WriteError("ERR wrong number of arguments for '" + name + "' command")
			return
		}
		for i := 1; i < len(cmd.Args); i++ {
			if name == "subscribe" {
				ss.ps.Subscribe(conn, arg(i))
			} else {
				ss.ps.Psubscribe(conn, arg(i))
			}
		}
	case "sentinel":
		ss.sentinel(conn, cmd)
	default:
		conn.WriteError(fmt.Sprintf("ERR unknown command '%s', with args beginning with: %s", arg(0), argsPreview(cmd.Args[1:])))
	}
}

func argsPreview(args [][]byte) string {
	var b strings.Builder
	for i, a := range args {
		if i == 8 {
			break
		}
		fmt.Fprintf(&b, "'%s' ", a)
	}
	return b.String()
}

func (ss *sentinelServer) groupNames() []string {
	var names []string
	for _, g := range ss.s.fsm.Groups() {
		names = append(names, g.Name)
	}
	return names
}

// writeMap writes a flat field/value list.
func writeMap(conn redcon.Conn, kv [][2]string) {
	conn.WriteArray(2 * len(kv))
	for _, p := range kv {
		conn.WriteBulkString(p[0])
		conn.WriteBulkString(p[1])
	}
}

func (ss *sentinelServer) sentinel(conn redcon.Conn, cmd redcon.Command) {
	if len(cmd.Args) < 2 {
		conn.WriteError("ERR wrong number of arguments for 'sentinel' command")
		return
	}
	sub := strings.ToLower(string(cmd.Args[1]))
	group := func() (raftstore.Group, bool) {
		if len(cmd.Args) < 3 {
			conn.WriteError("ERR wrong number of arguments for 'sentinel " + sub + "' command")
			return raftstore.Group{}, false
		}
		g, ok := ss.s.fsm.Group(string(cmd.Args[2]))
		if !ok {
			if sub == "get-master-addr-by-name" {
				conn.WriteRaw([]byte("*-1\r\n")) // a null array, as Sentinel answers
			} else {
				conn.WriteError("ERR No such master with that name")
			}
			return raftstore.Group{}, false
		}
		return g, true
	}
	switch sub {
	case "get-master-addr-by-name":
		g, ok := group()
		if !ok {
			return
		}
		if g.Master == "" {
			conn.WriteRaw([]byte("*-1\r\n"))
			return
		}
		h, p := hostPort(g.Master)
		conn.WriteArray(2)
		conn.WriteBulkString(h)
		conn.WriteBulkString(p)
	case "masters":
		gs := ss.s.fsm.Groups()
		conn.WriteArray(len(gs))
		for _, g := range gs {
			writeMap(conn, ss.masterFields(g))
		}
	case "master":
		if g, ok := group(); ok {
			writeMap(conn, ss.masterFields(g))
		}
	case "replicas", "slaves":
		g, ok := group()
		if !ok {
			return
		}
		reps := ss.replicaFields(g)
		conn.WriteArray(len(reps))
		for _, r := range reps {
			writeMap(conn, r)
		}
	case "sentinels":
		if _, ok := group(); !ok {
			return
		}
		others := ss.otherSentinels()
		conn.WriteArray(len(others))
		for _, o := range others {
			h, p := hostPort(o[1])
			writeMap(conn, [][2]string{{"name", o[0]}, {"ip", h}, {"port", p}, {"runid", o[0]}, {"flags", "sentinel"},
				{"link-pending-commands", "0"}, {"link-refcount", "1"}, {"last-hello-message", "0"}, {"voted-leader", "?"}, {"voted-leader-epoch", "0"}})
		}
	case "ckquorum":
		g, ok := group()
		if !ok {
			return
		}
		usable, need := ss.usable(g)
		if usable >= need && need > 0 {
			conn.WriteString(fmt.Sprintf("OK %d usable watchdogs. Quorum and failover authorization can be reached", usable))
			return
		}
		conn.WriteError(fmt.Sprintf("NOQUORUM %d usable watchdogs, %d needed: not enough to reach the quorum or to authorize a failover", usable, need))
	case "failover":
		g, ok := group()
		if !ok {
			return
		}
		if err := ss.failover(g.Name); err != nil {
			conn.WriteError(err.Error())
			return
		}
		conn.WriteString("OK")
	case "myid":
		conn.WriteBulkString(ss.s.cfg.ID)
	default:
		conn.WriteError(fmt.Sprintf("ERR unknown sentinel subcommand '%s' (warden answers get-master-addr-by-name, masters, master, replicas, slaves, sentinels, ckquorum, failover, myid; use its HTTP API for the rest)", sub))
	}
}

func (ss *sentinelServer) usable(g raftstore.Group) (usable, need int) {
	if addr, _ := ss.s.node.Leader(); addr == "" {
		return 0, ss.s.cfg.Detection.RequiredWatchdogs
	}
	ss.s.mu.Lock()
	v, ok := ss.s.views[g.Name]
	fresh := time.Since(ss.s.viewAt) <= 3*ss.s.cfg.Detection.ProbeInterval.D()
	ss.s.mu.Unlock()
	need = max(ss.s.cfg.Detection.RequiredWatchdogs, ss.s.node.Voters()/2+1)
	if !ok || !fresh {
		return 0, need
	}
	return len(v.Reporters), need
}

func (ss *sentinelServer) masterFields(g raftstore.Group) [][2]string {
	gs := ss.s.groupStatus(g)
	h, p := hostPort(g.Master)
	flags := "master"
	runid := g.MasterRunID
	var lastOK int64
	for _, n := range gs.Nodes {
		if n.Addr != g.Master {
			continue
		}
		flags += healthFlags(n)
		if o, ok := ss.s.prober.Local(n.Addr); ok && o.RunID != "" && o.Up {
			runid = o.RunID
		}
		lastOK = int64(n.LatencyMs)
	}
	if g.Master == "" {
		flags = "master,disconnected"
	}
	replicas := len(g.Nodes) - 1
	others := len(ss.otherSentinels())
	_, need := ss.usable(g)
	return [][2]string{
		{"name", g.Name}, {"ip", h}, {"port", p}, {"runid", runid}, {"flags", flags},
		{"link-pending-commands", "0"}, {"link-refcount", "1"}, {"last-ping-sent", "0"},
		{"last-ok-ping-reply", strconv.FormatInt(lastOK, 10)}, {"last-ping-reply", strconv.FormatInt(lastOK, 10)},
		{"down-after-milliseconds", strconv.FormatInt(ss.s.cfg.Detection.DownAfter.D().Milliseconds(), 10)},
		{"info-refresh", strconv.FormatInt(ss.s.cfg.Detection.ProbeInterval.D().Milliseconds(), 10)},
		{"role-reported", "master"}, {"role-reported-time", "0"},
		{"config-epoch", strconv.FormatUint(g.Epoch, 10)},
		{"num-slaves", strconv.Itoa(replicas)}, {"num-other-sentinels", strconv.Itoa(others)},
		{"quorum", strconv.Itoa(need)},
		{"failover-timeout", strconv.FormatInt(ss.s.cfg.Failover.Timeout.D().Milliseconds(), 10)},
		{"parallel-syncs", strconv.Itoa(ss.s.cfg.Failover.ParallelSyncs)},
	}
}

func healthFlags(n NodeStatus) string {
	switch n.Health {
	case HealthODown:
		return ",s_down,o_down"
	case HealthSDown:
		return ",s_down"
	case HealthUnknown:
		return ",disconnected"
	}
	return ""
}

func (ss *sentinelServer) replicaFields(g raftstore.Group) [][][2]string {
	gs := ss.s.groupStatus(g)
	var out [][][2]string
	for _, n := range gs.Nodes {
		if n.Addr == g.Master {
			continue
		}
		h, p := hostPort(n.Addr)
		o, _ := ss.s.prober.Local(n.Addr)
		flags := "slave" + healthFlags(n)
		link := "err"
		if n.LinkUp {
			link = "ok"
		}
		mh, mp := hostPort(n.MasterAddr)
		if n.MasterAddr == "" {
			mh, mp = "?", "0"
		}
		downMs := "0"
		if o.LinkDownSec > 0 {
			downMs = strconv.Itoa(o.LinkDownSec * 1000)
		}
		prio := o.Priority
		if !o.Known || o.Role != RoleReplica {
			prio = 100
		}
		out = append(out, [][2]string{
			{"name", n.Addr}, {"ip", h}, {"port", p}, {"runid", o.RunID}, {"flags", flags},
			{"link-pending-commands", "0"}, {"link-refcount", "1"},
			{"role-reported", "slave"}, {"master-link-down-time", downMs}, {"master-link-status", link},
			{"master-host", mh}, {"master-port", mp},
			{"slave-priority", strconv.Itoa(prio)}, {"slave-repl-offset", strconv.FormatInt(n.Offset, 10)},
			{"replica-announced", "1"},
		})
	}
	return out
}

// otherSentinels lists the other members' Sentinel addresses as [id, addr].
func (ss *sentinelServer) otherSentinels() [][2]string {
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	var out [][2]string
	for id, addr := range ss.s.sentinels {
		if id != ss.s.cfg.ID && addr != "" {
			out = append(out, [2]string{id, addr})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

func (ss *sentinelServer) info() string {
	var b strings.Builder
	_, port := hostPort(ss.s.cfg.Sentinel.Listen)
	fmt.Fprintf(&b, "# Server\r\nredis_version:7.0.0\r\nredis_mode:sentinel\r\nwarden_id:%s\r\ntcp_port:%s\r\n\r\n", ss.s.cfg.ID, port)
	fmt.Fprintf(&b, "# Clients\r\nconnected_clients:%d\r\n\r\n", ss.ln.count())
	gs := ss.s.fsm.Groups()
	fmt.Fprintf(&b, "# Sentinel\r\nsentinel_masters:%d\r\nsentinel_tilt:0\r\nsentinel_running_scripts:0\r\nsentinel_scripts_queue_length:0\r\nsentinel_simulate_failure_flags:0\r\n", len(gs))
	others := len(ss.otherSentinels())
	for i, g := range gs {
		status := "ok"
		for _, n := range ss.s.groupStatus(g).Nodes {
			if n.Addr == g.Master && n.Health == HealthODown {
				status = "odown"
			}
		}
		fmt.Fprintf(&b, "master%d:name=%s,status=%s,address=%s,slaves=%d,sentinels=%d\r\n", i, g.Name, status, g.Master, len(g.Nodes)-1, others+1)
	}
	return b.String()
}

// failover runs SENTINEL failover: the same operation as the API's, on the
// leader; the error text is Sentinel's where it has one.
func (ss *sentinelServer) failover(group string) error {
	var err error
	if ss.s.node.IsLeader() {
		_, err = ss.s.requestFailoverSoon(context.Background(), group, "", false, "sentinel protocol")
	} else {
		err = ss.forwardFailover(group)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrConflict) && strings.Contains(err.Error(), "is running"),
		errors.Is(err, ErrConflict) && strings.Contains(err.Error(), "already being carried out"):
		return errors.New("INPROG Failover already in progress")
	case errors.Is(err, ErrConflict) && strings.Contains(err.Error(), "can be promoted"):
		return errors.New("NOGOODSLAVE No suitable replica to promote")
	default:
		return fmt.Errorf("ERR %s", strings.ReplaceAll(err.Error(), "\n", " "))
	}
}

// forwardFailover passes SENTINEL failover to the leader's API.
func (ss *sentinelServer) forwardFailover(group string) error {
	addr, _ := ss.s.node.Leader()
	if addr == "" {
		return fmt.Errorf("%w: no leader known", ErrNoLeader)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/v1/groups/"+group+"/failover", bytes.NewReader([]byte("{}")))
	if err != nil {
		return err
	}
	req.Header.Set(ForwardedHeader, ss.s.cfg.ID+" (sentinel protocol)")
	if ss.s.token != "" {
		req.Header.Set("Authorization", "Bearer "+ss.s.token)
	}
	resp, err := ss.s.peerLong.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoLeader, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		return nil
	}
	var e struct {
		Error APIError `json:"error"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	_ = json.Unmarshal(b, &e)
	if resp.StatusCode == http.StatusConflict {
		return fmt.Errorf("%w: %s", ErrConflict, strings.TrimPrefix(e.Error.Message, ErrConflict.Error()+": "))
	}
	return fmt.Errorf("%s", e.Error.Message)
}

// limitListener bounds the open connections: one over the limit is told so
// and closed.
type limitListener struct {
	net.Listener
	max   int
	mu    sync.Mutex
	conns map[*countedConn]bool
}

func newLimitListener(ln net.Listener, max int) *limitListener {
	return &limitListener{Listener: ln, max: max, conns: map[*countedConn]bool{}}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		if len(l.conns) >= l.max {
			l.mu.Unlock()
			_ = c.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = io.WriteString(c, "-ERR max number of clients reached\r\n")
			c.Close()
			continue
		}
		cc := &countedConn{Conn: c, l: l}
		l.conns[cc] = true
		l.mu.Unlock()
		return cc, nil
	}
}

func (l *limitListener) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

func (l *limitListener) closeAll() {
	l.mu.Lock()
	conns := make([]*countedConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

type countedConn struct {
	net.Conn
	l    *limitListener
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

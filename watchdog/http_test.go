package watchdog

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/zap"

	"warden/config"
	"warden/raftstore"
)

// The API tests run real Services on in-memory Raft nodes and call
// apiHandler through httptest. Run is never called: no prober, no Redis.
// Where a failover is started, its Redis commands go to loopback ports
// that refuse or never answer.

const apiToken = "test-token-7f3a"

// apiTested names, for every route of routes(), the test that covers it.
// A route added to the table without a test here fails
// TestAPIEveryRouteIsTested.
var apiTested = map[string]string{
	"GET /v1/status":                    "TestAPIStatus",
	"GET /v1/groups":                    "TestAPIGroups",
	"POST /v1/groups":                   "TestAPIGroups",
	"GET /v1/groups/{name}":             "TestAPIGroups",
	"DELETE /v1/groups/{name}":          "TestAPIGroups",
	"POST /v1/groups/{name}/failover":   "TestAPIFailover",
	"POST /v1/groups/{name}/ack":        "TestAPIAck",
	"POST /v1/nodes/{addr}/maintenance": "TestAPIMaintenance",
	"GET /v1/maintenance":               "TestAPIMaintenance",
	"GET /v1/history":                   "TestAPIHistory",
	"GET /v1/events":                    "TestAPIEvents",
	"GET /v1/raft/peers":                "TestAPIRaftMembership",
	"POST /v1/raft/peers":               "TestAPIRaftMembership",
	"DELETE /v1/raft/peers/{id}":        "TestAPIRaftMembership",
	"POST /v1/raft/transfer-leadership": "TestAPIRaftMembership",
	"GET /healthz":                      "TestAPIHealthAndReady",
	"GET /readyz":                       "TestAPIHealthAndReady",
	"GET /v1/clusters":                  "TestAPIClusters",
	"GET /v1/clusters/{name}":           "TestAPIClusters",
	"POST /v1/clusters/{name}/failover": "TestAPIClusters",
	"POST /v1/clusters/{name}/fix":      "TestAPIClusters",
	// The topology operations are tested in operation_api_test.go.
	"POST /v1/clusters":                                   "TestAPIClusterCreate",
	"POST /v1/clusters/{name}/shards":                     "TestAPIShards",
	"DELETE /v1/clusters/{name}/shards/{master}":          "TestAPIShards",
	"POST /v1/clusters/{name}/shards/{master}/replicas":   "TestAPIReplicas",
	"DELETE /v1/clusters/{name}/shards/{master}/replicas": "TestAPIReplicas",
	"POST /v1/clusters/{name}/rebalance":                  "TestAPIRebalance",
	"GET /v1/operations":                                  "TestAPIOperations",
	"GET /v1/operations/{id}":                             "TestAPIOperations",
	"POST /v1/operations/{id}/cancel":                     "TestAPIOperations",
	// The operator's page is tested in ui_test.go.
	"GET /{$}":          "TestUIPage",
	"GET /ui/app.js":    "TestUIPage",
	"GET /ui/style.css": "TestUIPage",
}

func TestAPIEveryRouteIsTested(t *testing.T) {
	s := &Service{}
	seen := map[string]bool{}
	for _, rt := range s.routes() {
		key := rt.method + " " + rt.path
		seen[key] = true
		if _, ok := apiTested[key]; !ok {
			t.Errorf("route %s has no test in http_test.go (add it to apiTested and test it)", key)
		}
	}
	for key := range apiTested {
		if !seen[key] {
			t.Errorf("apiTested lists %s, which routes() no longer has", key)
		}
	}
}

// peerNet carries the members' peer traffic in the test: an in-memory
// transport has no TCP port for the peer protocol, so each member's
// peerHandler is served by an httptest server and DialPeer goes there.
type peerNet struct {
	mu  sync.Mutex
	srv map[string]*httptest.Server
}

func (p *peerNet) add(addr string, s *httptest.Server) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.srv == nil {
		p.srv = map[string]*httptest.Server{}
	}
	p.srv[addr] = s
}

func (p *peerNet) dial(addr string) (net.Conn, error) {
	p.mu.Lock()
	s := p.srv[addr]
	p.mu.Unlock()
	if s == nil {
		return nil, fmt.Errorf("dial %s: no such member in the test", addr)
	}
	return net.Dial("tcp", s.Listener.Addr().String())
}

// testNode is a raftstore.Node whose peer connections go through a peerNet.
type testNode struct {
	*raftstore.Node
	net *peerNet
}

func (n testNode) DialPeer(addr string, _ time.Duration) (net.Conn, error) { return n.net.dial(addr) }

// apiMember is one watchdog: a Service on an in-memory Raft node.
type apiMember struct {
	id    string
	addr  raft.ServerAddress
	trans *raft.InmemTransport
	node  *raftstore.Node
	s     *Service
	h     http.Handler
	token string
}

// newMember opens a member; with boot empty it waits to be added
// (raft.join). A single voter may use short Raft timeouts; with two, the
// leader's lease (half the heartbeat timeout) must outlast a slow moment
// under -race, or it steps down mid-test.
func newMember(t *testing.T, pn *peerNet, id, raftAddr string, boot []string, token string, timeout time.Duration) *apiMember {
	t.Helper()
	cfg := config.Default()
	cfg.ID = id
	cfg.Raft.Bootstrap = boot
	cfg.Raft.Join = len(boot) == 0
	cfg.Raft.HeartbeatTimeout = config.Duration(timeout)
	cfg.Raft.ElectionTimeout = config.Duration(timeout)
	cfg.HTTP.Listen = "127.0.0.1:0"
	addr, tr := raft.NewInmemTransport(raft.ServerAddress(raftAddr))
	node, err := raftstore.Open(cfg, raftstore.NewFSM(), zap.NewNop(), raftstore.Options{Transport: tr, InmemStores: true})
	if err != nil {
		t.Fatalf("open raft node %s: %v", id, err)
	}
	m := &apiMember{id: id, addr: addr, trans: tr, node: node, token: token}
	m.s = New(cfg, testNode{Node: node, net: pn}, "", token, zap.NewNop())
	m.h = m.s.apiHandler(false)
	peerSrv := httptest.NewServer(m.s.peerHandler())
	pn.add(string(addr), peerSrv)
	t.Cleanup(func() {
		peerSrv.Close()
		m.s.act.Close()
		if err := node.Close(); err != nil {
			t.Logf("close raft node %s: %v", id, err)
		}
	})
	return m
}

// newLeader is a single-member group, waited for until it leads.
func newLeader(t *testing.T, token string) *apiMember {
	t.Helper()
	m := newMember(t, &peerNet{}, "w1", "127.0.0.1:7101", []string{"w1=127.0.0.1:7101"}, token, 100*time.Millisecond)
	waitUntil(t, 5*time.Second, "w1 to lead", m.node.IsLeader)
	return m
}

func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !pollUntil(timeout, 5*time.Millisecond, cond) {
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
}

// pollUntil checks cond every interval until it holds (true) or timeout
// passes (false).
func pollUntil(timeout, interval time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	poll := time.NewTicker(interval)
	defer poll.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			return cond()
		case <-poll.C:
		}
	}
	return true
}

// request builds a call carrying the member's token (if it has one).
func (m *apiMember) request(method, target, body string) *http.Request {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, target, rd)
	if m.token != "" {
		r.Header.Set("Authorization", "Bearer "+m.token)
	}
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	return r
}

type reply struct {
	code   int
	header http.Header
	body   []byte
}

func (m *apiMember) serve(r *http.Request) reply {
	rec := httptest.NewRecorder()
	m.h.ServeHTTP(rec, r)
	return reply{code: rec.Code, header: rec.Result().Header, body: rec.Body.Bytes()}
}

func (m *apiMember) call(method, target, body string) reply {
	return m.serve(m.request(method, target, body))
}

// expect checks the status of a JSON reply.
func (r reply) expect(t *testing.T, code int) reply {
	t.Helper()
	if r.code != code {
		t.Fatalf("status %d, want %d; body: %s", r.code, code, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json", ct)
	}
	return r
}

func (r reply) into(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

var errorCodes = map[int]string{
	http.StatusBadRequest:            "bad_request",
	http.StatusUnauthorized:          "unauthorized",
	http.StatusNotFound:              "not_found",
	http.StatusConflict:              "conflict",
	http.StatusRequestEntityTooLarge: "too_large",
	http.StatusMethodNotAllowed:      "method_not_allowed",
	http.StatusInternalServerError:   "internal",
	http.StatusServiceUnavailable:    "unavailable",
}

// expectError checks an error reply: status, {"error": {"code", "message"}}
// and a message that holds contains.
func (r reply) expectError(t *testing.T, code int, contains string) APIError {
	t.Helper()
	r.expect(t, code)
	var body map[string]APIError
	dec := json.NewDecoder(strings.NewReader(string(r.body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		t.Fatalf("error body %s: %v", r.body, err)
	}
	e, ok := body["error"]
	if !ok || len(body) != 1 {
		t.Fatalf("error body %s has no single \"error\" member", r.body)
	}
	if e.Code != errorCodes[code] {
		t.Errorf("error code %q, want %q (status %d)", e.Code, errorCodes[code], code)
	}
	if !strings.Contains(e.Message, contains) {
		t.Errorf("error message %q does not contain %q", e.Message, contains)
	}
	return e
}

// state is everything the API could change, as JSON: the replicated state
// and the Raft configuration.
func (m *apiMember) state(t *testing.T) string {
	t.Helper()
	fsm := m.node.FSM()
	peers, err := m.node.Peers()
	if err != nil {
		t.Fatalf("read raft configuration: %v", err)
	}
	b, err := json.Marshal(map[string]any{
		"groups": fsm.Groups(), "maintenance": fsm.Maintenance(), "history": fsm.History("", 0),
		"seeded": fsm.Seeded(), "peers": peers,
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// rejects sends r, expects the error, and checks that nothing changed.
func (m *apiMember) rejects(t *testing.T, r *http.Request, code int, contains string) {
	t.Helper()
	before := m.state(t)
	m.serve(r).expectError(t, code, contains)
	if after := m.state(t); after != before {
		t.Errorf("a rejected %s %s changed the state:\nbefore %s\nafter  %s", r.Method, r.URL, before, after)
	}
}

func (m *apiMember) rejectsCall(t *testing.T, method, target, body string, code int, contains string) {
	t.Helper()
	m.rejects(t, m.request(method, target, body), code, contains)
}

// chunked turns r's body into one of unknown length, as a client streaming
// it would send: only http.MaxBytesReader can then enforce the limit.
func chunked(r *http.Request) *http.Request {
	r.Body = io.NopCloser(struct{ io.Reader }{r.Body})
	r.ContentLength = -1
	return r
}

// rejectsBadBodies checks the answers every route with a JSON body gives
// to malformed bodies. required: an empty body is an error.
func (m *apiMember) rejectsBadBodies(t *testing.T, method, target, valid string, required bool) {
	t.Helper()
	t.Run("bad bodies", func(t *testing.T) {
		if required {
			m.rejectsCall(t, method, target, "", 400, "empty body")
			m.rejectsCall(t, method, target, " \n\t", 400, "empty body")
		}
		m.rejectsCall(t, method, target, `{"bogus":1}`, 400, `unknown field "bogus"`)
		m.rejectsCall(t, method, target, valid+valid, 400, "more than one JSON value")
		m.rejectsCall(t, method, target, valid+" 1", 400, "more than one JSON value")
		m.rejectsCall(t, method, target, `[]`, 400, "cannot unmarshal array")
		m.rejectsCall(t, method, target, `"x"`, 400, "cannot unmarshal string")
		m.rejectsCall(t, method, target, `{"a"`, 400, "body")
		m.rejectsCall(t, method, target, `{,}`, 400, "invalid character")
		big := `{"x":"` + strings.Repeat("a", MaxBody) + `"}`
		m.rejectsCall(t, method, target, big, 413, fmt.Sprintf("at most %d", MaxBody))
		m.rejects(t, chunked(m.request(method, target, big)), 413, fmt.Sprintf("at most %d", MaxBody))
	})
}

func (m *apiMember) apply(t *testing.T, c raftstore.Command) {
	t.Helper()
	if err := m.node.Apply(context.Background(), c); err != nil {
		t.Fatalf("apply %T: %v", c, err)
	}
}

func (m *apiMember) group(t *testing.T, name string) raftstore.Group {
	t.Helper()
	g, ok := m.node.FSM().Group(name)
	if !ok {
		t.Fatalf("group %s not in the state", name)
	}
	return g
}

func (m *apiMember) addGroup(t *testing.T, name string, nodes ...string) {
	t.Helper()
	b, _ := json.Marshal(GroupRequest{Name: name, Nodes: nodes})
	m.call("POST", "/v1/groups", string(b)).expect(t, http.StatusCreated)
}

func (m *apiMember) history(t *testing.T, query string) []raftstore.Entry {
	t.Helper()
	var h struct {
		History []raftstore.Entry `json:"history"`
	}
	m.call("GET", "/v1/history"+query, "").expect(t, 200).into(t, &h)
	return h.History
}

func lastEntry(t *testing.T, m *apiMember) raftstore.Entry {
	t.Helper()
	h := m.history(t, "?limit=1")
	if len(h) != 1 {
		t.Fatalf("history has %d entries, want 1 with limit=1", len(h))
	}
	return h[0]
}

// startLeading stands in for the leader loop, which is not running:
// operator failovers need s.lead and run under its context. Cleanup ends
// whatever it started.
func (m *apiMember) startLeading(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	wg := &sync.WaitGroup{}
	m.s.mu.Lock()
	m.s.lead = &leadership{ctx: ctx, wg: wg}
	m.s.mu.Unlock()
	t.Cleanup(func() {
		cancel()
		m.s.mu.Lock()
		m.s.lead = nil
		m.s.mu.Unlock()
		wg.Wait()
	})
}

// seedView stands in for the reports of fresh watchdogs: obs maps each
// reporter to its view of the nodes; the view is aggregated by Decide.
func (m *apiMember) seedView(t *testing.T, name string, obs map[string]map[string]Obs, at time.Time) {
	t.Helper()
	g := m.group(t, name)
	var reps []Report
	for from, o := range obs {
		reps = append(reps, Report{From: from, Obs: o, ReceivedAt: at})
	}
	sort.Slice(reps, func(i, j int) bool { return reps[i].From < reps[j].From })
	d := Decide(Input{Now: at, Params: ParamsFrom(m.s.cfg, m.node.Voters()), Group: g, Trusted: true, Reports: reps})
	d.View.Group = name
	m.s.mu.Lock()
	m.s.views[name], m.s.viewAt = d.View, at
	m.s.mu.Unlock()
}

func obsMaster() Obs {
	return Obs{Up: true, Known: true, Role: RoleMaster, Offset: 100, LastIOSec: -1, LinkDownSec: -1, Replicas: 2}
}

func obsReplica(of string, priority int) Obs {
	return Obs{Up: true, Known: true, Role: RoleReplica, MasterAddr: of, LinkUp: true, Offset: 100, Priority: priority, LinkDownSec: -1, LatencyMs: 0.2}
}

func obsDown() Obs    { return Obs{Known: true, Down: true, FailingForMs: 1500} }
func obsFailing() Obs { return Obs{Known: true, FailingForMs: 300} }

// twoReporters is the same view from w1 and w2 (two fresh reports, as
// required_watchdogs asks).
func twoReporters(o map[string]Obs) map[string]map[string]Obs {
	return map[string]map[string]Obs{"w1": o, "w2": o}
}

// refusedAddrs returns n loopback addresses nothing listens on: a Redis
// command sent there fails at once.
func refusedAddrs(t testing.TB, n int) []string {
	t.Helper()
	var out []string
	var lns []net.Listener
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}

// silentAddr returns a loopback address that accepts connections and never
// answers: a Redis command sent there waits for its timeout.
func silentAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String()
}

func TestAPIAuthentication(t *testing.T) {
	m := newLeader(t, apiToken)
	m.addGroup(t, "g", "10.0.0.1:6379", "10.0.0.2:6379")
	m.apply(t, &raftstore.ClustersEnsure{Clusters: []raftstore.ClusterSpec{{Name: "g", Seeds: []string{"10.0.1.1:7000"}}}, At: time.Now()})
	// {id} names a Raft member in DELETE /v1/raft/peers/{id}, which is only
	// called here without a valid token (any value does), and an operation
	// in /v1/operations/{id}, which is read with one: so it is the id of an
	// operation that exists.
	m.apply(t, &raftstore.OpBegin{Operation: raftstore.Operation{Cluster: "g", Kind: raftstore.OpRebalance,
		Plan: []raftstore.OpStep{{Kind: raftstore.StepVerify, Detail: "verify"}}}, At: time.Now()})
	op, ok := m.node.FSM().RunningOperation("g")
	if !ok {
		t.Fatal("no operation runs on g")
	}
	concrete := strings.NewReplacer("{$}", "", "{name}", "g", "{addr}", "10.0.0.2:6379", "{id}", op.ID, "{master}", "10.0.1.1:7000")
	bad := map[string]string{
		"no header":      "",
		"wrong token":    "Bearer nope",
		"token prefix":   "Bearer " + apiToken[:len(apiToken)-1],
		"token and more": "Bearer " + apiToken + "x",
		"no scheme":      apiToken,
		"other scheme":   "Basic " + apiToken,
		"lower-case":     "bearer " + apiToken,
		"empty bearer":   "Bearer ",
		"two spaces":     "Bearer  " + apiToken,
	}
	for _, rt := range m.s.routes() {
		target := concrete.Replace(rt.path)
		if rt.open {
			t.Run(rt.method+" "+rt.path+" is open", func(t *testing.T) {
				r := httptest.NewRequest(rt.method, target, nil)
				// Not every open route is JSON (the page): the status only.
				if rep := m.serve(r); rep.code != 200 {
					t.Fatalf("status %d, want 200; body: %s", rep.code, rep.body)
				}
			})
			continue
		}
		for name, auth := range bad {
			t.Run(rt.method+" "+rt.path+" "+name, func(t *testing.T) {
				body := ""
				if rt.method != "GET" && rt.method != "DELETE" {
					body = `{}`
				}
				r := m.request(rt.method, target, body)
				r.Header.Del("Authorization")
				if auth != "" {
					r.Header.Set("Authorization", auth)
				}
				before := m.state(t)
				rep := m.serve(r)
				rep.expectError(t, 401, "a valid bearer token is required")
				if got := rep.header.Get("WWW-Authenticate"); got != `Bearer realm="warden"` {
					t.Errorf("WWW-Authenticate %q", got)
				}
				if after := m.state(t); after != before {
					t.Errorf("an unauthenticated call changed the state")
				}
			})
		}
	}
	t.Run("reads with the token", func(t *testing.T) {
		for _, rt := range m.s.routes() {
			if rt.method != "GET" {
				continue
			}
			rep := m.call("GET", concrete.Replace(rt.path), "")
			if rt.open && rep.code == 200 {
				continue // not every open route is JSON (the page)
			}
			rep.expect(t, 200)
		}
	})
	t.Run("metrics need the token", func(t *testing.T) {
		m.serve(httptest.NewRequest("GET", "/metrics", nil)).expectError(t, 401, "bearer token")
		if rep := m.call("GET", "/metrics", ""); rep.code != 200 {
			t.Fatalf("GET /metrics with the token: %d %s", rep.code, rep.body)
		}
	})
	t.Run("unknown routes answer 404 with or without a token", func(t *testing.T) {
		m.serve(httptest.NewRequest("GET", "/v1/nope", nil)).expectError(t, 404, "no route GET /v1/nope")
		m.call("GET", "/v1/nope", "").expectError(t, 404, "no route GET /v1/nope")
	})
}

func TestAPIWithoutToken(t *testing.T) {
	m := newLeader(t, "")
	r := httptest.NewRequest("POST", "/v1/groups", strings.NewReader(`{"name":"g","nodes":["10.0.0.1:6379","10.0.0.2:6379"]}`))
	m.serve(r).expect(t, http.StatusCreated)
	m.serve(httptest.NewRequest("GET", "/v1/groups/g", nil)).expect(t, 200)
	r = httptest.NewRequest("GET", "/v1/status", nil)
	r.Header.Set("Authorization", "Bearer anything")
	m.serve(r).expect(t, 200)
}

func TestAPIUnknownRoutes(t *testing.T) {
	m := newLeader(t, apiToken)
	for _, c := range []struct{ method, path string }{
		{"GET", "/v1/nope"},
		{"GET", "/v1"},
		{"GET", "/v1/groups/a/b"},
	} {
		m.rejectsCall(t, c.method, c.path, "", 404, "no route "+c.method+" "+c.path)
	}
	// A known path with a method it does not take is 405, with Allow.
	for _, c := range []struct{ method, path, allow string }{
		{"PUT", "/v1/groups", "GET, POST"},
		{"POST", "/v1/status", "GET"},
		{"GET", "/v1/raft/transfer-leadership", "POST"},
		{"PATCH", "/v1/groups/g", "GET, DELETE"},
		{"DELETE", "/healthz", "GET"},
	} {
		m.rejectsCall(t, c.method, c.path, "", 405, "takes "+c.allow)
	}
}

func TestAPIHealthAndReady(t *testing.T) {
	pn := &peerNet{}
	w1 := newMember(t, pn, "w1", "127.0.0.1:7101", []string{"w1=127.0.0.1:7101"}, apiToken, 100*time.Millisecond)
	waitUntil(t, 5*time.Second, "w1 to lead", w1.node.IsLeader)
	// w2 was never added to a group: it knows no leader.
	w2 := newMember(t, pn, "w2", "127.0.0.1:7102", nil, apiToken, 100*time.Millisecond)

	var got map[string]string
	w1.serve(httptest.NewRequest("GET", "/healthz", nil)).expect(t, 200).into(t, &got)
	if got["status"] != "ok" || got["id"] != "w1" {
		t.Errorf("healthz %v", got)
	}
	w1.serve(httptest.NewRequest("GET", "/readyz", nil)).expect(t, 200).into(t, &got)
	if got["status"] != "ready" || got["id"] != "w1" || got["leader_id"] != "w1" {
		t.Errorf("readyz %v", got)
	}
	w1.serve(httptest.NewRequest("HEAD", "/healthz", nil)).expect(t, 200)

	t.Run("a member that knows no leader", func(t *testing.T) {
		w2.serve(httptest.NewRequest("GET", "/healthz", nil)).expect(t, 200)
		w2.rejects(t, httptest.NewRequest("GET", "/readyz", nil), 503, "w2 knows no leader")
		w2.rejectsCall(t, "POST", "/v1/groups", `{"name":"g","nodes":["10.0.0.1:6379","10.0.0.2:6379"]}`, 503, "no leader is known to w2")
		w2.rejectsCall(t, "GET", "/v1/groups?consistent=1", "", 503, "no leader is known to w2")
		// A plain read is served from the local state.
		var st Status
		w2.call("GET", "/v1/status", "").expect(t, 200).into(t, &st)
		if st.ID != "w2" || st.LeaderID != "" || st.RaftState != "Follower" {
			t.Errorf("status of an unattached member: %+v", st)
		}
	})
}

func TestAPIStatus(t *testing.T) {
	m := newLeader(t, apiToken)
	m.addGroup(t, "g", "10.0.0.1:6379", "10.0.0.2:6379")
	for _, q := range []string{"", "?consistent=1"} {
		var st Status
		m.call("GET", "/v1/status"+q, "").expect(t, 200).into(t, &st)
		if st.ID != "w1" || st.RaftState != "Leader" || st.LeaderID != "w1" || st.LeaderAddr != "127.0.0.1:7101" || st.Groups != 1 ||
			len(st.Peers) != 1 || st.Peers[0] != (raftstore.Peer{ID: "w1", Addr: "127.0.0.1:7101", Suffrage: "Voter"}) {
			t.Errorf("GET /v1/status%s = %+v", q, st)
		}
	}
}

func TestAPIGroups(t *testing.T) {
	m := newLeader(t, apiToken)
	nodes := []string{"10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379"}
	valid := `{"name":"cache","nodes":["10.0.0.1:6379","10.0.0.2:6379","10.0.0.3:6379"]}`

	rep := m.call("GET", "/v1/groups", "").expect(t, 200)
	if !strings.Contains(string(rep.body), `"groups": []`) {
		t.Errorf("no groups should be an empty list: %s", rep.body)
	}

	var gs GroupStatus
	m.call("POST", "/v1/groups", valid).expect(t, http.StatusCreated).into(t, &gs)
	if gs.Name != "cache" || gs.Master != "" || gs.Epoch != 0 || gs.Status != raftstore.StatusUnknown || len(gs.Nodes) != 3 {
		t.Fatalf("created group %+v", gs)
	}
	for i, n := range gs.Nodes {
		if n.Addr != nodes[i] || n.Role != RoleUnknown || n.Health != HealthUnknown {
			t.Errorf("node %d: %+v", i, n)
		}
	}
	if e := lastEntry(t, m); e.Kind != raftstore.EntryGroupAdded || e.Group != "cache" || e.By != "api" {
		t.Errorf("history after adding: %+v", e)
	}

	var one GroupStatus
	m.call("GET", "/v1/groups/cache", "").expect(t, 200).into(t, &one)
	if one.Name != "cache" || len(one.Nodes) != 3 || one.Failover != nil || one.LastFailover != nil {
		t.Errorf("GET /v1/groups/cache = %+v", one)
	}
	m.call("GET", "/v1/groups/cache?consistent=1", "").expect(t, 200)
	if one.Fence != "on" {
		t.Errorf("fence mode of a group without an override: %q, want on (failover.fence)", one.Fence)
	}
	var strict GroupStatus
	m.call("POST", "/v1/groups", `{"name":"strict","nodes":["10.0.4.1:6379","10.0.4.2:6379"],"fence":"strict"}`).expect(t, http.StatusCreated).into(t, &strict)
	if g, _ := m.s.fsm.Group("strict"); strict.Fence != "strict" || g.Fence != "strict" {
		t.Errorf("group added with fence strict: status says %q, state says %q", strict.Fence, g.Fence)
	}
	m.serve(m.request("DELETE", "/v1/groups/strict", "")).expect(t, 200)
	m.addGroup(t, "alpha", "10.0.1.1:6379", "10.0.1.2:6379")
	var list struct {
		Groups []GroupStatus `json:"groups"`
	}
	m.call("GET", "/v1/groups?consistent=1", "").expect(t, 200).into(t, &list)
	if len(list.Groups) != 2 || list.Groups[0].Name != "alpha" || list.Groups[1].Name != "cache" {
		t.Errorf("GET /v1/groups: %+v", list.Groups)
	}

	t.Run("rejected", func(t *testing.T) {
		long := strings.Repeat("n", 65)
		for _, c := range []struct {
			name, body string
			code       int
			msg        string
		}{
			{"name taken", valid, 409, `group already exists: "cache"`},
			{"node of another group", `{"name":"other","nodes":["10.0.0.9:6379","10.0.0.3:6379"]}`, 409, `10.0.0.3:6379 is a node of "cache"`},
			{"null", `null`, 400, `name ""`},
			{"no name", `{"nodes":["10.0.2.1:6379","10.0.2.2:6379"]}`, 400, `name ""`},
			{"name with a space", `{"name":"a b","nodes":["10.0.2.1:6379","10.0.2.2:6379"]}`, 400, "may hold only letters"},
			{"name with a slash", `{"name":"a/b","nodes":["10.0.2.1:6379","10.0.2.2:6379"]}`, 400, "may hold only letters"},
			{"name too long", `{"name":"` + long + `","nodes":["10.0.2.1:6379","10.0.2.2:6379"]}`, 400, "at most 64"},
			{"no nodes", `{"name":"x"}`, 400, "at least two nodes"},
			{"one node", `{"name":"x","nodes":["10.0.2.1:6379"]}`, 400, "at least two nodes"},
			{"node twice", `{"name":"x","nodes":["10.0.2.1:6379","10.0.2.1:6379"]}`, 400, "nodes[1]: 10.0.2.1:6379 is listed twice"},
			{"node without port", `{"name":"x","nodes":["10.0.2.1:6379","10.0.2.2"]}`, 400, "nodes[1]"},
			{"port out of range", `{"name":"x","nodes":["10.0.2.1:6379","10.0.2.2:70000"]}`, 400, "want 1-65535"},
			{"port zero", `{"name":"x","nodes":["10.0.2.1:0","10.0.2.2:6379"]}`, 400, "nodes[0]"},
			{"no host", `{"name":"x","nodes":[":6379","10.0.2.2:6379"]}`, 400, "has no host"},
			{"nodes not a list", `{"name":"x","nodes":"10.0.2.1:6379"}`, 400, "cannot unmarshal"},
			{"name a number", `{"name":7,"nodes":["10.0.2.1:6379","10.0.2.2:6379"]}`, 400, "cannot unmarshal"},
			{"fence mode unknown", `{"name":"x","nodes":["10.0.2.1:6379","10.0.2.2:6379"],"fence":"maybe"}`, 400, `fence "maybe" must be on, strict or off`},
		} {
			t.Run(c.name, func(t *testing.T) { m.rejectsCall(t, "POST", "/v1/groups", c.body, c.code, c.msg) })
		}
	})
	m.rejectsBadBodies(t, "POST", "/v1/groups", valid, true)

	t.Run("a body of exactly 1 MiB is accepted", func(t *testing.T) {
		body := `{"name":"padded","nodes":["10.0.3.1:6379","10.0.3.2:6379"]}`
		body += strings.Repeat(" ", MaxBody-len(body))
		m.call("POST", "/v1/groups", body).expect(t, http.StatusCreated)
		m.serve(chunked(m.request("DELETE", "/v1/groups/padded", ""))).expect(t, 200)
	})

	m.rejectsCall(t, "GET", "/v1/groups/nope", "", 404, `group "nope"`)

	var removed map[string]string
	m.call("DELETE", "/v1/groups/cache", "").expect(t, 200).into(t, &removed)
	if removed["removed"] != "cache" {
		t.Errorf("DELETE reply %v", removed)
	}
	if e := lastEntry(t, m); e.Kind != raftstore.EntryGroupRemoved || e.Group != "cache" || e.By != "api" {
		t.Errorf("history after removing: %+v", e)
	}
	m.rejectsCall(t, "GET", "/v1/groups/cache", "", 404, `group "cache"`)
	m.rejectsCall(t, "DELETE", "/v1/groups/cache", "", 404, `unknown group "cache"`)
	// Its nodes are free again.
	m.addGroup(t, "cache2", nodes...)

	t.Run("not while a failover runs", func(t *testing.T) {
		m.addGroup(t, "busy", "10.0.4.1:6379", "10.0.4.2:6379")
		now := time.Now()
		m.apply(t, &raftstore.MasterDiscovered{Group: "busy", Master: "10.0.4.1:6379", Epoch: 1, At: now})
		m.apply(t, &raftstore.FailoverBegin{Group: "busy", At: now, Failover: raftstore.Failover{
			Epoch: 2, From: "10.0.4.1:6379", To: "10.0.4.2:6379", Kind: raftstore.KindFailover}})
		m.rejectsCall(t, "DELETE", "/v1/groups/busy", "", 409, "already running")
		var gs GroupStatus
		m.call("GET", "/v1/groups/busy", "").expect(t, 200).into(t, &gs)
		if gs.Status != "failing_over" || gs.Failover == nil || !strings.HasPrefix(gs.Failover.ID, "busy-2") {
			t.Errorf("group with a running failover: %+v", gs)
		}
	})
}

// A stray closing bracket after the object is not a well-formed body
// (json.Decoder.More, which decode once relied on, reports false before
// '}' and ']', and such bodies were accepted).
func TestAPIRejectsTrailingBrackets(t *testing.T) {
	m := newLeader(t, apiToken)
	for _, tail := range []string{"}", "]", "}}", "]}"} {
		m.rejectsCall(t, "POST", "/v1/groups", `{"name":"g","nodes":["10.0.0.1:6379","10.0.0.2:6379"]}`+tail, 400, "body")
		m.rejectsCall(t, "POST", "/v1/raft/transfer-leadership", `{"id":"w1"}`+tail, 400, "body")
	}
}

func TestAPIAck(t *testing.T) {
	m := newLeader(t, apiToken)
	a, b := "10.0.0.1:6379", "10.0.0.2:6379"
	m.addGroup(t, "g", a, b)
	now := time.Now()
	m.apply(t, &raftstore.MasterDiscovered{Group: "g", Master: a, Epoch: 1, At: now})
	m.apply(t, &raftstore.FailoverBegin{Group: "g", At: now, Failover: raftstore.Failover{Epoch: 2, From: a, To: b}})
	m.apply(t, &raftstore.FailoverPromoted{Group: "g", Epoch: 2, At: now})
	m.apply(t, &raftstore.FailoverEnd{Group: "g", Epoch: 2, OK: true, At: now})

	var gs GroupStatus
	m.call("GET", "/v1/groups/g", "").expect(t, 200).into(t, &gs)
	if gs.BlockedUntil == nil || gs.BlockedUntil.Before(now.Add(59*time.Second)) {
		t.Fatalf("after a promotion the group should be blocked for block_after: %+v", gs.BlockedUntil)
	}
	var acked GroupStatus
	m.call("POST", "/v1/groups/g/ack", "").expect(t, 200).into(t, &acked)
	if acked.BlockedUntil != nil || acked.Master != b || acked.Epoch != 2 || acked.LastFailover == nil || !acked.LastFailover.OK {
		t.Errorf("ack reply %+v", acked)
	}
	if g := m.group(t, "g"); !g.LastPromotionAt.IsZero() {
		t.Errorf("ack left the window open: last promotion %s", g.LastPromotionAt)
	}
	if e := lastEntry(t, m); e.Kind != raftstore.EntryAck || e.Group != "g" || e.By != "api" {
		t.Errorf("history after ack: %+v", e)
	}
	// Ack takes no body; a second one is harmless.
	m.call("POST", "/v1/groups/g/ack", "").expect(t, 200)
	m.rejectsCall(t, "POST", "/v1/groups/nope/ack", "", 404, `unknown group "nope"`)
	m.rejectsCall(t, "POST", "/v1/groups/nope/ack", `{"x":1}`, 404, `unknown group "nope"`)
}

func TestAPIMaintenance(t *testing.T) {
	m := newLeader(t, apiToken)
	a, b := "10.0.0.1:6379", "10.0.0.2:6379"
	m.addGroup(t, "g", a, b)
	path := "/v1/nodes/" + b + "/maintenance"

	before := time.Now()
	var got struct {
		Node   string    `json:"node"`
		Group  string    `json:"group"`
		On     bool      `json:"on"`
		Until  time.Time `json:"until"`
		Reason string    `json:"reason"`
	}
	m.call("POST", path, `{"on":true,"reason":"kernel upgrade"}`).expect(t, 200).into(t, &got)
	if got.Node != b || got.Group != "g" || !got.On || got.Reason != "kernel upgrade" ||
		got.Until.Before(before.Add(DefaultMaintenance)) || got.Until.After(time.Now().Add(DefaultMaintenance)) {
		t.Fatalf("maintenance on: %+v", got)
	}
	var list struct {
		Maintenance map[string]raftstore.NodeMaintenance `json:"maintenance"`
	}
	m.call("GET", "/v1/maintenance", "").expect(t, 200).into(t, &list)
	if w, ok := list.Maintenance[b]; !ok || len(list.Maintenance) != 1 || w.Reason != "kernel upgrade" || w.By != "api" || !w.Until.Equal(got.Until) {
		t.Errorf("GET /v1/maintenance: %+v", list.Maintenance)
	}
	var gs GroupStatus
	m.call("GET", "/v1/groups/g", "").expect(t, 200).into(t, &gs)
	if gs.Nodes[1].Maintenance == nil || gs.Nodes[0].Maintenance != nil {
		t.Errorf("group view of maintenance: %+v", gs.Nodes)
	}
	if e := lastEntry(t, m); e.Kind != raftstore.EntryMaintenanceOn || e.Node != b || e.Group != "g" || e.By != "api" {
		t.Errorf("history: %+v", e)
	}

	until := time.Now().Add(3 * time.Hour).UTC().Truncate(time.Second)
	m.call("POST", path, `{"on":true,"until":"`+until.Format(time.RFC3339)+`"}`).expect(t, 200).into(t, &got)
	if !got.Until.Equal(until) {
		t.Errorf("until %s, want %s", got.Until, until)
	}

	t.Run("rejected", func(t *testing.T) {
		past := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
		for _, c := range []struct {
			name, path, body string
			code             int
			msg              string
		}{
			{"on missing", path, `{}`, 400, "on is required"},
			{"on null", path, `{"on":null,"reason":"x"}`, 400, "on is required"},
			{"on a string", path, `{"on":"yes"}`, 400, "cannot unmarshal"},
			{"until in the past", path, `{"on":true,"until":"` + past + `"}`, 400, "is not in the future"},
			{"until not RFC3339", path, `{"on":true,"until":"tomorrow"}`, 400, "is not an RFC3339 time"},
			{"until a date only", path, `{"on":true,"until":"2999-01-01"}`, 400, "is not an RFC3339 time"},
			{"until with off", path, `{"on":false,"until":"2999-01-01T00:00:00Z"}`, 400, "until goes with on: true"},
			{"reason too long", path, `{"on":true,"reason":"` + strings.Repeat("r", 1025) + `"}`, 400, "longer than 1024"},
			{"address without port", "/v1/nodes/10.0.0.2/maintenance", `{"on":true}`, 400, "node address"},
			{"address port zero", "/v1/nodes/10.0.0.2:0/maintenance", `{"on":true}`, 400, "node address"},
			{"not a node", "/v1/nodes/10.0.0.9:6379/maintenance", `{"on":true}`, 404, "10.0.0.9:6379 is not a node of any group"},
		} {
			t.Run(c.name, func(t *testing.T) { m.rejectsCall(t, "POST", c.path, c.body, c.code, c.msg) })
		}
	})
	m.rejectsBadBodies(t, "POST", path, `{"on":false}`, true)

	var off map[string]any
	m.call("POST", path, `{"on":false}`).expect(t, 200).into(t, &off)
	if off["on"] != false || off["node"] != b || off["group"] != "g" || len(off) != 3 {
		t.Errorf("maintenance off: %v", off)
	}
	rep := m.call("GET", "/v1/maintenance", "").expect(t, 200)
	if !strings.Contains(string(rep.body), `"maintenance": {}`) {
		t.Errorf("no window should be an empty object: %s", rep.body)
	}

	t.Run("expired windows are not listed", func(t *testing.T) {
		now := time.Now()
		m.apply(t, &raftstore.Maintenance{Node: a, On: true, Until: now.Add(-time.Second), At: now.Add(-time.Hour)})
		if _, ok := m.node.FSM().Maintenance()[a]; !ok {
			t.Fatal("the expired window is not in the state")
		}
		var after struct {
			Maintenance map[string]raftstore.NodeMaintenance `json:"maintenance"`
		}
		m.call("GET", "/v1/maintenance", "").expect(t, 200).into(t, &after)
		if len(after.Maintenance) != 0 {
			t.Errorf("expired window listed: %+v", after.Maintenance)
		}
	})
}

func TestAPIHistory(t *testing.T) {
	m := newLeader(t, apiToken)
	m.addGroup(t, "a", "10.0.0.1:6379", "10.0.0.2:6379")
	m.addGroup(t, "b", "10.0.1.1:6379", "10.0.1.2:6379")
	m.call("POST", "/v1/nodes/10.0.0.1:6379/maintenance", `{"on":true}`).expect(t, 200)
	m.call("POST", "/v1/groups/b/ack", "").expect(t, 200)

	all := m.history(t, "")
	if len(all) != 4 {
		t.Fatalf("history has %d entries, want 4: %+v", len(all), all)
	}
	for i, e := range all {
		if e.Seq != uint64(i+1) || e.At.IsZero() || e.Message == "" {
			t.Errorf("entry %d: %+v", i, e)
		}
	}
	if h := m.history(t, "?limit=2"); len(h) != 2 || h[0].Seq != 3 || h[1].Seq != 4 {
		t.Errorf("limit=2 should give the newest two, oldest first: %+v", h)
	}
	if h := m.history(t, "?group=a"); len(h) != 2 || h[0].Group != "a" || h[1].Group != "a" || h[1].Kind != raftstore.EntryMaintenanceOn {
		t.Errorf("group=a: %+v", h)
	}
	if h := m.history(t, "?group=b&limit=1&consistent=1"); len(h) != 1 || h[0].Kind != raftstore.EntryAck {
		t.Errorf("group=b&limit=1: %+v", h)
	}
	m.history(t, fmt.Sprintf("?limit=%d", raftstore.HistoryLimit))
	rep := m.call("GET", "/v1/history?group=nosuch", "").expect(t, 200)
	if !strings.Contains(string(rep.body), `"history": []`) {
		t.Errorf("no entries should be an empty list: %s", rep.body)
	}
	for _, q := range []string{"?limit=0", "?limit=-1", "?limit=ten", fmt.Sprintf("?limit=%d", raftstore.HistoryLimit+1), "?limit=1.5"} {
		m.rejectsCall(t, "GET", "/v1/history"+q, "", 400, "must be a number from 1 to 1000")
	}
	m.rejectsCall(t, "GET", "/v1/history?group=a%20b", "", 400, "is not a valid name")
}

type eventsReply struct {
	Events []raftstore.Event `json:"events"`
	Oldest uint64            `json:"oldest"`
	Last   uint64            `json:"last"`
}

func TestAPIEvents(t *testing.T) {
	m := newLeader(t, apiToken)
	var ev eventsReply
	rep := m.call("GET", "/v1/events", "").expect(t, 200)
	rep.into(t, &ev)
	if !strings.Contains(string(rep.body), `"events": []`) || ev.Oldest != 0 || ev.Last != 0 {
		t.Errorf("no events yet: %s", rep.body)
	}
	m.addGroup(t, "a", "10.0.0.1:6379", "10.0.0.2:6379")
	m.call("POST", "/v1/nodes/10.0.0.1:6379/maintenance", `{"on":true,"reason":"disk"}`).expect(t, 200)
	m.call("POST", "/v1/groups/a/ack", "").expect(t, 200)

	m.call("GET", "/v1/events", "").expect(t, 200).into(t, &ev)
	if len(ev.Events) != 3 || ev.Oldest != 1 || ev.Last != 3 {
		t.Fatalf("three events: %+v", ev)
	}
	for i, kind := range []string{raftstore.EvGroupAdded, raftstore.EvMaintenanceOn, raftstore.EvAck} {
		e := ev.Events[i]
		if e.Seq != uint64(i+1) || e.Kind != kind || e.Group != "a" || e.Severity == "" || e.At.IsZero() || e.Details["by"] != "api" {
			t.Errorf("event %d: %+v, want kind %s", i, e, kind)
		}
	}
	var page eventsReply
	m.call("GET", "/v1/events?since=1&limit=1", "").expect(t, 200).into(t, &page)
	if len(page.Events) != 1 || page.Events[0].Seq != 2 || page.Last != 3 {
		t.Errorf("since=1&limit=1: %+v", page)
	}
	r := m.request("GET", "/v1/events", "")
	r.Header.Set("Last-Event-ID", "2")
	m.serve(r).expect(t, 200).into(t, &page)
	if len(page.Events) != 1 || page.Events[0].Seq != 3 {
		t.Errorf("Last-Event-ID 2: %+v", page)
	}
	m.call("GET", "/v1/events?since=3", "").expect(t, 200).into(t, &page)
	if len(page.Events) != 0 || page.Last != 3 {
		t.Errorf("since=last: %+v", page)
	}

	for _, c := range []struct{ query, msg string }{
		{"?since=x", `since "x" is not an event sequence number`},
		{"?since=-1", `since "-1"`},
		{"?limit=0", "limit \"0\" must be a number from 1 to 10000"},
		{"?limit=10001", "must be a number from 1 to 10000"},
		{"?limit=many", "must be a number from 1 to 10000"},
	} {
		m.rejectsCall(t, "GET", "/v1/events"+c.query, "", 400, c.msg)
	}
	r = m.request("GET", "/v1/events", "")
	r.Header.Set("Last-Event-ID", "three")
	m.rejects(t, r, 400, `Last-Event-ID "three"`)

	t.Run("a live stream", func(t *testing.T) {
		srv := httptest.NewServer(m.h)
		t.Cleanup(srv.Close)
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/v1/events", nil)
		req.Header.Set("Authorization", "Bearer "+apiToken)
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Last-Event-ID", "1")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		type sse struct{ id, event, data string }
		frames := make(chan sse, 16)
		go func() {
			defer close(frames)
			var f sse
			buf := make([]byte, 0, 4096)
			chunk := make([]byte, 4096)
			for {
				n, err := resp.Body.Read(chunk)
				buf = append(buf, chunk[:n]...)
				for {
					i := strings.Index(string(buf), "\n")
					if i < 0 {
						break
					}
					line := string(buf[:i])
					buf = buf[i+1:]
					switch {
					case line == "":
						if f.id != "" {
							frames <- f
						}
						f = sse{}
					case strings.HasPrefix(line, "id: "):
						f.id = line[4:]
					case strings.HasPrefix(line, "event: "):
						f.event = line[7:]
					case strings.HasPrefix(line, "data: "):
						f.data = line[6:]
					}
				}
				if err != nil {
					return
				}
			}
		}()
		next := func(want string) sse {
			t.Helper()
			select {
			case f := <-frames:
				var e raftstore.Event
				if err := json.Unmarshal([]byte(f.data), &e); err != nil || fmt.Sprint(e.Seq) != f.id || e.Kind != f.event || f.event != want {
					t.Fatalf("frame %+v (%v), want a %s event", f, err, want)
				}
				return f
			case <-time.After(5 * time.Second):
				t.Fatalf("no %s event on the stream within 5s", want)
			}
			return sse{}
		}
		// The retained events after Last-Event-ID, then live ones.
		if f := next(raftstore.EvMaintenanceOn); f.id != "2" {
			t.Errorf("first frame after Last-Event-ID 1 has id %s", f.id)
		}
		next(raftstore.EvAck)
		m.call("DELETE", "/v1/groups/a", "").expect(t, 200)
		if f := next(raftstore.EvGroupRemoved); f.id != "4" {
			t.Errorf("live frame id %s, want 4", f.id)
		}
		cancel()
	})
}

func TestAPIFailover(t *testing.T) {
	m := newLeader(t, apiToken)
	addrs := refusedAddrs(t, 3)
	mst, r1, r2 := addrs[0], addrs[1], addrs[2]
	m.addGroup(t, "g", mst, r1, r2)
	path := "/v1/groups/g/failover"
	healthy := map[string]Obs{mst: obsMaster(), r1: obsReplica(mst, 100), r2: obsReplica(mst, 0)}

	m.rejectsCall(t, "POST", path, "", 503, "leader loop is not running")
	m.rejectsCall(t, "POST", "/v1/groups/nope/failover", "", 503, "leader loop is not running")
	m.rejectsBadBodies(t, "POST", path, `{"force":true}`, false)

	m.startLeading(t)
	m.rejectsCall(t, "POST", "/v1/groups/nope/failover", "", 404, `group "nope"`)
	m.rejectsCall(t, "POST", path, "", 409, "has no confirmed master (status unknown")
	m.apply(t, &raftstore.MasterDiscovered{Group: "g", Master: mst, Epoch: 1, Reason: "test", At: time.Now()})
	m.rejectsCall(t, "POST", path, "", 503, "no fresh reports for g")

	m.seedView(t, "g", twoReporters(healthy), time.Now().Add(-time.Second))
	m.rejectsCall(t, "POST", path, "", 503, "no fresh reports for g")
	m.seedView(t, "g", map[string]map[string]Obs{"w1": healthy}, time.Now())
	m.rejectsCall(t, "POST", path, "", 503, "1 fresh reports, 2 required")

	failing := map[string]Obs{mst: obsFailing(), r1: obsReplica(mst, 100), r2: obsReplica(mst, 100)}
	m.seedView(t, "g", twoReporters(failing), time.Now())
	m.rejectsCall(t, "POST", path, "", 409, "is unknown, neither healthy nor objectively down: retry, or force")

	m.seedView(t, "g", twoReporters(healthy), time.Now())
	for _, c := range []struct {
		name, body string
		code       int
		msg        string
	}{
		{"to not host:port", `{"to":"r1"}`, 400, "to: "},
		{"to the master", `{"to":"` + mst + `"}`, 400, "is already the master"},
		{"to not a node", `{"to":"10.9.9.9:6379"}`, 400, "is not a node of group g"},
		{"to a priority 0 replica", `{"to":"` + r2 + `"}`, 409, "cannot be promoted: replica-priority 0"},
		{"force a string", `{"force":"yes"}`, 400, "cannot unmarshal"},
	} {
		t.Run(c.name, func(t *testing.T) { m.rejectsCall(t, "POST", path, c.body, c.code, c.msg) })
	}
	noCandidate := map[string]Obs{mst: obsMaster(), r1: obsReplica(mst, 0), r2: obsReplica("10.9.9.9:6379", 100)}
	m.seedView(t, "g", twoReporters(noCandidate), time.Now())
	m.rejectsCall(t, "POST", path, "", 409, "no replica of "+mst+" can be promoted")

	// ended waits until the failover begun after start has ended.
	ended := func(t *testing.T, start time.Time) raftstore.Failover {
		t.Helper()
		var g raftstore.Group
		waitUntil(t, 10*time.Second, "the failover to end", func() bool {
			g = m.group(t, "g")
			return g.Failover == nil && g.LastFailover != nil && !g.LastFailover.BeganAt.Before(start)
		})
		return *g.LastFailover
	}

	t.Run("planned switchover of a healthy master", func(t *testing.T) {
		m.seedView(t, "g", twoReporters(healthy), time.Now())
		start := time.Now()
		var fo raftstore.Failover
		m.call("POST", path, "").expect(t, http.StatusAccepted).into(t, &fo)
		if !strings.HasPrefix(fo.ID, "g-2") || fo.Kind != raftstore.KindSwitchover || fo.From != mst || fo.To != r1 || fo.Epoch != 2 ||
			fo.Stage != raftstore.StageBegun || fo.RequestedBy != "api" || fo.Leader != "w1" || fo.Force ||
			len(fo.Ranking) != 2 || fo.Ranking[0].Addr != r1 || fo.Ranking[1].Skipped != "replica-priority 0" {
			t.Fatalf("202 body %+v", fo)
		}
		// Nothing answers at the master's address: the switchover fails at
		// its first step and changes nothing.
		done := ended(t, start)
		if done.OK || done.Stage != raftstore.StageFailed || len(done.Steps) == 0 || done.Steps[0].Name != "pause-writes" {
			t.Errorf("switchover against a dead address: %+v", done)
		}
		if g := m.group(t, "g"); g.Master != mst || g.Epoch != 1 {
			t.Errorf("a failed switchover moved the master: %s epoch %d", g.Master, g.Epoch)
		}
		if e := lastEntry(t, m); e.Kind != raftstore.EntrySwitchover || e.By != "api" || !strings.Contains(e.Message, "failed") {
			t.Errorf("history: %+v", e)
		}
	})

	t.Run("forced failover of a master that is not down", func(t *testing.T) {
		m.seedView(t, "g", twoReporters(failing), time.Now())
		start := time.Now()
		var fo raftstore.Failover
		m.call("POST", path, `{"to":"`+r2+`","force":true}`).expect(t, http.StatusAccepted).into(t, &fo)
		if fo.Kind != raftstore.KindFailover || fo.To != r2 || !fo.Force || !strings.Contains(fo.Reason, "with force") {
			t.Fatalf("202 body %+v", fo)
		}
		if done := ended(t, start); done.OK || done.Steps[len(done.Steps)-1].Name != "promote" {
			t.Errorf("failover to a dead address: %+v", done)
		}
	})

	t.Run("failover of an objectively down master", func(t *testing.T) {
		down := map[string]Obs{mst: obsDown(), r1: obsReplica(mst, 100), r2: obsReplica(mst, 0)}
		m.seedView(t, "g", twoReporters(down), time.Now())
		start := time.Now()
		var fo raftstore.Failover
		m.call("POST", path, `{}`).expect(t, http.StatusAccepted).into(t, &fo)
		if fo.Kind != raftstore.KindFailover || fo.To != r1 || fo.Fence || !strings.Contains(fo.Reason, "objectively down") {
			t.Fatalf("202 body %+v", fo)
		}
		ended(t, start)
	})

	t.Run("not while one runs", func(t *testing.T) {
		m.addGroup(t, "busy", "10.0.4.1:6379", "10.0.4.2:6379")
		now := time.Now()
		m.apply(t, &raftstore.MasterDiscovered{Group: "busy", Master: "10.0.4.1:6379", Epoch: 1, At: now})
		m.apply(t, &raftstore.FailoverBegin{Group: "busy", At: now, Failover: raftstore.Failover{
			Epoch: 2, From: "10.0.4.1:6379", To: "10.0.4.2:6379"}})
		id := m.group(t, "busy").Failover.ID
		m.rejectsCall(t, "POST", "/v1/groups/busy/failover", "", 409, "failover "+id+" (10.0.4.1:6379 -> 10.0.4.2:6379) is running")
	})

	t.Run("wait=1 answers with the ended record", func(t *testing.T) {
		w := refusedAddrs(t, 2)
		m.addGroup(t, "w", w...)
		m.apply(t, &raftstore.MasterDiscovered{Group: "w", Master: w[0], Epoch: 4, At: time.Now()})
		m.seedView(t, "w", twoReporters(map[string]Obs{w[0]: obsMaster(), w[1]: obsReplica(w[0], 100)}), time.Now())
		var fo raftstore.Failover
		m.call("POST", "/v1/groups/w/failover?wait=1", "").expect(t, 200).into(t, &fo)
		if !strings.HasPrefix(fo.ID, "w-5") || fo.EndedAt == nil || fo.OK || fo.Stage != raftstore.StageFailed || fo.Error == "" {
			t.Errorf("wait=1 reply %+v", fo)
		}
	})
}

// Every attempt has its own failover id. When the id was
// "<group>-<epoch>", and the epoch advances only on a promotion, an attempt
// that followed a failed one got the failed one's id, and ?wait=1 (which
// waits for LastFailover.ID == id) answered at once with the earlier
// attempt's record while the new attempt was still running.
func TestAPIFailoverWaitReportsThisAttempt(t *testing.T) {
	m := newLeader(t, apiToken)
	mst, r1 := silentAddr(t), refusedAddrs(t, 1)[0]
	m.addGroup(t, "g", mst, r1)
	now := time.Now()
	m.apply(t, &raftstore.MasterDiscovered{Group: "g", Master: mst, Epoch: 1, At: now})
	// An earlier switchover failed before promoting.
	m.apply(t, &raftstore.FailoverBegin{Group: "g", At: now, Failover: raftstore.Failover{
		Epoch: 2, From: mst, To: r1, Kind: raftstore.KindSwitchover}})
	m.apply(t, &raftstore.FailoverEnd{Group: "g", Epoch: 2, OK: false, Error: "earlier attempt", At: now})

	m.startLeading(t)
	m.seedView(t, "g", twoReporters(map[string]Obs{mst: obsMaster(), r1: obsReplica(mst, 100)}), time.Now())
	start := time.Now()
	// The master accepts connections and never answers: this attempt takes
	// a command timeout (1s) to fail.
	var fo raftstore.Failover
	m.call("POST", "/v1/groups/g/failover?wait=1", "").expect(t, 200).into(t, &fo)
	if fo.BeganAt.Before(start) || fo.Error == "earlier attempt" {
		t.Errorf("wait=1 answered with the earlier attempt's record (id %s, began %s, error %q), not this attempt's",
			fo.ID, fo.BeganAt.Format(time.RFC3339Nano), fo.Error)
	}
	ids := map[string]int{}
	for _, e := range m.history(t, "?group=g") {
		if e.Failover != nil {
			ids[e.Failover.ID]++
		}
	}
	for id, n := range ids {
		if n > 1 {
			t.Errorf("failover id %s names %d different attempts in the history", id, n)
		}
	}
}

func TestAPIRaftMembership(t *testing.T) {
	pn := &peerNet{}
	w1 := newMember(t, pn, "w1", "127.0.0.1:7101", []string{"w1=127.0.0.1:7101"}, apiToken, 400*time.Millisecond)
	w2 := newMember(t, pn, "w2", "127.0.0.1:7102", nil, apiToken, 400*time.Millisecond)
	w1.trans.Connect(w2.addr, w2.trans)
	w2.trans.Connect(w1.addr, w1.trans)
	waitUntil(t, 5*time.Second, "w1 to lead", w1.node.IsLeader)

	type peers struct {
		Peers    []raftstore.Peer `json:"peers"`
		LeaderID string           `json:"leader_id"`
	}
	var ps peers
	w1.call("GET", "/v1/raft/peers", "").expect(t, 200).into(t, &ps)
	if len(ps.Peers) != 1 || ps.Peers[0] != (raftstore.Peer{ID: "w1", Addr: "127.0.0.1:7101", Suffrage: "Voter"}) || ps.LeaderID != "w1" {
		t.Fatalf("GET /v1/raft/peers: %+v", ps)
	}

	var added struct {
		ID      string `json:"id"`
		Addr    string `json:"addr"`
		Changed bool   `json:"changed"`
	}
	w1.call("POST", "/v1/raft/peers", `{"id":"w2","addr":"127.0.0.1:7102"}`).expect(t, 200).into(t, &added)
	if added.ID != "w2" || added.Addr != "127.0.0.1:7102" || !added.Changed {
		t.Fatalf("add w2: %+v", added)
	}
	waitUntil(t, 5*time.Second, "w2 to follow w1", func() bool { _, id := w2.node.Leader(); return id == "w1" })
	w1.call("POST", "/v1/raft/peers", `{"id":"w2","addr":"127.0.0.1:7102"}`).expect(t, 200).into(t, &added)
	if added.Changed {
		t.Errorf("adding a member again reported a change")
	}
	w2.call("GET", "/v1/raft/peers?consistent=1", "").expect(t, 200).into(t, &ps)
	if len(ps.Peers) != 2 || ps.LeaderID != "w1" {
		t.Errorf("peers seen through w2: %+v", ps)
	}

	t.Run("rejected", func(t *testing.T) {
		for _, c := range []struct {
			name, body string
			code       int
			msg        string
		}{
			{"id taken", `{"id":"w2","addr":"127.0.0.1:7103"}`, 409, "w2 at 127.0.0.1:7102"},
			{"addr taken", `{"id":"w3","addr":"127.0.0.1:7102"}`, 409, "w2 at 127.0.0.1:7102"},
			{"bad id", `{"id":"w 3","addr":"127.0.0.1:7103"}`, 400, `id "w 3" may hold only letters`},
			{"no id", `{"addr":"127.0.0.1:7103"}`, 400, `id ""`},
			{"no addr", `{"id":"w3"}`, 400, "addr: "},
			{"bad addr", `{"id":"w3","addr":"127.0.0.1"}`, 400, "addr: "},
		} {
			t.Run(c.name, func(t *testing.T) { w1.rejectsCall(t, "POST", "/v1/raft/peers", c.body, c.code, c.msg) })
		}
		w1.rejectsBadBodies(t, "POST", "/v1/raft/peers", `{"id":"w2","addr":"127.0.0.1:7102"}`, true)
		w1.rejectsCall(t, "DELETE", "/v1/raft/peers/w9", "", 404, `no member has this id: "w9"`)
	})

	t.Run("a write on a follower runs on the leader", func(t *testing.T) {
		rep := w2.call("POST", "/v1/groups", `{"name":"fwd","nodes":["10.0.0.1:6379","10.0.0.2:6379"]}`).expect(t, http.StatusCreated)
		if got := rep.header.Get("X-Warden-Served-By"); got != "w1" {
			t.Errorf("X-Warden-Served-By %q, want w1", got)
		}
		if e := lastEntry(t, w1); e.Kind != raftstore.EntryGroupAdded || e.By != "api via w2" {
			t.Errorf("history on the leader: %+v", e)
		}
		waitUntil(t, 5*time.Second, "w2 to apply the group", func() bool { _, ok := w2.node.FSM().Group("fwd"); return ok })
		// An error passes through unchanged.
		w2.call("POST", "/v1/groups", `{"name":"fwd","nodes":["10.0.1.1:6379","10.0.1.2:6379"]}`).expectError(t, 409, "group already exists")
		rep = w2.call("GET", "/v1/groups/fwd?consistent=1", "").expect(t, 200)
		if got := rep.header.Get("X-Warden-Served-By"); got != "w1" {
			t.Errorf("consistent read: X-Warden-Served-By %q, want w1", got)
		}
		rep = w2.call("GET", "/v1/groups/fwd", "").expect(t, 200)
		if got := rep.header.Get("X-Warden-Served-By"); got != "" {
			t.Errorf("a plain read is served locally, yet X-Warden-Served-By is %q", got)
		}
		// The follower checks the token before it forwards.
		r := w2.request("POST", "/v1/groups", `{"name":"x","nodes":["10.0.2.1:6379","10.0.2.2:6379"]}`)
		r.Header.Set("Authorization", "Bearer wrong")
		w2.rejects(t, r, 401, "bearer token")
		// A body over the limit is refused by the follower itself.
		w2.rejects(t, chunked(w2.request("POST", "/v1/groups", `{"name":"`+strings.Repeat("x", MaxBody)+`"}`)), 413, "at most")
		// A call that was already forwarded is never forwarded again.
		r = w2.request("POST", "/v1/groups", `{"name":"x","nodes":["10.0.2.1:6379","10.0.2.2:6379"]}`)
		r.Header.Set(ForwardedHeader, "w9")
		w2.rejects(t, r, 503, "this member is not the leader")
	})

	t.Run("transfer leadership", func(t *testing.T) {
		w1.rejectsCall(t, "POST", "/v1/raft/transfer-leadership", `{"id":"w1"}`, 409, "w1 already leads")
		w1.rejectsCall(t, "POST", "/v1/raft/transfer-leadership", `{"id":"w7"}`, 404, `no member has this id: "w7"`)
		w1.rejectsBadBodies(t, "POST", "/v1/raft/transfer-leadership", `{"id":"w2"}`, false)
		var tr map[string]string
		w1.call("POST", "/v1/raft/transfer-leadership", `{"id":"w2"}`).expect(t, 200).into(t, &tr)
		if tr["from"] != "w1" {
			t.Errorf("transfer reply %v", tr)
		}
		waitUntil(t, 5*time.Second, "w2 to lead, as w1 knows", func() bool { _, id := w1.node.Leader(); return w2.node.IsLeader() && id == "w2" })
		// w1 now follows: an empty body hands leadership to the other
		// member, and the call is forwarded to w2, which leads.
		rep := w1.call("POST", "/v1/raft/transfer-leadership", "").expect(t, 200)
		rep.into(t, &tr)
		if tr["from"] != "w2" || rep.header.Get("X-Warden-Served-By") != "w2" {
			t.Errorf("forwarded transfer: %v, served by %q", tr, rep.header.Get("X-Warden-Served-By"))
		}
		waitUntil(t, 5*time.Second, "w1 to lead again", w1.node.IsLeader)
	})

	var removed map[string]string
	w1.call("DELETE", "/v1/raft/peers/w2", "").expect(t, 200).into(t, &removed)
	if removed["removed"] != "w2" {
		t.Errorf("DELETE reply %v", removed)
	}
	w1.call("GET", "/v1/raft/peers", "").expect(t, 200).into(t, &ps)
	if len(ps.Peers) != 1 || ps.Peers[0].ID != "w1" {
		t.Errorf("peers after removing w2: %+v", ps)
	}
}

// Asking the only member to hand over leadership, or to remove itself, is
// a request the state cannot satisfy: 409, not raft's unnamed error as a
// 500 "internal".
func TestAPIMembershipConflictsOnASingleMember(t *testing.T) {
	m := newLeader(t, apiToken)
	t.Run("transfer with no other member", func(t *testing.T) {
		m.rejectsCall(t, "POST", "/v1/raft/transfer-leadership", "", 409, "no other voter to hand leadership to")
	})
	t.Run("remove the last voter", func(t *testing.T) {
		m.rejectsCall(t, "DELETE", "/v1/raft/peers/w1", "", 409, "w1 is the only voter")
	})
}

// scrape reads GET /metrics and parses it as Prometheus text.
func (m *apiMember) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	rep := m.call("GET", "/metrics", "")
	if rep.code != 200 {
		t.Fatalf("GET /metrics: %d %s", rep.code, rep.body)
	}
	if ct := rep.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q, want the Prometheus text format", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(rep.body)))
	if err != nil {
		t.Fatalf("not Prometheus text: %v\n%s", err, rep.body)
	}
	return fams
}

// metricValue finds the sample of name whose labels include labels.
func metricValue(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, mt := range f.GetMetric() {
		for k, v := range labels {
			found := false
			for _, lp := range mt.GetLabel() {
				found = found || (lp.GetName() == k && lp.GetValue() == v)
			}
			if !found {
				continue next
			}
		}
		switch {
		case mt.Gauge != nil:
			return mt.GetGauge().GetValue(), true
		case mt.Counter != nil:
			return mt.GetCounter().GetValue(), true
		}
		return 0, true
	}
	return 0, false
}

func TestAPIMetrics(t *testing.T) {
	m := newLeader(t, apiToken)
	m.s.metrics.observeView(GroupView{Group: "g", Nodes: []NodeView{
		{Addr: "10.0.0.1:6379", Health: HealthUp}, {Addr: "10.0.0.2:6379", Health: HealthODown, VotesDown: 2},
	}}, 3)
	fams := m.scrape(t)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"warden_raft_state", map[string]string{"state": "Leader"}, 1},
		{"warden_raft_state", map[string]string{"state": "Follower"}, 0},
		{"warden_raft_voters", nil, 1},
		{"warden_raft_last_contact_seconds", nil, 0},
		{"warden_group_epoch", map[string]string{"group": "g"}, 3},
		{"warden_node_health", map[string]string{"group": "g", "node": "10.0.0.1:6379"}, 1},
		{"warden_node_health", map[string]string{"group": "g", "node": "10.0.0.2:6379"}, 0},
		{"warden_node_votes_down", map[string]string{"group": "g", "node": "10.0.0.2:6379"}, 2},
	} {
		if v, ok := metricValue(fams, c.name, c.labels); !ok || v != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, v, ok, c.want)
		}
	}
	for _, name := range []string{"warden_raft_term", "warden_raft_commit_index", "warden_raft_applied_index", "go_goroutines"} {
		if _, ok := metricValue(fams, name, nil); !ok {
			t.Errorf("metric %s missing", name)
		}
	}
	if v, _ := metricValue(fams, "warden_raft_commit_index", nil); v < 1 {
		t.Errorf("warden_raft_commit_index %v, want at least 1", v)
	}
}

// slowStats is a node whose Stats take a while, as they may under load.
type slowStats struct{ testNode }

func (n slowStats) Stats() map[string]string {
	<-time.After(50 * time.Millisecond) // the slowness itself, not a wait for a state
	return n.testNode.Stats()
}

// The Raft metrics are read at scrape time, however long that takes. When
// the collector set gauges registered as collectors of their own, the
// registry (which collects concurrently) could read them first: a scrape
// showed the Raft state of the scrape before, and the first scrape no
// warden_raft_state at all. Stats taking 50ms made that certain.
func TestAPIMetricsRaftGaugesAreCurrent(t *testing.T) {
	m := newLeader(t, apiToken)
	m.s = New(m.s.cfg, slowStats{testNode{Node: m.node, net: &peerNet{}}}, "", apiToken, zap.NewNop())
	m.h = m.s.apiHandler(false)
	fams := m.scrape(t)
	if v, ok := metricValue(fams, "warden_raft_state", map[string]string{"state": "Leader"}); !ok || v != 1 {
		t.Errorf("first scrape of a leader: warden_raft_state{state=\"Leader\"} = %v (present %v), want 1", v, ok)
	}
	if v, _ := metricValue(fams, "warden_raft_term", nil); v < 1 {
		t.Errorf("first scrape: warden_raft_term = %v, want the current term (at least 1)", v)
	}
}

// A removed group's series leave /metrics: a gauge left behind keeps
// reporting the last health of nodes nobody watches any more (and keeps an
// alert on warden_node_health firing or silent forever). Run drives the
// leader loop, which exports the views; the nodes refuse connections.
func TestAPIMetricsForgetRemovedGroups(t *testing.T) {
	m := newLeader(t, apiToken)
	m.addGroup(t, "gone", refusedAddrs(t, 2)...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	has := func(name string) bool {
		_, ok := metricValue(m.scrape(t), name, map[string]string{"group": "gone"})
		return ok
	}
	waitUntil(t, 10*time.Second, "the leader loop to export group gone", func() bool { return has("warden_node_health") })
	m.call("DELETE", "/v1/groups/gone", "").expect(t, 200)
	pollUntil(20*m.s.cfg.Detection.ProbeInterval.D(), 20*time.Millisecond, func() bool {
		return !has("warden_group_epoch") && !has("warden_node_health") && !has("warden_node_votes_down")
	})
	for _, name := range []string{"warden_group_epoch", "warden_node_health", "warden_node_votes_down"} {
		if has(name) {
			t.Errorf("%s{group=\"gone\"} is still exported %s after the group was removed", name, 20*m.s.cfg.Detection.ProbeInterval.D())
		}
	}
}

func TestAPIClusters(t *testing.T) {
	m := newLeader(t, apiToken)
	m.apply(t, &raftstore.ClustersEnsure{Clusters: []raftstore.ClusterSpec{{Name: "main", Seeds: []string{"10.0.1.1:7000", "10.0.1.2:7000"}}}, At: time.Now()})
	var list struct {
		Clusters []ClusterStatus `json:"clusters"`
	}
	m.call("GET", "/v1/clusters", "").expect(t, 200).into(t, &list)
	if len(list.Clusters) != 1 || list.Clusters[0].Name != "main" || len(list.Clusters[0].Seeds) != 2 || list.Clusters[0].View != nil {
		t.Fatalf("clusters: %+v", list.Clusters)
	}
	var one ClusterStatus
	m.call("GET", "/v1/clusters/main", "").expect(t, 200).into(t, &one)
	if one.Name != "main" || one.Recorded == nil {
		t.Fatalf("cluster: %+v", one)
	}
	m.rejectsCall(t, "GET", "/v1/clusters/nope", "", 404, `cluster "nope"`)

	before := m.state(t)
	m.rejectsCall(t, "POST", "/v1/clusters/main/failover", `{"shard":"10.0.1.1:7000","mode":"sideways"}`, 400, "mode")
	m.rejectsCall(t, "POST", "/v1/clusters/main/failover", `{"mode":"force"}`, 400, "shard")
	m.rejectsCall(t, "POST", "/v1/clusters/main/failover", `{"shard":"x","bogus":1}`, 400, "unknown field")
	m.rejectsCall(t, "POST", "/v1/clusters/nope/failover", `{"shard":"x"}`, 404, "nope")
	// Without a fresh view of the cluster the leader cannot choose.
	m.rejectsCall(t, "POST", "/v1/clusters/main/failover", `{"shard":"10.0.1.1:7000"}`, 503, "no fresh view")
	m.rejectsCall(t, "POST", "/v1/clusters/nope/fix", "", 404, "nope")
	if after := m.state(t); after != before {
		t.Fatal("a refused cluster failover changed the state")
	}
}

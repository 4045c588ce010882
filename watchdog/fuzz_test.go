package watchdog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"go.uber.org/zap"

	"warden/config"
	"warden/raftstore"
)

// The fuzz targets send arbitrary bodies through the real handlers
// (apiHandler, decode, validation) to a real FSM. Only consensus is left
// out: fuzzRaft applies each command at once, so that an input takes
// microseconds and every input starts from the same state. The same routes
// run on a real Raft node in http_test.go.

// fuzzRaft is the Raft the fuzzed Service runs on.
type fuzzRaft struct {
	Raft // nil: a method not defined below panics

	fsm   *raftstore.FSM
	mu    sync.Mutex
	index uint64
	peers []raftstore.Peer
}

func (r *fuzzRaft) ID() string { return "w1" }

func (r *fuzzRaft) Apply(_ context.Context, c raftstore.Command) error {
	b, err := raftstore.Encode(c)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.index++
	if err, ok := r.fsm.Apply(&raft.Log{Index: r.index, Type: raft.LogCommand, Data: b}).(error); ok {
		return err
	}
	return nil
}

func (r *fuzzRaft) IsLeader() bool                  { return true }
func (r *fuzzRaft) VerifyLeader() error             { return nil }
func (r *fuzzRaft) Barrier(time.Duration) error     { return nil }
func (r *fuzzRaft) LeaderCh() <-chan bool           { return nil }
func (r *fuzzRaft) Leader() (string, string)        { return "127.0.0.1:7101", "w1" }
func (r *fuzzRaft) State() string                   { return "Leader" }
func (r *fuzzRaft) FSM() *raftstore.FSM             { return r.fsm }
func (r *fuzzRaft) PeerListener() net.Listener      { return nil }
func (r *fuzzRaft) Stats() map[string]string        { return map[string]string{} }
func (r *fuzzRaft) LastContact() time.Time          { return time.Time{} }
func (r *fuzzRaft) TransferLeadership(string) error { return nil }
func (r *fuzzRaft) DialPeer(string, time.Duration) (net.Conn, error) {
	return nil, fmt.Errorf("no peers")
}

func (r *fuzzRaft) Peers() ([]raftstore.Peer, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.peers), nil
}

func (r *fuzzRaft) Voters() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.peers)
}

// AddVoter follows raftstore.Node.AddVoter: the same member again changes
// nothing, a different member with the id or the address is a conflict.
func (r *fuzzRaft) AddVoter(id, addr string, _ time.Duration) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.peers {
		switch {
		case p.ID == id && p.Addr == addr:
			return false, nil
		case p.ID == id || p.Addr == addr:
			return false, fmt.Errorf("%w: %s at %s", raftstore.ErrPeerExists, p.ID, p.Addr)
		}
	}
	r.peers = append(r.peers, raftstore.Peer{ID: id, Addr: addr, Suffrage: "Voter"})
	return true, nil
}

func (r *fuzzRaft) RemoveServer(id string, _ time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, p := range r.peers {
		if p.ID == id {
			r.peers = slices.Delete(r.peers, i, i+1)
			return nil
		}
	}
	return fmt.Errorf("%w: %q", raftstore.ErrPeerUnknown, id)
}

// memSink holds a snapshot in memory.
type memSink struct{ bytes.Buffer }

func (*memSink) ID() string    { return "fuzz" }
func (*memSink) Cancel() error { return nil }
func (*memSink) Close() error  { return nil }

// fuzzAPI is a Service on a fuzzRaft, reset to the same state before each
// input.
type fuzzAPI struct {
	s         *Service
	r         *fuzzRaft
	h         http.Handler
	base      []byte
	basePeers []raftstore.Peer
}

var fuzzT0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newFuzzAPI(tb testing.TB, setup ...raftstore.Command) *fuzzAPI {
	tb.Helper()
	cfg := config.Default()
	cfg.ID = "w1"
	cfg.Raft.Bootstrap = []string{"w1=127.0.0.1:7101", "w2=127.0.0.1:7102"}
	r := &fuzzRaft{fsm: raftstore.NewFSM(), peers: []raftstore.Peer{
		{ID: "w1", Addr: "127.0.0.1:7101", Suffrage: "Voter"}, {ID: "w2", Addr: "127.0.0.1:7102", Suffrage: "Voter"},
	}}
	a := &fuzzAPI{s: New(cfg, r, "", "", zap.NewNop()), r: r}
	a.h = a.s.apiHandler(false)
	tb.Cleanup(a.s.act.Close)
	for _, c := range setup {
		if err := r.Apply(context.Background(), c); err != nil {
			tb.Fatalf("setup %T: %v", c, err)
		}
	}
	a.base = a.snapshot(tb)
	a.basePeers = slices.Clone(r.peers)
	return a
}

func (a *fuzzAPI) snapshot(tb testing.TB) []byte {
	tb.Helper()
	snap, err := a.r.fsm.Snapshot()
	if err != nil {
		tb.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		tb.Fatal(err)
	}
	return sink.Bytes()
}

// state is the FSM's snapshot and the member list.
func (a *fuzzAPI) state(tb testing.TB) string {
	peers, _ := a.r.Peers()
	return fmt.Sprintf("%s %v", a.snapshot(tb), peers)
}

func (a *fuzzAPI) reset(tb testing.TB) {
	tb.Helper()
	if err := a.r.fsm.Restore(io.NopCloser(bytes.NewReader(a.base))); err != nil {
		tb.Fatal(err)
	}
	a.r.mu.Lock()
	a.r.peers = slices.Clone(a.basePeers)
	a.r.mu.Unlock()
}

// post sends body; streamed: without a Content-Length.
func (a *fuzzAPI) post(target string, body []byte, streamed bool) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", target, bytes.NewReader(body))
	if streamed {
		r = chunked(r)
	}
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, r)
	return rec
}

// checkReply: the status is one the route documents, the body is JSON,
// and an error has the documented shape.
func checkReply(t *testing.T, rec *httptest.ResponseRecorder, allowed ...int) {
	t.Helper()
	if !slices.Contains(allowed, rec.Code) {
		t.Fatalf("status %d, want one of %v; body: %s", rec.Code, allowed, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	if rec.Code < 400 {
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("reply is not JSON: %s", rec.Body)
		}
		return
	}
	var body map[string]APIError
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil || len(body) != 1 {
		t.Fatalf("error body %s: %v", rec.Body, err)
	}
	if e := body["error"]; e.Code != errorCodes[rec.Code] || e.Message == "" {
		t.Fatalf("error %+v for status %d", e, rec.Code)
	}
}

// validState checks what every state the API leaves behind must satisfy
// (the fuzzed states never remove a group, so every maintenance window is
// on a node of a group).
func validState(fsm *raftstore.FSM) error {
	owner := map[string]string{}
	for _, g := range fsm.Groups() {
		if !config.ValidName(g.Name) {
			return fmt.Errorf("group name %q", g.Name)
		}
		if len(g.Nodes) < 2 {
			return fmt.Errorf("group %s has %d nodes", g.Name, len(g.Nodes))
		}
		for _, n := range g.Nodes {
			if err := config.ValidateAddr(n); err != nil {
				return fmt.Errorf("group %s: %v", g.Name, err)
			}
			if o, ok := owner[n]; ok {
				return fmt.Errorf("node %s is in groups %s and %s", n, o, g.Name)
			}
			owner[n] = g.Name
		}
		if g.Master != "" && !slices.Contains(g.Nodes, g.Master) {
			return fmt.Errorf("group %s: master %s is not a node", g.Name, g.Master)
		}
		for _, fo := range []*raftstore.Failover{g.Failover, g.LastFailover} {
			if fo == nil {
				continue
			}
			if fo.ID == "" || fo.From == fo.To || !slices.Contains(g.Nodes, fo.From) || !slices.Contains(g.Nodes, fo.To) {
				return fmt.Errorf("group %s: failover %+v", g.Name, fo)
			}
		}
		if fo := g.Failover; fo != nil && fo.Epoch != g.Epoch+1 && (fo.Stage != raftstore.StagePromoted || fo.Epoch != g.Epoch) {
			return fmt.Errorf("group %s at epoch %d: running failover at epoch %d, stage %s", g.Name, g.Epoch, fo.Epoch, fo.Stage)
		}
	}
	for n, m := range fsm.Maintenance() {
		if owner[n] == "" {
			return fmt.Errorf("maintenance of %q, which is no group's node", n)
		}
		if !m.Until.After(m.Since) {
			return fmt.Errorf("maintenance of %s ends (%s) before it starts (%s)", n, m.Until, m.Since)
		}
		if len(m.Reason) > 1024 {
			return fmt.Errorf("maintenance of %s: reason of %d bytes", n, len(m.Reason))
		}
	}
	var seq uint64
	for _, e := range fsm.History("", 0) {
		if e.Seq <= seq || e.Kind == "" {
			return fmt.Errorf("history entry %+v after seq %d", e, seq)
		}
		seq = e.Seq
	}
	return nil
}

func (a *fuzzAPI) mustBeValid(t *testing.T) {
	t.Helper()
	if err := validState(a.r.fsm); err != nil {
		t.Fatalf("state after a 2xx: %v", err)
	}
}

func (a *fuzzAPI) mustBeUnchanged(t *testing.T, before string, rec *httptest.ResponseRecorder) {
	t.Helper()
	if after := a.state(t); after != before {
		t.Fatalf("a %d reply changed the state:\nbefore %s\nafter  %s", rec.Code, before, after)
	}
}

func FuzzDecodeGroupRequest(f *testing.F) {
	a := newFuzzAPI(f, &raftstore.GroupAdd{Group: raftstore.GroupSpec{Name: "g", Nodes: []string{"10.0.0.1:6379", "10.0.0.2:6379"}}, At: fuzzT0})
	for _, s := range []string{
		`{"name":"cache","nodes":["10.0.1.1:6379","10.0.1.2:6379"]}`,
		`{"name":"c.a-c_he","nodes":["redis-a.example:6379","redis-b.example:6380","[::1]:6379"]}`,
		`{"nodes":["10.0.1.1:6379","10.0.1.2:6379"],"name":"x"}`,
		`{"name":"g","nodes":["10.0.1.1:6379","10.0.1.2:6379"]}`,
		`{"name":"h","nodes":["10.0.0.2:6379","10.0.1.2:6379"]}`,
		`{"name":"h","nodes":["10.0.1.1:6379","10.0.1.1:6379"]}`,
		`{"name":"h","nodes":["10.0.1.1:6379"]}`,
		`{"name":"a b","nodes":["10.0.1.1:6379","10.0.1.2:6379"]}`,
		`{"name":"h","nodes":["10.0.1.1:0","10.0.1.2:65536"]}`,
		`{"name":"h","nodes":[":1","x:"]}`,
		`{"name":"h","nodes":["10.0.1.1:6379","10.0.1.2:6379"],"extra":true}`,
		`{"name":"h","nodes":["10.0.1.1:6379","10.0.1.2:6379"]}{}`,
		`{"name":"h","nodes":["10.0.1.1:6379","10.0.1.2:6379"]}}`,
		`{"name":"\u00e9","nodes":["10.0.1.1:6379","10.0.1.2:6379"]}`,
		`{"name":"h","nodes":null}`,
		`{"NAME":"h","Nodes":["10.0.1.1:6379","10.0.1.2:6379"]}`,
		``, ` `, `null`, `[]`, `{}`, `"x"`, `{"name":`, "\xff",
	} {
		f.Add([]byte(s), false)
	}
	f.Add([]byte(`{"name":"cache","nodes":["10.0.1.1:6379","10.0.1.2:6379"]}`), true)
	f.Fuzz(func(t *testing.T, body []byte, streamed bool) {
		a.reset(t)
		before := a.state(t)
		rec := a.post("/v1/groups", body, streamed)
		checkReply(t, rec, http.StatusCreated, 400, 409, 413)
		if rec.Code != http.StatusCreated {
			a.mustBeUnchanged(t, before, rec)
			return
		}
		var gs GroupStatus
		if err := json.Unmarshal(rec.Body.Bytes(), &gs); err != nil {
			t.Fatal(err)
		}
		g, ok := a.r.fsm.Group(gs.Name)
		if !ok || g.Status != raftstore.StatusUnknown || g.Master != "" || len(g.Nodes) != len(gs.Nodes) {
			t.Fatalf("reply %+v, stored %+v (found %v)", gs, g, ok)
		}
		for i, n := range gs.Nodes {
			if n.Addr != g.Nodes[i] {
				t.Fatalf("reply node %d %s, stored %s", i, n.Addr, g.Nodes[i])
			}
		}
		if n := len(a.r.fsm.Groups()); n != 2 {
			t.Fatalf("%d groups after adding one to one", n)
		}
		a.mustBeValid(t)
	})
}

func FuzzDecodeMaintenance(f *testing.F) {
	na, nb := "10.0.0.1:6379", "10.0.0.2:6379"
	a := newFuzzAPI(f,
		&raftstore.GroupAdd{Group: raftstore.GroupSpec{Name: "g", Nodes: []string{na, nb}}, At: fuzzT0},
		&raftstore.Maintenance{Node: na, On: true, Reason: "seeded", Until: time.Now().Add(24 * time.Hour), At: time.Now()})
	for _, s := range []string{
		`{"on":true}`,
		`{"on":true,"reason":"kernel upgrade"}`,
		`{"on":true,"until":"2999-01-01T00:00:00Z","reason":"r"}`,
		`{"on":true,"until":"2999-01-01T00:00:00+02:00"}`,
		`{"on":true,"until":"2000-01-01T00:00:00Z"}`,
		`{"on":true,"until":"tomorrow"}`,
		`{"on":false}`,
		`{"on":false,"reason":"done"}`,
		`{"on":false,"until":"2999-01-01T00:00:00Z"}`,
		`{"on":null}`, `{"on":1}`, `{"reason":"x"}`,
		`{"on":true,"reason":"` + strings.Repeat("r", 1025) + `"}`,
		`{"on":true,"bogus":1}`, `{"on":true}{"on":false}`, `{"on":true}]`,
		``, `null`, `{}`, `[true]`,
	} {
		for _, addr := range []string{na, nb} {
			f.Add([]byte(s), addr, false)
		}
	}
	for _, addr := range []string{"10.0.0.9:6379", "nonsense", "10.0.0.1:0", "[::1]:6379", "10.0.0.1:6379 ", "%41"} {
		f.Add([]byte(`{"on":true}`), addr, false)
	}
	f.Add([]byte(`{"on":true}`), nb, true)
	f.Fuzz(func(t *testing.T, body []byte, addr string, streamed bool) {
		if addr == "" || addr == "." || addr == ".." || strings.Contains(addr, "/") {
			t.Skip("not one path segment: the mux redirects before any handler runs")
		}
		a.reset(t)
		before := a.state(t)
		start := time.Now()
		rec := a.post("/v1/nodes/"+url.PathEscape(addr)+"/maintenance", body, streamed)
		checkReply(t, rec, 200, 400, 404, 413)
		if rec.Code != 200 {
			a.mustBeUnchanged(t, before, rec)
			return
		}
		if addr != na && addr != nb {
			t.Fatalf("maintenance accepted for %q, not a node of any group", addr)
		}
		var got struct {
			Node   string    `json:"node"`
			Group  string    `json:"group"`
			On     bool      `json:"on"`
			Until  time.Time `json:"until"`
			Reason string    `json:"reason"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		w, on := a.r.fsm.Maintenance()[addr]
		switch {
		case got.Node != addr || got.Group != "g" || got.On != on:
			t.Fatalf("reply %+v; stored window present: %v", got, on)
		case on && (!w.Until.Equal(got.Until) || w.Reason != got.Reason || !w.Until.After(start) || w.By != "api"):
			t.Fatalf("reply %+v, stored %+v", got, w)
		}
		a.mustBeValid(t)
	})
}

// fuzzNodes are loopback addresses on which nothing should listen: a
// failover the fuzzer starts fails at its first Redis command.
var fuzzNodes = []string{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"}

func FuzzDecodeFailover(f *testing.F) {
	for _, n := range fuzzNodes {
		if c, err := net.DialTimeout("tcp", n, time.Second); err == nil {
			c.Close()
			f.Skipf("something listens on %s: the failovers would send it Redis commands", n)
		}
	}
	mst, r1, r2 := fuzzNodes[0], fuzzNodes[1], fuzzNodes[2]
	a := newFuzzAPI(f,
		&raftstore.GroupAdd{Group: raftstore.GroupSpec{Name: "g", Nodes: fuzzNodes}, At: fuzzT0},
		&raftstore.MasterDiscovered{Group: "g", Master: mst, Epoch: 1, Reason: "fuzz", At: fuzzT0})
	views := []map[string]Obs{
		{mst: obsMaster(), r1: obsReplica(mst, 100), r2: obsReplica(mst, 0)},  // healthy: switchover
		{mst: obsDown(), r1: obsReplica(mst, 100), r2: obsReplica(mst, 100)},  // objectively down
		{mst: obsFailing(), r1: obsReplica(mst, 100), r2: obsReplica(mst, 0)}, // neither: force needed
	}
	for _, s := range []string{
		``, ` `, `{}`, `null`, `{"force":true}`, `{"force":false}`,
		`{"to":"` + r1 + `"}`, `{"to":"` + r2 + `"}`, `{"to":"` + r2 + `","force":true}`, `{"to":"` + mst + `"}`,
		`{"to":"10.9.9.9:6379"}`, `{"to":"r1"}`, `{"to":""}`, `{"to":null}`, `{"force":"yes"}`,
		`{"to":"` + r1 + `","bogus":1}`, `{}{}`, `{}]`, `[]`, `"x"`, `{"to":`,
	} {
		for sc := uint8(0); sc < 4; sc++ {
			f.Add([]byte(s), sc, false)
		}
	}
	f.Add([]byte(`{"force":true}`), uint8(2), true)
	f.Fuzz(func(t *testing.T, body []byte, scenario uint8, streamed bool) {
		a.reset(t)
		sc := int(scenario) % (len(views) + 1)
		var lead *leadership
		if sc < len(views) {
			// A view from two fresh reporters and a running leader loop;
			// the last scenario has neither.
			g, _ := a.r.fsm.Group("g")
			now := time.Now()
			d := Decide(Input{Now: now, Params: ParamsFrom(a.s.cfg, a.r.Voters()), Group: g, Trusted: true,
				Reports: []Report{{From: "w1", Obs: views[sc], ReceivedAt: now}, {From: "w2", Obs: views[sc], ReceivedAt: now}}})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			lead = &leadership{ctx: ctx, wg: &sync.WaitGroup{}}
			a.s.mu.Lock()
			a.s.views["g"], a.s.viewAt, a.s.lead = d.View, now, lead
			a.s.mu.Unlock()
		}
		before := a.state(t)
		rec := a.post("/v1/groups/g/failover", body, streamed)
		if lead != nil {
			a.s.mu.Lock()
			a.s.lead = nil
			a.s.mu.Unlock()
			lead.wg.Wait()
		}
		checkReply(t, rec, http.StatusAccepted, 400, 409, 413, 503)
		if rec.Code != http.StatusAccepted {
			a.mustBeUnchanged(t, before, rec)
			return
		}
		if lead == nil {
			t.Fatal("a failover started without a leader loop")
		}
		var fo raftstore.Failover
		if err := json.Unmarshal(rec.Body.Bytes(), &fo); err != nil {
			t.Fatal(err)
		}
		if fo.From != mst || (fo.To != r1 && fo.To != r2) || fo.Epoch != 2 || fo.RequestedBy != "api" || fo.Stage != raftstore.StageBegun {
			t.Fatalf("202 with %+v", fo)
		}
		wantKind := raftstore.KindFailover
		if sc == 0 {
			wantKind = raftstore.KindSwitchover
		}
		if fo.Kind != wantKind {
			t.Fatalf("scenario %d started a %s", sc, fo.Kind)
		}
		// Nothing listens on the nodes: the failover has ended, failed,
		// and the master stayed where it was.
		g, _ := a.r.fsm.Group("g")
		if g.Failover != nil || g.LastFailover == nil || g.LastFailover.ID != fo.ID || g.LastFailover.OK || g.Master != mst || g.Epoch != 1 {
			t.Fatalf("after the failover: %+v (last %+v)", g, g.LastFailover)
		}
		a.mustBeValid(t)
	})
}

func FuzzDecodePeer(f *testing.F) {
	a := newFuzzAPI(f)
	for _, s := range []string{
		`{"id":"w3","addr":"127.0.0.1:7103"}`,
		`{"addr":"10.1.0.3:7101","id":"w-3.b_c"}`,
		`{"id":"w3","addr":"[::1]:7103"}`,
		`{"id":"w2","addr":"127.0.0.1:7102"}`,
		`{"id":"w2","addr":"127.0.0.1:7103"}`,
		`{"id":"w3","addr":"127.0.0.1:7102"}`,
		`{"id":"w 3","addr":"127.0.0.1:7103"}`,
		`{"id":"w3","addr":"127.0.0.1"}`,
		`{"id":"w3","addr":"127.0.0.1:0"}`,
		`{"id":"w3"}`, `{"addr":"127.0.0.1:7103"}`,
		`{"id":"w3","addr":"127.0.0.1:7103","voter":true}`,
		`{"id":"w3","addr":"127.0.0.1:7103"}{"id":"w4"}`,
		`{"id":"w3","addr":"127.0.0.1:7103"}}`,
		`{"id":3,"addr":"127.0.0.1:7103"}`,
		``, `null`, `{}`, `[]`, `{"id":`,
	} {
		f.Add([]byte(s), false)
	}
	f.Add([]byte(`{"id":"w3","addr":"127.0.0.1:7103"}`), true)
	f.Fuzz(func(t *testing.T, body []byte, streamed bool) {
		a.reset(t)
		before := a.state(t)
		rec := a.post("/v1/raft/peers", body, streamed)
		checkReply(t, rec, 200, 400, 409, 413)
		if rec.Code != 200 {
			a.mustBeUnchanged(t, before, rec)
			return
		}
		var got struct {
			ID      string `json:"id"`
			Addr    string `json:"addr"`
			Changed bool   `json:"changed"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		peers, _ := a.r.Peers()
		if want := len(a.basePeers) + map[bool]int{true: 1}[got.Changed]; len(peers) != want {
			t.Fatalf("%d members after %+v, want %d", len(peers), got, want)
		}
		ids, addrs := map[string]bool{}, map[string]bool{}
		for _, p := range peers {
			if !config.ValidName(p.ID) || config.ValidateAddr(p.Addr) != nil || ids[p.ID] || addrs[p.Addr] {
				t.Fatalf("members after %+v: %+v", got, peers)
			}
			ids[p.ID], addrs[p.Addr] = true, true
		}
		if !slices.Contains(peers, raftstore.Peer{ID: got.ID, Addr: got.Addr, Suffrage: "Voter"}) {
			t.Fatalf("reply %+v, members %+v", got, peers)
		}
		a.mustBeValid(t)
	})
}

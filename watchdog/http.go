package watchdog

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"warden/config"
	"warden/raftstore"
)

// Errors the API maps to status codes, in one place: statusOf.
var (
	ErrNotFound     = errors.New("not found")
	ErrBadRequest   = errors.New("bad request")
	ErrConflict     = errors.New("conflict")
	ErrUnauthorized = errors.New("unauthorized")
	ErrTooLarge     = errors.New("request body too large")
	ErrNoLeader     = errors.New("no raft leader")
	ErrNoQuorum     = errors.New("no fresh view of the group")
	ErrMethod       = errors.New("method not allowed")
)

// MaxBody caps every request body.
const MaxBody = 1 << 20

// ForwardedHeader marks a call a follower passed on to the leader.
const ForwardedHeader = "X-Warden-Forwarded-By"

// APIError is the error body of every failed call.
type APIError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func statusOf(err error) (int, string) {
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, raftstore.ErrUnknownGroup), errors.Is(err, raftstore.ErrPeerUnknown),
		errors.Is(err, raftstore.ErrUnknownOperation), errors.Is(err, raftstore.ErrUnknownCluster):
		return http.StatusNotFound, "not_found"
	case errors.Is(err, ErrMethod):
		return http.StatusMethodNotAllowed, "method_not_allowed"
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge, "too_large"
	case errors.Is(err, ErrBadRequest), errors.Is(err, raftstore.ErrInvalid):
		return http.StatusBadRequest, "bad_request"
	case errors.Is(err, ErrUnauthorized):
		return http.StatusUnauthorized, "unauthorized"
	case errors.Is(err, ErrConflict), errors.Is(err, raftstore.ErrFailoverRunning), errors.Is(err, raftstore.ErrGroupExists),
		errors.Is(err, raftstore.ErrNodeInUse), errors.Is(err, raftstore.ErrPeerExists), errors.Is(err, raftstore.ErrStaleEpoch),
		errors.Is(err, raftstore.ErrMembership), errors.Is(err, raftstore.ErrOperationRunning), errors.Is(err, raftstore.ErrClusterExists):
		return http.StatusConflict, "conflict"
	case errors.Is(err, ErrNoLeader), errors.Is(err, raftstore.ErrNotLeader), errors.Is(err, ErrNoQuorum):
		return http.StatusServiceUnavailable, "unavailable"
	default:
		return http.StatusInternalServerError, "internal"
	}
}

// result lets a handler choose its success status.
type result struct {
	status int
	body   any
}

type handlerFunc func(r *http.Request) (any, error)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	code, name := statusOf(err)
	writeJSON(w, code, map[string]APIError{"error": {Code: name, Message: err.Error()}})
}

func (s *Service) wrap(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := h(r)
		if err != nil {
			writeError(w, err)
			return
		}
		if res, ok := v.(result); ok {
			writeJSON(w, res.status, res.body)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}

// route is one entry of the API table.
type route struct {
	method, path string
	h            handlerFunc
	// write: the leader executes it; a follower forwards it.
	write bool
	// open: no token needed.
	open bool
	// raw serves the route itself (streams).
	raw http.HandlerFunc
}

// routes is the whole API: every route and its method, in one table.
func (s *Service) routes() []route {
	return []route{
		{method: "GET", path: "/v1/status", h: s.getStatus},
		{method: "GET", path: "/v1/groups", h: s.getGroups},
		{method: "POST", path: "/v1/groups", h: s.postGroup, write: true},
		{method: "GET", path: "/v1/groups/{name}", h: s.getGroup},
		{method: "DELETE", path: "/v1/groups/{name}", h: s.deleteGroup, write: true},
		{method: "POST", path: "/v1/groups/{name}/failover", h: s.postFailover, write: true},
		{method: "POST", path: "/v1/groups/{name}/ack", h: s.postAck, write: true},
		{method: "POST", path: "/v1/nodes/{addr}/maintenance", h: s.postMaintenance, write: true},
		{method: "GET", path: "/v1/maintenance", h: s.getMaintenance},
		{method: "GET", path: "/v1/clusters", h: s.getClusters},
		{method: "GET", path: "/v1/clusters/{name}", h: s.getCluster},
		{method: "POST", path: "/v1/clusters/{name}/failover", h: s.postClusterFailover, write: true},
		{method: "POST", path: "/v1/clusters/{name}/fix", h: s.postClusterFix, write: true},
		{method: "POST", path: "/v1/clusters", h: s.postClusterCreate, write: true},
		{method: "POST", path: "/v1/clusters/{name}/shards", h: s.postShardAdd, write: true},
		{method: "DELETE", path: "/v1/clusters/{name}/shards/{master}", h: s.deleteShard, write: true},
		{method: "POST", path: "/v1/clusters/{name}/shards/{master}/replicas", h: s.postReplicas, write: true},
		{method: "DELETE", path: "/v1/clusters/{name}/shards/{master}/replicas", h: s.deleteReplicas, write: true},
		{method: "POST", path: "/v1/clusters/{name}/rebalance", h: s.postRebalance, write: true},
		{method: "GET", path: "/v1/operations", h: s.getOperations},
		{method: "GET", path: "/v1/operations/{id}", h: s.getOperation},
		{method: "POST", path: "/v1/operations/{id}/cancel", h: s.postOperationCancel, write: true},
		{method: "GET", path: "/v1/history", h: s.getHistory},
		{method: "GET", path: "/v1/events", raw: s.serveEvents},
		{method: "GET", path: "/v1/raft/peers", h: s.getPeers},
		{method: "POST", path: "/v1/raft/peers", h: s.postPeer, write: true},
		{method: "DELETE", path: "/v1/raft/peers/{id}", h: s.deletePeer, write: true},
		{method: "POST", path: "/v1/raft/transfer-leadership", h: s.postTransfer, write: true},
		{method: "GET", path: "/healthz", h: s.getHealthz, open: true},
		{method: "GET", path: "/readyz", h: s.getReadyz, open: true},
		// The operator's page (ui.go): "/{$}" is "/" alone, not every path.
		// Open: it carries no data; the API calls it makes need the token.
		{method: "GET", path: "/{$}", raw: serveUI("index.html", "text/html; charset=utf-8"), open: true},
		{method: "GET", path: "/ui/app.js", raw: serveUI("app.js", "text/javascript; charset=utf-8"), open: true},
		{method: "GET", path: "/ui/style.css", raw: serveUI("style.css", "text/css; charset=utf-8"), open: true},
	}
}

// apiHandler serves the admin API. forwarded is true on the peer listener,
// where followers pass calls on to the leader.
func (s *Service) apiHandler(forwarded bool) http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		var h http.Handler = s.wrap(rt.h)
		if rt.raw != nil {
			h = rt.raw
		}
		var next http.Handler = h
		if rt.write || isConsistentRead(rt) {
			next = s.forward(rt, h, forwarded)
		}
		if !rt.open {
			next = s.authenticate(next)
		}
		mux.Handle(rt.method+" "+rt.path, limitBody(next))
	}
	mux.Handle("GET /metrics", s.authenticate(s.metrics.Handler()))
	// A known path with a method it does not take: 405, naming the allowed.
	allowed := map[string][]string{"/metrics": {"GET"}}
	for _, rt := range s.routes() {
		allowed[rt.path] = append(allowed[rt.path], rt.method)
	}
	for p, methods := range allowed {
		msg := fmt.Sprintf("%s takes %s", strings.TrimSuffix(p, "{$}"), strings.Join(methods, ", "))
		mux.Handle(p, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", strings.Join(methods, ", "))
			writeError(w, fmt.Errorf("%w: %s %s: %s", ErrMethod, r.Method, r.URL.Path, msg))
		}))
	}
	mux.Handle("/", s.wrap(func(r *http.Request) (any, error) {
		return nil, fmt.Errorf("%w: no route %s %s", ErrNotFound, r.Method, r.URL.Path)
	}))
	return mux
}

func isConsistentRead(rt route) bool { return rt.method == "GET" && !rt.open && rt.raw == nil }

func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > MaxBody {
			writeError(w, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, r.ContentLength, MaxBody))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
		next.ServeHTTP(w, r)
	})
}

// authenticate checks the bearer token (constant-time) when one is set.
func (s *Service) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.token != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="warden"`)
				writeError(w, fmt.Errorf("%w: a valid bearer token is required", ErrUnauthorized))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// forward runs a write on the leader: here when this member leads, else
// passed on over the peer connection. A read with ?consistent=1 is served
// by the leader too. A call that was already forwarded is never forwarded
// again.
func (s *Service) forward(rt route, local http.Handler, forwarded bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !rt.write && r.URL.Query().Get("consistent") != "1" {
			local.ServeHTTP(w, r)
			return
		}
		if s.node.IsLeader() {
			if !rt.write {
				if err := s.node.VerifyLeader(); err != nil {
					writeError(w, err)
					return
				}
			}
			local.ServeHTTP(w, r)
			return
		}
		if forwarded || r.Header.Get(ForwardedHeader) != "" {
			writeError(w, fmt.Errorf("%w: this member is not the leader", ErrNoLeader))
			return
		}
		addr, id := s.node.Leader()
		if addr == "" {
			writeError(w, fmt.Errorf("%w: no leader is known to %s", ErrNoLeader, s.cfg.ID))
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				writeError(w, fmt.Errorf("%w: at most %d bytes", ErrTooLarge, MaxBody))
				return
			}
			writeError(w, fmt.Errorf("%w: read body: %v", ErrBadRequest, err))
			return
		}
		req, err := http.NewRequestWithContext(r.Context(), r.Method, "http://"+addr+r.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			writeError(w, err)
			return
		}
		req.Header = r.Header.Clone()
		req.Header.Set(ForwardedHeader, s.cfg.ID)
		resp, err := s.peerLong.Do(req)
		if err != nil {
			writeError(w, fmt.Errorf("%w: forward to leader %s: %v", ErrNoLeader, id, err))
			return
		}
		defer resp.Body.Close()
		for k, vs := range resp.Header {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
		w.Header().Set("X-Warden-Served-By", id)
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	})
}

// decode reads a JSON body strictly: one value, no unknown fields.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return fmt.Errorf("%w: at most %d bytes", ErrTooLarge, MaxBody)
		case errors.Is(err, io.EOF):
			return fmt.Errorf("%w: empty body, want a JSON object", ErrBadRequest)
		default:
			return fmt.Errorf("%w: body: %v", ErrBadRequest, err)
		}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: body holds more than one JSON value", ErrBadRequest)
	}
	return nil
}

// decodeOptional is decode for bodies that may be empty.
func decodeOptional(r *http.Request, v any) error {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fmt.Errorf("%w: at most %d bytes", ErrTooLarge, MaxBody)
		}
		return fmt.Errorf("%w: read body: %v", ErrBadRequest, err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	return decode(r, v)
}

func caller(r *http.Request) string {
	if by := r.Header.Get(ForwardedHeader); by != "" {
		return "api via " + by
	}
	return "api"
}

// Status is GET /v1/status.
type Status struct {
	ID         string `json:"id"`
	RaftState  string `json:"raft_state"`
	LeaderID   string `json:"leader_id"`
	LeaderAddr string `json:"leader_addr"`
	// Term is this member's current Raft term: it grows with every
	// election, so an unchanged term means no leadership churn.
	Term      uint64           `json:"term"`
	Peers     []raftstore.Peer `json:"peers"`
	Groups    int              `json:"groups"`
	LastEvent uint64           `json:"last_event"`
	// AppliedIndex is the Raft index of the last command this member
	// applied and StateDigest a SHA-256 of the replicated state after it:
	// members at the same index must show the same digest.
	AppliedIndex uint64 `json:"applied_index"`
	StateDigest  string `json:"state_digest"`
	// Webhooks: the delivery state of every configured hook (pending
	// counts and errors are known on the leader only).
	Webhooks []hookStatus `json:"webhooks"`
}

func (s *Service) getStatus(*http.Request) (any, error) {
	addr, id := s.node.Leader()
	peers, err := s.node.Peers()
	if err != nil {
		return nil, fmt.Errorf("read raft configuration: %w", err)
	}
	term, _ := strconv.ParseUint(s.node.Stats()["term"], 10, 64)
	st := Status{
		ID: s.cfg.ID, RaftState: s.node.State(), LeaderID: id, LeaderAddr: addr, Term: term,
		Peers: peers, Groups: len(s.fsm.Groups()), LastEvent: s.fsm.LastEventSeq(), Webhooks: []hookStatus{},
	}
	if st.AppliedIndex, st.StateDigest, err = s.fsm.Digest(); err != nil {
		return nil, err
	}
	for _, h := range s.cfg.Webhooks {
		hs := hookStatus{Name: h.Name}
		s.mu.Lock()
		if cur, ok := s.hooks[h.Name]; ok && s.node.IsLeader() {
			hs = *cur
		}
		s.mu.Unlock()
		hs.Cursor, _ = s.fsm.HookCursor(h.Name)
		st.Webhooks = append(st.Webhooks, hs)
	}
	return st, nil
}

// serveEvents is GET /v1/events?since=SEQ&limit=N: the retained events
// after SEQ as JSON, or, with Accept: text/event-stream, a live stream
// (Server-Sent Events) that resumes after Last-Event-ID.
func (s *Service) serveEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var since uint64
	for _, v := range []struct{ name, val string }{{"since", q.Get("since")}, {"Last-Event-ID", r.Header.Get("Last-Event-ID")}} {
		if v.val == "" {
			continue
		}
		n, err := strconv.ParseUint(v.val, 10, 64)
		if err != nil {
			writeError(w, fmt.Errorf("%w: %s %q is not an event sequence number", ErrBadRequest, v.name, v.val))
			return
		}
		since = max(since, n)
	}
	limit := 1000
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 10000 {
			writeError(w, fmt.Errorf("%w: limit %q must be a number from 1 to 10000", ErrBadRequest, l))
			return
		}
		limit = n
	}
	if !strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		evs, oldest := s.fsm.EventsSince(since, limit)
		if evs == nil {
			evs = []raftstore.Event{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"events": evs, "oldest": oldest, "last": s.fsm.LastEventSeq()})
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		writeError(w, errors.New("streaming is not supported by this connection"))
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fl.Flush()
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	for {
		changed := s.fsm.Changed()
		evs, _ := s.fsm.EventsSince(since, limit)
		for _, e := range evs {
			b, err := json.Marshal(e)
			if err != nil {
				return
			}
			if _, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.Seq, e.Kind, b); err != nil {
				return
			}
			since = e.Seq
		}
		if len(evs) > 0 {
			fl.Flush()
			if len(evs) == limit {
				continue
			}
		}
		select {
		case <-r.Context().Done():
			return
		case <-changed:
		case <-keepalive.C:
			if _, err := io.WriteString(w, ": keepalive\n\n"); err != nil {
				return
			}
			fl.Flush()
		}
	}
}

func (s *Service) getHealthz(*http.Request) (any, error) {
	return map[string]string{"status": "ok", "id": s.cfg.ID}, nil
}

func (s *Service) getReadyz(*http.Request) (any, error) {
	addr, id := s.node.Leader()
	if addr == "" {
		return nil, fmt.Errorf("%w: %s knows no leader", ErrNoLeader, s.cfg.ID)
	}
	return map[string]string{"status": "ready", "id": s.cfg.ID, "leader_id": id}, nil
}

// NodeStatus is one node in GET /v1/groups/{name}.
type NodeStatus struct {
	Addr        string     `json:"addr"`
	Role        string     `json:"role"`
	Health      string     `json:"health"`
	VotesDown   int        `json:"votes_down"`
	VotesUp     int        `json:"votes_up"`
	Offset      int64      `json:"offset"`
	LatencyMs   float64    `json:"latency_ms"`
	MasterAddr  string     `json:"master_addr,omitempty"`
	LinkUp      bool       `json:"link_up"`
	Maintenance *time.Time `json:"maintenance_until,omitempty"`
}

// GroupStatus is GET /v1/groups/{name}.
type GroupStatus struct {
	Name         string              `json:"name"`
	Master       string              `json:"master"`
	Epoch        uint64              `json:"epoch"`
	Status       string              `json:"status"`
	Reason       string              `json:"reason,omitempty"`
	Nodes        []NodeStatus        `json:"nodes"`
	Reporters    []string            `json:"reporters"`
	ViewAgeMs    int64               `json:"view_age_ms"`
	Failover     *raftstore.Failover `json:"failover"`
	LastFailover *raftstore.Failover `json:"last_failover"`
	BlockedUntil *time.Time          `json:"blocked_until,omitempty"`
	// Fence is the write fence mode in force (on, strict, off).
	Fence string `json:"fence"`
}

func (s *Service) groupStatus(g raftstore.Group) GroupStatus {
	s.mu.Lock()
	v, hasView := s.views[g.Name]
	age := time.Since(s.viewAt)
	s.mu.Unlock()
	now := time.Now()
	maint := s.fsm.Maintenance()
	stale := !hasView || age > 3*s.cfg.Detection.ProbeInterval.D()
	gs := GroupStatus{
		Name: g.Name, Master: g.Master, Epoch: g.Epoch, Status: g.Status, Reason: g.Reason,
		Failover: g.Failover, LastFailover: g.LastFailover, ViewAgeMs: -1,
		Reporters: append([]string{}, v.Reporters...),
		Fence:     s.cfg.FenceMode(g.Fence),
	}
	if hasView {
		gs.ViewAgeMs = age.Milliseconds()
	}
	if g.Failover != nil {
		gs.Status = "failing_over"
	}
	if left := g.BlockedFor(s.cfg.Failover.BlockAfter.D(), now); left > 0 {
		// What is left by this member's clock, shown on its wall clock.
		until := now.Add(left).Round(0)
		gs.BlockedUntil = &until
	}
	for _, addr := range g.Nodes {
		ns := NodeStatus{Addr: addr, Role: RoleUnknown, Health: HealthUnknown}
		if !stale {
			if nv := v.node(addr); nv != nil {
				ns.Health, ns.VotesDown, ns.VotesUp = nv.Health, nv.VotesDown, nv.VotesUp
				ns.Role, ns.Offset, ns.LatencyMs = nv.Role, nv.Offset, nv.LatencyMs
				ns.MasterAddr, ns.LinkUp = nv.MasterOf, nv.LinkUp
			}
		}
		if o, ok := s.prober.Local(addr); ok && o.Known {
			if ns.Role == RoleUnknown && o.Role != "" {
				ns.Role, ns.MasterAddr, ns.LinkUp = o.Role, o.MasterAddr, o.LinkUp
			}
			if o.Up {
				ns.Offset, ns.LatencyMs = o.Offset, o.LatencyMs
			}
			if stale {
				if o.Up {
					ns.Health = HealthUp
				} else {
					ns.Health = HealthSDown
				}
			}
		}
		if m, ok := maint[addr]; ok && m.Active(now) {
			until := m.Until
			ns.Maintenance = &until
		}
		gs.Nodes = append(gs.Nodes, ns)
	}
	return gs
}

func (s *Service) getGroups(*http.Request) (any, error) {
	out := []GroupStatus{}
	for _, g := range s.fsm.Groups() {
		out = append(out, s.groupStatus(g))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return map[string]any{"groups": out}, nil
}

func (s *Service) getGroup(r *http.Request) (any, error) {
	name := r.PathValue("name")
	g, ok := s.fsm.Group(name)
	if !ok {
		return nil, fmt.Errorf("%w: group %q", ErrNotFound, name)
	}
	return s.groupStatus(g), nil
}

// GroupRequest is the body of POST /v1/groups.
type GroupRequest struct {
	Name  string   `json:"name"`
	Nodes []string `json:"nodes"`
	// Fence overrides failover.fence for the group: on, strict or off
	// (empty: follow failover.fence).
	Fence string `json:"fence,omitempty"`
}

// Validate names what is wrong with the request.
func (q GroupRequest) Validate() error {
	if !config.ValidName(q.Name) {
		return fmt.Errorf("%w: name %q may hold only letters, digits, _ . - (at most 64)", ErrBadRequest, q.Name)
	}
	if len(q.Nodes) < 2 {
		return fmt.Errorf("%w: nodes must list at least two nodes (a master and a replica)", ErrBadRequest)
	}
	if !config.ValidFenceMode(q.Fence) {
		return fmt.Errorf("%w: fence %q must be on, strict or off", ErrBadRequest, q.Fence)
	}
	seen := map[string]bool{}
	for i, n := range q.Nodes {
		if err := config.ValidateAddr(n); err != nil {
			return fmt.Errorf("%w: nodes[%d]: %v", ErrBadRequest, i, err)
		}
		if seen[n] {
			return fmt.Errorf("%w: nodes[%d]: %s is listed twice", ErrBadRequest, i, n)
		}
		seen[n] = true
	}
	return nil
}

func (s *Service) postGroup(r *http.Request) (any, error) {
	var q GroupRequest
	if err := decode(r, &q); err != nil {
		return nil, err
	}
	if err := q.Validate(); err != nil {
		return nil, err
	}
	if err := s.node.Apply(r.Context(), &raftstore.GroupAdd{Group: raftstore.GroupSpec{Name: q.Name, Nodes: q.Nodes, Fence: q.Fence}, By: caller(r), At: time.Now()}); err != nil {
		return nil, err
	}
	g, _ := s.fsm.Group(q.Name)
	return result{status: http.StatusCreated, body: s.groupStatus(g)}, nil
}

func (s *Service) deleteGroup(r *http.Request) (any, error) {
	name := r.PathValue("name")
	if err := s.node.Apply(r.Context(), &raftstore.GroupRemove{Group: name, By: caller(r), At: time.Now()}); err != nil {
		return nil, err
	}
	return map[string]string{"removed": name}, nil
}

func (s *Service) postAck(r *http.Request) (any, error) {
	name := r.PathValue("name")
	if err := s.node.Apply(r.Context(), &raftstore.Ack{Group: name, By: caller(r), At: time.Now()}); err != nil {
		return nil, err
	}
	g, _ := s.fsm.Group(name)
	return s.groupStatus(g), nil
}

// MaintenanceRequest is the body of POST /v1/nodes/{addr}/maintenance.
type MaintenanceRequest struct {
	On     *bool  `json:"on"`
	Reason string `json:"reason"`
	Until  string `json:"until"`
}

// DefaultMaintenance is how long a window lasts when no until is given.
const DefaultMaintenance = time.Hour

func (s *Service) postMaintenance(r *http.Request) (any, error) {
	addr := r.PathValue("addr")
	if err := config.ValidateAddr(addr); err != nil {
		return nil, fmt.Errorf("%w: node address: %v", ErrBadRequest, err)
	}
	var q MaintenanceRequest
	if err := decode(r, &q); err != nil {
		return nil, err
	}
	if q.On == nil {
		return nil, fmt.Errorf("%w: on is required (true or false)", ErrBadRequest)
	}
	if len(q.Reason) > 1024 {
		return nil, fmt.Errorf("%w: reason is longer than 1024 characters", ErrBadRequest)
	}
	owner := ""
	for _, g := range s.fsm.Groups() {
		for _, n := range g.Nodes {
			if n == addr {
				owner = g.Name
			}
		}
	}
	if owner == "" {
		return nil, fmt.Errorf("%w: %s is not a node of any group", ErrNotFound, addr)
	}
	now := time.Now()
	c := &raftstore.Maintenance{Node: addr, On: *q.On, Reason: q.Reason, By: caller(r), At: now}
	if *q.On {
		c.Until = now.Add(DefaultMaintenance)
		if q.Until != "" {
			u, err := time.Parse(time.RFC3339, q.Until)
			if err != nil {
				return nil, fmt.Errorf("%w: until %q is not an RFC3339 time (e.g. 2026-01-02T15:04:05Z)", ErrBadRequest, q.Until)
			}
			if !u.After(now) {
				return nil, fmt.Errorf("%w: until %s is not in the future", ErrBadRequest, q.Until)
			}
			c.Until = u
		}
	} else if q.Until != "" {
		return nil, fmt.Errorf("%w: until goes with on: true", ErrBadRequest)
	}
	if err := s.node.Apply(r.Context(), c); err != nil {
		return nil, err
	}
	out := map[string]any{"node": addr, "group": owner, "on": *q.On}
	if *q.On {
		out["until"] = c.Until
		out["reason"] = q.Reason
	}
	return out, nil
}

func (s *Service) getMaintenance(*http.Request) (any, error) {
	now := time.Now()
	out := map[string]raftstore.NodeMaintenance{}
	for n, m := range s.fsm.Maintenance() {
		if m.Active(now) {
			out[n] = m
		}
	}
	return map[string]any{"maintenance": out}, nil
}

func (s *Service) getHistory(r *http.Request) (any, error) {
	q := r.URL.Query()
	limit := 100
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > raftstore.HistoryLimit {
			return nil, fmt.Errorf("%w: limit %q must be a number from 1 to %d", ErrBadRequest, l, raftstore.HistoryLimit)
		}
		limit = n
	}
	group := q.Get("group")
	if group != "" && !config.ValidName(group) {
		return nil, fmt.Errorf("%w: group %q is not a valid name", ErrBadRequest, group)
	}
	entries := s.fsm.History(group, limit)
	if entries == nil {
		entries = []raftstore.Entry{}
	}
	return map[string]any{"history": entries}, nil
}

func (s *Service) getPeers(*http.Request) (any, error) {
	peers, err := s.node.Peers()
	if err != nil {
		return nil, err
	}
	_, leader := s.node.Leader()
	return map[string]any{"peers": peers, "leader_id": leader}, nil
}

// PeerRequest is the body of POST /v1/raft/peers.
type PeerRequest struct {
	ID   string `json:"id"`
	Addr string `json:"addr"`
}

func (s *Service) postPeer(r *http.Request) (any, error) {
	var q PeerRequest
	if err := decode(r, &q); err != nil {
		return nil, err
	}
	if !config.ValidName(q.ID) {
		return nil, fmt.Errorf("%w: id %q may hold only letters, digits, _ . - (at most 64)", ErrBadRequest, q.ID)
	}
	if err := config.ValidateAddr(q.Addr); err != nil {
		return nil, fmt.Errorf("%w: addr: %v", ErrBadRequest, err)
	}
	changed, err := s.node.AddVoter(q.ID, q.Addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	if changed {
		s.log.Info("member added", zap.String("member", q.ID), zap.String("raft-addr", q.Addr), zap.String("by", caller(r)))
	}
	return map[string]any{"id": q.ID, "addr": q.Addr, "changed": changed}, nil
}

func (s *Service) deletePeer(r *http.Request) (any, error) {
	id := r.PathValue("id")
	if err := s.node.RemoveServer(id, 10*time.Second); err != nil {
		return nil, err
	}
	s.log.Info("member removed", zap.String("member", id), zap.String("by", caller(r)))
	return map[string]any{"removed": id}, nil
}

// TransferRequest is the optional body of POST /v1/raft/transfer-leadership.
type TransferRequest struct {
	ID string `json:"id"`
}

func (s *Service) postTransfer(r *http.Request) (any, error) {
	var q TransferRequest
	if err := decodeOptional(r, &q); err != nil {
		return nil, err
	}
	if q.ID == s.cfg.ID {
		return nil, fmt.Errorf("%w: %s already leads", ErrConflict, q.ID)
	}
	if err := s.node.TransferLeadership(q.ID); err != nil {
		return nil, err
	}
	// The transfer has happened; the new leader is usually known within an
	// election timeout.
	_, id := s.node.Leader()
	deadline := time.Now().Add(2 * s.cfg.Raft.ElectionTimeout.D())
	for (id == "" || id == s.cfg.ID) && time.Now().Before(deadline) {
		select {
		case <-r.Context().Done():
			return nil, r.Context().Err()
		case <-time.After(20 * time.Millisecond):
		}
		_, id = s.node.Leader()
	}
	return map[string]any{"from": s.cfg.ID, "leader_id": id}, nil
}

// FailoverRequest is the body of POST /v1/groups/{name}/failover.
type FailoverRequest struct {
	To    string `json:"to"`
	Force bool   `json:"force"`
}

func (s *Service) postFailover(r *http.Request) (any, error) {
	name := r.PathValue("name")
	var q FailoverRequest
	if err := decodeOptional(r, &q); err != nil {
		return nil, err
	}
	if q.To != "" {
		if err := config.ValidateAddr(q.To); err != nil {
			return nil, fmt.Errorf("%w: to: %v", ErrBadRequest, err)
		}
	}
	fo, err := s.requestFailoverSoon(r.Context(), name, q.To, q.Force, caller(r))
	if err != nil {
		return nil, err
	}
	if r.URL.Query().Get("wait") != "1" {
		return result{status: http.StatusAccepted, body: fo}, nil
	}
	done, err := s.waitFailover(r.Context(), name, fo.ID)
	if err != nil {
		return nil, err
	}
	return done, nil
}

// waitFailover polls the state until the failover id has ended.
func (s *Service) waitFailover(ctx context.Context, group, id string) (*raftstore.Failover, error) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		g, ok := s.fsm.Group(group)
		if !ok {
			return nil, fmt.Errorf("%w: group %q was removed", ErrNotFound, group)
		}
		if g.LastFailover != nil && g.LastFailover.ID == id {
			return g.LastFailover, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for failover %s: %w", id, ctx.Err())
		case <-t.C:
		}
	}
}

// peerHandler serves the watchdogs' own traffic on the Raft port: reports
// and the API calls followers forward.
func (s *Service) peerHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /peer/v1/report", s.wrap(func(r *http.Request) (any, error) {
		if !s.node.IsLeader() {
			return nil, fmt.Errorf("%w: this member is not the leader", ErrNoLeader)
		}
		var rep Report
		dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 8<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rep); err != nil {
			return nil, fmt.Errorf("%w: report: %v", ErrBadRequest, err)
		}
		if rep.From == "" {
			return nil, fmt.Errorf("%w: report without from", ErrBadRequest)
		}
		s.receive(rep)
		s.mu.Lock()
		views := s.views
		cviews := s.clusterViews
		sentinels := make(map[string]string, len(s.sentinels))
		for k, v := range s.sentinels {
			sentinels[k] = v
		}
		s.mu.Unlock()
		return peerReply{Leader: s.cfg.ID, Views: views, Sentinels: sentinels, ClusterViews: cviews}, nil
	}))
	mux.Handle("/", s.apiHandler(true))
	return mux
}

// ClusterStatus is GET /v1/clusters/{name}.
type ClusterStatus struct {
	Name         string                     `json:"name"`
	Seeds        []string                   `json:"seeds"`
	Epoch        uint64                     `json:"epoch"`
	View         *ClusterView               `json:"view"`
	Recorded     []raftstore.ShardRecord    `json:"recorded_shards"`
	Failover     *raftstore.ClusterFailover `json:"failover"`
	LastFailover *raftstore.ClusterFailover `json:"last_failover"`
}

func (s *Service) clusterStatus(c raftstore.Cluster) ClusterStatus {
	cs := ClusterStatus{Name: c.Name, Seeds: c.Seeds, Epoch: c.Epoch, Recorded: c.Shards, Failover: c.Failover, LastFailover: c.LastFailover}
	if cs.Recorded == nil {
		cs.Recorded = []raftstore.ShardRecord{}
	}
	s.mu.Lock()
	if v, ok := s.clusterViews[c.Name]; ok && time.Since(s.viewAt) <= 3*s.cfg.Detection.ProbeInterval.D() {
		cs.View = &v
	}
	s.mu.Unlock()
	return cs
}

func (s *Service) getClusters(*http.Request) (any, error) {
	out := []ClusterStatus{}
	for _, c := range s.fsm.Clusters() {
		out = append(out, s.clusterStatus(c))
	}
	return map[string]any{"clusters": out}, nil
}

func (s *Service) getCluster(r *http.Request) (any, error) {
	name := r.PathValue("name")
	c, ok := s.fsm.Cluster(name)
	if !ok {
		return nil, fmt.Errorf("%w: cluster %q", ErrNotFound, name)
	}
	return s.clusterStatus(c), nil
}

// ClusterFailoverRequest is the body of POST /v1/clusters/{name}/failover.
type ClusterFailoverRequest struct {
	// Shard names the shard by its master's id or address.
	Shard string `json:"shard"`
	// To is the replica to promote (default: the best of the shard).
	To string `json:"to"`
	// Mode is graceful (default: CLUSTER FAILOVER, no write lost), force or
	// takeover.
	Mode string `json:"mode"`
}

func (s *Service) postClusterFailover(r *http.Request) (any, error) {
	name := r.PathValue("name")
	var q ClusterFailoverRequest
	if err := decode(r, &q); err != nil {
		return nil, err
	}
	if q.Mode == "" {
		q.Mode = raftstore.ModeGraceful
	}
	switch q.Mode {
	case raftstore.ModeGraceful, raftstore.ModeForce, raftstore.ModeTakeover:
	default:
		return nil, fmt.Errorf("%w: mode %q must be graceful, force or takeover", ErrBadRequest, q.Mode)
	}
	if q.Shard == "" {
		return nil, fmt.Errorf("%w: shard (the master's id or address) is required", ErrBadRequest)
	}
	c, ok := s.fsm.Cluster(name)
	if !ok {
		return nil, fmt.Errorf("%w: cluster %q", ErrNotFound, name)
	}
	if c.Failover != nil {
		return nil, fmt.Errorf("%w: failover %s is running", ErrConflict, c.Failover.ID)
	}
	s.mu.Lock()
	v, hasView := s.clusterViews[name]
	lead := s.lead
	s.mu.Unlock()
	if !hasView || lead == nil {
		return nil, fmt.Errorf("%w: the leader has no fresh view of cluster %s", ErrNoQuorum, name)
	}
	var shard *ClusterShardView
	for i := range v.Shards {
		if v.Shards[i].MasterID == q.Shard || v.Shards[i].MasterAddr == q.Shard {
			shard = &v.Shards[i]
		}
	}
	if shard == nil {
		return nil, fmt.Errorf("%w: no shard of %s has master %q", ErrNotFound, name, q.Shard)
	}
	var to *ClusterNodeView
	for i := range v.Nodes {
		n := &v.Nodes[i]
		if n.MasterID != shard.MasterID || n.Role != RoleReplica || n.Health != HealthUp {
			continue
		}
		if q.To != "" && n.Addr != q.To && n.ID != q.To {
			continue
		}
		if to == nil || n.Offset > to.Offset {
			to = n
		}
	}
	if to == nil {
		return nil, fmt.Errorf("%w: no reachable replica of %s matches %q", ErrConflict, shard.MasterAddr, q.To)
	}
	a := ClusterAction{Kind: ClActFailover, Cluster: name, Mode: q.Mode, From: shard.MasterAddr, FromID: shard.MasterID,
		To: to.Addr, ToID: to.ID, Reason: "requested by " + caller(r)}
	s.mu.Lock()
	if s.busy["cluster/"+name] || s.lead != lead {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: a failover of cluster %s is being carried out", ErrConflict, name)
	}
	s.busy["cluster/"+name] = true
	lead.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer lead.wg.Done()
		defer func() {
			s.mu.Lock()
			delete(s.busy, "cluster/"+name)
			s.mu.Unlock()
		}()
		s.runClusterFailover(lead.ctx, a, caller(r))
	}()
	return result{status: http.StatusAccepted, body: map[string]string{"cluster": name, "mode": q.Mode, "from": a.From, "to": a.To}}, nil
}

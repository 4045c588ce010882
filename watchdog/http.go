package watchdog

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"time"

	"warden/raftstore"
)

// Errors the API maps to status codes (in one place: statusOf).
var (
	ErrNotFound   = errors.New("not found")
	ErrBadRequest = errors.New("bad request")
	ErrNoLeader   = errors.New("no raft leader")
)

// APIError is the error body of every failed call.
type APIError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func statusOf(err error) (int, string) {
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, raftstore.ErrUnknownGroup):
		return http.StatusNotFound, "not_found"
	case errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest, "bad_request"
	case errors.Is(err, raftstore.ErrFailoverRunning):
		return http.StatusConflict, "conflict"
	case errors.Is(err, ErrNoLeader), errors.Is(err, raftstore.ErrNotLeader):
		return http.StatusServiceUnavailable, "no_leader"
	default:
		return http.StatusInternalServerError, "internal"
	}
}

type handlerFunc func(r *http.Request) (any, error)

func (s *Service) wrap(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := h(r)
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			code, name := statusOf(err)
			w.WriteHeader(code)
			_ = json.NewEncoder(w).Encode(map[string]APIError{"error": {Code: name, Message: err.Error()}})
			return
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(v)
	}
}

// route is one entry of the API table.
type route struct {
	method, path string
	h            handlerFunc
}

func (s *Service) routes() []route {
	return []route{
		{"GET", "/v1/status", s.getStatus},
		{"GET", "/v1/groups", s.getGroups},
		{"GET", "/v1/groups/{name}", s.getGroup},
		{"GET", "/healthz", func(*http.Request) (any, error) { return map[string]string{"status": "ok"}, nil }},
	}
}

func (s *Service) apiHandler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		mux.Handle(rt.method+" "+rt.path, s.wrap(rt.h))
	}
	mux.Handle("/", s.wrap(func(r *http.Request) (any, error) {
		return nil, fmt.Errorf("%w: no route %s %s", ErrNotFound, r.Method, r.URL.Path)
	}))
	return mux
}

// Status is GET /v1/status.
type Status struct {
	ID         string           `json:"id"`
	RaftState  string           `json:"raft_state"`
	LeaderID   string           `json:"leader_id"`
	LeaderAddr string           `json:"leader_addr"`
	Peers      []raftstore.Peer `json:"peers"`
	Groups     int              `json:"groups"`
}

func (s *Service) getStatus(*http.Request) (any, error) {
	addr, id := s.node.Leader()
	peers, err := s.node.Peers()
	if err != nil {
		return nil, fmt.Errorf("read raft configuration: %w", err)
	}
	return Status{
		ID: s.cfg.ID, RaftState: s.node.State(), LeaderID: id, LeaderAddr: addr,
		Peers: peers, Groups: len(s.fsm.Groups()),
	}, nil
}

// NodeStatus is one node in GET /v1/groups/{name}.
type NodeStatus struct {
	Addr       string  `json:"addr"`
	Role       string  `json:"role"`
	Health     string  `json:"health"`
	VotesDown  int     `json:"votes_down"`
	VotesUp    int     `json:"votes_up"`
	Offset     int64   `json:"offset"`
	LatencyMs  float64 `json:"latency_ms"`
	MasterAddr string  `json:"master_addr,omitempty"`
	LinkUp     bool    `json:"link_up"`
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
}

func (s *Service) groupStatus(g raftstore.Group) GroupStatus {
	s.mu.Lock()
	v, hasView := s.views[g.Name]
	age := time.Since(s.viewAt)
	s.mu.Unlock()
	stale := !hasView || age > 3*s.cfg.Detection.ProbeInterval.D()
	gs := GroupStatus{
		Name: g.Name, Master: g.Master, Epoch: g.Epoch, Status: g.Status, Reason: g.Reason,
		Failover: g.Failover, LastFailover: g.LastFailover, ViewAgeMs: age.Milliseconds(),
		Reporters: v.Reporters,
	}
	if g.Failover != nil {
		gs.Status = "failing_over"
	}
	if !g.LastPromotionAt.IsZero() {
		if until := g.LastPromotionAt.Add(s.cfg.Failover.BlockAfter.D()); time.Now().Before(until) {
			gs.BlockedUntil = &until
		}
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

// peerHandler serves the watchdogs' own traffic on the Raft port.
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
		s.mu.Unlock()
		return peerReply{Leader: s.cfg.ID, Views: views}, nil
	}))
	return mux
}

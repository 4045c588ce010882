package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Raft states as GET /v1/status reports them.
const (
	RaftLeader    = "Leader"
	RaftFollower  = "Follower"
	RaftCandidate = "Candidate"
	RaftShutdown  = "Shutdown"
)

// Group statuses as GET /v1/groups/{name} reports them.
const (
	GroupOK          = "ok"
	GroupAmbiguous   = "ambiguous"
	GroupFailingOver = "failing_over"
	GroupUnknown     = "unknown"
)

// Status is GET /v1/status.
type Status struct {
	ID         string `json:"id"`
	RaftState  string `json:"raft_state"`
	LeaderID   string `json:"leader_id"`
	LeaderAddr string `json:"leader_addr"`
	// Term is the member's current Raft term (grows with every election).
	Term  uint64 `json:"term"`
	Peers []Peer `json:"peers"`
	// AppliedIndex and StateDigest: members at the same index must show
	// the same digest.
	AppliedIndex uint64 `json:"applied_index"`
	StateDigest  string `json:"state_digest"`
}

// Peer is one Raft member in Status.
type Peer struct {
	ID       string `json:"id"`
	Addr     string `json:"addr"`
	Suffrage string `json:"suffrage"`
}

// Groups is GET /v1/groups.
type Groups struct {
	Groups []Group `json:"groups"`
}

// Group is GET /v1/groups/{name}.
type Group struct {
	Name         string           `json:"name"`
	Master       string           `json:"master"`
	Epoch        uint64           `json:"epoch"`
	Status       string           `json:"status"`
	Reason       string           `json:"reason"`
	Nodes        []GroupNode      `json:"nodes"`
	Failover     json.RawMessage  `json:"failover"`
	LastFailover *FailoverOutcome `json:"last_failover"`
	// BlockedUntil is the end of the anti-flapping window, when one is
	// open.
	BlockedUntil *time.Time `json:"blocked_until"`
}

// FailingOver reports whether the group shows a failover in progress.
func (g Group) FailingOver() bool {
	return g.Status == GroupFailingOver || (len(g.Failover) > 0 && string(g.Failover) != "null")
}

// Node returns the entry for addr, if any.
func (g Group) Node(addr string) (GroupNode, bool) {
	for _, n := range g.Nodes {
		if n.Addr == addr {
			return n, true
		}
	}
	return GroupNode{}, false
}

// GroupNode is one Redis node in Group.
type GroupNode struct {
	Addr       string  `json:"addr"`
	Role       string  `json:"role"`
	Health     string  `json:"health"`
	VotesDown  int     `json:"votes_down"`
	Offset     int64   `json:"offset"`
	LatencyMS  float64 `json:"latency_ms"`
	MasterAddr string  `json:"master_addr"`
}

// FailoverOutcome is Group.LastFailover.
type FailoverOutcome struct {
	Epoch   uint64 `json:"epoch"`
	From    string `json:"from"`
	To      string `json:"to"`
	BeganAt string `json:"began_at"`
	EndedAt string `json:"ended_at"`
	OK      bool   `json:"ok"`
	Error   string `json:"error"`
}

// APIError is a non-2xx answer of the watchdog API.
type APIError struct {
	HTTPStatus int
	Code       string
	Message    string
	Body       string
}

func (e *APIError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("HTTP %d %s: %s", e.HTTPStatus, e.Code, e.Message)
	}
	return fmt.Sprintf("HTTP %d: %s", e.HTTPStatus, e.Body)
}

// IsNotFound reports whether err is the API's 404 not_found answer.
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.HTTPStatus == http.StatusNotFound
}

func asAPIError(err error, target **APIError) bool { return errors.As(err, target) }

// Client talks to one watchdog's admin API.
type Client struct {
	// Base is "http://127.0.0.1:PORT".
	Base string
	HTTP *http.Client
	// Token, when set, goes with every call as a bearer token.
	Token string
}

// NewClient returns a client for the API listening on addr (host:port),
// with a short timeout so a paused watchdog fails fast.
func NewClient(addr string) *Client {
	return &Client{
		Base: "http://" + addr,
		HTTP: &http.Client{Timeout: 2 * time.Second},
	}
}

// NewClientTLS returns a client for an API served over TLS.
func NewClientTLS(addr string, cfg *tls.Config) *Client {
	return &Client{
		Base: "https://" + addr,
		HTTP: &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}},
	}
}

// Status is GET /v1/status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	err := c.get(ctx, "/v1/status", &s)
	return s, err
}

// Groups is GET /v1/groups.
func (c *Client) Groups(ctx context.Context) ([]Group, error) {
	var g Groups
	err := c.get(ctx, "/v1/groups", &g)
	return g.Groups, err
}

// Group is GET /v1/groups/{name}.
func (c *Client) Group(ctx context.Context, name string) (Group, error) {
	var g Group
	err := c.get(ctx, "/v1/groups/"+url.PathEscape(name), &g)
	return g, err
}

func (c *Client) get(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+path, nil)
	if err != nil {
		return err
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s%s: %w", c.Base, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("GET %s%s: read body: %w", c.Base, path, err)
	}
	if resp.StatusCode/100 != 2 {
		ae := &APIError{HTTPStatus: resp.StatusCode, Body: string(body)}
		var env struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(body, &env) == nil {
			ae.Code, ae.Message = env.Error.Code, env.Error.Message
		}
		return fmt.Errorf("GET %s%s: %w", c.Base, path, ae)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("GET %s%s: decode %q: %w", c.Base, path, truncate(string(body), 200), err)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

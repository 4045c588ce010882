package e2e

// Checks for the scenarios that kill the leader at a step of a failover
// (chaos_steps_test.go): the truth on the Redis nodes against what a
// watchdog reports, the members' replicated state against each other, and
// handing leadership to a chosen member.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"time"
)

// FailpointsEnv is the variable that arms warden's failpoints
// (watchdog.FailpointsEnv), and FailpointExitCode the status of a process a
// failpoint ended.
const (
	FailpointsEnv     = "WARDEN_FAILPOINTS"
	FailpointExitCode = 97
)

// ExitCode is the exit status of a watchdog that exited: -1 while it runs
// or when it was killed by a signal.
func ExitCode(w *Warden) int {
	if w.Running() {
		return -1
	}
	var ee *exec.ExitError
	if err := w.proc.exitErr(); errors.As(err, &ee) {
		return ee.ExitCode()
	} else if err != nil {
		return -1
	}
	return 0
}

// CheckTopology checks the nodes that answer ROLE: exactly one is a master,
// every other follows it with its link up, and each one's role is the role
// w reports for it in GET /v1/groups/{group}, whose master it must also
// be. It returns the master.
func CheckTopology(ctx context.Context, w *Warden, group string, nodes []*Redis) (string, error) {
	g, err := w.API.Group(ctx, group)
	if err != nil {
		return "", err
	}
	roles := map[string]RoleInfo{}
	var masters []string
	for _, r := range nodes {
		ri, err := r.Role(ctx)
		if err != nil {
			continue // a dead node
		}
		roles[r.Addr] = ri
		if ri.Role == "master" {
			masters = append(masters, r.Addr)
		}
	}
	if len(masters) != 1 {
		return "", fmt.Errorf("%d nodes answer ROLE master: %v", len(masters), masters)
	}
	m := masters[0]
	if g.Master != m {
		return "", fmt.Errorf("%s reports master %q, the node that is master is %s", w.ID, g.Master, m)
	}
	for addr, ri := range roles {
		if addr != m {
			if up, err := linkUp(ctx, addr); ri.Master != m || !up {
				return "", fmt.Errorf("%s: role %s of %s, link up %v (%v); want a replica of %s", addr, ri.Role, ri.Master, up, err, m)
			}
		}
		want := map[string]string{"master": "master", "slave": "replica"}[ri.Role]
		if n, ok := g.Node(addr); !ok || n.Role != want {
			return "", fmt.Errorf("%s is %s, %s reports it as %+v", addr, ri.Role, w.ID, n)
		}
	}
	return m, nil
}

func linkUp(ctx context.Context, addr string) (bool, error) {
	_, up, err := ReplicaOf(ctx, addr)
	return up, err
}

// ReplicatedGroup is GET /v1/groups/{group} of w without the live view
// (nodes, reporters, view_age_ms) and blocked_until (each member derives it
// from its own monotonic clock), as canonical JSON: the part Raft
// replicates, which every member must show alike.
func ReplicatedGroup(ctx context.Context, w *Warden, group string) (string, error) {
	var g map[string]any
	if _, err := w.API.Send(ctx, http.MethodGet, "/v1/groups/"+url.PathEscape(group), nil, &g); err != nil {
		return "", err
	}
	for _, k := range []string{"nodes", "reporters", "view_age_ms", "blocked_until"} {
		delete(g, k)
	}
	b, err := json.Marshal(g) // map keys come out sorted
	return string(b), err
}

// CheckMembersAgree checks that every member of ws has applied the same
// Raft index with the same state digest and shows the same replicated
// record of group.
func CheckMembersAgree(ctx context.Context, ws []*Warden, group string) error {
	var first Status
	var firstRec string
	for i, w := range ws {
		st, err := w.API.Status(ctx)
		if err != nil {
			return err
		}
		rec, err := ReplicatedGroup(ctx, w, group)
		if err != nil {
			return err
		}
		if st.StateDigest == "" {
			return fmt.Errorf("%s shows no state digest (applied index %d)", w.ID, st.AppliedIndex)
		}
		if i == 0 {
			first, firstRec = st, rec
			continue
		}
		if st.AppliedIndex != first.AppliedIndex || st.StateDigest != first.StateDigest {
			return fmt.Errorf("%s at index %d digest %s, %s at index %d digest %s",
				ws[0].ID, first.AppliedIndex, first.StateDigest, w.ID, st.AppliedIndex, st.StateDigest)
		}
		if rec != firstRec {
			return fmt.Errorf("%s shows %s\n%s shows %s", ws[0].ID, firstRec, w.ID, rec)
		}
	}
	return nil
}

// TransferLeadership hands the Raft leadership to the member id (POST
// /v1/raft/transfer-leadership through any member of ws), unless it leads
// already, and waits until every member of ws names it.
func TransferLeadership(ctx context.Context, ws []*Warden, id string, timeout time.Duration) error {
	return WaitFor(ctx, timeout, "member "+id+" to lead", func() (bool, error) {
		l, err := WaitForLeader(ctx, ws, 10*time.Second)
		if err != nil {
			return false, err
		}
		if l.ID == id {
			return true, nil
		}
		_, err = l.API.Send(ctx, http.MethodPost, "/v1/raft/transfer-leadership", map[string]string{"id": id}, nil)
		return false, err
	})
}

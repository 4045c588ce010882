package e2e

import (
	"slices"
	"testing"
)

// TestAPIContract checks the shape of the watchdog API the other tests and
// `warden demo` rely on: status, group list, one group, 404 for an unknown
// group.
func TestAPIContract(t *testing.T) {
	sb := newSandbox(t, true, SandboxOptions{DownAfter: downAfter})
	ctx := t.Context()
	leader, err := WaitForLeader(ctx, sb.Wardens, startTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := WaitForAgreement(ctx, sb.Wardens, sb.Group, startTimeout); err != nil {
		t.Fatal(err)
	}
	for _, w := range sb.Wardens {
		st, err := w.API.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.ID != w.ID {
			t.Errorf("%s: status says id %q", w.ID, st.ID)
		}
		if !slices.Contains([]string{RaftLeader, RaftFollower, RaftCandidate, RaftShutdown}, st.RaftState) {
			t.Errorf("%s: raft_state %q is none of Leader, Follower, Candidate, Shutdown", w.ID, st.RaftState)
		}
		if st.LeaderID != leader.ID || st.LeaderAddr != leader.RaftAddr {
			t.Errorf("%s: leader %q at %q, want %q at %q", w.ID, st.LeaderID, st.LeaderAddr, leader.ID, leader.RaftAddr)
		}
		if len(st.Peers) != len(sb.Wardens) {
			t.Errorf("%s: %d peers, want %d: %+v", w.ID, len(st.Peers), len(sb.Wardens), st.Peers)
		}
		for _, p := range st.Peers {
			o := sb.Warden(p.ID)
			if o == nil || p.Addr != o.RaftAddr || p.Suffrage != "Voter" {
				t.Errorf("%s: peer %+v is not one of the sandbox's voters", w.ID, p)
			}
		}

		gs, err := w.API.Groups(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(gs) != 1 || gs[0].Name != sb.Group {
			t.Errorf("%s: GET /v1/groups lists %+v, want only %s", w.ID, gs, sb.Group)
		}

		g, err := w.API.Group(ctx, sb.Group)
		if err != nil {
			t.Fatal(err)
		}
		if g.Name != sb.Group || g.Master != sb.Redis[0].Addr || g.Status != GroupOK {
			t.Errorf("%s: group %s master %s status %s, want %s %s ok", w.ID, g.Name, g.Master, g.Status, sb.Group, sb.Redis[0].Addr)
		}
		if g.LastFailover != nil || g.FailingOver() {
			t.Errorf("%s: a fresh group shows a failover: failover %s last_failover %+v", w.ID, g.Failover, g.LastFailover)
		}
		if len(g.Nodes) != len(sb.Redis) {
			t.Errorf("%s: group lists %d nodes, want %d", w.ID, len(g.Nodes), len(sb.Redis))
		}
		for i, r := range sb.Redis {
			n, ok := g.Node(r.Addr)
			if !ok {
				t.Errorf("%s: group does not list node %s", w.ID, r.Addr)
				continue
			}
			want := "replica"
			if i == 0 {
				want = "master"
			}
			if n.Role != want && n.Health == "up" {
				t.Errorf("%s: node %s role %q, want %s", w.ID, r.Addr, n.Role, want)
			}
			if n.Role == "replica" && n.MasterAddr != "" && n.MasterAddr != sb.Redis[0].Addr {
				t.Errorf("%s: replica %s has master_addr %q, want %s", w.ID, r.Addr, n.MasterAddr, sb.Redis[0].Addr)
			}
		}

		_, err = w.API.Group(ctx, "no-such-group")
		var ae *APIError
		if !IsNotFound(err) || !asAPIError(err, &ae) || ae.Code != "not_found" || ae.Message == "" {
			t.Errorf("%s: GET /v1/groups/no-such-group: %v, want 404 with error code not_found and a message", w.ID, err)
		}
	}
	// The nodes' health converges to up once every watchdog has probed them.
	if err := WaitAllUp(ctx, sb.Wardens, sb.Group, nil, startTimeout); err != nil {
		t.Fatal(err)
	}
}

package watchdog

import (
	"strings"
	"testing"
	"time"

	"warden/raftstore"
)

const (
	idA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	idB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	idC = "cccccccccccccccccccccccccccccccccccccccc"
)

// nodesText is a CLUSTER NODES reply as the node with id self gives it.
func nodesText(self string, lines map[string]string) string {
	var b strings.Builder
	for id, l := range lines {
		flags := strings.Fields(l)[1]
		if id == self {
			flags = "myself," + flags
		}
		f := strings.Fields(l)
		f[1] = flags
		b.WriteString(id + " " + strings.Join(f, " ") + "\n")
	}
	return b.String()
}

func clusterObs(self string, lines map[string]string) Obs {
	return Obs{Up: true, Known: true, Role: RoleMaster, Cluster: &ClusterObs{Nodes: nodesText(self, lines), State: "ok", NodeTimeoutMs: 1000}}
}

func TestDecideClusterReportsConflicts(t *testing.T) {
	full := map[string]string{
		idA: "10.0.0.1:7000@17000 master - 0 0 1 connected 0-8191",
		idB: "10.0.0.2:7000@17000 master - 0 0 2 connected 8192-16383",
	}
	// C came back claiming slots A and B serve; it knows only itself.
	lonely := map[string]string{idC: "10.0.0.3:7000@17000 master - 0 0 9 connected 0-100"}
	obs := map[string]Obs{
		"10.0.0.1:7000": clusterObs(idA, full),
		"10.0.0.2:7000": clusterObs(idB, full),
		"10.0.0.3:7000": clusterObs(idC, lonely),
	}
	var reports []Report
	for _, w := range []string{"w1", "w2", "w3"} {
		reports = append(reports, Report{From: w, Obs: obs, ReceivedAt: t0})
	}
	v, acts := DecideCluster(ClusterInput{
		Now: t0, Params: params(), Cluster: raftstore.Cluster{Name: "c", UpdatedAt: t0.Add(-time.Hour)},
		Reports: reports, Addrs: []string{"10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000"},
	})
	if len(v.Conflicts) != 1 || !strings.Contains(v.Conflicts[0], "10.0.0.3:7000 claims slots 0-100") {
		t.Fatalf("conflicts %v", v.Conflicts)
	}
	if len(v.Shards) != 2 || v.MastersTotal != 2 {
		t.Fatalf("shards %+v", v.Shards)
	}
	for _, a := range acts {
		if a.Kind == ClActFailover || a.Kind == ClActReplicate || a.Kind == ClActReattach {
			t.Fatalf("a conflict must not be acted on: %+v", a)
		}
	}
}

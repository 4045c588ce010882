package main

import (
	"strings"
	"testing"
)

// Canned answers of the cluster routes, as the server writes them: a
// cluster whose second shard was taken over, with a slot left open, a
// master without replica and a disagreement; and one without a fresh view.
const (
	clusterMainJSON = `{"name":"main","seeds":["10.0.0.1:7000"],"epoch":1,
		"view":{"cluster":"main","reporters":["w1","w2","w3"],
		 "nodes":[
		  {"id":"aaaaaaaa11111111111111111111111111111111","addr":"10.0.0.1:7000","role":"master","slots":"0-5460","health":"up","votes_down":0,"votes_up":3,"offset":5000,"latency_ms":0.31,"fail_flags":0,"cluster_state":"ok"},
		  {"id":"bbbbbbbb22222222222222222222222222222222","addr":"10.0.0.2:7000","role":"master","health":"odown","votes_down":3,"votes_up":0,"offset":0,"latency_ms":0,"fail_flags":2},
		  {"id":"cccccccc33333333333333333333333333333333","addr":"10.0.0.3:7000","role":"master","slots":"10923-16383","health":"up","votes_down":0,"votes_up":3,"offset":4000,"latency_ms":0.5,"fail_flags":0,"cluster_state":"ok"},
		  {"id":"dddddddd44444444444444444444444444444444","addr":"10.0.0.4:7000","role":"replica","master_id":"aaaaaaaa11111111111111111111111111111111","health":"up","votes_down":0,"votes_up":3,"offset":5000,"latency_ms":0.42,"fail_flags":0,"cluster_state":"ok"},
		  {"id":"eeeeeeee55555555555555555555555555555555","addr":"10.0.0.5:7000","role":"master","slots":"5461-10922","health":"up","votes_down":0,"votes_up":3,"offset":4500,"latency_ms":1.25,"fail_flags":0,"cluster_state":"ok"},
		  {"id":"ffffffff66666666666666666666666666666666","addr":"10.0.0.6:7000","role":"replica","master_id":"cccccccc33333333333333333333333333333333","health":"sdown","votes_down":1,"votes_up":2,"offset":3990,"latency_ms":12.34,"fail_flags":0,"cluster_state":"ok"}],
		 "shards":[
		  {"master_id":"aaaaaaaa11111111111111111111111111111111","master_addr":"10.0.0.1:7000","slots":"0-5460","slot_count":5461,"health":"up","replicas":["10.0.0.4:7000"],"up_replicas":1},
		  {"master_id":"eeeeeeee55555555555555555555555555555555","master_addr":"10.0.0.5:7000","slots":"5461-10922","slot_count":5462,"health":"up","replicas":null,"up_replicas":0},
		  {"master_id":"cccccccc33333333333333333333333333333333","master_addr":"10.0.0.3:7000","slots":"10923-16383","slot_count":5461,"health":"up","replicas":["10.0.0.6:7000"],"up_replicas":0}],
		 "open_slots":["100 on 10.0.0.1:7000 (aaaaaaaa -> cccccccc)","100 on 10.0.0.3:7000 (aaaaaaaa -> cccccccc)"],
		 "masters_without_replica":["10.0.0.5:7000","10.0.0.3:7000"],
		 "disagreements":["slot 6000: 10.0.0.5:7000 says eeeeeeee, 10.0.0.3:7000 says aaaaaaaa"],
		 "node_timeout_ms":1000,"masters_up":3,"masters_total":3,"state":"ok"},
		"recorded_shards":[],
		"failover":null,
		"last_failover":{"id":"main-c1","mode":"takeover","shard_master":"bbbbbbbb22222222222222222222222222222222","from":"10.0.0.2:7000","to":"10.0.0.5:7000","to_id":"eeeeeeee55555555555555555555555555555555",
		 "reason":"master 10.0.0.2:7000 (slots 5461-10922) objectively down and not failed over by the cluster within down_after + node timeout; 1 of 3 masters reachable",
		 "leader":"w2","began_at":"2030-01-01T00:00:00Z","ended_at":"2030-01-01T00:00:00.25Z","ok":true,
		 "steps":[{"name":"cluster-failover-takeover","node":"10.0.0.5:7000","duration_ms":1.5},{"name":"verify","node":"10.0.0.5:7000","duration_ms":248.5}]}}`
	clusterBlindJSON = `{"name":"blind","seeds":["10.0.1.1:7000"],"epoch":0,"view":null,
		"recorded_shards":[{"master_id":"9999999900000000000000000000000000000000","master_addr":"10.0.1.1:7000","replicas":["8888888800000000000000000000000000000000@10.0.1.2:7000"],"slots":"0-16383"}],
		"failover":{"id":"blind-c1","mode":"force","shard_master":"9999999900000000000000000000000000000000","from":"10.0.1.1:7000","to":"10.0.1.2:7000","to_id":"8888888800000000000000000000000000000000",
		 "reason":"requested by api","requested_by":"api","leader":"w1","began_at":"2030-01-01T00:00:00Z","ok":false},
		"last_failover":null}`
	clusterBegunJSON = `{"cluster":"main","mode":"graceful","from":"10.0.0.1:7000","to":"10.0.0.4:7000"}`
)

func clusterRoutes() map[string]answer {
	return map[string]answer{
		"GET /v1/clusters":                {body: `{"clusters":[` + clusterMainJSON + `,` + clusterBlindJSON + `]}`},
		"GET /v1/clusters/main":           {body: clusterMainJSON},
		"GET /v1/clusters/blind":          {body: clusterBlindJSON},
		"POST /v1/clusters/main/failover": {status: 202, body: clusterBegunJSON},
		"POST /v1/clusters/blind/failover": {status: 409,
			body: `{"error":{"code":"conflict","message":"conflict: failover blind-c1 is running"}}`},
	}
}

// TestCtlClusterTables checks the human output of the cluster commands.
func TestCtlClusterTables(t *testing.T) {
	newFakeAPI(t, clusterRoutes())
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"cluster", "status"}, `NAME   STATE    SHARDS  MASTERS_UP  NODES_UP  EPOCH  PROBLEMS
main   ok       3       3/3         4/6       1      2 open slots; 2 masters without replica; 1 disagreement
blind  unknown  1       -           -         0      no fresh view
`},
		{[]string{"cluster", "status", "main"}, `cluster:      main (epoch 1)
state:        ok, 3 of 3 masters up
seeds:        10.0.0.1:7000
reporters:    w1, w2, w3
node timeout: 1s

SHARD     SLOTS               MASTER         REPLICAS                HEALTH
aaaaaaaa  0-5460 (5461)       10.0.0.1:7000  10.0.0.4:7000 (1/1 up)  up
eeeeeeee  5461-10922 (5462)   10.0.0.5:7000  none                    up
cccccccc  10923-16383 (5461)  10.0.0.3:7000  10.0.0.6:7000 (0/1 up)  up

NODE      ADDR           ROLE     FOLLOWS        HEALTH  VOTES_DOWN  FLAGGED_FAIL  OFFSET  LATENCY  CLUSTER_STATE
aaaaaaaa  10.0.0.1:7000  master   -              up      0           0             5000    0.3ms    ok
bbbbbbbb  10.0.0.2:7000  master   -              odown   3           2             -       -        -
cccccccc  10.0.0.3:7000  master   -              up      0           0             4000    0.5ms    ok
dddddddd  10.0.0.4:7000  replica  10.0.0.1:7000  up      0           0             5000    0.4ms    ok
eeeeeeee  10.0.0.5:7000  master   -              up      0           0             4500    1.2ms    ok
ffffffff  10.0.0.6:7000  replica  10.0.0.3:7000  sdown   1           0             3990    12.3ms   ok

open slots (migrating/importing):
  100 on 10.0.0.1:7000 (aaaaaaaa -> cccccccc)
  100 on 10.0.0.3:7000 (aaaaaaaa -> cccccccc)

masters without a working replica:
  10.0.0.5:7000
  10.0.0.3:7000

disagreements between the nodes' views:
  slot 6000: 10.0.0.5:7000 says eeeeeeee, 10.0.0.3:7000 says aaaaaaaa

last takeover failover main-c1: 10.0.0.2:7000 -> 10.0.0.5:7000, ok in 250ms
began:  2030-01-01T00:00:00Z
led by: w2
reason: master 10.0.0.2:7000 (slots 5461-10922) objectively down and not failed over by the cluster within down_after + node timeout; 1 of 3 masters reachable

STEP                       NODE           DURATION  ERROR
cluster-failover-takeover  10.0.0.5:7000  1.5ms     -
verify                     10.0.0.5:7000  248.5ms   -
`},
		{[]string{"cluster", "status", "blind"}, `cluster:  blind (epoch 0)
state:    unknown: the leader has no fresh view (recorded shards below)
seeds:    10.0.1.1:7000
failover: force blind-c1 running: 10.0.1.1:7000 -> 10.0.1.2:7000

SHARD     SLOTS    MASTER         REPLICAS       HEALTH
99999999  0-16383  10.0.1.1:7000  10.0.1.2:7000  unknown
`},
		{[]string{"cluster", "failover", "main", "--shard", "10.0.0.1:7000"}, `graceful failover of main's shard begun: 10.0.0.1:7000 -> 10.0.0.4:7000
follow it with: warden cluster status main
`},
	}
	for _, c := range cases {
		out, _, err := runCtl(t, c.args...)
		if err != nil {
			t.Errorf("%v: %v", c.args, err)
			continue
		}
		if out != c.want {
			t.Errorf("%v printed\n%s\nwant\n%s", c.args, out, c.want)
		}
	}
}

// TestCtlClusterEmpty: no cluster is said in words.
func TestCtlClusterEmpty(t *testing.T) {
	newFakeAPI(t, map[string]answer{"GET /v1/clusters": {body: `{"clusters":[]}`}})
	out, _, err := runCtl(t, "cluster", "status")
	if err != nil || out != "no clusters\n" {
		t.Errorf("cluster status: %q, %v; want %q", out, err, "no clusters\n")
	}
}

// TestCtlClusterRequests: each command sends its method, path and body;
// the start of a node ID is looked up in the cluster's view first and sent
// whole.
func TestCtlClusterRequests(t *testing.T) {
	const (
		idA = "aaaaaaaa11111111111111111111111111111111"
		idC = "cccccccc33333333333333333333333333333333"
		idF = "ffffffff66666666666666666666666666666666"
	)
	get := seen{Method: "GET", Path: "/v1/clusters/main"}
	post := func(body string) seen { return seen{Method: "POST", Path: "/v1/clusters/main/failover", Body: body} }
	cases := []struct {
		args []string
		want []seen
	}{
		{[]string{"cluster", "status"}, []seen{{Method: "GET", Path: "/v1/clusters"}}},
		{[]string{"cluster", "status", "main"}, []seen{get}},
		{[]string{"cluster", "failover", "main", "--shard", "10.0.0.1:7000"},
			[]seen{post(`{"shard":"10.0.0.1:7000","to":"","mode":"graceful"}`)}},
		{[]string{"cluster", "failover", "main", "--shard", idA, "--to", "10.0.0.4:7000", "--mode", "force"},
			[]seen{post(`{"shard":"` + idA + `","to":"10.0.0.4:7000","mode":"force"}`)}},
		{[]string{"cluster", "failover", "main", "--shard", "cccc", "--mode", "takeover"},
			[]seen{get, post(`{"shard":"` + idC + `","to":"","mode":"takeover"}`)}},
		{[]string{"cluster", "failover", "main", "--shard", "10.0.0.3:7000", "--to", "ffffffff6"},
			[]seen{get, post(`{"shard":"10.0.0.3:7000","to":"` + idF + `","mode":"graceful"}`)}},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			api := newFakeAPI(t, clusterRoutes())
			if _, _, err := runCtl(t, c.args...); err != nil {
				t.Fatal(err)
			}
			reqs := api.requests()
			if len(reqs) != len(c.want) {
				t.Fatalf("%d requests, want %d: %+v", len(reqs), len(c.want), reqs)
			}
			for i, got := range reqs {
				want := c.want[i]
				if want.Body == "" && got.Body != "" || want.Body != "" && !jsonEqual(got.Body, want.Body) {
					t.Errorf("request %d: body %s, want %s", i, got.Body, want.Body)
				}
				got.Auth, got.Body, want.Body = "", "", ""
				if got != want {
					t.Errorf("request %d: %+v, want %+v", i, got, want)
				}
			}
		})
	}
}

// TestCtlClusterRejects: bad flags are named and nothing is sent; a node
// ID start that matches no node, or several, is refused after the look-up
// and before any failover is asked for.
func TestCtlClusterRejects(t *testing.T) {
	cases := []struct {
		args  []string
		want  string
		reqs  int
		route string // the one request expected, when reqs is 1
	}{
		{args: []string{"cluster", "failover", "main"}, want: "--shard is required"},
		{args: []string{"cluster", "failover", "main", "--shard", "10.0.0.1:7000", "--mode", "hard"}, want: `--mode "hard": want graceful, force, takeover`},
		{args: []string{"cluster", "failover", "main", "--shard", "10.0.0.1"}, want: `--shard: "10.0.0.1" is neither host:port nor a node ID`},
		{args: []string{"cluster", "failover", "main", "--shard", "10.0.0.1:99999"}, want: `--shard: "10.0.0.1:99999" has port "99999"`},
		{args: []string{"cluster", "failover", "main", "--shard", "abc"}, want: `--shard: "abc": give at least 4 characters of the node ID`},
		{args: []string{"cluster", "failover", "main", "--shard", "ABCDEF12"}, want: "is neither host:port nor a node ID (lowercase hexadecimal)"},
		{args: []string{"cluster", "failover", "main", "--shard", strings.Repeat("a", 41)}, want: "is longer than a node ID (40 characters)"},
		{args: []string{"cluster", "failover", "main", "--shard", "10.0.0.1:7000", "--to", "x:y"}, want: `--to: "x:y"`},
		{args: []string{"cluster", "failover"}, want: "accepts 1 arg(s), received 0"},
		{args: []string{"cluster", "status", "a", "b"}, want: "accepts at most 1 arg(s), received 2"},
		{args: []string{"cluster", "failover", "main", "--shard", "dddd"}, want: "--shard dddd: no such node ID in cluster main", reqs: 1, route: "GET /v1/clusters/main"},
		{args: []string{"cluster", "failover", "main", "--shard", "10.0.0.1:7000", "--to", "9999"}, want: "--to 9999: no such node ID in cluster main", reqs: 1, route: "GET /v1/clusters/main"},
		{args: []string{"cluster", "failover", "blind", "--shard", "9999"}, want: "cluster blind: the leader has no fresh view", reqs: 1, route: "GET /v1/clusters/blind"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			api := newFakeAPI(t, clusterRoutes())
			_, _, err := runCtl(t, c.args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one holding %q", err, c.want)
			}
			reqs := api.requests()
			if len(reqs) != c.reqs {
				t.Fatalf("%d requests, want %d: %+v", len(reqs), c.reqs, reqs)
			}
			if c.reqs == 1 && reqs[0].Method+" "+reqs[0].Path != c.route {
				t.Errorf("request %s %s, want %s", reqs[0].Method, reqs[0].Path, c.route)
			}
		})
	}
}

// TestCtlClusterAmbiguousPrefix: a node ID start shared by two nodes is
// refused with both IDs named.
func TestCtlClusterAmbiguousPrefix(t *testing.T) {
	two := strings.Replace(clusterMainJSON, "cccccccc33333333333333333333333333333333", "aaaaaaaa33333333333333333333333333333333", -1)
	api := newFakeAPI(t, map[string]answer{"GET /v1/clusters/main": {body: two}})
	_, _, err := runCtl(t, "cluster", "failover", "main", "--shard", "aaaaaaaa")
	if err == nil || !strings.Contains(err.Error(), "several node IDs start so (aaaaaaaa11111111111111111111111111111111, aaaaaaaa33333333333333333333333333333333)") {
		t.Errorf("error %v, want one naming both IDs", err)
	}
	if n := len(api.requests()); n != 1 {
		t.Errorf("%d requests, want the look-up only", n)
	}
}

// TestCtlClusterErrors: the server's refusal is passed on as it said it;
// --json prints the answer as it is.
func TestCtlClusterErrors(t *testing.T) {
	newFakeAPI(t, clusterRoutes())
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"cluster", "failover", "blind", "--shard", "10.0.1.1:7000"}, "conflict: failover blind-c1 is running (HTTP 409 conflict)"},
		{[]string{"cluster", "status", "nosuch"}, "not found: no route GET /v1/clusters/nosuch (HTTP 404 not_found)"},
	}
	for _, c := range cases {
		_, _, err := runCtl(t, c.args...)
		if err == nil || err.Error() != c.want {
			t.Errorf("%v: error %v, want %q", c.args, err, c.want)
		}
	}
	out, _, err := runCtl(t, "cluster", "failover", "main", "--shard", "10.0.0.1:7000", "--json")
	if err != nil || !jsonEqual(out, clusterBegunJSON) || !strings.Contains(out, "\n  \"mode\": \"graceful\"") {
		t.Errorf("--json printed %q, %v; want the answer indented", out, err)
	}
}

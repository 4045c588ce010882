package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/cobra"

	"warden/watchdog"
)

const (
	opIDA = "aaaaaaaa11111111111111111111111111111111"
	opIDC = "cccccccc33333333333333333333333333333333"
	opIDE = "eeeeeeee55555555555555555555555555555555"
	opIDG = "0123456789abcdef0123456789abcdef01234567"
)

// addShardOp is the add_shard operation main-op3 at cursor in state, with
// tail (more fields, each ending with a comma) added.
func addShardOp(cursor int, state, tail string) string {
	kinds := []string{"meet", "wait_known", "replicate", "migrate", "verify"}
	step, number := "", len(kinds)
	if cursor < len(kinds) {
		step, number = kinds[cursor], cursor+1
	}
	return `{"id":"main-op3","cluster":"main","kind":"add_shard",
		"request":{"master":"10.0.0.7:7000","nodes":["10.0.0.8:7000"]},
		"nodes":[{"id":"` + opIDG + `","addr":"10.0.0.7:7000"},{"id":"9999999999999999999999999999999999999999","addr":"10.0.0.8:7000","master":"` + opIDG + `"}],
		"plan":[
		 {"kind":"meet","detail":"10.0.0.7:7000, 10.0.0.8:7000 meet the cluster through 10.0.0.1:7000","nodes":["10.0.0.7:7000","10.0.0.8:7000"]},
		 {"kind":"wait_known","detail":"wait until every node knows 10.0.0.7:7000, 10.0.0.8:7000 and 10.0.0.7:7000 says cluster_state:ok"},
		 {"kind":"replicate","detail":"10.0.0.8:7000 follow 10.0.0.7:7000","nodes":["10.0.0.8:7000"]},
		 {"kind":"migrate","detail":"move 4096 slots in 3 moves","moves":[
		  {"from":"` + opIDA + `","from_addr":"10.0.0.1:7000","to":"` + opIDG + `","to_addr":"10.0.0.7:7000","slots":"0-1364","count":1365},
		  {"from":"` + opIDE + `","from_addr":"10.0.0.5:7000","to":"` + opIDG + `","to_addr":"10.0.0.7:7000","slots":"5461-6826","count":1366},
		  {"from":"` + opIDC + `","from_addr":"10.0.0.3:7000","to":"` + opIDG + `","to_addr":"10.0.0.7:7000","slots":"10923-12287","count":1365}]},
		 {"kind":"verify","detail":"verify every slot is served and every master holds its share"}],
		` + tail + `
		"cursor":` + strconv.Itoa(cursor) + `,"state":"` + state + `","requested_by":"api via w2","leader":"w1","slots_total":4096,
		"started_at":"2030-01-01T00:00:00Z","updated_at":"2030-01-01T00:00:10Z",
		"step":"` + step + `","step_number":` + strconv.Itoa(number) + `,"steps":5}`
}

var (
	opBegunJSON     = addShardOp(0, "running", `"slots_moved":0,"keys_moved":0,"bytes_moved":0,"migrate_seconds":0,"keys_per_sec":0,"bytes_per_sec":0,`)
	opMigratingJSON = addShardOp(3, "running", `"slots_moved":1200,"keys_moved":50000,"bytes_moved":6000000,"migrate_seconds":3.2,
		"keys_per_sec":15625,"bytes_per_sec":1875000,"eta_seconds":7.5,
		"errors":["MIGRATE slot 17 from 10.0.0.1:7000: IOERR error or timeout reading to target instance (retried)"],`)
	opDoneJSON = addShardOp(5, "done", `"slots_moved":4096,"keys_moved":170000,"bytes_moved":20400000,"migrate_seconds":10.9,
		"keys_per_sec":15596,"bytes_per_sec":1871560,"ended_at":"2030-01-01T00:00:42.5Z",`)
	opFailedJSON = addShardOp(3, "failed", `"slots_moved":1300,"keys_moved":52000,"bytes_moved":6200000,"migrate_seconds":3.5,
		"keys_per_sec":14857,"bytes_per_sec":1771429,"ended_at":"2030-01-01T00:01:30Z",
		"error":"migrate slot 1300 to 10.0.0.7:7000: dial tcp 10.0.0.7:7000: connection refused",`)
	opCancelledJSON = addShardOp(3, "cancelled", `"slots_moved":1200,"keys_moved":50000,"bytes_moved":6000000,"migrate_seconds":3.2,
		"keys_per_sec":15625,"bytes_per_sec":1875000,"cancel_requested":true,"ended_at":"2030-01-01T00:00:12Z",`)
	opCancellingJSON = addShardOp(3, "running", `"slots_moved":1200,"keys_moved":50000,"bytes_moved":6000000,"migrate_seconds":3.2,
		"keys_per_sec":15625,"bytes_per_sec":1875000,"cancel_requested":true,`)

	planJSON = `{"cluster":"main","balanced":false,"slots_to_move":1366,
		"moves":[
		 {"from":"` + opIDA + `","from_addr":"10.0.0.1:7000","to":"` + opIDG + `","to_addr":"10.0.0.7:7000","slots":"0-99,200-1000","count":901},
		 {"from":"` + opIDE + `","from_addr":"10.0.0.5:7000","to":"` + opIDG + `","to_addr":"10.0.0.7:7000","slots":"5461-5925","count":465}],
		"targets":{"` + opIDA + `":4560,"` + opIDC + `":5461,"` + opIDE + `":4997,"` + opIDG + `":1366},
		"current":{"` + opIDA + `":5461,"` + opIDC + `":5461,"` + opIDE + `":5462,"` + opIDG + `":0},
		"weights":{"` + opIDG + `":0.5},
		"problems":["10.0.0.5:7000 has no working replica"],
		"addrs":{"` + opIDA + `":"10.0.0.1:7000","` + opIDC + `":"10.0.0.3:7000","` + opIDE + `":"10.0.0.5:7000","` + opIDG + `":"10.0.0.7:7000"},
		"threshold_pct":2}`
	balancedJSON = `{"cluster":"main","balanced":true,"slots_to_move":0,"moves":[],
		"targets":{"` + opIDA + `":5461,"` + opIDC + `":5461,"` + opIDE + `":5462},
		"current":{"` + opIDA + `":5461,"` + opIDC + `":5461,"` + opIDE + `":5462},
		"addrs":{"` + opIDA + `":"10.0.0.1:7000","` + opIDC + `":"10.0.0.3:7000","` + opIDE + `":"10.0.0.5:7000"},
		"threshold_pct":2.5}`
	rebalanceOpJSON = strings.Replace(opBegunJSON, `"kind":"add_shard"`, `"kind":"rebalance"`, 1)
)

// opsRoutes answers every route of the topology commands; `main` is the
// cluster of clusterRoutes.
func opsRoutes() map[string]answer {
	r := clusterRoutes()
	for k, v := range map[string]answer{
		"POST /v1/clusters":                                      {status: 202, body: strings.Replace(opBegunJSON, `"kind":"add_shard"`, `"kind":"create"`, 1)},
		"POST /v1/clusters/main/shards":                          {status: 202, body: opBegunJSON},
		"DELETE /v1/clusters/main/shards/" + opIDC:               {status: 202, body: opBegunJSON},
		"DELETE /v1/clusters/main/shards/10.0.0.3:7000":          {status: 202, body: opBegunJSON},
		"POST /v1/clusters/main/rebalance":                       {status: 202, body: rebalanceOpJSON},
		"POST /v1/clusters/plan/rebalance":                       {body: planJSON},
		"POST /v1/clusters/even/rebalance":                       {body: balancedJSON},
		"POST /v1/clusters/main/shards/10.0.0.1:7000/replicas":   {status: 202, body: opBegunJSON},
		"DELETE /v1/clusters/main/shards/10.0.0.1:7000/replicas": {status: 202, body: opBegunJSON},
		"POST /v1/clusters/main/shards/" + opIDA + "/replicas":   {status: 202, body: opBegunJSON},
		"GET /v1/operations":                                     {body: `{"operations":[` + opDoneJSON + `,` + opFailedJSON + `,` + opCancellingJSON + `,` + opMigratingJSON + `]}`},
		"GET /v1/operations/main-op3":                            {body: opMigratingJSON},
		"POST /v1/operations/main-op3/cancel":                    {status: 202, body: opCancellingJSON},
		"POST /v1/operations/main-op9/cancel": {status: 409,
			body: `{"error":{"code":"conflict","message":"conflict: operation main-op9 is already done"}}`},
	} {
		r[k] = v
	}
	return r
}

// sequenced puts a proxy in front of api: api records every request, and
// the routes of seqs are answered with their answers in turn (the last
// one again once the others are used up).
func sequenced(t *testing.T, api *fakeAPI, seqs map[string][]answer) {
	t.Helper()
	target, err := url.Parse(api.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	left := map[string][]answer{}
	for k, v := range seqs {
		left[k] = v
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(resp *http.Response) error {
		mu.Lock()
		defer mu.Unlock()
		seq, ok := left[resp.Request.Method+" "+resp.Request.URL.Path]
		if !ok {
			return nil
		}
		a := seq[0]
		if len(seq) > 1 {
			left[resp.Request.Method+" "+resp.Request.URL.Path] = seq[1:]
		}
		if a.status == 0 {
			a.status = http.StatusOK
		}
		resp.Body.Close()
		resp.StatusCode, resp.Status = a.status, fmt.Sprintf("%d %s", a.status, http.StatusText(a.status))
		resp.Body = io.NopCloser(strings.NewReader(a.body))
		resp.ContentLength = int64(len(a.body))
		resp.Header.Set("Content-Length", strconv.Itoa(len(a.body)))
		return nil
	}
	front := httptest.NewServer(proxy)
	t.Cleanup(front.Close)
	t.Setenv(envAddr, front.URL)
}

// checkRequests compares what the fake API saw with want (bodies as JSON).
func checkRequests(t *testing.T, got, want []seen) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d requests, want %d: %+v", len(got), len(want), got)
	}
	for i := range got {
		g, w := got[i], want[i]
		if w.Body == "" && g.Body != "" || w.Body != "" && !jsonEqual(g.Body, w.Body) {
			t.Errorf("request %d: body %s, want %s", i, g.Body, w.Body)
		}
		g.Auth, g.Body, w.Body = "", "", ""
		if g != w {
			t.Errorf("request %d: %+v, want %+v", i, g, w)
		}
	}
}

// TestCtlOpsRequests: each command sends its method, path, query and
// body; the start of a node ID is looked up among the masters first.
func TestCtlOpsRequests(t *testing.T) {
	getMain := seen{Method: "GET", Path: "/v1/clusters/main"}
	cases := []struct {
		args []string
		want []seen
	}{
		{[]string{"cluster", "create", "new", "--master", "10.0.0.1:7000", "--master", "10.0.0.2:7000", "--master", "10.0.0.3:7000"},
			[]seen{{Method: "POST", Path: "/v1/clusters", Body: `{"name":"new","masters":["10.0.0.1:7000","10.0.0.2:7000","10.0.0.3:7000"],"replicas":null,"slots":null}`}}},
		{[]string{"cluster", "create", "new", "--master", "10.0.0.1:7000", "--master", "10.0.0.2:7000", "--master", "10.0.0.3:7000",
			"--replica", "10.0.0.1:7000=10.0.0.4:7000", "--replica", "10.0.0.1:7000=10.0.0.5:7000", "--replica", "10.0.0.3:7000=10.0.0.6:7000",
			"--slots", "10.0.0.1:7000=0-5460", "--slots", "10.0.0.2:7000=5461-10922", "--slots", "10.0.0.3:7000=10923-16383"},
			[]seen{{Method: "POST", Path: "/v1/clusters", Body: `{"name":"new","masters":["10.0.0.1:7000","10.0.0.2:7000","10.0.0.3:7000"],
				"replicas":{"10.0.0.1:7000":["10.0.0.4:7000","10.0.0.5:7000"],"10.0.0.3:7000":["10.0.0.6:7000"]},
				"slots":{"10.0.0.1:7000":"0-5460","10.0.0.2:7000":"5461-10922","10.0.0.3:7000":"10923-16383"}}`}}},
		{[]string{"cluster", "add-shard", "main", "--master", "10.0.0.7:7000"},
			[]seen{{Method: "POST", Path: "/v1/clusters/main/shards", Body: `{"master":"10.0.0.7:7000","replicas":[],"force":false}`}}},
		{[]string{"cluster", "add-shard", "main", "--master", "10.0.0.7:7000", "--replica", "10.0.0.8:7000", "--replica", "10.0.0.9:7000", "--force"},
			[]seen{{Method: "POST", Path: "/v1/clusters/main/shards", Body: `{"master":"10.0.0.7:7000","replicas":["10.0.0.8:7000","10.0.0.9:7000"],"force":true}`}}},
		{[]string{"cluster", "remove-shard", "main", "10.0.0.3:7000"},
			[]seen{{Method: "DELETE", Path: "/v1/clusters/main/shards/10.0.0.3:7000"}}},
		{[]string{"cluster", "remove-shard", "main", "cccc", "--force"},
			[]seen{getMain, {Method: "DELETE", Path: "/v1/clusters/main/shards/" + opIDC, Query: "force=true"}}},
		{[]string{"cluster", "rebalance", "main"},
			[]seen{{Method: "POST", Path: "/v1/clusters/main/rebalance", Body: `{"weights":null,"threshold_pct":2,"dry_run":false,"force":false}`}}},
		{[]string{"cluster", "rebalance", "main", "--weight", "10.0.0.1:7000=2", "--weight", "eeeeeeee=0", "--weight", opIDC + "=1.5", "--threshold", "5", "--force"},
			[]seen{getMain, {Method: "POST", Path: "/v1/clusters/main/rebalance",
				Body: `{"weights":{"10.0.0.1:7000":2,"` + opIDE + `":0,"` + opIDC + `":1.5},"threshold_pct":5,"dry_run":false,"force":true}`}}},
		{[]string{"cluster", "rebalance", "plan", "--dry-run", "--threshold", "0"},
			[]seen{{Method: "POST", Path: "/v1/clusters/plan/rebalance", Body: `{"weights":null,"threshold_pct":0,"dry_run":true,"force":false}`}}},
		{[]string{"cluster", "replicas", "add", "main", "10.0.0.1:7000", "10.0.0.8:7000", "10.0.0.9:7000"},
			[]seen{{Method: "POST", Path: "/v1/clusters/main/shards/10.0.0.1:7000/replicas", Body: `{"replicas":["10.0.0.8:7000","10.0.0.9:7000"],"force":false}`}}},
		{[]string{"cluster", "replicas", "add", "main", "aaaaaaaa1", "10.0.0.8:7000", "--force"},
			[]seen{getMain, {Method: "POST", Path: "/v1/clusters/main/shards/" + opIDA + "/replicas", Body: `{"replicas":["10.0.0.8:7000"],"force":true}`}}},
		{[]string{"cluster", "replicas", "remove", "main", "10.0.0.1:7000", "10.0.0.4:7000"},
			[]seen{{Method: "DELETE", Path: "/v1/clusters/main/shards/10.0.0.1:7000/replicas", Body: `{"replicas":["10.0.0.4:7000"],"force":false}`}}},
		{[]string{"cluster", "operations"}, []seen{{Method: "GET", Path: "/v1/operations"}}},
		{[]string{"cluster", "operations", "--cluster", "main"}, []seen{{Method: "GET", Path: "/v1/operations", Query: "cluster=main"}}},
		{[]string{"cluster", "operations", "main-op3"}, []seen{{Method: "GET", Path: "/v1/operations/main-op3"}}},
		{[]string{"cluster", "operations", "cancel", "main-op3"}, []seen{{Method: "POST", Path: "/v1/operations/main-op3/cancel"}}},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			api := newFakeAPI(t, opsRoutes())
			if _, _, err := runCtl(t, c.args...); err != nil {
				t.Fatal(err)
			}
			checkRequests(t, api.requests(), c.want)
		})
	}
}

// TestCtlOpsTables checks the human output of the topology commands.
func TestCtlOpsTables(t *testing.T) {
	newFakeAPI(t, opsRoutes())
	begun := `add_shard main-op3 begun on cluster main: 5 steps
follow it with:   warden operations main-op3
wait for it with: warden operations wait main-op3
`
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"cluster", "add-shard", "main", "--master", "10.0.0.7:7000"}, begun},
		{[]string{"cluster", "remove-shard", "main", "10.0.0.3:7000"}, begun},
		{[]string{"cluster", "replicas", "add", "main", "10.0.0.1:7000", "10.0.0.8:7000"}, begun},
		{[]string{"cluster", "rebalance", "main"}, strings.Replace(begun, "add_shard", "rebalance", 1)},
		{[]string{"cluster", "operations"}, `ID        CLUSTER  KIND       STATE       STEP         SLOTS_MOVED  STARTED               REQUESTED_BY  ERROR
main-op3  main     add_shard  done        -            4096/4096    2030-01-01T00:00:00Z  api via w2    -
main-op3  main     add_shard  failed      4/5 migrate  1300/4096    2030-01-01T00:00:00Z  api via w2    migrate slot 1300 to 10.0.0.7:7000: dial tcp 10.0.0.7:7000: connection refused
main-op3  main     add_shard  cancelling  4/5 migrate  1200/4096    2030-01-01T00:00:00Z  api via w2    -
main-op3  main     add_shard  running     4/5 migrate  1200/4096    2030-01-01T00:00:00Z  api via w2    -
`},
		{[]string{"cluster", "operations", "main-op3"}, `operation:    main-op3: add_shard of cluster main
state:        running, step 4 of 5 (migrate)
requested by: api via w2
led by:       w1
started:      2030-01-01T00:00:00Z
updated:      2030-01-01T00:00:10Z
slots:        1200 of 4096 moved
keys:         50000 moved, 15625 keys/s
bytes:        6.0 MB moved, 1.9 MB/s
time left:    8s

#  STEP        STATUS   DETAIL
1  meet        done     10.0.0.7:7000, 10.0.0.8:7000 meet the cluster through 10.0.0.1:7000
2  wait_known  done     wait until every node knows 10.0.0.7:7000, 10.0.0.8:7000 and 10.0.0.7:7000 says cluster_state:ok
3  replicate   done     10.0.0.8:7000 follow 10.0.0.7:7000
4  migrate     running  move 4096 slots in 3 moves
5  verify      pending  verify every slot is served and every master holds its share

moves of step 4 (migrate):
FROM                      TO                        SLOTS        COUNT
10.0.0.1:7000 (aaaaaaaa)  10.0.0.7:7000 (01234567)  0-1364       1365
10.0.0.5:7000 (eeeeeeee)  10.0.0.7:7000 (01234567)  5461-6826    1366
10.0.0.3:7000 (cccccccc)  10.0.0.7:7000 (01234567)  10923-12287  1365

errors survived (retried):
  MIGRATE slot 17 from 10.0.0.1:7000: IOERR error or timeout reading to target instance (retried)
`},
		{[]string{"cluster", "rebalance", "plan", "--dry-run"}, `cluster main: 1366 slots to move in 2 moves (threshold 2%)

FROM                      TO                        SLOTS          COUNT
10.0.0.1:7000 (aaaaaaaa)  10.0.0.7:7000 (01234567)  0-99,200-1000  901
10.0.0.5:7000 (eeeeeeee)  10.0.0.7:7000 (01234567)  5461-5925      465

MASTER         ID        WEIGHT  CURRENT  TARGET  CHANGE
10.0.0.1:7000  aaaaaaaa  1       5461     4560    -901
10.0.0.3:7000  cccccccc  1       5461     5461    0
10.0.0.5:7000  eeeeeeee  1       5462     4997    -465
10.0.0.7:7000  01234567  0.5     0        1366    +1366

problems (a rebalance needs --force while they last):
  10.0.0.5:7000 has no working replica

dry run: nothing was moved
`},
		{[]string{"cluster", "rebalance", "even"}, `cluster main is balanced: every master is within 2.5% of its share; nothing to move

MASTER         ID        WEIGHT  CURRENT  TARGET  CHANGE
10.0.0.1:7000  aaaaaaaa  1       5461     5461    0
10.0.0.3:7000  cccccccc  1       5461     5461    0
10.0.0.5:7000  eeeeeeee  1       5462     5462    0
`},
		{[]string{"cluster", "operations", "cancel", "main-op3"}, `cancel of add_shard main-op3 on cluster main requested: it stops at its next safe point
wait for it with: warden operations wait main-op3
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

// TestCtlOpsShowEnded: an operation that ended says how long it ran, and
// where it stopped when it did not finish.
func TestCtlOpsShowEnded(t *testing.T) {
	newFakeAPI(t, map[string]answer{
		"GET /v1/operations/done":   {body: opDoneJSON},
		"GET /v1/operations/failed": {body: opFailedJSON},
		"GET /v1/operations/none":   {body: `{"operations":[]}`},
		"GET /v1/operations":        {body: `{"operations":[]}`},
	})
	cases := []struct {
		id   string
		want []string
	}{
		{"done", []string{"state:        done in 42.5s\n", "ended:        2030-01-01T00:00:42Z\n", "keys:         170000 moved, 15596 keys/s\n",
			"bytes:        20.4 MB moved, 1.9 MB/s\n", "4  migrate     done    move", "5  verify      done    verify"}},
		{"failed", []string{"state:        failed at step 4 of 5 (migrate) after 1m30s\n", "error:        migrate slot 1300 to 10.0.0.7:7000: dial tcp 10.0.0.7:7000: connection refused\n",
			"3  replicate   done     ", "4  migrate     failed   move", "5  verify      not run  verify"}},
	}
	for _, c := range cases {
		out, _, err := runCtl(t, "cluster", "operations", c.id)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("operations %s printed\n%s\nwant it to hold %q", c.id, out, w)
			}
		}
		if strings.Contains(out, "updated:") || strings.Contains(out, "time left:") {
			t.Errorf("operations %s printed\n%s\nwant no updated or time left for an ended operation", c.id, out)
		}
	}
	if out, _, err := runCtl(t, "cluster", "operations"); err != nil || out != "no operations\n" {
		t.Errorf("operations: %q, %v; want %q", out, err, "no operations\n")
	}
}

// TestCtlOpsJSON: --json prints the server's answer as it is, indented.
func TestCtlOpsJSON(t *testing.T) {
	newFakeAPI(t, opsRoutes())
	for args, want := range map[string]string{
		"cluster add-shard main --master 10.0.0.7:7000 --json": opBegunJSON,
		"cluster rebalance plan --dry-run --json":              planJSON,
		"cluster rebalance main --json":                        rebalanceOpJSON,
		"cluster operations main-op3 --json":                   opMigratingJSON,
		"cluster operations --json":                            `{"operations":[` + opDoneJSON + `,` + opFailedJSON + `,` + opCancellingJSON + `,` + opMigratingJSON + `]}`,
		"cluster operations cancel main-op3 --json":            opCancellingJSON,
	} {
		out, _, err := runCtl(t, strings.Fields(args)...)
		if err != nil || !jsonEqual(out, want) || !strings.HasPrefix(out, "{\n  \"") {
			t.Errorf("%s printed %q, %v; want the answer indented", args, out, err)
		}
	}
}

// TestCtlOpsWait: --wait polls the operation until it ends, prints a line
// on stderr (not a terminal) each time it enters a step, then the ended
// operation; a failed request in between is asked again.
func TestCtlOpsWait(t *testing.T) {
	cases := []struct {
		args   []string
		seq    []answer
		first  seen // the request that begins, when any
		stderr string
	}{
		{args: []string{"cluster", "add-shard", "main", "--master", "10.0.0.7:7000", "--wait"},
			seq:   []answer{{body: opMigratingJSON}, {body: opDoneJSON}},
			first: seen{Method: "POST", Path: "/v1/clusters/main/shards", Body: `{"master":"10.0.0.7:7000","replicas":[],"force":false}`},
			stderr: `main-op3: step 4 of 5, migrate: move 4096 slots in 3 moves
main-op3: done
`},
		{args: []string{"cluster", "operations", "wait", "main-op3"},
			seq: []answer{{body: opBegunJSON}, {status: 503, body: `{"error":{"code":"unavailable","message":"unavailable: no leader"}}`}, {body: opMigratingJSON}, {body: opDoneJSON}},
			stderr: `main-op3: step 1 of 5, meet: 10.0.0.7:7000, 10.0.0.8:7000 meet the cluster through 10.0.0.1:7000
main-op3: step 4 of 5, migrate: move 4096 slots in 3 moves
main-op3: done
`},
		{args: []string{"cluster", "operations", "cancel", "main-op3", "--wait"},
			seq:   []answer{{body: opCancellingJSON}, {body: opCancelledJSON}},
			first: seen{Method: "POST", Path: "/v1/operations/main-op3/cancel"},
			stderr: `main-op3: step 4 of 5, migrate: move 4096 slots in 3 moves (cancel requested)
main-op3: cancelled
`},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			api := newFakeAPI(t, opsRoutes())
			sequenced(t, api, map[string][]answer{"GET /v1/operations/main-op3": c.seq})
			out, errOut, err := runCtl(t, c.args...)
			if err != nil {
				t.Fatal(err)
			}
			if errOut != c.stderr {
				t.Errorf("stderr\n%s\nwant\n%s", errOut, c.stderr)
			}
			final := "state:        done in 42.5s\n"
			if c.args[2] == "cancel" {
				final = "state:        cancelled at step 4 of 5 (migrate) after 12s\n"
			}
			if !strings.HasPrefix(out, "operation:    main-op3: add_shard of cluster main\n"+final) {
				t.Errorf("stdout\n%s\nwant the ended operation", out)
			}
			var want []seen
			if c.first.Method != "" {
				want = append(want, c.first)
			}
			for range c.seq {
				want = append(want, seen{Method: "GET", Path: "/v1/operations/main-op3"})
			}
			checkRequests(t, api.requests(), want)
		})
	}
}

// TestCtlOpsWaitFails: --wait returns an error naming the operation's own
// when it failed or was cancelled; cancel --wait when it ended done; a
// refusal while polling ends the wait at once.
func TestCtlOpsWaitFails(t *testing.T) {
	cases := []struct {
		args []string
		seq  []answer
		want string
	}{
		{[]string{"cluster", "rebalance", "main", "--wait"}, []answer{{body: opMigratingJSON}, {body: opFailedJSON}},
			"add_shard main-op3 of cluster main failed at step 4 of 5 (migrate): migrate slot 1300 to 10.0.0.7:7000: dial tcp 10.0.0.7:7000: connection refused"},
		{[]string{"cluster", "operations", "wait", "main-op3"}, []answer{{body: opCancelledJSON}},
			"add_shard main-op3 of cluster main was cancelled at step 4 of 5 (migrate): as requested"},
		{[]string{"cluster", "operations", "cancel", "main-op3", "--wait"}, []answer{{body: opDoneJSON}},
			"add_shard main-op3 of cluster main ended done before the cancel took effect"},
		{[]string{"cluster", "operations", "cancel", "main-op3", "--wait"}, []answer{{body: opFailedJSON}},
			"add_shard main-op3 of cluster main failed at step 4 of 5 (migrate): migrate slot 1300"},
		{[]string{"cluster", "operations", "wait", "main-op3"}, []answer{{status: 404, body: `{"error":{"code":"not_found","message":"not found: operation \"main-op3\""}}`}},
			`not found: operation "main-op3" (HTTP 404 not_found)`},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			api := newFakeAPI(t, opsRoutes())
			sequenced(t, api, map[string][]answer{"GET /v1/operations/main-op3": c.seq})
			_, _, err := runCtl(t, c.args...)
			if err == nil || !strings.HasPrefix(err.Error(), c.want) {
				t.Errorf("error %v, want one starting %q", err, c.want)
			}
		})
	}
}

// TestCtlOpsExitCodes runs main in a child process: --wait exits 0 when
// the operation ended done, 1 with its error when it failed.
func TestCtlOpsExitCodes(t *testing.T) {
	cases := []struct {
		seq    []answer
		code   int
		stderr string // the last line
	}{
		{[]answer{{body: opDoneJSON}}, 0, "main-op3: done\n"},
		{[]answer{{body: opMigratingJSON}, {body: opFailedJSON}}, 1,
			"warden: add_shard main-op3 of cluster main failed at step 4 of 5 (migrate): migrate slot 1300 to 10.0.0.7:7000: dial tcp 10.0.0.7:7000: connection refused\n"},
	}
	for _, c := range cases {
		api := newFakeAPI(t, opsRoutes())
		sequenced(t, api, map[string][]answer{"GET /v1/operations/main-op3": c.seq})
		cmd := exec.CommandContext(t.Context(), os.Args[0], "cluster", "add-shard", "main", "--master", "10.0.0.7:7000", "--wait")
		cmd.Env = append(os.Environ(), runMainEnv+"=1")
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != c.code || !strings.HasSuffix(errb.String(), c.stderr) || !strings.Contains(out.String(), "operation:    main-op3") {
			t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s\nwant stderr ending %q", code, c.code, out.String(), errb.String(), c.stderr)
		}
	}
}

// TestCtlOpsRejects: a bad argument is named and nothing is sent.
func TestCtlOpsRejects(t *testing.T) {
	masters := []string{"--master", "10.0.0.1:7000", "--master", "10.0.0.2:7000", "--master", "10.0.0.3:7000"}
	create := func(more ...string) []string {
		return append(append([]string{"cluster", "create", "new"}, masters...), more...)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"cluster", "create"}, "missing NAME (usage: warden cluster create NAME"},
		{[]string{"cluster", "create", "new"}, "--master is required"},
		{[]string{"cluster", "create", "bad name", "--master", "10.0.0.1:7000"}, `NAME "bad name": a cluster name holds only`},
		{[]string{"cluster", "create", "new", "--master", "10.0.0.1"}, `--master: "10.0.0.1" is not host:port`},
		{create("--master", "10.0.0.1:7000"), "--master 10.0.0.1:7000: given twice"},
		{create("--replica", "10.0.0.4:7000"), `--replica "10.0.0.4:7000": want MASTER=ADDR`},
		{create("--replica", "10.0.0.1:7000="), `--replica "10.0.0.1:7000=": want MASTER=ADDR`},
		{create("--replica", "10.0.0.9:7000=10.0.0.4:7000"), `--replica "10.0.0.9:7000=10.0.0.4:7000": 10.0.0.9:7000 is not one of the --master addresses`},
		{create("--replica", "10.0.0.1:7000=10.0.0.2:7000"), "--replica 10.0.0.2:7000: given twice"},
		{create("--replica", "10.0.0.1:7000=nohost"), `--replica: "nohost" is not host:port`},
		{create("--slots", "0-5460"), `--slots "0-5460": want MASTER=RANGES`},
		{create("--slots", "10.0.0.1:7000=0-5460;6000"), `--slots "10.0.0.1:7000=0-5460;6000": "0-5460;6000" is not slot ranges`},
		{create("--slots", "10.0.0.1:7000=0-10", "--slots", "10.0.0.1:7000=11-20"), "10.0.0.1:7000 is given slots twice"},
		{[]string{"cluster", "add-shard"}, "missing NAME"},
		{[]string{"cluster", "add-shard", "main"}, "--master is required"},
		{[]string{"cluster", "add-shard", "main", "--master", "10.0.0.7:7000", "--replica", "10.0.0.7:7000"}, "--replica 10.0.0.7:7000: given twice"},
		{[]string{"cluster", "add-shard", "main", "--master", "10.0.0.7:7000", "--replica", "x"}, `--replica: "x" is not host:port`},
		{[]string{"cluster", "add-shard", "main", "extra", "--master", "10.0.0.7:7000"}, `unexpected argument "extra" after NAME`},
		{[]string{"cluster", "remove-shard", "main"}, "missing MASTER"},
		{[]string{"cluster", "remove-shard", "main", "10.0.0.3"}, `MASTER: "10.0.0.3" is neither host:port nor a node ID`},
		{[]string{"cluster", "remove-shard", "main", "abc"}, `MASTER: "abc": give at least 4 characters of the node ID`},
		{[]string{"cluster", "rebalance"}, "missing NAME"},
		{[]string{"cluster", "rebalance", "main", "--weight", "10.0.0.1:7000"}, `--weight "10.0.0.1:7000": want MASTER=W`},
		{[]string{"cluster", "rebalance", "main", "--weight", "10.0.0.1:7000=heavy"}, `--weight "10.0.0.1:7000=heavy": "heavy" is not a number from 0 up`},
		{[]string{"cluster", "rebalance", "main", "--weight", "10.0.0.1:7000=-1"}, `"-1" is not a number from 0 up`},
		{[]string{"cluster", "rebalance", "main", "--weight", "10.0.0.1:7000=NaN"}, `"NaN" is not a number from 0 up`},
		{[]string{"cluster", "rebalance", "main", "--weight", "10.0.0.1:7000=+Inf"}, `"+Inf" is not a number from 0 up`},
		{[]string{"cluster", "rebalance", "main", "--weight", "10.0.0.1=2"}, `--weight: "10.0.0.1" is neither host:port nor a node ID`},
		{[]string{"cluster", "rebalance", "main", "--weight", "10.0.0.1:7000=1", "--weight", "10.0.0.1:7000=2"}, "--weight: 10.0.0.1:7000 is weighed twice"},
		{[]string{"cluster", "rebalance", "main", "--threshold", "-1"}, "--threshold -1: must be from 0 to 100"},
		{[]string{"cluster", "rebalance", "main", "--threshold", "101"}, "--threshold 101: must be from 0 to 100"},
		{[]string{"cluster", "rebalance", "main", "--threshold", "lots"}, `invalid argument "lots" for "--threshold" flag`},
		{[]string{"cluster", "rebalance", "main", "--dry-run", "--wait"}, "--wait does not go with --dry-run"},
		{[]string{"cluster", "replicas", "add", "main", "10.0.0.1:7000"}, "missing ADDR"},
		{[]string{"cluster", "replicas", "remove", "main"}, "missing MASTER"},
		{[]string{"cluster", "replicas", "add", "main", "10.0.0.1:7000", "10.0.0.8:7000", "10.0.0.8:7000"}, "ADDR 10.0.0.8:7000: given twice"},
		{[]string{"cluster", "replicas", "remove", "main", "10.0.0.1:7000", "bad"}, `ADDR: "bad" is not host:port`},
		{[]string{"cluster", "operations", "cancel"}, "missing ID"},
		{[]string{"cluster", "operations", "wait"}, "missing ID"},
		{[]string{"cluster", "operations", "main-op3", "--cluster", "main"}, "--cluster goes with the list, not with ID"},
		{[]string{"cluster", "operations", "--cluster", "a/b"}, `--cluster "a/b": a cluster name holds only`},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			api := newFakeAPI(t, opsRoutes())
			_, _, err := runCtl(t, c.args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one holding %q", err, c.want)
			}
			if reqs := api.requests(); len(reqs) != 0 {
				t.Errorf("a rejected command sent %d requests: %+v", len(reqs), reqs)
			}
		})
	}
}

// TestCtlOpsRefusals: a node ID start that names no master is refused after
// the look-up, before anything starts; the server's refusal is passed on.
func TestCtlOpsRefusals(t *testing.T) {
	cases := []struct {
		args []string
		want string
		reqs int
	}{
		{[]string{"cluster", "remove-shard", "main", "dddd"}, "MASTER dddd: no such node ID in cluster main", 1},
		{[]string{"cluster", "rebalance", "main", "--weight", "ffff=2"}, "--weight ffff: no such node ID in cluster main", 1},
		{[]string{"cluster", "replicas", "add", "blind", "9999", "10.0.1.3:7000"}, "cluster blind: the leader has no fresh view to find node IDs in; give the whole ID or host:port", 1},
		{[]string{"cluster", "operations", "cancel", "main-op9"}, "conflict: operation main-op9 is already done (HTTP 409 conflict)", 1},
		{[]string{"cluster", "add-shard", "nosuch", "--master", "10.0.0.7:7000"}, "not found: no route POST /v1/clusters/nosuch/shards (HTTP 404 not_found)", 1},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			api := newFakeAPI(t, opsRoutes())
			_, _, err := runCtl(t, c.args...)
			if err == nil || err.Error() != c.want {
				t.Errorf("error %v, want %q", err, c.want)
			}
			if n := len(api.requests()); n != c.reqs {
				t.Errorf("%d requests, want %d", n, c.reqs)
			}
		})
	}
}

// lockedBuffer is a bytes.Buffer that the progress bar's own goroutine may
// write to.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestOpProgressBar: on a terminal, a spinner with the step, then during
// the migrate step a bar over the slots with the keys per second.
func TestOpProgressBar(t *testing.T) {
	var w lockedBuffer
	p := newOpProgress(&w, true)
	for _, raw := range []string{opBegunJSON, opMigratingJSON, opDoneJSON} {
		var op watchdog.OperationStatus
		if err := json.Unmarshal([]byte(raw), &op); err != nil {
			t.Fatal(err)
		}
		p.update(op)
	}
	p.stop()
	out := w.String()
	for _, want := range []string{"main-op3 step 1/5 meet: 10.0.0.7:7000, 10.0.0.8:7000 meet the cluster thr…",
		"main-op3 migrate, 15625 keys/s, 8s left", "(1200/4096"} {
		if !strings.Contains(out, want) {
			t.Errorf("progress wrote %q; want it to hold %q", out, want)
		}
	}
}

// TestOpsCommandPath: the hints name `warden operations` when the root
// has it, else `warden cluster operations`.
func TestOpsCommandPath(t *testing.T) {
	for _, top := range []bool{false, true} {
		root := &cobra.Command{Use: "warden"}
		cl := newClusterCmd()
		root.AddCommand(cl)
		want := "warden cluster operations"
		if top {
			root.AddCommand(newOperationsCmd())
			want = "warden operations"
		}
		add, _, err := root.Find([]string{"cluster", "add-shard"})
		if err != nil {
			t.Fatal(err)
		}
		if got := opsCommand(add); got != want {
			t.Errorf("top-level operations %v: %q, want %q", top, got, want)
		}
	}
}

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// runMainEnv makes the test binary run main() instead of the tests, so
// that exit codes and stderr are checked as an operator sees them.
const runMainEnv = "WARDEN_CTL_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// seen is one request the fake API received.
type seen struct {
	Method, Path, Query, Auth, Body string
}

// answer is the fake API's reply to one route.
type answer struct {
	status int
	body   string
	delay  time.Duration
}

// fakeAPI answers "METHOD /path" routes with canned bodies and records
// every request.
type fakeAPI struct {
	srv     *httptest.Server
	answers map[string]answer
	mu      sync.Mutex
	reqs    []seen
}

func newFakeAPI(t *testing.T, answers map[string]answer) *fakeAPI {
	t.Helper()
	f := &fakeAPI{answers: answers}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), string(b)})
		f.mu.Unlock()
		a, ok := f.answers[r.Method+" "+r.URL.Path]
		if !ok {
			a = answer{status: 404, body: `{"error":{"code":"not_found","message":"not found: no route ` + r.Method + " " + r.URL.Path + `"}}`}
		}
		if a.delay > 0 {
			select {
			case <-time.After(a.delay):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		if a.status == 0 {
			a.status = 200
		}
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
	}))
	t.Cleanup(f.srv.Close)
	t.Setenv(envAddr, f.srv.URL)
	t.Setenv(envToken, "")
	return f
}

func (f *fakeAPI) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.reqs...)
}

// runCtl runs one command as main does, in process.
func runCtl(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := &cobra.Command{Use: "warden", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(ctlCommands()...)
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	err = root.ExecuteContext(t.Context())
	return out.String(), errb.String(), err
}

// Canned answers, as the server writes them.
const (
	statusJSON = `{"id":"w2","raft_state":"Follower","leader_id":"w1","leader_addr":"127.0.0.1:7101",
		"peers":[{"id":"w1","addr":"127.0.0.1:7101","suffrage":"Voter"},{"id":"w2","addr":"127.0.0.1:7102","suffrage":"Voter"}],"groups":1}`
	groupJSON = `{"name":"g1","master":"10.0.0.1:6379","epoch":3,"status":"ok","reason":"",
		"nodes":[
		 {"addr":"10.0.0.1:6379","role":"master","health":"up","votes_down":0,"votes_up":3,"offset":1234,"latency_ms":0.42,"link_up":false},
		 {"addr":"10.0.0.2:6379","role":"replica","health":"sdown","votes_down":1,"votes_up":2,"offset":1200,"latency_ms":12.34,"master_addr":"10.0.0.1:6379","link_up":true,"maintenance_until":"2030-01-02T03:04:05Z"}],
		"reporters":["w1","w2","w3"],"view_age_ms":12,"failover":null,
		"last_failover":{"id":"g1-3","kind":"switchover","requested_by":"api via w2","epoch":3,"from":"10.0.0.2:6379","to":"10.0.0.1:6379",
		  "reason":"requested by api via w2; master 10.0.0.2:6379 is healthy: planned switchover","fence":false,"stage":"done","leader":"w1",
		  "began_at":"2030-01-01T00:00:00Z","ended_at":"2030-01-01T00:00:01.5Z","ok":true,
		  "steps":[{"name":"pause-writes","node":"10.0.0.2:6379","duration_ms":0.5},{"name":"catch-up","node":"10.0.0.1:6379","duration_ms":1500.2}]},
		"blocked_until":"2030-01-01T00:01:00Z"}`
	failedJSON = `{"id":"g1-4","kind":"switchover","epoch":4,"from":"10.0.0.1:6379","to":"10.0.0.2:6379","reason":"r","fence":false,
		"stage":"failed","leader":"w1","began_at":"2030-01-01T00:00:00Z","ended_at":"2030-01-01T00:00:30Z","ok":false,
		"error":"target did not catch up with the master, nothing changed: context deadline exceeded",
		"steps":[{"name":"pause-writes","node":"10.0.0.1:6379","duration_ms":0.3},{"name":"catch-up","node":"10.0.0.2:6379","duration_ms":30000,"error":"context deadline exceeded"}]}`
	begunJSON   = `{"id":"g1-4","kind":"switchover","epoch":4,"from":"10.0.0.1:6379","to":"10.0.0.2:6379","reason":"r","fence":false,"stage":"begun","leader":"w1","began_at":"2030-01-01T00:00:00Z","ok":false}`
	historyJSON = `{"history":[
		{"seq":7,"at":"2030-01-01T00:00:00Z","kind":"refusal","group":"g1","message":"master 10.0.0.1:6379 is down but the last failover was at ...: blocked"},
		{"seq":8,"at":"2030-01-01T00:00:02Z","kind":"ack","group":"g1","by":"api","message":"anti-flapping window cleared"}]}`
	peersJSON = `{"peers":[{"id":"w1","addr":"127.0.0.1:7101","suffrage":"Voter"},{"id":"w4","addr":"127.0.0.1:7104","suffrage":"Nonvoter"}],"leader_id":"w1"}`
	maintJSON = `{"maintenance":{"10.0.0.3:6379":{"until":"2030-01-01T02:00:00Z","by":"api","since":"2030-01-01T01:00:00Z"},
		"10.0.0.2:6379":{"reason":"disk swap","until":"2030-01-01T01:30:00Z","by":"api via w2","since":"2030-01-01T01:00:00Z"}}}`
	conflictJSON = `{"error":{"code":"conflict","message":"conflict: failover g1-4 (10.0.0.1:6379 -> 10.0.0.2:6379) is running"}}`
)

// everyRoute answers every route the commands use.
func everyRoute() map[string]answer {
	return map[string]answer{
		"GET /v1/status":                           {body: statusJSON},
		"GET /v1/groups":                           {body: `{"groups":[` + groupJSON + `]}`},
		"GET /v1/groups/g1":                        {body: groupJSON},
		"POST /v1/groups":                          {status: 201, body: groupJSON},
		"DELETE /v1/groups/g1":                     {body: `{"removed":"g1"}`},
		"POST /v1/groups/g1/failover":              {status: 202, body: begunJSON},
		"POST /v1/groups/g1/ack":                   {body: groupJSON},
		"POST /v1/nodes/10.0.0.2:6379/maintenance": {body: `{"node":"10.0.0.2:6379","group":"g1","on":true,"until":"2030-01-02T03:04:05Z","reason":"r"}`},
		"GET /v1/maintenance":                      {body: maintJSON},
		"GET /v1/history":                          {body: historyJSON},
		"GET /v1/raft/peers":                       {body: peersJSON},
		"POST /v1/raft/peers":                      {body: `{"id":"w4","addr":"127.0.0.1:7104","changed":true}`},
		"DELETE /v1/raft/peers/w4":                 {body: `{"removed":"w4"}`},
		"POST /v1/raft/transfer-leadership":        {body: `{"from":"w1","leader_id":"w2"}`},
		"POST /v1/groups/failing/failover":         {body: failedJSON},
		"POST /v1/groups/busy/failover":            {status: 409, body: conflictJSON},
		"GET /v1/groups/proxied":                   {status: 502, body: "<html>Bad Gateway</html>\n"},
		"GET /v1/groups/empty":                     {status: 500},
		"GET /v1/groups/slow":                      {body: groupJSON, delay: 5 * time.Second},
		"POST /v1/nodes/10.0.0.9:6379/maintenance": {status: 404, body: `{"error":{"code":"not_found","message":"not found: 10.0.0.9:6379 is not a node of any group"}}`},
	}
}

// TestCtlRejectsBadArguments: a bad address, word, time or flag is named
// in the error and nothing is sent.
func TestCtlRejectsBadArguments(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		env  string // WARDEN_ADDR, when set
		want string
	}{
		{args: []string{"status", "--addr", "nohost"}, want: `--addr: "nohost" is not host:port`},
		{args: []string{"status", "--addr", "ftp://h:1"}, want: `--addr: "ftp://h:1" has scheme "ftp"`},
		{args: []string{"status", "--addr", "http://h:1/api"}, want: `holds more than scheme://host:port`},
		{args: []string{"status", "--addr", "h:0"}, want: `--addr: "h:0" has port "0"`},
		{args: []string{"status", "--addr", "h:http"}, want: `--addr: "h:http"`},
		{args: []string{"status"}, env: "oops", want: `WARDEN_ADDR: "oops" is not host:port`},
		{args: []string{"status", "--timeout", "0s"}, want: "--timeout 0s: must be positive"},
		{args: []string{"status", "--token-file", filepath.Join(dir, "missing")}, want: "--token-file: open "},
		{args: []string{"status", "--token-file", empty}, want: "the file is empty"},
		{args: []string{"maintenance", "10.0.0.2:6379", "maybe"}, want: `"maybe" after ADDR: want on or off`},
		{args: []string{"maintenance", "10.0.0.2", "on"}, want: `ADDR: "10.0.0.2" is not host:port`},
		{args: []string{"maintenance", "10.0.0.2:6379", "on", "--until", "tomorrow"}, want: `--until "tomorrow" is not an RFC3339 time`},
		{args: []string{"maintenance", "10.0.0.2:6379", "on", "--until", "2030-01-02T03:04:05Z", "--for", "1m"}, want: "--until and --for: give one or the other"},
		{args: []string{"maintenance", "10.0.0.2:6379", "off", "--for", "1m"}, want: "--until and --for go with on"},
		{args: []string{"maintenance", "10.0.0.2:6379", "on", "--for", "-1m"}, want: "--for -1m0s: must be positive"},
		{args: []string{"maintenance", "10.0.0.2:6379"}, want: "want ADDR on|off, or no argument"},
		{args: []string{"maintenance", "--reason", "x"}, want: "--reason goes with ADDR on|off"},
		{args: []string{"failover", "g1", "--to", "nope"}, want: `--to: "nope" is not host:port`},
		{args: []string{"failover", "g1", "--to", "h:70000"}, want: `--to: "h:70000" has port "70000"`},
		{args: []string{"groups", "add", "g1", "--nodes", "10.0.0.1:6379"}, want: "--nodes must list at least two nodes"},
		{args: []string{"groups", "add", "g1", "--nodes", "10.0.0.1:6379,10.0.0.2"}, want: `--nodes[1]: "10.0.0.2" is not host:port`},
		{args: []string{"peers", "add", "bad id", "h:1"}, want: `ID "bad id"`},
		{args: []string{"peers", "add", "w4", "h"}, want: `ADDR: "h" is not host:port`},
		{args: []string{"peers", "remove", "a/b"}, want: `ID "a/b"`},
		{args: []string{"transfer-leadership", "w 2"}, want: `ID "w 2"`},
		{args: []string{"history", "--limit", "0"}, want: "--limit 0: must be at least 1"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			api := newFakeAPI(t, everyRoute())
			if c.env != "" {
				t.Setenv(envAddr, c.env)
			}
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

// TestCtlAddressForms: host:port and http(s) URLs are accepted.
func TestCtlAddressForms(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:7201":             "http://127.0.0.1:7201",
		"localhost:7201":             "http://localhost:7201",
		"[::1]:7201":                 "http://[::1]:7201",
		"http://127.0.0.1:7201":      "http://127.0.0.1:7201",
		"http://127.0.0.1:7201/":     "http://127.0.0.1:7201",
		"https://warden.example":     "https://warden.example",
		"https://warden.example:443": "https://warden.example:443",
	} {
		got, err := baseURL(in)
		if err != nil || got != want {
			t.Errorf("baseURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// TestCtlToken: the token from --token-file, else from WARDEN_TOKEN, goes
// out as a bearer token; without either no Authorization header is sent.
func TestCtlToken(t *testing.T) {
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, env string
		args      []string
		want      string
	}{
		{name: "none", want: ""},
		{name: "env", env: "from-env", want: "Bearer from-env"},
		{name: "file", args: []string{"--token-file", file}, want: "Bearer from-file"},
		{name: "file over env", env: "from-env", args: []string{"--token-file", file}, want: "Bearer from-file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			api := newFakeAPI(t, everyRoute())
			t.Setenv(envToken, c.env)
			// A subcommand too: the flag is inherited from `groups`.
			for _, args := range [][]string{{"status"}, {"groups", "remove", "g1"}} {
				if _, _, err := runCtl(t, append(args, c.args...)...); err != nil {
					t.Fatal(err)
				}
			}
			for _, r := range api.requests() {
				if r.Auth != c.want {
					t.Errorf("%s %s: Authorization %q, want %q", r.Method, r.Path, r.Auth, c.want)
				}
			}
		})
	}
}

// TestCtlRequests: each command sends its method, path, query and body.
func TestCtlRequests(t *testing.T) {
	cases := []struct {
		args  []string
		want  seen
		empty bool // body must be empty
		fails bool // the answer makes the command fail
	}{
		{args: []string{"status"}, want: seen{Method: "GET", Path: "/v1/status"}, empty: true},
		{args: []string{"groups"}, want: seen{Method: "GET", Path: "/v1/groups"}, empty: true},
		{args: []string{"groups", "g1"}, want: seen{Method: "GET", Path: "/v1/groups/g1"}, empty: true},
		{args: []string{"groups", "add", "g1", "--nodes", "10.0.0.1:6379,10.0.0.2:6379"}, want: seen{Method: "POST", Path: "/v1/groups", Body: `{"name":"g1","nodes":["10.0.0.1:6379","10.0.0.2:6379"]}`}},
		{args: []string{"groups", "remove", "g1"}, want: seen{Method: "DELETE", Path: "/v1/groups/g1"}, empty: true},
		{args: []string{"failover", "g1"}, want: seen{Method: "POST", Path: "/v1/groups/g1/failover", Body: `{"to":"","force":false}`}},
		{args: []string{"failover", "g1", "--to", "10.0.0.2:6379", "--force"}, want: seen{Method: "POST", Path: "/v1/groups/g1/failover", Body: `{"to":"10.0.0.2:6379","force":true}`}},
		{args: []string{"failover", "failing", "--wait"}, want: seen{Method: "POST", Path: "/v1/groups/failing/failover", Query: "wait=1", Body: `{"to":"","force":false}`}, fails: true},
		{args: []string{"maintenance"}, want: seen{Method: "GET", Path: "/v1/maintenance"}, empty: true},
		{args: []string{"maintenance", "10.0.0.2:6379", "on", "--reason", "disk swap", "--until", "2030-01-02T04:04:05+01:00"},
			want: seen{Method: "POST", Path: "/v1/nodes/10.0.0.2:6379/maintenance", Body: `{"on":true,"reason":"disk swap","until":"2030-01-02T04:04:05+01:00"}`}},
		{args: []string{"maintenance", "10.0.0.2:6379", "off"}, want: seen{Method: "POST", Path: "/v1/nodes/10.0.0.2:6379/maintenance", Body: `{"on":false,"reason":"","until":""}`}},
		{args: []string{"ack", "g1"}, want: seen{Method: "POST", Path: "/v1/groups/g1/ack"}, empty: true},
		{args: []string{"history"}, want: seen{Method: "GET", Path: "/v1/history"}, empty: true},
		{args: []string{"history", "--group", "g1", "--limit", "5"}, want: seen{Method: "GET", Path: "/v1/history", Query: "group=g1&limit=5"}, empty: true},
		{args: []string{"peers"}, want: seen{Method: "GET", Path: "/v1/raft/peers"}, empty: true},
		{args: []string{"peers", "add", "w4", "127.0.0.1:7104"}, want: seen{Method: "POST", Path: "/v1/raft/peers", Body: `{"id":"w4","addr":"127.0.0.1:7104"}`}},
		{args: []string{"peers", "remove", "w4"}, want: seen{Method: "DELETE", Path: "/v1/raft/peers/w4"}, empty: true},
		{args: []string{"transfer-leadership"}, want: seen{Method: "POST", Path: "/v1/raft/transfer-leadership"}, empty: true},
		{args: []string{"transfer-leadership", "w2"}, want: seen{Method: "POST", Path: "/v1/raft/transfer-leadership", Body: `{"id":"w2"}`}},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			api := newFakeAPI(t, everyRoute())
			_, _, err := runCtl(t, c.args...)
			if (err != nil) != c.fails {
				t.Fatalf("error %v, want failure %v", err, c.fails)
			}
			reqs := api.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1: %+v", len(reqs), reqs)
			}
			got := reqs[0]
			got.Auth = ""
			if c.empty && got.Body != "" {
				t.Errorf("body %q, want none", got.Body)
			}
			if !c.empty {
				if !jsonEqual(got.Body, c.want.Body) {
					t.Errorf("body %s, want %s", got.Body, c.want.Body)
				}
			}
			got.Body, c.want.Body = "", ""
			if got != c.want {
				t.Errorf("request %+v, want %+v", got, c.want)
			}
		})
	}
}

func jsonEqual(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return bytes.Equal(xb, yb)
}

// TestCtlMaintenanceFor: --for becomes an until that far from now.
func TestCtlMaintenanceFor(t *testing.T) {
	api := newFakeAPI(t, everyRoute())
	before := time.Now().Truncate(time.Second)
	if _, _, err := runCtl(t, "maintenance", "10.0.0.2:6379", "on", "--for", "30m"); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	var body struct {
		On    bool   `json:"on"`
		Until string `json:"until"`
	}
	if err := json.Unmarshal([]byte(api.requests()[0].Body), &body); err != nil {
		t.Fatal(err)
	}
	u, err := time.Parse(time.RFC3339, body.Until)
	if err != nil {
		t.Fatal(err)
	}
	if !body.On || u.Before(before.Add(30*time.Minute)) || u.After(after.Add(30*time.Minute)) {
		t.Errorf("body %+v: want on, until within [%v, %v] + 30m", body, before, after)
	}
}

// TestCtlJSON: --json prints the server's answer as it is (fields the
// client does not know included), indented.
func TestCtlJSON(t *testing.T) {
	const answerBody = `{"id":"w1","raft_state":"Leader","future":{"x":[1,2]},"peers":[]}`
	newFakeAPI(t, map[string]answer{"GET /v1/status": {body: answerBody}})
	out, _, err := runCtl(t, "status", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := json.Indent(&want, []byte(answerBody), "", "  "); err != nil {
		t.Fatal(err)
	}
	want.WriteByte('\n')
	if out != want.String() {
		t.Errorf("--json printed\n%s\nwant\n%s", out, want.String())
	}
}

// TestCtlErrors: a failed call reads "<server message> (HTTP <status>
// <code>)"; an answer without the error envelope still says something.
func TestCtlErrors(t *testing.T) {
	newFakeAPI(t, everyRoute())
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"failover", "busy"}, "conflict: failover g1-4 (10.0.0.1:6379 -> 10.0.0.2:6379) is running (HTTP 409 conflict)"},
		{[]string{"groups", "nosuch"}, "not found: no route GET /v1/groups/nosuch (HTTP 404 not_found)"},
		{[]string{"maintenance", "10.0.0.9:6379", "on"}, "not found: 10.0.0.9:6379 is not a node of any group (HTTP 404 not_found)"},
		{[]string{"groups", "proxied"}, "<html>Bad Gateway</html> (HTTP 502)"},
		{[]string{"groups", "empty"}, "Internal Server Error (HTTP 500)"},
		{[]string{"failover", "failing", "--wait"}, "switchover g1-4 of failing failed: target did not catch up with the master, nothing changed: context deadline exceeded"},
	}
	for _, c := range cases {
		_, _, err := runCtl(t, c.args...)
		if err == nil || err.Error() != c.want {
			t.Errorf("%v: error %v, want %q", c.args, err, c.want)
		}
	}
	var ae *apiError
	if _, _, err := runCtl(t, "failover", "busy"); !errors.As(err, &ae) || ae.Status != 409 || ae.Code != "conflict" {
		t.Errorf("error %#v, want an *apiError 409 conflict", err)
	}

	// --timeout bounds the call.
	start := time.Now()
	_, _, err := runCtl(t, "groups", "slow", "--timeout", "100ms")
	if err == nil || !strings.Contains(err.Error(), "Timeout") || time.Since(start) > 3*time.Second {
		t.Errorf("a call slower than --timeout: error %v after %v", err, time.Since(start))
	}

	// Nothing listening.
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	_, _, err = runCtl(t, "status", "--addr", gone.URL)
	if err == nil || !strings.Contains(err.Error(), gone.URL) {
		t.Errorf("no server: error %v, want one naming %s", err, gone.URL)
	}
}

// TestCtlExitCodes runs main in a child process: 0 on success; 1 with
// "warden: <message>" on stderr for a refused call, a bad argument, and
// a failover that ended with ok false (its steps still printed).
func TestCtlExitCodes(t *testing.T) {
	api := newFakeAPI(t, everyRoute())
	cases := []struct {
		args       []string
		code       int
		stdout     string // substring
		stderr     string // exact
		noRequests bool
	}{
		{args: []string{"status"}, code: 0, stdout: "member: w2 (Follower)"},
		{args: []string{"failover", "busy"}, code: 1, stderr: "warden: conflict: failover g1-4 (10.0.0.1:6379 -> 10.0.0.2:6379) is running (HTTP 409 conflict)\n"},
		{args: []string{"maintenance", "10.0.0.2:6379", "of"}, code: 1, stderr: "warden: \"of\" after ADDR: want on or off\n", noRequests: true},
		{args: []string{"failover", "failing", "--wait"}, code: 1, stdout: "catch-up      10.0.0.2:6379  30s       context deadline exceeded",
			stderr: "warden: switchover g1-4 of failing failed: target did not catch up with the master, nothing changed: context deadline exceeded\n"},
		{args: []string{"failover", "failing", "--wait", "--json"}, code: 1, stdout: `"ok": false`,
			stderr: "warden: switchover g1-4 of failing failed: target did not catch up with the master, nothing changed: context deadline exceeded\n"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			n := len(api.requests())
			cmd := exec.CommandContext(t.Context(), os.Args[0], c.args...)
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
			if code != c.code || !strings.Contains(out.String(), c.stdout) || (c.stderr != "" && errb.String() != c.stderr) {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%q\nwant stdout holding %q and stderr %q", code, c.code, out.String(), errb.String(), c.stdout, c.stderr)
			}
			if c.noRequests && len(api.requests()) != n {
				t.Errorf("a rejected command sent a request")
			}
		})
	}
}

// TestCtlTables checks the human output of every command.
func TestCtlTables(t *testing.T) {
	newFakeAPI(t, everyRoute())
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"status"}, `member: w2 (Follower)
leader: w1 at 127.0.0.1:7101
groups: 1

ID  ADDR            SUFFRAGE  LEADER
w1  127.0.0.1:7101  Voter     *
w2  127.0.0.1:7102  Voter     -
`},
		{[]string{"groups"}, `NAME  MASTER         EPOCH  STATUS  UP   REASON
g1    10.0.0.1:6379  3      ok      1/2  -
`},
		{[]string{"groups", "g1"}, `group:         g1
master:        10.0.0.1:6379 (epoch 3)
status:        ok
blocked until: 2030-01-01T00:01:00Z (warden ack g1 clears it)
reporters:     w1, w2, w3

ADDR           ROLE     HEALTH  VOTES_DOWN  OFFSET  LATENCY  MAINTENANCE                 FOLLOWS
10.0.0.1:6379  master   up      0           1234    0.4ms    -                           -
10.0.0.2:6379  replica  sdown   1           1200    12.3ms   until 2030-01-02T03:04:05Z  10.0.0.1:6379 (link up)

last switchover g1-3 (epoch 3): 10.0.0.2:6379 -> 10.0.0.1:6379, ok in 1.5s
began:        2030-01-01T00:00:00Z
requested by: api via w2
led by:       w1
reason:       requested by api via w2; master 10.0.0.2:6379 is healthy: planned switchover

STEP          NODE           DURATION  ERROR
pause-writes  10.0.0.2:6379  0.5ms     -
catch-up      10.0.0.1:6379  1.5s      -
`},
		{[]string{"failover", "g1"}, `switchover g1-4 begun (epoch 4): 10.0.0.1:6379 -> 10.0.0.2:6379
follow it with: warden groups g1
`},
		{[]string{"history"}, `SEQ  TIME                  KIND     GROUP  NODE  MESSAGE
7    2030-01-01T00:00:00Z  refusal  g1     -     master 10.0.0.1:6379 is down but the last failover was at ...: blocked
8    2030-01-01T00:00:02Z  ack      g1     -     anti-flapping window cleared
`},
		{[]string{"peers"}, `ID  ADDR            SUFFRAGE  LEADER
w1  127.0.0.1:7101  Voter     *
w4  127.0.0.1:7104  Nonvoter  -
`},
		{[]string{"maintenance"}, `NODE           UNTIL                 SINCE                 BY          REASON
10.0.0.2:6379  2030-01-01T01:30:00Z  2030-01-01T01:00:00Z  api via w2  disk swap
10.0.0.3:6379  2030-01-01T02:00:00Z  2030-01-01T01:00:00Z  api         -
`},
		{[]string{"maintenance", "10.0.0.2:6379", "on"}, "10.0.0.2:6379 (group g1) is in maintenance until 2030-01-02T03:04:05Z\n"},
		{[]string{"ack", "g1"}, "g1: anti-flapping window cleared (master 10.0.0.1:6379, epoch 3)\n"},
		{[]string{"peers", "add", "w4", "127.0.0.1:7104"}, "added w4 at 127.0.0.1:7104 as a voter\n"},
		{[]string{"peers", "remove", "w4"}, "removed w4 from the raft group\n"},
		{[]string{"groups", "remove", "g1"}, "removed group g1\n"},
		{[]string{"transfer-leadership"}, "leadership handed over from w1 to w2\n"},
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

// TestCtlEmptyLists: empty answers say so in words.
func TestCtlEmptyLists(t *testing.T) {
	newFakeAPI(t, map[string]answer{
		"GET /v1/groups":      {body: `{"groups":[]}`},
		"GET /v1/history":     {body: `{"history":[]}`},
		"GET /v1/maintenance": {body: `{"maintenance":{}}`},
	})
	for args, want := range map[string]string{"groups": "no groups\n", "history": "no history\n", "maintenance": "no node is in maintenance\n"} {
		out, _, err := runCtl(t, args)
		if err != nil || out != want {
			t.Errorf("%s: %q, %v; want %q", args, out, err, want)
		}
	}
}

// TestProgressOnlyOnTerminal: the spinner writes nothing when stderr is
// not a terminal (a pipe, a buffer).
func TestProgressOnlyOnTerminal(t *testing.T) {
	var b bytes.Buffer
	startProgress(&b, "x")()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	startProgress(w, "x")()
	w.Close()
	got, _ := io.ReadAll(r)
	if b.Len() != 0 || len(got) != 0 {
		t.Errorf("progress wrote %q and %q to non-terminals", b.String(), got)
	}
}

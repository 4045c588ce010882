package watchdog

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"warden/raftstore"
)

func TestSign(t *testing.T) {
	body := []byte(`{"seq":1}`)
	m := hmac.New(sha256.New, []byte("k"))
	m.Write([]byte("1700000000.{\"seq\":1}"))
	want := "sha256=" + hex.EncodeToString(m.Sum(nil))
	if got := Sign("k", "1700000000", body); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	if Sign("k", "1700000001", body) == want || Sign("other", "1700000000", body) == want {
		t.Fatal("the signature does not cover the timestamp and the key")
	}
}

func TestMatches(t *testing.T) {
	for _, c := range []struct {
		globs []string
		kind  string
		want  bool
	}{
		{nil, "anything", true},
		{[]string{"failover_*"}, "failover_started", true},
		{[]string{"failover_*"}, "switchover_started", false},
		{[]string{"failover_*", "quorum_lost"}, "quorum_lost", true},
		{[]string{"quorum_lost"}, "quorum_regained", false},
		{[]string{"*_started"}, "switchover_started", true},
	} {
		if got := Matches(c.globs, c.kind); got != c.want {
			t.Errorf("Matches(%v, %s) = %v, want %v", c.globs, c.kind, got, c.want)
		}
	}
}

func TestBackoffSchedule(t *testing.T) {
	low := func(int64) int64 { return 0 }
	high := func(n int64) int64 { return n - 1 }
	base, limit := 100*time.Millisecond, 30*time.Second
	prevHigh := time.Duration(0)
	for n := 0; n < 20; n++ {
		lo, hi := Backoff(n, base, limit, low), Backoff(n, base, limit, high)
		if lo > hi || hi > limit || lo < hi/2-time.Nanosecond {
			t.Fatalf("retry %d: jitter range [%v, %v] outside [d/2, d] or over the cap", n, lo, hi)
		}
		if hi < prevHigh {
			t.Fatalf("retry %d waits less (%v) than retry %d (%v)", n, hi, n-1, prevHigh)
		}
		prevHigh = hi
	}
	if got := Backoff(0, base, limit, high); got != base {
		t.Fatalf("first retry waits at most %v, got %v", base, got)
	}
	if got := Backoff(50, base, limit, high); got != limit {
		t.Fatalf("late retries are capped at %v, got %v", limit, got)
	}
}

func TestPayloadFormats(t *testing.T) {
	e := raftstore.Event{Seq: 7, Kind: raftstore.EvFailoverStarted, Severity: raftstore.SeverityCritical, Group: "g", Message: "a -> b"}
	b, err := Payload("json", e)
	if err != nil {
		t.Fatal(err)
	}
	var back raftstore.Event
	if err := json.Unmarshal(b, &back); err != nil || back.Seq != 7 || back.Kind != e.Kind {
		t.Fatalf("json payload %s: %v", b, err)
	}
	b, err = Payload("slack", e)
	if err != nil {
		t.Fatal(err)
	}
	var sl map[string]string
	if err := json.Unmarshal(b, &sl); err != nil || len(sl) != 1 || !strings.Contains(sl["text"], "failover_started g: a -> b") || !strings.Contains(sl["text"], "critical") {
		t.Fatalf("slack payload %s: %v", b, err)
	}
}

func TestPostClassifiesAnswers(t *testing.T) {
	for _, c := range []struct {
		status    int
		ok, retry bool
	}{{200, true, false}, {204, true, false}, {500, false, true}, {503, false, true}, {429, false, true}, {400, false, false}, {404, false, false}} {
		var got http.Header
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got = r.Header.Clone()
			w.WriteHeader(c.status)
		}))
		err := post(context.Background(), srv.Client(), srv.URL, "s", "42", []byte("{}"))
		srv.Close()
		if (err == nil) != c.ok {
			t.Errorf("HTTP %d: err %v", c.status, err)
			continue
		}
		if err != nil && errors.Is(err, errPermanent) == c.retry {
			t.Errorf("HTTP %d: retry=%v, err %v", c.status, c.retry, err)
		}
		if got.Get(HeaderEventID) != "42" || got.Get(HeaderSignature) != Sign("s", got.Get(HeaderTimestamp), []byte("{}")) {
			t.Errorf("HTTP %d: headers %v", c.status, got)
		}
	}
}

func TestEventTracker(t *testing.T) {
	tr := newEventTracker()
	nodes := []string{nA}
	view := func(h string) GroupView { return GroupView{Nodes: []NodeView{{Addr: nA, Health: h, VotesDown: 2}}} }
	rep := func(down bool) []Report {
		o := Obs{Known: true, Up: !down, Down: down}
		return []Report{{From: "w1", Obs: map[string]Obs{nA: o}}}
	}
	if evs := tr.observe("g", nA, nodes, rep(true), view(HealthODown), 1); len(evs) != 0 {
		t.Fatalf("the baseline produced events: %+v", evs)
	}
	if evs := tr.observe("g", nA, nodes, rep(false), view(HealthUp), 1); len(evs) != 1 || evs[0].Kind != raftstore.EvNodeUp {
		t.Fatalf("node answers again: %+v", evs)
	}
	evs := tr.observe("g", nA, nodes, rep(true), view(HealthODown), 1)
	if len(evs) != 2 || evs[0].Kind != raftstore.EvNodeSDown || evs[1].Kind != raftstore.EvNodeODown || evs[0].Watchdog != "w1" {
		t.Fatalf("node goes down: %+v", evs)
	}
	// A partial view (sdown, unknown) right after a change is no news, and
	// back to odown is not a second odown.
	for _, h := range []string{HealthSDown, HealthUnknown, HealthODown} {
		if evs := tr.observe("g", nA, nodes, rep(true), view(h), 2); len(evs) != 0 {
			t.Fatalf("health %s: %+v", h, evs)
		}
	}
}

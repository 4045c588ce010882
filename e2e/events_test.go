package e2e

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"warden/config"
)

// The event log and the webhooks, end to end: three watchdogs, real Redis
// nodes, a webhook receiver in this process and the event stream read the
// way an operator's tool would read it.
//
// The receiver lives in this test file rather than in the harness
// (receiver.go) because the harness is linked into the warden binary for
// `warden demo`, and the receiver needs net/http/httptest.

// Event kinds as the README's catalog names them: the tests speak the
// documented names, not the code's constants.
const (
	evNodeODown         = "node_odown"
	evFailoverStarted   = "failover_started"
	evMasterSwitched    = "master_switched"
	evFailoverCompleted = "failover_completed"
)

const (
	// hookName names the webhook every watchdog is configured with.
	hookName = "e2e"
	// deliveryTimeout bounds the wait for deliveries after a failover
	// (with retries and, in one test, a leader election).
	deliveryTimeout = 20 * time.Second
	// announceBudget is how soon after a master's SIGKILL the watchdogs
	// must name its successor: down_after plus 3 s for votes, promotion
	// and the poll.
	announceBudget = downAfter + 3*time.Second
)

// failoverGlobs is the event filter of the failover hooks.
var failoverGlobs = []string{"failover_*", "master_switched", "node_odown"}

// hookEvent is one event as a webhook body, GET /v1/events and the event
// stream carry it (README, "Events and alerts").
type hookEvent struct {
	Seq      uint64            `json:"seq"`
	At       time.Time         `json:"at"`
	Kind     string            `json:"kind"`
	Severity string            `json:"severity"`
	Group    string            `json:"group"`
	Node     string            `json:"node"`
	Watchdog string            `json:"watchdog"`
	Epoch    uint64            `json:"epoch"`
	Message  string            `json:"message"`
	Details  map[string]string `json:"details"`
}

func (e hookEvent) String() string {
	return fmt.Sprintf("#%d %s group=%q node=%q epoch=%d", e.Seq, e.Kind, e.Group, e.Node, e.Epoch)
}

// hookDelivery is one POST the receiver got.
type hookDelivery struct {
	Arrived time.Time
	// Answered is when the receiver answered (zero: not answered, the
	// sender went away while the receiver held the request).
	Answered time.Time
	Method   string
	Header   http.Header
	Body     []byte
	Event    hookEvent
	// BadBody says why the body is not an event (nil: it is one).
	BadBody error
	// BadSig says why X-Warden-Signature does not verify (nil: it does).
	BadSig error
	// Status is the answer (0: none).
	Status int
}

// ID is the X-Warden-Event-Id header.
func (d hookDelivery) ID() string { return d.Header.Get("X-Warden-Event-Id") }

// OK reports whether the receiver accepted the delivery.
func (d hookDelivery) OK() bool { return d.Status/100 == 2 }

func (d hookDelivery) String() string {
	return fmt.Sprintf("id %s %s arrived %s status %d", d.ID(), d.Event, d.Arrived.Format("15:04:05.000"), d.Status)
}

// hookReceiver is a webhook receiver on a loopback port below the
// ephemeral range. It records every request, verifies its signature with
// the secret it wrote to SecretFile, and can be told to answer 500 to the
// next requests or to hold every request until released.
type hookReceiver struct {
	URL        string
	SecretFile string
	secret     string
	done       chan struct{} // closed when the test ends: nothing is held any more

	mu       sync.Mutex
	got      []*hookDelivery
	failNext int
	held     chan struct{} // non-nil: requests wait until it is closed
}

// newHookReceiver starts a receiver that t stops when it ends (after the
// sandbox, whose cleanup is registered later and so runs first).
func newHookReceiver(t *testing.T) *hookReceiver {
	t.Helper()
	secret := "hook-" + rand.Text()
	file := filepath.Join(t.TempDir(), "hook-secret")
	// Written the way an operator writes it (echo > file): the trailing
	// newline is not part of the key.
	if err := os.WriteFile(file, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := &hookReceiver{secret: secret, SecretFile: file, done: make(chan struct{})}
	l, err := listenLoopback()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(r)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	r.URL = srv.URL + "/hooks/warden"
	t.Cleanup(func() {
		close(r.done)
		srv.Close()
	})
	return r
}

// listenLoopback listens on a free port below the ephemeral range.
func listenLoopback() (net.Listener, error) {
	var last error
	for range 20 {
		p, err := FreePort()
		if err != nil {
			return nil, err
		}
		l, err := net.Listen("tcp", Addr(p))
		if err == nil {
			return l, nil
		}
		last = err
	}
	return nil, fmt.Errorf("listen on a loopback port: %w", last)
}

// configure returns a SandboxOptions.Configure that gives every watchdog
// this receiver as webhook hookName, with the given event globs.
func (r *hookReceiver) configure(globs []string, more func(*config.Config)) func(*config.Config) {
	return func(c *config.Config) {
		c.Webhooks = append(c.Webhooks, config.WebhookConfig{Name: hookName, URL: r.URL, SecretFile: r.SecretFile, Events: globs})
		if more != nil {
			more(c)
		}
	}
}

func (r *hookReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	d := &hookDelivery{Arrived: time.Now(), Method: req.Method, Header: req.Header.Clone()}
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	d.Body = body
	if err != nil {
		d.BadBody = err
	} else if err := json.Unmarshal(body, &d.Event); err != nil {
		d.BadBody = err
	}
	d.BadSig = checkSignature(r.secret, req.Header, body)
	status := http.StatusOK
	r.mu.Lock()
	r.got = append(r.got, d)
	held := r.held
	if r.failNext > 0 {
		r.failNext--
		status = http.StatusInternalServerError
	}
	r.mu.Unlock()
	if held != nil {
		select {
		case <-held:
		case <-r.done:
		case <-req.Context().Done():
			return // the sender timed out or died: nothing to answer
		}
	}
	r.mu.Lock()
	d.Status, d.Answered = status, time.Now()
	r.mu.Unlock()
	w.WriteHeader(status)
}

// FailNext makes the next n requests answer 500.
func (r *hookReceiver) FailNext(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failNext = n
}

// Hold makes every request wait until Release (or the end of the test).
func (r *hookReceiver) Hold() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.held == nil {
		r.held = make(chan struct{})
	}
}

// Release answers the held requests and stops holding new ones.
func (r *hookReceiver) Release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.held != nil {
		close(r.held)
		r.held = nil
	}
}

// Deliveries returns a copy of every request so far, in arrival order.
func (r *hookReceiver) Deliveries() []hookDelivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]hookDelivery, len(r.got))
	for i, d := range r.got {
		out[i] = *d
	}
	return out
}

// waitAccepted polls until the receiver has accepted, among the requests
// that arrived after since, an event of every kind in kinds for group; it
// returns every request so far.
func (r *hookReceiver) waitAccepted(t *testing.T, since time.Time, group string, kinds ...string) []hookDelivery {
	t.Helper()
	var ds []hookDelivery
	what := fmt.Sprintf("the receiver to accept %s of group %s", strings.Join(kinds, ", "), group)
	err := WaitFor(t.Context(), deliveryTimeout, what, func() (bool, error) {
		ds = r.Deliveries()
		var missing []string
		for _, k := range kinds {
			if _, ok := firstAccepted(ds, since, group, k); !ok {
				missing = append(missing, k)
			}
		}
		if len(missing) > 0 {
			return false, fmt.Errorf("%d requests so far, none accepted of %s: %s", len(ds), strings.Join(missing, ", "), summarize(ds))
		}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// firstAccepted returns the first accepted delivery of kind for group
// that arrived after since.
func firstAccepted(ds []hookDelivery, since time.Time, group, kind string) (hookDelivery, bool) {
	for _, d := range ds {
		if d.OK() && d.Arrived.After(since) && d.Event.Kind == kind && d.Event.Group == group {
			return d, true
		}
	}
	return hookDelivery{}, false
}

func summarize(ds []hookDelivery) string {
	var parts []string
	for _, d := range ds {
		parts = append(parts, d.String())
	}
	return "[" + strings.Join(parts, "; ") + "]"
}

// checkSignature verifies X-Warden-Signature as a receiver must:
// "sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body)).
func checkSignature(secret string, h http.Header, body []byte) error {
	ts, sig := h.Get("X-Warden-Timestamp"), h.Get("X-Warden-Signature")
	if ts == "" || sig == "" {
		return fmt.Errorf("X-Warden-Timestamp %q, X-Warden-Signature %q: both are required", ts, sig)
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "."))
	m.Write(body)
	want := "sha256=" + hex.EncodeToString(m.Sum(nil))
	if !hmac.Equal([]byte(sig), []byte(want)) {
		return fmt.Errorf("X-Warden-Signature %q does not verify (want %q for timestamp %s)", sig, want, ts)
	}
	return nil
}

// checkDelivery checks what every delivery must satisfy: a POST of JSON, a
// body that is an event, a valid signature, X-Warden-Event-Id equal to the
// body's seq, a timestamp taken when it was sent and an event that happened
// after notBefore and before it arrived.
func checkDelivery(d hookDelivery, notBefore time.Time) error {
	var errs []error
	if d.Method != http.MethodPost {
		errs = append(errs, fmt.Errorf("method %s, want POST", d.Method))
	}
	if ct := d.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		errs = append(errs, fmt.Errorf("Content-Type %q, want application/json", ct))
	}
	if d.BadBody != nil {
		errs = append(errs, fmt.Errorf("body %q is not an event: %v", truncate(string(d.Body), 200), d.BadBody))
	}
	if d.BadSig != nil {
		errs = append(errs, d.BadSig)
	}
	if d.ID() != strconv.FormatUint(d.Event.Seq, 10) {
		errs = append(errs, fmt.Errorf("X-Warden-Event-Id %q but the body's seq is %d", d.ID(), d.Event.Seq))
	}
	ts, err := strconv.ParseInt(d.Header.Get("X-Warden-Timestamp"), 10, 64)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("X-Warden-Timestamp %q is not Unix seconds", d.Header.Get("X-Warden-Timestamp")))
	case ts > d.Arrived.Unix() || ts < d.Arrived.Unix()-5:
		errs = append(errs, fmt.Errorf("X-Warden-Timestamp %d is not when it was sent (arrived at %d)", ts, d.Arrived.Unix()))
	}
	if d.Event.At.Before(notBefore) || d.Event.At.After(d.Arrived) {
		errs = append(errs, fmt.Errorf("event time %s is not between %s and its arrival %s",
			d.Event.At.Format(time.RFC3339Nano), notBefore.Format(time.RFC3339Nano), d.Arrived.Format(time.RFC3339Nano)))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("delivery %s: %w", d, err)
	}
	return nil
}

// matchesGlobs is the documented filter: an event goes to a hook when its
// kind matches one of the hook's globs (no globs: every kind).
func matchesGlobs(globs []string, kind string) bool {
	if len(globs) == 0 {
		return true
	}
	for _, g := range globs {
		if ok, _ := path.Match(g, kind); ok {
			return true
		}
	}
	return false
}

// eventsPage is GET /v1/events.
type eventsPage struct {
	Events []hookEvent `json:"events"`
	Oldest uint64      `json:"oldest"`
	Last   uint64      `json:"last"`
}

// getEvents is GET /v1/events?QUERY on w.
func getEvents(ctx context.Context, w *Warden, query string) (eventsPage, error) {
	var p eventsPage
	err := w.API.get(ctx, "/v1/events?"+query, &p)
	return p, err
}

// findEvent returns the first event of kind for group (and node, when
// set) in evs.
func findEvent(evs []hookEvent, kind, group, node string) (hookEvent, bool) {
	for _, e := range evs {
		if e.Kind == kind && e.Group == group && (node == "" || e.Node == node) {
			return e, true
		}
	}
	return hookEvent{}, false
}

// waitFailoverRecorded polls GET /v1/groups on every member of ws until
// each reports a master of group other than old, no failover running, and
// a last failover to that master; it returns the group as reported.
func waitFailoverRecorded(t *testing.T, ws []*Warden, group, old string) Group {
	t.Helper()
	ctx := t.Context()
	var got Group
	what := fmt.Sprintf("members %s to record a finished failover of %s away from %s", wardenIDs(ws), group, old)
	err := WaitFor(ctx, failoverTimeout, what, func() (bool, error) {
		for _, w := range ws {
			gs, err := w.API.Groups(ctx)
			if err != nil {
				return false, fmt.Errorf("%s: %w", w.ID, err)
			}
			i := slices.IndexFunc(gs, func(g Group) bool { return g.Name == group })
			if i < 0 {
				return false, fmt.Errorf("%s: no group %s in GET /v1/groups", w.ID, group)
			}
			g := gs[i]
			if g.Master == "" || g.Master == old || g.FailingOver() || g.LastFailover == nil || g.LastFailover.To != g.Master {
				return false, fmt.Errorf("%s: master %q epoch %d status %s failover %s last %+v", w.ID, g.Master, g.Epoch, g.Status, g.Failover, g.LastFailover)
			}
			got = g
		}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func wardenIDs(ws []*Warden) string {
	var ids []string
	for _, w := range ws {
		ids = append(ids, w.ID)
	}
	return strings.Join(ids, ",")
}

func others(ws []*Warden, not *Warden) []*Warden {
	var out []*Warden
	for _, w := range ws {
		if w != not {
			out = append(out, w)
		}
	}
	return out
}

// checkCausalOrder checks that evs (in the order they were received) hold
// node_odown of the old master, failover_started, master_switched and
// failover_completed of group in that order, and returns them.
func checkCausalOrder(t *testing.T, evs []hookEvent, group, oldMaster string) [4]hookEvent {
	t.Helper()
	var out [4]hookEvent
	pos := -1
	for i, k := range []string{evNodeODown, evFailoverStarted, evMasterSwitched, evFailoverCompleted} {
		node := ""
		if k == evNodeODown {
			node = oldMaster
		}
		j := slices.IndexFunc(evs, func(e hookEvent) bool { return e.Kind == k && e.Group == group && (node == "" || e.Node == node) })
		if j < 0 {
			t.Fatalf("no %s of group %s among %v", k, group, evs)
		}
		if j <= pos {
			t.Errorf("%s (%v) came before %s (%v)", k, evs[j], out[i-1].Kind, out[i-1])
		}
		pos, out[i] = j, evs[j]
	}
	return out
}

// TestWebhookFailoverEvents: the master is killed; the hook receives
// node_odown, failover_started, master_switched and failover_completed, in
// that order, each once, signed, with its id in X-Warden-Event-Id, and
// nothing its filter excludes.
func TestWebhookFailoverEvents(t *testing.T) {
	began := time.Now()
	rc := newHookReceiver(t)
	sb, g := startGroupWith(t, SandboxOptions{Configure: rc.configure(failoverGlobs, nil)})
	old := sb.Node(g.Master)
	if err := old.Kill(); err != nil {
		t.Fatal(err)
	}
	ds := rc.waitAccepted(t, time.Time{}, sb.Group, evFailoverStarted, evFailoverCompleted)
	nm := waitFailoverRecorded(t, sb.LiveWardens(), sb.Group, old.Addr)

	// The verifier itself refuses a tampered body.
	if len(ds) > 0 && checkSignature(rc.secret, ds[0].Header, append([]byte(" "), ds[0].Body...)) == nil {
		t.Fatalf("the test's signature check accepts a tampered body")
	}
	var evs []hookEvent
	var last uint64
	for _, d := range ds {
		if err := checkDelivery(d, began); err != nil {
			t.Error(err)
		}
		if !d.OK() {
			t.Errorf("delivery %s was not accepted (the receiver accepts everything here)", d)
		}
		if !matchesGlobs(failoverGlobs, d.Event.Kind) {
			t.Errorf("delivery %s: kind %s does not match the hook's events %v", d, d.Event.Kind, failoverGlobs)
		}
		if d.Event.Seq <= last {
			t.Errorf("delivery %s after event %d: ids must increase (in order, no repeat without a leader change)", d, last)
		}
		last = d.Event.Seq
		evs = append(evs, d.Event)
	}
	seq := checkCausalOrder(t, evs, sb.Group, old.Addr)
	odown, started, switched, completed := seq[0], seq[1], seq[2], seq[3]
	t.Logf("received %s, %s, %s, %s", odown, started, switched, completed)
	if started.Epoch != g.Epoch+1 || completed.Epoch != g.Epoch+1 || switched.Epoch != g.Epoch+1 {
		t.Errorf("epochs: started %d switched %d completed %d, want %d", started.Epoch, switched.Epoch, completed.Epoch, g.Epoch+1)
	}
	for _, e := range []hookEvent{started, switched, completed} {
		if e.Node != nm.Master {
			t.Errorf("%v names node %s, but the new master is %s", e, e.Node, nm.Master)
		}
	}
	if switched.Details["old_master"] != old.Addr || switched.Details["new_master"] != nm.Master {
		t.Errorf("master_switched details %v, want old_master %s new_master %s", switched.Details, old.Addr, nm.Master)
	}
	if odown.Severity != "critical" || started.Severity != "critical" {
		t.Errorf("severities: node_odown %q, failover_started %q; the catalog says critical", odown.Severity, started.Severity)
	}

	// Nothing missed: every event of the log in the delivered range that
	// the filter passes was delivered.
	w := sb.Wardens[0]
	var page eventsPage
	err := WaitFor(t.Context(), settleTimeout, fmt.Sprintf("%s to hold event %d", w.ID, last), func() (bool, error) {
		var err error
		page, err = getEvents(t.Context(), w, fmt.Sprintf("since=%d", evs[0].Seq-1))
		if err == nil && page.Last < last {
			err = fmt.Errorf("last event %d", page.Last)
		}
		return err == nil, err
	})
	if err != nil {
		t.Fatal(err)
	}
	var want []uint64
	for _, e := range page.Events {
		if e.Seq <= last && matchesGlobs(failoverGlobs, e.Kind) {
			want = append(want, e.Seq)
		}
	}
	var gotSeqs []uint64
	for _, e := range evs {
		gotSeqs = append(gotSeqs, e.Seq)
	}
	if !slices.Equal(gotSeqs, want) {
		t.Errorf("delivered events %v, but the log of %s holds %v matching %v in that range", gotSeqs, w.ID, want, failoverGlobs)
	}
}

// TestWebhookRetriesUntilReceiverRecovers: the receiver answers 500 three
// times; the first event is posted again, with backoff, until accepted, and
// the failover's events follow in order.
func TestWebhookRetriesUntilReceiverRecovers(t *testing.T) {
	began := time.Now()
	rc := newHookReceiver(t)
	sb, g := startGroupWith(t, SandboxOptions{Configure: rc.configure(failoverGlobs, nil)})
	rc.FailNext(3)
	old := sb.Node(g.Master)
	if err := old.Kill(); err != nil {
		t.Fatal(err)
	}
	ds := rc.waitAccepted(t, time.Time{}, sb.Group, evFailoverStarted, evMasterSwitched, evFailoverCompleted)
	if len(ds) == 0 {
		t.Fatal("no request")
	}
	for _, d := range ds {
		if err := checkDelivery(d, began); err != nil {
			t.Error(err)
		}
	}
	first := ds[0]
	if first.Event.Kind != evNodeODown || first.Event.Node != old.Addr {
		t.Errorf("first delivery %s; want node_odown of the killed master %s", first, old.Addr)
	}
	var attempts []hookDelivery
	for _, d := range ds {
		if d.ID() == first.ID() {
			attempts = append(attempts, d)
		}
	}
	t.Logf("event %s: %d attempts: %s", first.ID(), len(attempts), summarize(attempts))
	if len(attempts) < 4 {
		t.Fatalf("event %s was attempted %d times, want at least 4 (3 answered 500, then accepted)", first.ID(), len(attempts))
	}
	for i, d := range attempts[:4] {
		want := http.StatusInternalServerError
		if i == 3 {
			want = http.StatusOK
		}
		if d.Status != want {
			t.Errorf("attempt %d of event %s answered %d, want %d", i+1, first.ID(), d.Status, want)
		}
		if string(d.Body) != string(first.Body) {
			t.Errorf("attempt %d of event %s has body %s, the first had %s", i+1, first.ID(), d.Body, first.Body)
		}
		if i == 0 {
			continue
		}
		// Backoff: retry n waits at least half of 100ms × 2^n.
		if gap, least := d.Arrived.Sub(attempts[i-1].Arrived), (50*time.Millisecond)<<(i-1); gap < least {
			t.Errorf("attempt %d came %v after attempt %d, want at least %v of backoff", i+1, gap, i, least)
		}
	}
	// In order: nothing after the retried event was sent before it was
	// accepted, and the accepted events come in sequence.
	accepted := attempts[3].Arrived
	var last uint64
	for _, d := range ds {
		if d.Event.Seq > first.Event.Seq && d.Arrived.Before(accepted) {
			t.Errorf("delivery %s was sent before event %s was accepted", d, first.ID())
		}
		if d.OK() {
			if d.Event.Seq <= last {
				t.Errorf("accepted delivery %s after event %d", d, last)
			}
			last = d.Event.Seq
		}
	}
	var evs []hookEvent
	for _, d := range ds {
		if d.OK() {
			evs = append(evs, d.Event)
		}
	}
	checkCausalOrder(t, evs, sb.Group, old.Addr)
}

// TestWebhookDeliveredByNewLeader: the receiver holds every request, so the
// leader delivers nothing while the failover runs; the leader is killed
// once the failover is recorded, the receiver released, and the new leader
// delivers the failover's events from the cursor in the Raft log.
func TestWebhookDeliveredByNewLeader(t *testing.T) {
	began := time.Now()
	rc := newHookReceiver(t)
	sb, g := startGroupWith(t, SandboxOptions{Configure: rc.configure(failoverGlobs, nil)})
	ctx := t.Context()
	leader, err := WaitForLeader(ctx, sb.Wardens, startTimeout)
	if err != nil {
		t.Fatal(err)
	}
	rc.Hold()
	old := sb.Node(g.Master)
	if err := old.Kill(); err != nil {
		t.Fatal(err)
	}
	// The two members that survive have the finished failover: it is
	// committed, and the next leader finds it.
	nm := waitFailoverRecorded(t, others(sb.Wardens, leader), sb.Group, old.Addr)
	if err := WaitFor(ctx, deliveryTimeout, "the leader to try a delivery", func() (bool, error) {
		return len(rc.Deliveries()) > 0, nil
	}); err != nil {
		t.Fatal(err)
	}
	if cur, _ := LeaderOf(ctx, sb.Wardens); cur != leader {
		t.Fatalf("the leader changed during the failover (was %s, now %v): this test needs the old leader to be the one that could not deliver", leader.ID, cur)
	}
	if err := leader.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	before := rc.Deliveries()
	rc.Release()
	for _, d := range before {
		if d.OK() {
			t.Errorf("delivery %s was accepted while the receiver held every request", d)
		}
	}
	t.Logf("killed leader %s after %d held requests (%s); master %s -> %s", leader.ID, len(before), summarize(before), old.Addr, nm.Master)
	survivors := sb.LiveWardens()
	nl, err := WaitForLeader(ctx, survivors, failoverTimeout)
	if err != nil {
		t.Fatal(err)
	}
	ds := rc.waitAccepted(t, killed, sb.Group, evNodeODown, evFailoverStarted, evMasterSwitched, evFailoverCompleted)

	page, err := getEvents(ctx, nl, "since=0")
	if err != nil {
		t.Fatal(err)
	}
	var after []hookDelivery
	for _, d := range ds {
		if err := checkDelivery(d, began); err != nil {
			t.Error(err)
		}
		if d.OK() && d.Arrived.After(killed) {
			after = append(after, d)
		}
	}
	t.Logf("new leader %s; accepted after the kill: %s", nl.ID, summarize(after))
	// The events the survivors recorded are the ones delivered, with the
	// same ids: at least once, by the new leader.
	for _, k := range []string{evNodeODown, evFailoverStarted, evMasterSwitched, evFailoverCompleted} {
		node := ""
		if k == evNodeODown {
			node = old.Addr
		}
		e, ok := findEvent(page.Events, k, sb.Group, node)
		if !ok {
			t.Errorf("GET /v1/events on %s holds no %s of %s", nl.ID, k, sb.Group)
			continue
		}
		i := slices.IndexFunc(after, func(d hookDelivery) bool { return d.ID() == strconv.FormatUint(e.Seq, 10) })
		if i < 0 {
			t.Errorf("%v (recorded on %s) was not delivered after the leader died", e, nl.ID)
			continue
		}
		if d := after[i]; d.Event.Kind != e.Kind || !reflect.DeepEqual(d.Event, e) {
			t.Errorf("delivery %s carries %+v, the log of %s holds %+v", d, d.Event, nl.ID, e)
		}
	}
	for i := 1; i < len(after); i++ {
		if after[i].Event.Seq <= after[i-1].Event.Seq {
			t.Errorf("the new leader delivered %s after %s: not in order", after[i], after[i-1])
		}
	}
	// The cursor in the Raft log moved past the failover on the survivors.
	completed, _ := findEvent(page.Events, evFailoverCompleted, sb.Group, "")
	err = WaitFor(ctx, deliveryTimeout, fmt.Sprintf("the survivors' webhook cursor to reach event %d", completed.Seq), func() (bool, error) {
		for _, w := range survivors {
			var st struct {
				Webhooks []hookState `json:"webhooks"`
			}
			if err := w.API.get(ctx, "/v1/status", &st); err != nil {
				return false, fmt.Errorf("%s: %w", w.ID, err)
			}
			i := slices.IndexFunc(st.Webhooks, func(h hookState) bool { return h.Name == hookName })
			if i < 0 || st.Webhooks[i].Cursor < completed.Seq {
				return false, fmt.Errorf("%s: webhooks %+v", w.ID, st.Webhooks)
			}
		}
		return true, nil
	})
	if err != nil {
		t.Error(err)
	}
}

// TestWebhookHangDoesNotDelayFailover: a receiver that never answers
// delays no failover: two in a row (block_after 1s), each announced within
// down_after + 3s of the master's SIGKILL.
func TestWebhookHangDoesNotDelayFailover(t *testing.T) {
	rc := newHookReceiver(t)
	rc.Hold()
	sb, g := startGroupWith(t, SandboxOptions{Configure: rc.configure(nil, func(c *config.Config) {
		c.Failover.BlockAfter = config.Duration(time.Second)
	})})
	ctx := t.Context()

	m0 := sb.Node(g.Master)
	killed := time.Now()
	if err := m0.Kill(); err != nil {
		t.Fatal(err)
	}
	g1, err := WaitForMaster(ctx, sb.LiveWardens(), sb.Group, m0.Addr, failoverTimeout)
	if err != nil {
		t.Fatal(err)
	}
	took1 := time.Since(killed)
	t.Logf("first failover announced %v after the kill: %s -> %s", took1.Round(time.Millisecond), m0.Addr, g1.Master)
	if took1 > announceBudget {
		t.Errorf("first failover announced %v after the kill, want within %v", took1, announceBudget)
	}
	if len(rc.Deliveries()) == 0 {
		t.Errorf("no delivery was even attempted during the first failover: the hold proved nothing")
	}

	// The second: the new master dies once its remaining replica follows it.
	m1 := sb.Node(g1.Master)
	waitFailoverRecorded(t, sb.Wardens, sb.Group, m0.Addr)
	var m2 *Redis
	for _, r := range sb.Redis {
		if r != m0 && r != m1 {
			m2 = r
		}
	}
	if err := m2.WaitForReplica(ctx, m1.Addr, settleTimeout); err != nil {
		t.Fatal(err)
	}
	killed = time.Now()
	if err := m1.Kill(); err != nil {
		t.Fatal(err)
	}
	err = WaitFor(ctx, failoverTimeout, "a watchdog to name "+m2.Addr+" master", func() (bool, error) {
		gr, w, err := GroupFromAny(ctx, sb.Wardens, sb.Group)
		if err != nil {
			return false, err
		}
		if gr.Master != m2.Addr {
			return false, fmt.Errorf("%s: master %s epoch %d status %s %s", w.ID, gr.Master, gr.Epoch, gr.Status, gr.Reason)
		}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	took2 := time.Since(killed)
	t.Logf("second failover announced %v after the kill: %s -> %s", took2.Round(time.Millisecond), m1.Addr, m2.Addr)
	if took2 > announceBudget {
		t.Errorf("second failover announced %v after the kill, want within %v", took2, announceBudget)
	}
	if g2 := waitFailoverRecorded(t, sb.LiveWardens(), sb.Group, m1.Addr); g2.Epoch != g.Epoch+2 {
		t.Errorf("after two failovers the epoch is %d, want %d", g2.Epoch, g.Epoch+2)
	}
	ds := rc.Deliveries()
	for _, d := range ds {
		if d.Status != 0 {
			t.Errorf("delivery %s was answered while the receiver held every request", d)
		}
	}
	t.Logf("%d deliveries attempted, none answered", len(ds))
}

// hookState is a webhook's entry in GET /v1/status.
type hookState struct {
	Name   string `json:"name"`
	Cursor uint64 `json:"delivered_through"`
}

// sseFrame is one Server-Sent Events message.
type sseFrame struct {
	ID, Event, Data string
}

// eventStream reads GET /v1/events with Accept: text/event-stream.
type eventStream struct {
	frames chan sseFrame // closed when the stream ends
	done   chan struct{}
	err    error // why the stream ended; valid once done is closed
	cancel context.CancelFunc
}

// openEventStream opens the event stream of w, resuming after lastID when
// it is set; the stream is closed when t ends.
func openEventStream(t *testing.T, w *Warden, lastID string) *eventStream {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.API.Base+"/v1/events", nil)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	tr := &http.Transport{}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		cancel()
		t.Fatalf("open the event stream of %s: %v", w.ID, err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "text/event-stream") {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		cancel()
		t.Fatalf("event stream of %s: HTTP %d, Content-Type %q: %s", w.ID, resp.StatusCode, ct, b)
	}
	s := &eventStream{frames: make(chan sseFrame, 4096), done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(s.done)
		defer close(s.frames)
		s.err = readSSE(ctx, resp.Body, s.frames)
	}()
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
		<-s.done
		tr.CloseIdleConnections()
	})
	return s
}

// readSSE parses an event stream into frames: field lines up to a blank
// line make one message; comment lines (":") are skipped.
func readSSE(ctx context.Context, r io.Reader, out chan<- sseFrame) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var f sseFrame
	var data []string
	pending := false
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if pending {
				f.Data = strings.Join(data, "\n")
				select {
				case out <- f:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			f, data, pending = sseFrame{}, nil, false
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			f.ID = value
		case "event":
			f.Event = value
		case "data":
			data = append(data, value)
		default:
			continue
		}
		pending = true
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return io.EOF
}

// streamed is one frame with its data decoded.
type streamed struct {
	Frame sseFrame
	Event hookEvent
}

// readUntil reads frames until stop returns true for one (included) and
// returns them; it fails t when the stream ends or timeout passes first.
func (s *eventStream) readUntil(t *testing.T, timeout time.Duration, what string, stop func(hookEvent) bool) []streamed {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var out []streamed
	for {
		select {
		case f, ok := <-s.frames:
			if !ok {
				<-s.done
				t.Fatalf("the event stream ended before %s (%v) after %d frames: %v", what, s.err, len(out), out)
			}
			var e hookEvent
			if err := json.Unmarshal([]byte(f.Data), &e); err != nil {
				t.Errorf("frame %+v: data is not an event: %v", f, err)
			}
			out = append(out, streamed{Frame: f, Event: e})
			if stop(e) {
				return out
			}
		case <-timer.C:
			t.Fatalf("waiting for %s on the event stream: timed out after %v; %d frames: %v", what, timeout, len(out), out)
		}
	}
}

// checkFrames checks each frame against its data: id is the event's seq,
// event its kind; and ids strictly increase from after.
func checkFrames(t *testing.T, fs []streamed, after uint64) {
	t.Helper()
	last := after
	for _, s := range fs {
		if s.Frame.ID != strconv.FormatUint(s.Event.Seq, 10) || s.Frame.Event != s.Event.Kind {
			t.Errorf("frame id %q event %q carries %v", s.Frame.ID, s.Frame.Event, s.Event)
		}
		if s.Event.Seq <= last {
			t.Errorf("frame %v after event %d: ids must strictly increase", s.Event, last)
		}
		last = s.Event.Seq
	}
}

// sameEvents reports how the streamed events differ from evs (nil: same
// seq, kind and content, in the same order).
func sameEvents(fs []streamed, evs []hookEvent) error {
	var got []hookEvent
	for _, s := range fs {
		got = append(got, s.Event)
	}
	if reflect.DeepEqual(got, evs) {
		return nil
	}
	return fmt.Errorf("stream %v\n  JSON %v", got, evs)
}

// TestEventsStream: a follower's event stream, opened before the failover,
// shows its events live in causal order; a reconnection with Last-Event-ID
// replays exactly what came after that id.
func TestEventsStream(t *testing.T) {
	sb, g := startGroup(t)
	ctx := t.Context()
	leader, err := WaitForLeader(ctx, sb.Wardens, startTimeout)
	if err != nil {
		t.Fatal(err)
	}
	var follower *Warden
	for _, w := range sb.Wardens {
		if w != leader {
			follower = w
			break
		}
	}
	live := openEventStream(t, follower, "")
	old := sb.Node(g.Master)
	if err := old.Kill(); err != nil {
		t.Fatal(err)
	}
	fs := live.readUntil(t, failoverTimeout, "failover_completed", func(e hookEvent) bool {
		return e.Kind == evFailoverCompleted && e.Group == sb.Group
	})
	checkFrames(t, fs, 0)
	var evs []hookEvent
	for _, s := range fs {
		evs = append(evs, s.Event)
	}
	seq := checkCausalOrder(t, evs, sb.Group, old.Addr)
	t.Logf("stream of follower %s: %d events up to %v", follower.ID, len(fs), seq[3])

	// The stream (the log replayed, then live) is the log as JSON.
	end := seq[3].Seq
	page, err := getEvents(ctx, follower, "since=0")
	if err != nil {
		t.Fatal(err)
	}
	var upTo []hookEvent
	for _, e := range page.Events {
		if e.Seq <= end {
			upTo = append(upTo, e)
		}
	}
	if err := sameEvents(fs, upTo); err != nil {
		t.Errorf("the live stream of %s differs from GET /v1/events?since=0 up to %d: %v", follower.ID, end, err)
	}

	// Resume from the middle: exactly the events after it.
	mid := fs[len(fs)/2].Event.Seq
	want, err := getEvents(ctx, follower, fmt.Sprintf("since=%d", mid))
	if err != nil {
		t.Fatal(err)
	}
	if len(want.Events) == 0 {
		t.Fatalf("GET /v1/events?since=%d on %s is empty", mid, follower.ID)
	}
	stop := want.Events[len(want.Events)-1].Seq
	resumed := openEventStream(t, follower, strconv.FormatUint(mid, 10))
	rs := resumed.readUntil(t, settleTimeout, fmt.Sprintf("event %d", stop), func(e hookEvent) bool { return e.Seq >= stop })
	checkFrames(t, rs, mid)
	if err := sameEvents(rs, want.Events); err != nil {
		t.Errorf("resumed after Last-Event-ID %d, the stream differs from GET /v1/events?since=%d: %v", mid, mid, err)
	}
	t.Logf("resumed after %d: %d events, %d..%d, as GET /v1/events?since=%d", mid, len(rs), rs[0].Event.Seq, stop, mid)
}

// TestEventsJSON: after a failover, GET /v1/events?since=0 answers the same
// log on every member: {"events","oldest","last"}, events numbered from 1
// without gaps.
func TestEventsJSON(t *testing.T) {
	sb, g := startGroup(t)
	ctx := t.Context()
	old := sb.Node(g.Master)
	if err := old.Kill(); err != nil {
		t.Fatal(err)
	}
	waitFailoverRecorded(t, sb.Wardens, sb.Group, old.Addr)
	var pages []eventsPage
	err := WaitFor(ctx, settleTimeout, "every member to answer the same GET /v1/events?since=0", func() (bool, error) {
		pages = pages[:0]
		for _, w := range sb.Wardens {
			p, err := getEvents(ctx, w, "since=0")
			if err != nil {
				return false, fmt.Errorf("%s: %w", w.ID, err)
			}
			pages = append(pages, p)
		}
		for i, p := range pages[1:] {
			if !reflect.DeepEqual(p, pages[0]) {
				return false, fmt.Errorf("%s answers %d events (last %d), %s %d (last %d)",
					sb.Wardens[0].ID, len(pages[0].Events), pages[0].Last, sb.Wardens[i+1].ID, len(p.Events), p.Last)
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	p := pages[0]
	if len(p.Events) == 0 {
		t.Fatal("the event log is empty")
	}
	for i, e := range p.Events {
		if e.Seq != uint64(i+1) {
			t.Errorf("event %d of the log has seq %d: the log starts at 1 without gaps (retention is not reached)", i, e.Seq)
			break
		}
	}
	if p.Oldest != p.Events[0].Seq || p.Last != p.Events[len(p.Events)-1].Seq {
		t.Errorf("oldest %d last %d, but the events run from %d to %d", p.Oldest, p.Last, p.Events[0].Seq, p.Events[len(p.Events)-1].Seq)
	}
	checkCausalOrder(t, p.Events, sb.Group, old.Addr)
	t.Logf("%d members agree on %d events, %d..%d", len(sb.Wardens), len(p.Events), p.Oldest, p.Last)

	// The raw answer has exactly the documented keys.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, sb.Wardens[1].API.Base+"/v1/events?since=0", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := sb.Wardens[1].API.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]json.RawMessage
	err = json.NewDecoder(resp.Body).Decode(&raw)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"events", "last", "oldest"}) {
		t.Errorf("GET /v1/events answers keys %v, want events, last, oldest", keys)
	}

	// since and limit select a window of the same log.
	tail, err := getEvents(ctx, sb.Wardens[2], fmt.Sprintf("since=%d&limit=2", p.Last-3))
	if err != nil {
		t.Fatal(err)
	}
	if len(tail.Events) != 2 || tail.Events[0].Seq != p.Last-2 || tail.Events[1].Seq != p.Last-1 {
		t.Errorf("GET /v1/events?since=%d&limit=2 answers %v, want events %d and %d", p.Last-3, tail.Events, p.Last-2, p.Last-1)
	}
	if _, err := getEvents(ctx, sb.Wardens[2], "since=abc"); err == nil || !strings.Contains(err.Error(), "HTTP 400") {
		t.Errorf("GET /v1/events?since=abc: %v, want HTTP 400", err)
	}
}

package e2e

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"warden/config"
)

// The operator's page (GET /) in Debian's headless Chromium, driven with
// chromedp, against three live watchdogs.

// uiLag bounds how long after the watchdogs report a new master the page
// may take to show it: it follows the event stream, so well under this.
const uiLag = 5 * time.Second

// artifactDir is where a test keeps what a person may want to look at
// afterwards (screenshots): $WARDEN_TEST_ARTIFACTS/<test>, by default
// e2e/artifacts/<test>, which git ignores. Files are overwritten by the
// next run.
func artifactDir(t *testing.T) string {
	t.Helper()
	root := os.Getenv("WARDEN_TEST_ARTIFACTS")
	if root == "" {
		root = "artifacts" // tests run in the package directory: e2e/artifacts
	}
	d, err := filepath.Abs(filepath.Join(root, t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatalf("artifact directory: %v", err)
	}
	return d
}

// chromiumPath returns Debian's chromium. Without it the test is skipped,
// except under CI, which installs it (make chromium) and so must run it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("chromium")
	if err != nil {
		msg := "Debian's chromium is not installed ('make chromium' or 'apt-get install chromium'): the page is not tested in a browser"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// browserTab is one tab of a headless Chromium that lives as long as the
// test, with every console message the page wrote.
type browserTab struct {
	ctx     context.Context
	mu      sync.Mutex
	console []chromedp.ConsoleMessage
}

// newTab starts Chromium (--no-sandbox: the tests run as root) and opens a
// tab. The browser is not bound to t.Context(), which ends before the
// cleanups run: a failing test still gets its screenshot (see keepOnFailure).
func newTab(t *testing.T, exe string) *browserTab {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.WindowSize(1400, 1000))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	// The first call starts the browser and binds it to the context it is
	// given: ctx itself, never one with a timeout.
	if err := chromedp.Do(ctx); err != nil {
		cancelTab()
		cancelAlloc()
		t.Fatalf("start %s: %v", exe, err)
	}
	b := &browserTab{ctx: ctx}
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.console = append(b.console, m)
			b.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		<-done
	})
	return b
}

// do runs steps within timeout, failing the test with what was being done.
func (b *browserTab) do(t *testing.T, timeout time.Duration, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// screenshot writes a PNG of the whole page into the artifact directory.
func (b *browserTab) screenshot(t *testing.T, dir, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	t.Logf("screenshot %s (%d bytes)", p, len(png))
}

// keepOnFailure saves a screenshot and logs the page's text and console
// when t has failed.
func (b *browserTab) keepOnFailure(t *testing.T, dir string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		b.screenshot(t, dir, "failure.png")
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		defer cancel()
		text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Logf("the page's text (err %v):\n%s", err, text)
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, m := range b.console {
			t.Logf("console %s %s:%d", m, m.URL, m.Line+1)
		}
	})
}

// pageErrors returns the uncaught exceptions and the Content-Security-Policy
// violations the page met (HTTP errors, such as the 401 that asks for the
// token, are not errors of the page).
func (b *browserTab) pageErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, m := range b.console {
		if m.IsException() || m.Source == "security" || strings.Contains(m.Text, "Content Security Policy") {
			out = append(out, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line+1))
		}
	}
	return out
}

// pageView is what the page shows of one group and of the watchdogs.
type pageView struct {
	Master   string              `json:"master"`
	Replicas []string            `json:"replicas"`
	Nodes    map[string]pageNode `json:"nodes"`
	Members  []string            `json:"members"`
	Leaders  []string            `json:"leaders"`
	Conn     string              `json:"conn"`
	Token    string              `json:"token"`
	Kinds    []string            `json:"kinds"` // of the events shown, newest first
}

// pageNode is one Redis node's box.
type pageNode struct {
	Role    string `json:"role"`
	Health  string `json:"health"`
	Follows string `json:"follows"`
	Link    string `json:"link"`
}

// view reads the page's DOM: the group's master, replicas and node boxes,
// the watchdogs and the leader mark, the stream's state, the stored token
// and the events.
func (b *browserTab) view(group string) (pageView, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[pageView](fmt.Sprintf(`(() => {
		const all = (s) => Array.from(document.querySelectorAll(s));
		const g = '[data-group=%q]';
		const m = document.querySelector(g + ' .node.master[data-addr]');
		const nodes = {};
		for (const e of all(g + ' .node[data-addr]')) {
			const d = e.dataset;
			nodes[d.addr] = { role: d.role || '', health: d.health || '', follows: d.follows || '', link: d.link || '' };
		}
		return {
			master: m ? m.dataset.addr : '',
			replicas: all(g + ' .node.replica').map((e) => e.dataset.addr),
			nodes,
			members: all('[data-member]').map((e) => e.dataset.member),
			leaders: all('[data-member][data-leader]').map((e) => e.dataset.member),
			conn: document.getElementById('conn').textContent,
			token: sessionStorage.getItem('warden.token') || '',
			kinds: all('#events [data-kind]').map((e) => e.dataset.kind),
		};
	})()`, group)))
}

// waitView polls the page until ok accepts what it shows.
func (b *browserTab) waitView(t *testing.T, timeout time.Duration, what, group string, ok func(pageView) error) pageView {
	t.Helper()
	var v pageView
	err := WaitFor(t.Context(), timeout, what, func() (bool, error) {
		var err error
		if v, err = b.view(group); err != nil {
			return false, err
		}
		err = ok(v)
		return err == nil, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestUI: the page of a follower, opened in headless Chromium with the API
// protected by a token, asks for the token (again after a wrong one), then
// shows the group (master, replicas) and the three watchdogs with the
// leader marked. The master is SIGKILLed; the page shows the new master at
// most uiLag after the watchdogs report it, then the old master down, the
// other replica following the new master and the failover among the
// events. Screenshots before and after go to the artifact directory.
func TestUI(t *testing.T) {
	exe := chromiumPath(t)
	dir := artifactDir(t)
	token := "ui-" + rand.Text()
	tokenFile := filepath.Join(t.TempDir(), "api-token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sb, g := startGroupWith(t, SandboxOptions{Configure: func(c *config.Config) { c.HTTP.TokenFile = tokenFile }})
	ctx := t.Context()
	leader, w := opsFollower(t, sb)
	url := "http://" + w.HTTPAddr + "/"

	tab := newTab(t, exe)
	tab.keepOnFailure(t, dir)
	opened := time.Now()
	tab.do(t, 20*time.Second, "open "+url+" and wait for the token form",
		chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("#login")))
	t.Logf("the token form shows %v after opening %s", time.Since(opened).Round(time.Millisecond), url)
	submit := chromedp.Click(chromedp.CSS(`#login button[type="submit"]`))
	tab.do(t, 10*time.Second, "enter a wrong token", chromedp.SendKeys(chromedp.CSS("#token"), "not-"+token), submit)
	err := WaitFor(ctx, 10*time.Second, "the page to ask again, saying the token was refused", func() (bool, error) {
		c, cancel := context.WithTimeout(tab.ctx, 2*time.Second)
		defer cancel()
		why, err := chromedp.Run(c, chromedp.Evaluate[string](
			`document.getElementById('login').hidden ? '' : document.getElementById('login-why').textContent`))
		return why == "The token was refused.", err
	})
	if err != nil {
		t.Fatal(err)
	}
	tab.do(t, 10*time.Second, "enter the token", chromedp.SendKeys(chromedp.CSS("#token"), token), submit)

	var replicas []string
	for _, a := range sb.RedisAddrs() {
		if a != g.Master {
			replicas = append(replicas, a)
		}
	}
	v := tab.waitView(t, 10*time.Second, "the page to show master "+g.Master+", the watchdogs and the live stream", sb.Group, func(v pageView) error {
		switch {
		case v.Master != g.Master:
			return fmt.Errorf("master %q, want %s", v.Master, g.Master)
		case !slices.Equal(slices.Sorted(slices.Values(v.Replicas)), slices.Sorted(slices.Values(replicas))):
			return fmt.Errorf("replicas %v, want %v", v.Replicas, replicas)
		case v.Nodes[g.Master].Health != "up":
			return fmt.Errorf("master shown %+v, want up", v.Nodes[g.Master])
		case !slices.Equal(v.Members, []string{"w1", "w2", "w3"}):
			return fmt.Errorf("watchdogs %v, want w1 w2 w3", v.Members)
		case !slices.Equal(v.Leaders, []string{leader.ID}):
			return fmt.Errorf("leader marked on %v, want %s", v.Leaders, leader.ID)
		case v.Conn != "live":
			return fmt.Errorf("stream %q, want live", v.Conn)
		}
		return nil
	})
	if v.Token != token {
		t.Errorf("session storage holds token %q, want the one entered", v.Token)
	}
	t.Logf("%s's page shows master %s, replicas %v, leader %s, %d events, %v after opening", w.ID, v.Master, v.Replicas, leader.ID, len(v.Kinds), time.Since(opened).Round(time.Millisecond))
	tab.screenshot(t, dir, "before-failover.png")

	old := sb.Node(g.Master)
	killed := time.Now()
	if err := old.Kill(); err != nil {
		t.Fatal(err)
	}
	ng, err := WaitForMaster(ctx, sb.LiveWardens(), sb.Group, old.Addr, failoverTimeout)
	if err != nil {
		t.Fatal(err)
	}
	reported := time.Now()
	v = tab.waitView(t, uiLag, "the page to show the new master "+ng.Master, sb.Group, func(v pageView) error {
		if v.Master != ng.Master {
			return fmt.Errorf("master %q, want %s", v.Master, ng.Master)
		}
		return nil
	})
	shown := time.Now()
	t.Logf("master %s killed; the API reported %s after %v, the page showed it %v later (%v after the kill)",
		old.Addr, ng.Master, reported.Sub(killed).Round(time.Millisecond), shown.Sub(reported).Round(time.Millisecond), shown.Sub(killed).Round(time.Millisecond))

	tab.waitView(t, settleTimeout, "the page to show the old master down, the other replica following the new master, and the failover among the events", sb.Group, func(v pageView) error {
		if n := v.Nodes[old.Addr]; n.Health != "odown" || !slices.Contains(v.Replicas, old.Addr) {
			return fmt.Errorf("old master %s shown %+v, want odown among the replicas %v", old.Addr, n, v.Replicas)
		}
		for _, a := range replicas {
			if n := v.Nodes[a]; a != ng.Master && (n.Health != "up" || n.Role != "replica" || n.Follows != ng.Master || n.Link != "true") {
				return fmt.Errorf("replica %s shown %+v, want up, following %s, link up", a, n, ng.Master)
			}
		}
		if !slices.Contains(v.Kinds, "failover_completed") {
			return fmt.Errorf("events shown %v, no failover_completed", v.Kinds)
		}
		return nil
	})
	tab.screenshot(t, dir, "after-failover.png")
	if errs := tab.pageErrors(); len(errs) > 0 {
		t.Errorf("the page met errors:\n%s", strings.Join(errs, "\n"))
	}
}

package e2e

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Redis authentication: every node runs with requirepass and masterauth,
// and the watchdogs read the secret from redis.password_file.

// newSecret returns a password no log line could hold by chance.
func newSecret() string { return "e2e-secret-" + rand.Text() }

// TestFailoverWithPassword: with every node protected by a password, a
// SIGKILLed master is replaced; the other replica authenticates to the new
// master (link up), the acknowledged keys survive, and the old master, back
// empty, is re-attached and resyncs through authentication too.
func TestFailoverWithPassword(t *testing.T) {
	secret := newSecret()
	sb, g := startGroupWith(t, SandboxOptions{Password: secret})
	ctx := t.Context()
	checkPasswordFile(t, sb, secret)
	if _, err := Role(ctx, sb.Redis[0].Addr); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Fatalf("ROLE without a password on %s: %v; want a NOAUTH error (the node is not protected)", sb.Redis[0].Addr, err)
	}

	old := sb.Node(g.Master)
	began := time.Now()
	if err := old.Kill(); err != nil {
		t.Fatal(err)
	}
	nm := checkFailedOver(t, sb, old.Addr, began)

	if err := old.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := old.WaitForReplica(ctx, nm.Addr, settleTimeout); err != nil {
		t.Fatal(err)
	}
	if err := WaitFor(ctx, settleTimeout, "the restarted old master to hold every key", func() (bool, error) {
		err := checkKeys(ctx, old, "k", nKeys)
		return err == nil, err
	}); err != nil {
		t.Fatal(err)
	}

	// Every node has masterauth: nothing to warn about.
	if lines := grepLogs(sb, "no masterauth"); len(lines) > 0 {
		t.Errorf("a watchdog warns about masterauth although every node has it:\n%s", strings.Join(lines, "\n"))
	}
	checkNotLogged(t, sb, secret)
}

// TestWarnsWhenMasterauthMissing: the nodes require a password but one
// replica has no masterauth (removed with CONFIG SET before the watchdogs
// start: it keeps its established link). A watchdog says so in its log,
// naming that node and no other, and no log holds the secret.
func TestWarnsWhenMasterauthMissing(t *testing.T) {
	secret := newSecret()
	var bare *Redis
	sb := newSandbox(t, true, SandboxOptions{
		Password:  secret,
		DownAfter: downAfter,
		BeforeWardens: func(ctx context.Context, s *Sandbox) error {
			bare = s.Redis[2]
			c := bare.Client()
			defer c.Close()
			if err := c.ConfigSet(ctx, "masterauth", "").Err(); err != nil {
				return fmt.Errorf("CONFIG SET masterauth \"\" on %s: %w", bare.Addr, err)
			}
			v, err := c.ConfigGet(ctx, "masterauth").Result()
			if err != nil {
				return fmt.Errorf("CONFIG GET masterauth on %s: %w", bare.Addr, err)
			}
			if v["masterauth"] != "" {
				return fmt.Errorf("%s still has a masterauth after CONFIG SET", bare.Addr)
			}
			return nil
		},
	})
	ctx := t.Context()
	checkPasswordFile(t, sb, secret)
	if _, err := WaitForAgreement(ctx, sb.Wardens, sb.Group, startTimeout); err != nil {
		t.Fatal(err)
	}
	var warned []string
	err := WaitFor(ctx, startTimeout, fmt.Sprintf("a watchdog log to warn that %s has no masterauth", bare.Addr), func() (bool, error) {
		warned = grepLogs(sb, "masterauth", bare.Addr)
		if len(warned) == 0 {
			return false, fmt.Errorf("no log line names both %s and masterauth", bare.Addr)
		}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d warning line(s), first:\n%s", len(warned), warned[0])
	if !strings.Contains(strings.Join(warned, "\n"), "no masterauth") {
		t.Errorf("the lines naming %s and masterauth do not say it has no masterauth:\n%s", bare.Addr, strings.Join(warned, "\n"))
	}
	for _, r := range sb.Redis {
		if r == bare {
			continue
		}
		if lines := grepLogs(sb, "no masterauth", r.Addr); len(lines) > 0 {
			t.Errorf("a watchdog warns about %s, which has masterauth:\n%s", r.Addr, strings.Join(lines, "\n"))
		}
	}
	checkNotLogged(t, sb, secret)
}

// TestNoFailoverWithWrongPassword: watchdogs whose password file holds a
// wrong secret get WRONGPASS from every node. No node is up for anyone, so
// nothing may be done: the master stays the master on the Redis nodes and
// in the watchdogs' state, for 4 × down_after.
func TestNoFailoverWithWrongPassword(t *testing.T) {
	// The watchdogs never knew the right secret: no master is ever recorded.
	t.Run("from_start", func(t *testing.T) {
		secret, wrong := newSecret(), newSecret()
		sb := newSandbox(t, true, SandboxOptions{Password: secret, WardenPassword: wrong, DownAfter: downAfter})
		ctx := t.Context()
		checkPasswordFile(t, sb, wrong)
		if _, err := WaitForLeader(ctx, sb.Wardens, startTimeout); err != nil {
			t.Fatal(err)
		}
		waitAuthRefused(t, sb)
		watchNoFailover(t, sb, sb.Redis[0], "", 0)
		checkNotLogged(t, sb, secret, wrong)
	})
	// The watchdogs recorded the master, then restart with a wrong secret
	// (a botched rotation of the password file).
	t.Run("after_restart", func(t *testing.T) {
		secret, wrong := newSecret(), newSecret()
		sb, g := startGroupWith(t, SandboxOptions{Password: secret})
		ctx := t.Context()
		pwFile := sb.Configs[0].Redis.PasswordFile
		if err := os.WriteFile(pwFile, []byte(wrong+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := restartAll(ctx, sb.Wardens); err != nil {
			t.Fatal(err)
		}
		t.Logf("restarted the watchdogs with a wrong secret in %s; recorded master %s epoch %d", pwFile, g.Master, g.Epoch)
		if _, err := WaitForLeader(ctx, sb.Wardens, startTimeout); err != nil {
			t.Fatal(err)
		}
		waitAuthRefused(t, sb)
		watchNoFailover(t, sb, sb.Node(g.Master), g.Master, g.Epoch)
		checkNotLogged(t, sb, secret, wrong)
	})
}

// waitAuthRefused waits until every watchdog's log, since its last start,
// shows a probe refused with WRONGPASS.
func waitAuthRefused(t *testing.T, sb *Sandbox) {
	t.Helper()
	err := WaitFor(t.Context(), startTimeout, "every watchdog to log WRONGPASS from the nodes", func() (bool, error) {
		for _, w := range sb.Wardens {
			if !strings.Contains(sinceLastStart(w.LogPath), "WRONGPASS") {
				return false, fmt.Errorf("%s has not logged WRONGPASS since it started", w.ID)
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// watchNoFailover checks for 4 × down_after that master answers ROLE master
// and every other node follows it, and that every watchdog reports master
// wantMaster at epoch wantEpoch with no failover, recorded or running.
func watchNoFailover(t *testing.T, sb *Sandbox, master *Redis, wantMaster string, wantEpoch uint64) {
	t.Helper()
	ctx := t.Context()
	window := 4 * downAfter
	t.Logf("watching %v for a failover that must not happen (master %s)", window, master.Addr)
	deadline := time.Now().Add(window)
	checks, apiErrs, apiCalls := 0, 0, 0
	var last Group
	for time.Now().Before(deadline) {
		checks++
		for _, r := range sb.Redis {
			ri, err := r.Role(ctx)
			if err != nil {
				t.Fatalf("check %d: %v", checks, err)
			}
			if r == master {
				if ri.Role != "master" {
					t.Fatalf("check %d: the master %s says ROLE %s (master %q)", checks, r.Addr, ri.Role, ri.Master)
				}
			} else if ri.Role != "slave" || ri.Master != master.Addr {
				t.Fatalf("check %d: %s says ROLE %s (master %q), want a replica of %s", checks, r.Addr, ri.Role, ri.Master, master.Addr)
			}
		}
		for _, w := range sb.Wardens {
			apiCalls++
			g, err := w.API.Group(ctx, sb.Group)
			if err != nil {
				apiErrs++
				continue
			}
			if g.Master != wantMaster || g.Epoch != wantEpoch || g.LastFailover != nil || g.FailingOver() {
				t.Fatalf("check %d: %s reports master %q epoch %d status %s (%s), failover %s, last failover %+v; want master %q epoch %d and no failover",
					checks, w.ID, g.Master, g.Epoch, g.Status, g.Reason, g.Failover, g.LastFailover, wantMaster, wantEpoch)
			}
			last = g
		}
		if err := pause(ctx, 100*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d checks over %v, no failover; %d of %d API calls failed; last view: status %s (%s)", checks, window, apiErrs, apiCalls, last.Status, last.Reason)
	for _, n := range last.Nodes {
		t.Logf("  node %s: role %s health %s votes down %d", n.Addr, n.Role, n.Health, n.VotesDown)
	}
	if apiErrs == apiCalls {
		t.Errorf("no watchdog ever answered GET /v1/groups/%s", sb.Group)
	}
	if lines := grepLogs(sb, "failover started"); len(lines) > 0 {
		t.Errorf("a watchdog started a failover:\n%s", strings.Join(lines, "\n"))
	}
}

// checkPasswordFile checks that every watchdog reads the secret from the
// same file in the sandbox directory, readable by its owner only, and that
// no configuration file holds the secret itself.
func checkPasswordFile(t *testing.T, sb *Sandbox, secret string) {
	t.Helper()
	for i, c := range sb.Configs {
		p := c.Redis.PasswordFile
		if p == "" {
			t.Fatalf("%s: redis.password_file is not set", c.ID)
		}
		if filepath.Dir(p) != sb.Dir {
			t.Errorf("%s: password file %s is not in the sandbox directory %s", c.ID, p, sb.Dir)
		}
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if m := st.Mode().Perm(); m != 0o600 {
			t.Errorf("%s: password file %s has mode %#o, want 0600", c.ID, p, m)
		}
		if pw, err := c.Password(); err != nil || pw != secret {
			t.Errorf("%s: the password file does not hold the secret (err %v)", c.ID, err)
		}
		b, err := os.ReadFile(sb.ConfigPaths[i])
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), secret) {
			t.Errorf("%s: the configuration file %s holds the secret itself", c.ID, sb.ConfigPaths[i])
		}
	}
}

// checkNotLogged fails t when any watchdog's log holds one of secrets.
func checkNotLogged(t *testing.T, sb *Sandbox, secrets ...string) {
	t.Helper()
	for _, w := range sb.Wardens {
		b, err := os.ReadFile(w.LogPath)
		if err != nil {
			t.Errorf("read %s: %v", w.LogPath, err)
			continue
		}
		for _, s := range secrets {
			if n := strings.Count(string(b), s); n > 0 {
				t.Errorf("watchdog %s logged a Redis password %d times (%s)", w.ID, n, w.LogPath)
			}
		}
	}
}

// grepLogs returns the lines of the watchdogs' logs that hold every one of
// subs, each prefixed with the watchdog's id.
func grepLogs(sb *Sandbox, subs ...string) []string {
	var out []string
	for _, w := range sb.Wardens {
		b, err := os.ReadFile(w.LogPath)
		if err != nil {
			continue
		}
	lines:
		for _, line := range strings.Split(string(b), "\n") {
			for _, s := range subs {
				if !strings.Contains(line, s) {
					continue lines
				}
			}
			out = append(out, w.ID+": "+line)
		}
	}
	return out
}

// sinceLastStart returns what the process wrote to the log at path since
// it was last started (the harness writes a "==== " line at each start).
func sinceLastStart(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	s := string(b)
	if i := strings.LastIndex(s, "\n==== "); i >= 0 {
		return s[i:]
	}
	return s
}

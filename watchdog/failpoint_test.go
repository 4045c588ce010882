package watchdog

import (
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestParseFailpoints(t *testing.T) {
	for _, tc := range []struct {
		spec  string
		armed []string
		err   string
	}{
		{spec: "", armed: nil},
		{spec: " , ", armed: nil},
		{spec: "failover.after_begin=exit", armed: []string{"failover.after_begin=exit"}},
		{spec: "failover.during_repoint=exit, failover.after_promote=exit",
			armed: []string{"failover.after_promote=exit", "failover.during_repoint=exit"}},
		{spec: "failover.after_begin=exit,failover.after_begin=off", armed: nil},
		{spec: "failover.after_begun=exit", err: `unknown failpoint "failover.after_begun"`},
		{spec: "failover.after_begin", err: "want name=action"},
		{spec: "failover.after_begin=", err: "want name=action"},
		{spec: "failover.after_begin=panic", err: `unknown action "panic"`},
	} {
		fp, err := ParseFailpoints(tc.spec)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseFailpoints(%q): error %v, want one containing %q", tc.spec, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseFailpoints(%q): %v", tc.spec, err)
			continue
		}
		if got := fp.Armed(); !slices.Equal(got, tc.armed) {
			t.Errorf("ParseFailpoints(%q) armed %q, want %q", tc.spec, got, tc.armed)
		}
	}
}

// TestFailpointHit: an armed failpoint logs one line and exits with
// FailpointExitCode; the others, and every failpoint of the zero value,
// do nothing.
func TestFailpointHit(t *testing.T) {
	fp, err := ParseFailpoints(FPAfterPromote + "=exit")
	if err != nil {
		t.Fatal(err)
	}
	var codes []int
	fp.exit = func(code int) { codes = append(codes, code) }
	core, logs := observer.New(zap.DebugLevel)
	lg := zap.New(core)
	for _, name := range FailpointNames() {
		if name != FPAfterPromote {
			fp.hit(name, lg)
		}
	}
	if len(codes) != 0 || logs.Len() != 0 {
		t.Fatalf("unarmed failpoints exited %v and logged %d lines", codes, logs.Len())
	}
	fp.hit(FPAfterPromote, lg)
	if !slices.Equal(codes, []int{FailpointExitCode}) {
		t.Errorf("armed failpoint exited with %v, want [%d]", codes, FailpointExitCode)
	}
	if all := logs.All(); len(all) != 1 || all[0].Message != "failpoint failover.after_promote: exiting" {
		t.Errorf("logged %+v, want one line \"failpoint failover.after_promote: exiting\"", all)
	}

	var zero Failpoints
	for _, name := range FailpointNames() {
		zero.hit(name, lg) // exit is nil: a call would panic
	}
	if logs.Len() != 1 {
		t.Errorf("the zero value logged %d lines", logs.Len()-1)
	}
}

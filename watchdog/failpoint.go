package watchdog

// Failpoints, in the spirit of etcd's gofail but tiny and explicit: a few
// named places in the failover where a test can make this process die, as
// if SIGKILLed at exactly that point, to check that the next leader rolls
// the failover forward. They are set only by the WARDEN_FAILPOINTS
// environment variable, read once when `warden serve` starts; unset, every
// failpoint is inert.

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"go.uber.org/zap"
)

// FailpointsEnv names the environment variable that arms failpoints:
// comma-separated name=action pairs, e.g.
// "failover.after_begin=exit".
const FailpointsEnv = "WARDEN_FAILPOINTS"

// FailpointExitCode is the exit status of a process stopped by a failpoint.
const FailpointExitCode = 97

// The failpoints of a failover, in the order they are passed.
const (
	// FPAfterBegin: the failover's begin is recorded in Raft, nothing
	// was done to Redis yet.
	FPAfterBegin = "failover.after_begin"
	// FPBeforePromote: the old master was fenced and its clients killed
	// (when it is reachable), the replica is not promoted yet.
	FPBeforePromote = "failover.before_promote"
	// FPAfterPromote: the promotion is recorded in Raft; the old master
	// is not demoted, no replica repointed.
	FPAfterPromote = "failover.after_promote"
	// FPDuringRepoint: the first replica was repointed at the new master,
	// the others (and the waits for their sync) not yet.
	FPDuringRepoint = "failover.during_repoint"
)

// FailpointNames returns every failpoint's name, in the order a failover
// passes them.
func FailpointNames() []string {
	return []string{FPAfterBegin, FPBeforePromote, FPAfterPromote, FPDuringRepoint}
}

// Failpoints is the set of armed failpoints. The zero value arms none.
type Failpoints struct {
	armed map[string]string // name -> action ("exit")
	// exit ends the process; os.Exit unless a test replaces it.
	exit func(code int)
}

// ParseFailpoints reads a WARDEN_FAILPOINTS value. An empty value arms
// nothing; an unknown name or action is an error (a typo must not leave a
// test believing a failpoint was armed).
func ParseFailpoints(spec string) (Failpoints, error) {
	fp := Failpoints{exit: os.Exit}
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, action, ok := strings.Cut(item, "=")
		name, action = strings.TrimSpace(name), strings.TrimSpace(action)
		if !ok || action == "" {
			return Failpoints{}, fmt.Errorf("%s: %q: want name=action", FailpointsEnv, item)
		}
		if !slices.Contains(FailpointNames(), name) {
			return Failpoints{}, fmt.Errorf("%s: unknown failpoint %q (known: %s)", FailpointsEnv, name, strings.Join(FailpointNames(), ", "))
		}
		switch action {
		case "exit":
		case "off":
			delete(fp.armed, name)
			continue
		default:
			return Failpoints{}, fmt.Errorf("%s: failpoint %s: unknown action %q (known: exit, off)", FailpointsEnv, name, action)
		}
		if fp.armed == nil {
			fp.armed = map[string]string{}
		}
		fp.armed[name] = action
	}
	return fp, nil
}

// Armed returns the armed failpoints as name=action, sorted.
func (f Failpoints) Armed() []string {
	var out []string
	for n, a := range f.armed {
		out = append(out, n+"="+a)
	}
	sort.Strings(out)
	return out
}

// hit passes the failpoint name: armed with exit, it logs one line and
// ends the process at once with FailpointExitCode, without any cleanup
// (no deferred function runs, Raft is not shut down): a SIGKILL at that
// point.
func (f Failpoints) hit(name string, lg *zap.Logger) {
	if f.armed[name] != "exit" {
		return
	}
	lg.Error(fmt.Sprintf("failpoint %s: exiting", name), zap.Int("exit-code", FailpointExitCode))
	_ = lg.Sync()
	f.exit(FailpointExitCode)
}

// SetFailpoints arms fp on the service; call it before Run.
func (s *Service) SetFailpoints(fp Failpoints) { s.failpoints = fp }

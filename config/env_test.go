package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// envOf returns a lookup over vars, as os.LookupEnv would answer.
func envOf(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

// podConfig is what a StatefulSet member's file looks like: every member
// name and address comes from the environment.
const podConfig = `id: ${POD_NAME}
data_dir: /var/lib/warden
raft:
  bind: 0.0.0.0:7100
  advertise: ${POD_NAME}.warden.${POD_NAMESPACE}.svc.cluster.local:7100
  bootstrap:
    - warden-0=warden-0.warden.${POD_NAMESPACE}.svc.cluster.local:7100
    - warden-1=warden-1.warden.${POD_NAMESPACE}.svc.cluster.local:7100
    - warden-2=warden-2.warden.${POD_NAMESPACE}.svc.cluster.local:7100
  snapshot_threshold: ${SNAPSHOTS}   # a plain scalar takes the type of its value
http:
  listen: 127.0.0.1:7201
detection:
  down_after: ${DOWN_AFTER}
redis:
  username: "${REDIS_USER}"
groups:
  - name: mymaster
    nodes: [redis-0.redis.${POD_NAMESPACE}:6379, redis-1.redis.${POD_NAMESPACE}:6379]
`

func TestParseExpandsEnvironment(t *testing.T) {
	env := map[string]string{
		"POD_NAME": "warden-1", "POD_NAMESPACE": "prod",
		"SNAPSHOTS": "4096", "DOWN_AFTER": "3s", "REDIS_USER": "007",
	}
	c, err := parse([]byte(podConfig), envOf(env))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if c.ID != "warden-1" {
		t.Errorf("id = %q, want warden-1", c.ID)
	}
	if want := "warden-1.warden.prod.svc.cluster.local:7100"; c.Raft.Advertise != want {
		t.Errorf("raft.advertise = %q, want %q", c.Raft.Advertise, want)
	}
	if want := "warden-2=warden-2.warden.prod.svc.cluster.local:7100"; c.Raft.Bootstrap[2] != want {
		t.Errorf("raft.bootstrap[2] = %q, want %q", c.Raft.Bootstrap[2], want)
	}
	if c.Raft.SnapshotThreshold != 4096 {
		t.Errorf("raft.snapshot_threshold = %d, want 4096 (an integer from ${SNAPSHOTS})", c.Raft.SnapshotThreshold)
	}
	if c.Detection.DownAfter.D() != 3*time.Second {
		t.Errorf("detection.down_after = %v, want 3s", c.Detection.DownAfter.D())
	}
	if c.Redis.Username != "007" {
		t.Errorf("redis.username = %q, want the string 007 (quoted, so never a number)", c.Redis.Username)
	}
	if want := []string{"redis-0.redis.prod:6379", "redis-1.redis.prod:6379"}; !reflect.DeepEqual(c.Groups[0].Nodes, want) {
		t.Errorf("groups[0].nodes = %q, want %q", c.Groups[0].Nodes, want)
	}
}

func TestParseEnvironmentLiterals(t *testing.T) {
	tests := []struct {
		name, value, want string
	}{
		{"bare $NAME stays", "/data/$HOME/w1", "/data/$HOME/w1"},
		{"lone $ stays", "/data/w$1", "/data/w$1"},
		{"$$ stays", "/data/$$", "/data/$$"},
		{"$${ is a literal ${", "/data/$${HOME}", "/data/${HOME}"},
		{"$$${ is $ then a literal ${", "/data/$$${HOME}", "/data/$${HOME}"},
		{"a set variable", "/data/${W}", "/data/w1"},
		{"two variables, one twice", "${BASE}/${W}/${W}", "/srv/w1/w1"},
		{"a variable holding YAML stays one string", "/data/${TRICKY}", "/data/a: [b]\n# c"},
		{"a variable holding a reference is not expanded again", "${REF}", "${W}"},
		{"an empty variable", "/data/${EMPTY}x", "/data/x"},
	}
	env := envOf(map[string]string{"W": "w1", "BASE": "/srv", "TRICKY": "a: [b]\n# c", "REF": "${W}", "EMPTY": ""})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			y := edit(t, "data_dir: ./data/w1", "data_dir: "+quoteYAML(tc.value))
			c, err := parse([]byte(y), env)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if c.DataDir != tc.want {
				t.Errorf("data_dir = %q, want %q", c.DataDir, tc.want)
			}
		})
	}
}

// quoteYAML writes s as a plain scalar when it can, else double-quoted.
func quoteYAML(s string) string {
	if strings.ContainsAny(s, ":#\n\"") {
		return `"` + strings.ReplaceAll(strings.ReplaceAll(s, `"`, `\"`), "\n", `\n`) + `"`
	}
	return s
}

func TestParseEnvironmentLeavesKeysAndCommentsAlone(t *testing.T) {
	y := "# written for ${UNSET_IN_COMMENT}\n" + edit(t, "data_dir: ./data/w1", "data_dir: ./data/w1   # ${ALSO_UNSET}")
	if _, err := parse([]byte(y), envOf(nil)); err != nil {
		t.Errorf("a reference in a comment was expanded: %v", err)
	}
	y = edit(t, "data_dir: ./data/w1", "data_dir: ./data/w1 # ${POD_NAME:-w1} would be an error in a value")
	if _, err := parse([]byte(y), envOf(nil)); err != nil {
		t.Errorf("a malformed reference in a comment was reported: %v", err)
	}
	y = edit(t, "data_dir: ./data/w1", "data_dir: ./data/w1\n${KEY}: x")
	_, err := parse([]byte(y), envOf(map[string]string{"KEY": "id"}))
	if err == nil || !strings.Contains(err.Error(), "unknown key ${KEY}") {
		t.Errorf("a reference in a key: got %v, want the key reported as it is written", err)
	}
}

func TestParseEnvironmentMarkerCollision(t *testing.T) {
	// The text already holds what the first marker would look like: the
	// markers must differ from it, and it must stay as it is.
	y := edit(t, "data_dir: ./data/w1", "data_dir: /data/_wardenEnv0_0_/${W}")
	c, err := parse([]byte(y), envOf(map[string]string{"W": "w1"}))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if c.DataDir != "/data/_wardenEnv0_0_/w1" {
		t.Errorf("data_dir = %q, want /data/_wardenEnv0_0_/w1", c.DataDir)
	}
}

func TestParseEnvironmentAliasExpandedOnce(t *testing.T) {
	y := edit(t, "data_dir: ./data/w1", "data_dir: &dir /data/$${X}/${W}")
	y = strings.Replace(y, `username: ""`, "username: *dir", 1)
	calls := 0
	c, err := parse([]byte(y), func(name string) (string, bool) { calls++; return "w1", name == "W" })
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if c.DataDir != "/data/${X}/w1" || c.Redis.Username != "/data/${X}/w1" {
		t.Errorf("data_dir %q, redis.username %q: want both /data/${X}/w1", c.DataDir, c.Redis.Username)
	}
	if calls != 1 {
		t.Errorf("lookup called %d times, want once", calls)
	}
}

func TestParseEnvironmentErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		// want are substrings of the error, in this order.
		want     []string
		is       []error
		problems int
	}{
		{"unset variable",
			edit(t, "id: w1", "id: ${POD_NAME}"),
			[]string{"environment: line 1: id: ${POD_NAME}: environment variable is not set"},
			[]error{ErrUnsetVariable}, 1},
		{"every unset variable, with its line and key",
			strings.Replace(edit(t, "bind: 127.0.0.1:7101", "bind: ${HOST}:7101"), "127.0.0.1:6380", "${REDIS_1}:6380", 1),
			[]string{"line 4: raft.bind: ${HOST}", "line 22: groups[0].nodes[1]: ${REDIS_1}"},
			[]error{ErrUnsetVariable}, 2},
		{"unclosed reference",
			edit(t, "id: w1", "id: ${POD_NAME"),
			[]string{"line 1: id:", `"${POD_NAME"`, "without a closing }"},
			[]error{ErrBadReference}, 1},
		{"empty name",
			edit(t, "id: w1", "id: w${}"),
			[]string{"line 1: id: ${}", "not a variable reference"},
			[]error{ErrBadReference}, 1},
		{"name starting with a digit",
			edit(t, "id: w1", "id: ${1X}"),
			[]string{"line 1: id: ${1X}"},
			[]error{ErrBadReference}, 1},
		{"shell default syntax is not supported",
			edit(t, "id: w1", "id: ${POD_NAME:-w1}"),
			[]string{"line 1: id: ${POD_NAME:-w1}", "write $${ for a literal ${"},
			[]error{ErrBadReference}, 1},
		{"bad and unset together",
			edit(t, "id: w1", "id: ${A-B}${UNSET}"),
			[]string{"line 1: id: ${A-B}", "line 1: id: ${UNSET}"},
			[]error{ErrBadReference, ErrUnsetVariable}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parse([]byte(tc.yaml), envOf(nil))
			if err == nil {
				t.Fatal("parse accepted the config")
			}
			if !reflect.DeepEqual(c, Config{}) {
				t.Errorf("parse returned a non-zero config with its error")
			}
			msg, at := err.Error(), 0
			for _, w := range tc.want {
				i := strings.Index(msg[at:], w)
				if i < 0 {
					t.Fatalf("error does not hold %q (after offset %d):\n%v", w, at, msg)
				}
				at += i + len(w)
			}
			for _, target := range tc.is {
				if !errors.Is(err, target) {
					t.Errorf("errors.Is(err, %v) = false:\n%v", target, err)
				}
			}
			var envErr *EnvError
			if !errors.As(err, &envErr) || len(envErr.Problems) != tc.problems {
				t.Errorf("want an *EnvError with %d problem(s), got %v", tc.problems, err)
			}
		})
	}
}

func TestLoadExpandsProcessEnvironment(t *testing.T) {
	t.Setenv("WARDEN_TEST_ID", "w1")
	path := filepath.Join(t.TempDir(), "warden.yaml")
	if err := os.WriteFile(path, []byte(edit(t, "id: w1", "id: ${WARDEN_TEST_ID}")), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.ID != "w1" {
		t.Errorf("id = %q, want w1 from WARDEN_TEST_ID", c.ID)
	}
	if err := os.WriteFile(path, []byte(edit(t, "id: w1", "id: ${WARDEN_TEST_UNSET_4711}")), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(path)
	if err == nil || !errors.Is(err, ErrUnsetVariable) || !strings.Contains(err.Error(), path+": environment: line 1: id: ${WARDEN_TEST_UNSET_4711}") {
		t.Errorf("Load with an unset variable = %v; want the file, line, key and variable named", err)
	}
}

func TestMarshalEscapesLiteralReferences(t *testing.T) {
	c, err := parse([]byte(edit(t, "data_dir: ./data/w1", "data_dir: /data/$${HOME}/$$")), envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	c2, err := parse(b, envOf(map[string]string{"HOME": "/root"}))
	if err != nil {
		t.Fatalf("parse(Marshal(c)): %v\n%s", err, b)
	}
	if c2.DataDir != "/data/${HOME}/$$" {
		t.Errorf("data_dir after a round trip = %q, want /data/${HOME}/$$", c2.DataDir)
	}
}

func FuzzEscapeThenExpand(f *testing.F) {
	for _, s := range []string{"", "${A}", "$${A}", "$$${", "a$", "$", "${", "}${}{$", "x${y}z$${"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var r *refs
		got, errs := r.expand(escapeString(s), func(string) (string, bool) {
			t.Fatalf("an escaped string looked a variable up: %q", s)
			return "", false
		})
		if len(errs) > 0 || got != s {
			t.Errorf("expand(escape(%q)) = %q, %v", s, got, errs)
		}
	})
}

func FuzzMarshalParseKeepsDollars(f *testing.F) {
	for _, s := range []string{"/data/${HOME}", "$${", "a$", "${1}", "_wardenEnv0_0_${", "[${x}]"} {
		f.Add(s)
	}
	base, err := parse([]byte(example), envOf(nil))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, c := range s {
			if c < ' ' || c > '~' {
				t.Skip("printable ASCII only: YAML's own rules for the rest are not under test")
			}
		}
		if strings.TrimSpace(s) == "" {
			t.Skip("an empty data_dir is invalid")
		}
		c := clone(base)
		c.DataDir = s
		b, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, err := parse(b, func(name string) (string, bool) {
			t.Fatalf("Marshal's output referenced %s:\n%s", name, b)
			return "", false
		})
		if err != nil {
			t.Fatalf("parse(Marshal(c)) with data_dir %q: %v\n%s", s, err, b)
		}
		if got.DataDir != s {
			t.Errorf("data_dir %q came back as %q", s, got.DataDir)
		}
	})
}

// Parse no longer decodes with KnownFields: walkKeys alone must reject an
// unknown key wherever it stands.
func TestParseUnknownKeysEverywhere(t *testing.T) {
	for key, y := range map[string]string{
		"groups[0].nodez":        edit(t, "  - name: mymaster\n", "  - name: mymaster\n    nodez: []\n"),
		"webhooks[0].secret":     example + "webhooks:\n  - name: a\n    url: https://h.example/x\n    secret: x\n",
		"raft.tls.cert":          edit(t, "bind: 127.0.0.1:7101", "bind: 127.0.0.1:7101\n  tls:\n    cert: x"),
		"clusters[0].seed":       example + "clusters:\n  - name: c\n    seed: [127.0.0.1:7000]\n",
		"redis.tls.enable":       edit(t, `password_file: ""`, "password_file: \"\"\n  tls:\n    enable: true"),
		"sentinel.listen_addr":   example + "sentinel:\n  listen_addr: 127.0.0.1:26379\n",
		"detection.${DOWN}":      edit(t, "down_after: 1s", "${DOWN}: 1s"),
		"events.retention_count": example + "events:\n  retention_count: 5\n",
	} {
		_, err := parse([]byte(y), envOf(map[string]string{"DOWN": "down_after"}))
		if err == nil || !strings.Contains(err.Error(), "unknown key "+key) {
			t.Errorf("%s: got %v, want unknown key %s", key, err, key)
		}
	}
}

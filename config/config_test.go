package config

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// example is the full configuration of watchdog w1 in a three-member group.
// Line numbers matter: some tests expect errors to cite them.
const example = `id: w1
data_dir: ./data/w1
raft:
  bind: 127.0.0.1:7101
  bootstrap: [w1=127.0.0.1:7101, w2=127.0.0.1:7102, w3=127.0.0.1:7103]
http:
  listen: 127.0.0.1:7201
detection:
  probe_interval: 200ms
  down_after: 1s
  node_strategy: majority
  required_watchdogs: 2
failover:
  strategy: offset
  parallel_syncs: 1
  block_after: 1m
redis:
  username: ""
  password_file: ""
groups:
  - name: mymaster
    nodes: [127.0.0.1:6379, 127.0.0.1:6380, 127.0.0.1:6381]
`

// edit returns example with old (which must occur exactly once) replaced by
// new.
func edit(t testing.TB, old, new string) string {
	t.Helper()
	if n := strings.Count(example, old); n != 1 {
		t.Fatalf("edit: %q occurs %d times in the example, want 1", old, n)
	}
	return strings.Replace(example, old, new, 1)
}

// clone returns a deep copy of c (its slices are not shared).
func clone(c Config) Config {
	c.Raft.Bootstrap = slices.Clone(c.Raft.Bootstrap)
	c.Groups = slices.Clone(c.Groups)
	for i := range c.Groups {
		c.Groups[i].Nodes = slices.Clone(c.Groups[i].Nodes)
	}
	return c
}

func TestParseRejects(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-password")

	tests := []struct {
		name string
		yaml string
		// want are substrings the error must hold; the first names the key.
		want []string
		// problems is how many problems Validate must report (0: the error
		// comes from decoding and is not an *Error).
		problems int
	}{
		// detection
		{"down_after below 2 x probe_interval",
			edit(t, "down_after: 1s", "down_after: 300ms"),
			[]string{"detection.down_after", "detection.probe_interval"}, 1},
		{"probe_interval overflowing 2 x probe_interval",
			edit(t, "probe_interval: 200ms", "probe_interval: 2000000h\n  probe_timeout: 100ms"),
			[]string{"detection.down_after"}, 1},
		{"probe_interval overflowing, derived probe_timeout",
			edit(t, "probe_interval: 200ms", "probe_interval: 2000000h"),
			[]string{"detection.down_after"}, 1},
		{"source_address with a port",
			edit(t, "raft:\n", "source_address: 127.0.0.2:7000\nraft:\n"),
			[]string{"source_address", `"127.0.0.2:7000"`, "not an IP address"}, 1},
		{"probe_interval too small",
			edit(t, "probe_interval: 200ms", "probe_interval: 5ms"),
			[]string{"detection.probe_interval", "10ms"}, 1},
		{"probe_timeout above down_after",
			edit(t, "probe_interval: 200ms", "probe_interval: 200ms\n  probe_timeout: 2s"),
			[]string{"detection.probe_timeout", "detection.down_after"}, 1},
		{"probe_timeout negative",
			edit(t, "probe_interval: 200ms", "probe_interval: 200ms\n  probe_timeout: -1s"),
			[]string{"detection.probe_timeout", "positive"}, 1},
		{"node_strategy unknown",
			edit(t, "node_strategy: majority", "node_strategy: quorum"),
			[]string{"detection.node_strategy", `"quorum"`}, 1},
		{"required_watchdogs above members",
			edit(t, "required_watchdogs: 2", "required_watchdogs: 4"),
			[]string{"detection.required_watchdogs", "(4)", "3 members"}, 1},
		{"required_watchdogs zero",
			edit(t, "required_watchdogs: 2", "required_watchdogs: 0"),
			[]string{"detection.required_watchdogs", "at least 1"}, 1},

		// failover
		{"failover strategy unknown",
			edit(t, "strategy: offset", "strategy: random"),
			[]string{"failover.strategy", `"random"`}, 1},
		{"parallel_syncs zero",
			edit(t, "parallel_syncs: 1", "parallel_syncs: 0"),
			[]string{"failover.parallel_syncs"}, 1},
		{"block_after negative",
			edit(t, "block_after: 1m", "block_after: -1m"),
			[]string{"failover.block_after"}, 1},
		{"failover timeout too small",
			edit(t, "block_after: 1m", "block_after: 1m\n  timeout: 500ms"),
			[]string{"failover.timeout"}, 1},
		{"fence_max_lag below a second",
			edit(t, "block_after: 1m", "block_after: 1m\n  fence_max_lag: 500ms"),
			[]string{"failover.fence_max_lag", "whole seconds"}, 1},
		{"fence_max_lag not whole seconds",
			edit(t, "block_after: 1m", "block_after: 1m\n  fence_max_lag: 1500ms"),
			[]string{"failover.fence_max_lag"}, 1},
		{"fence not a bool",
			edit(t, "block_after: 1m", "block_after: 1m\n  fence: sometimes"),
			[]string{"decode"}, 0},
		{"group fence mode unknown",
			edit(t, "nodes: [127.0.0.1:6379, 127.0.0.1:6380, 127.0.0.1:6381]", "nodes: [127.0.0.1:6379, 127.0.0.1:6380, 127.0.0.1:6381]\n    fence: maybe"),
			[]string{"groups[0].fence", `"maybe"`}, 1},

		// raft
		{"bootstrap entry without =",
			edit(t, "w2=127.0.0.1:7102", "w2-127.0.0.1:7102"),
			[]string{"raft.bootstrap[1]", "id=host:port"}, 1},
		{"bootstrap entry with a bad id",
			edit(t, "w3=127.0.0.1:7103", "bad/id=127.0.0.1:7103"),
			[]string{"raft.bootstrap[2]", `"bad/id"`}, 1},
		{"bootstrap entry with a bad port",
			edit(t, "w2=127.0.0.1:7102", "w2=127.0.0.1:70000"),
			[]string{"raft.bootstrap[1]", "70000"}, 1},
		{"bootstrap empty",
			edit(t, "bootstrap: [w1=127.0.0.1:7101, w2=127.0.0.1:7102, w3=127.0.0.1:7103]", "bootstrap: []"),
			[]string{"raft.bootstrap"}, 1},
		{"bootstrap id twice",
			edit(t, "w3=127.0.0.1:7103", "w2=127.0.0.1:7103"),
			[]string{"raft.bootstrap", `"w2"`, "twice"}, 1},
		{"bootstrap address twice",
			edit(t, "w3=127.0.0.1:7103", "w3=127.0.0.1:7102"),
			[]string{"raft.bootstrap", `"127.0.0.1:7102"`, "twice"}, 1},
		{"this member missing from bootstrap",
			edit(t, "id: w1", "id: w4"),
			[]string{"raft.bootstrap", `"w4"`}, 1},
		{"advertise does not match bootstrap",
			edit(t, "bind: 127.0.0.1:7101", "bind: 127.0.0.1:7101\n  advertise: 127.0.0.1:7109"),
			[]string{"raft.advertise", "127.0.0.1:7109", "127.0.0.1:7101"}, 1},
		{"bind (as advertise) does not match bootstrap",
			edit(t, "bind: 127.0.0.1:7101", "bind: 127.0.0.1:7109"),
			[]string{"raft.advertise (or raft.bind)", "127.0.0.1:7109"}, 1},
		{"advertise on the wildcard address",
			edit(t, "bind: 127.0.0.1:7101", "bind: 0.0.0.0:7101"),
			[]string{"raft.advertise", `"0.0.0.0:7101"`}, 2},
		{"bind without a port",
			edit(t, "bind: 127.0.0.1:7101", "bind: 127.0.0.1\n  advertise: 127.0.0.1:7101"),
			[]string{"raft.bind", "host:port"}, 1},
		{"bind missing",
			edit(t, "  bind: 127.0.0.1:7101\n", "  advertise: 127.0.0.1:7101\n"),
			[]string{"raft.bind is required"}, 1},
		{"heartbeat_timeout too small",
			edit(t, "bind: 127.0.0.1:7101", "bind: 127.0.0.1:7101\n  heartbeat_timeout: 10ms"),
			[]string{"raft.heartbeat_timeout"}, 1},
		{"election_timeout below heartbeat_timeout",
			edit(t, "bind: 127.0.0.1:7101", "bind: 127.0.0.1:7101\n  election_timeout: 100ms"),
			[]string{"raft.election_timeout"}, 1},
		{"snapshot_threshold zero",
			edit(t, "bind: 127.0.0.1:7101", "bind: 127.0.0.1:7101\n  snapshot_threshold: 0"),
			[]string{"raft.snapshot_threshold"}, 1},

		// top level, http, redis, log
		{"id missing",
			edit(t, "id: w1\n", ""),
			[]string{"id is required"}, 1},
		{"id invalid",
			edit(t, "id: w1", "id: w/1"),
			[]string{`id "w/1"`}, 2}, // and not in raft.bootstrap
		{"data_dir missing",
			edit(t, "data_dir: ./data/w1\n", ""),
			[]string{"data_dir is required"}, 1},
		{"http listen missing",
			edit(t, "  listen: 127.0.0.1:7201\n", ""),
			[]string{"http.listen is required"}, 1},
		{"http listen port zero",
			edit(t, "listen: 127.0.0.1:7201", "listen: 127.0.0.1:0"),
			[]string{"http.listen", "1-65535"}, 1},
		{"password file missing",
			edit(t, `password_file: ""`, "password_file: "+missing),
			[]string{"redis.password_file", "no-such-password"}, 1},
		{"log level unknown",
			edit(t, "groups:", "log:\n  level: verbose\ngroups:"),
			[]string{"log.level", `"verbose"`}, 1},
		{"log format unknown",
			edit(t, "groups:", "log:\n  format: xml\ngroups:"),
			[]string{"log.format", `"xml"`}, 1},

		// groups
		{"node address with port zero",
			edit(t, "127.0.0.1:6381", "127.0.0.1:0"),
			[]string{"groups[0].nodes[2]", "1-65535"}, 1},
		{"node address without host",
			edit(t, "127.0.0.1:6380", `":6380"`),
			[]string{"groups[0].nodes[1]", "no host"}, 1},
		{"node address without port",
			edit(t, "127.0.0.1:6381", "localhost"),
			[]string{"groups[0].nodes[2]", "host:port"}, 1},
		{"node twice in a group",
			edit(t, "127.0.0.1:6381", "127.0.0.1:6379"),
			[]string{"groups[0].nodes[2]", "already a node of groups[0]"}, 1},
		{"group with one node",
			edit(t, "nodes: [127.0.0.1:6379, 127.0.0.1:6380, 127.0.0.1:6381]", "nodes: [127.0.0.1:6379]"),
			[]string{"groups[0].nodes", "at least two"}, 1},
		{"group without a name",
			edit(t, "  - name: mymaster\n", "  - name: \"\"\n"),
			[]string{"groups[0].name is required"}, 1},
		{"group with a bad name",
			edit(t, "name: mymaster", "name: my master"),
			[]string{"groups[0].name", `"my master"`}, 1},
		{"duplicate group names",
			example + "  - name: mymaster\n    nodes: [127.0.0.1:6390, 127.0.0.1:6391]\n",
			[]string{"groups[1].name", `"mymaster"`}, 1},
		{"node in two groups",
			example + "  - name: other\n    nodes: [127.0.0.1:6390, 127.0.0.1:6380]\n",
			[]string{"groups[1].nodes[1]", "127.0.0.1:6380", "groups[0]"}, 1},

		// decoding
		{"unknown key",
			edit(t, "required_watchdogs: 2\n", "required_watchdogs: 2\n  bogus: 1\n"),
			[]string{"detection.bogus", "line 13", "unknown key"}, 0},
		{"unknown top-level key",
			example + "extra: 1\n",
			[]string{"extra", "line 23"}, 0},
		{"bad duration string",
			edit(t, "down_after: 1s", "down_after: 1 sec"),
			[]string{"line 10", "detection.down_after", `"1 sec"`, "not a duration"}, 0},
		{"duration without a unit",
			edit(t, "down_after: 1s", "down_after: 5"),
			[]string{"line 10", "detection.down_after", `"5"`}, 0},
		{"duration of the wrong kind",
			edit(t, "block_after: 1m", "block_after: [1m]"),
			[]string{"line 16", "duration"}, 0},
		{"integer of the wrong kind",
			edit(t, "required_watchdogs: 2", "required_watchdogs: two"),
			[]string{"line 12", "two"}, 0},
		{"key given twice",
			example + "id: w2\n",
			[]string{`"id"`, "line 23"}, 0},
		{"two YAML documents",
			example + "---\nid: w2\n",
			[]string{"more than one YAML document"}, 0},
		{"malformed YAML",
			"id: [w1\n",
			[]string{"decode"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.yaml))
			if err == nil {
				t.Fatalf("Parse accepted the config; want an error naming %q", tc.want[0])
			}
			if !reflect.DeepEqual(c, Config{}) {
				t.Errorf("Parse returned a non-zero config with its error: %+v", c)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not hold %q:\n%v", w, err)
				}
			}
			var verr *Error
			isValidation := errors.As(err, &verr)
			switch {
			case tc.problems == 0 && isValidation:
				t.Errorf("want a decoding error, got validation problems:\n%v", err)
			case tc.problems > 0 && !isValidation:
				t.Errorf("want an *Error from Validate, got %T: %v", err, err)
			case tc.problems > 0 && len(verr.Problems) != tc.problems:
				t.Errorf("want %d problem(s), got %d:\n%v", tc.problems, len(verr.Problems), err)
			}
		})
	}
}

func TestErrorListsEveryProblemSorted(t *testing.T) {
	y := edit(t, "strategy: offset", "strategy: random")
	y = strings.Replace(y, "down_after: 1s", "down_after: 300ms", 1)
	_, err := Parse([]byte(y))
	var verr *Error
	if !errors.As(err, &verr) {
		t.Fatalf("want *Error, got %v", err)
	}
	if len(verr.Problems) != 2 || !slices.IsSorted(verr.Problems) {
		t.Fatalf("want two sorted problems, got %q", verr.Problems)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "invalid config:\n  - ") ||
		!strings.Contains(msg, "detection.down_after") || !strings.Contains(msg, "failover.strategy") {
		t.Errorf("unexpected message:\n%s", msg)
	}
}

func TestParseExample(t *testing.T) {
	c, err := Parse([]byte(example))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := Config{
		ID:      "w1",
		DataDir: "./data/w1",
		Raft: RaftConfig{
			Bind:              "127.0.0.1:7101",
			Advertise:         "127.0.0.1:7101",
			Bootstrap:         []string{"w1=127.0.0.1:7101", "w2=127.0.0.1:7102", "w3=127.0.0.1:7103"},
			HeartbeatTimeout:  Duration(500 * time.Millisecond),
			ElectionTimeout:   Duration(500 * time.Millisecond),
			SnapshotThreshold: 1024,
		},
		HTTP: HTTPConfig{Listen: "127.0.0.1:7201"},
		Detection: DetectionConfig{
			ProbeInterval:     Duration(200 * time.Millisecond),
			ProbeTimeout:      Duration(400 * time.Millisecond),
			DownAfter:         Duration(time.Second),
			NodeStrategy:      StrategyMajority,
			RequiredWatchdogs: 2,
		},
		Failover: FailoverConfig{
			Strategy:      FailoverOffset,
			ParallelSyncs: 1,
			BlockAfter:    Duration(time.Minute),
			Timeout:       Duration(30 * time.Second),
			Fence:         true,
			FenceMaxLag:   Duration(time.Second),
		},
		Log:      LogConfig{Level: "info", Format: "console"},
		Events:   EventsConfig{Retention: 10000},
		Sentinel: SentinelConfig{MaxConnections: 1000},
		Groups: []GroupConfig{{
			Name:  "mymaster",
			Nodes: []string{"127.0.0.1:6379", "127.0.0.1:6380", "127.0.0.1:6381"},
		}},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Parse(example):\n got %+v\nwant %+v", c, want)
	}

	peers, err := c.Peers()
	if err != nil {
		t.Fatalf("Peers: %v", err)
	}
	wantPeers := []Peer{{"w1", "127.0.0.1:7101"}, {"w2", "127.0.0.1:7102"}, {"w3", "127.0.0.1:7103"}}
	if !reflect.DeepEqual(peers, wantPeers) {
		t.Errorf("Peers = %+v, want %+v", peers, wantPeers)
	}

	p, err := c.Password()
	if p != "" || err != nil {
		t.Errorf("Password with no password_file = %q, %v; want \"\", nil", p, err)
	}
}

func TestLocalAddr(t *testing.T) {
	var c Config
	if a := c.LocalAddr(); a != nil {
		t.Fatalf("no source_address: LocalAddr = %v, want nil", a)
	}
	c.SourceAddress = "127.0.3.7"
	if a := c.LocalAddr(); a == nil || a.String() != "127.0.3.7:0" {
		t.Fatalf("source_address 127.0.3.7: LocalAddr = %v", a)
	}
}

func TestPeersTrimsSpace(t *testing.T) {
	c := Config{Raft: RaftConfig{Bootstrap: []string{" w1 = 127.0.0.1:7101 "}}}
	peers, err := c.Peers()
	if err != nil {
		t.Fatal(err)
	}
	if want := []Peer{{"w1", "127.0.0.1:7101"}}; !reflect.DeepEqual(peers, want) {
		t.Errorf("Peers = %+v, want %+v", peers, want)
	}
}

func TestDefaults(t *testing.T) {
	// The smallest file that validates: every other key takes its default.
	const minimal = `id: w1
data_dir: /var/lib/warden
raft:
  bind: 10.0.0.1:7101
  bootstrap: [w1=10.0.0.1:7101]
http:
  listen: 127.0.0.1:7201
detection:
  required_watchdogs: 1
`
	tests := []struct {
		name          string
		yaml          string
		wantAdvertise string
		wantTimeout   time.Duration
	}{
		{"all defaults", minimal, "10.0.0.1:7101", 400 * time.Millisecond},
		{"probe_timeout capped at down_after/2",
			minimal + "  probe_interval: 200ms\n  down_after: 600ms\n",
			"10.0.0.1:7101", 300 * time.Millisecond},
		{"probe_timeout 2 x probe_interval",
			minimal + "  probe_interval: 100ms\n  down_after: 5s\n",
			"10.0.0.1:7101", 200 * time.Millisecond},
		{"explicit probe_timeout kept",
			minimal + "  probe_timeout: 50ms\n",
			"10.0.0.1:7101", 50 * time.Millisecond},
		{"explicit advertise kept",
			strings.Replace(minimal, "bind: 10.0.0.1:7101", "bind: 0.0.0.0:7101\n  advertise: 10.0.0.1:7101", 1),
			"10.0.0.1:7101", 400 * time.Millisecond},
		{"null sections keep their defaults",
			minimal + "failover:\nlog:\ngroups:\n",
			"10.0.0.1:7101", 400 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.yaml))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if c.Raft.Advertise != tc.wantAdvertise {
				t.Errorf("raft.advertise = %q, want %q", c.Raft.Advertise, tc.wantAdvertise)
			}
			if got := c.Detection.ProbeTimeout.D(); got != tc.wantTimeout {
				t.Errorf("detection.probe_timeout = %v, want %v", got, tc.wantTimeout)
			}
			// Everything the file did not set comes from Default.
			d := Default()
			if c.Raft.HeartbeatTimeout != d.Raft.HeartbeatTimeout ||
				c.Raft.ElectionTimeout != d.Raft.ElectionTimeout ||
				c.Raft.SnapshotThreshold != d.Raft.SnapshotThreshold ||
				c.Detection.NodeStrategy != d.Detection.NodeStrategy ||
				c.Failover != d.Failover ||
				c.Log != d.Log {
				t.Errorf("defaults not kept:\n got %+v\nwant defaults %+v", c, d)
			}
		})
	}
}

func TestDefaultIsValidOnceRequiredKeysAreSet(t *testing.T) {
	c := Default()
	c.ID, c.DataDir = "w1", "/tmp/w1"
	c.Raft.Bind, c.Raft.Bootstrap = "127.0.0.1:7101", []string{"w1=127.0.0.1:7101", "w2=127.0.0.1:7102"}
	c.HTTP.Listen = "127.0.0.1:7201"
	c.fillDerived()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default with the required keys set: %v", err)
	}
}

func TestValidateChangesNothing(t *testing.T) {
	valid, err := Parse([]byte(example))
	if err != nil {
		t.Fatal(err)
	}

	// A config with derived keys left unfilled and many problems: Validate
	// must report them, not repair them.
	invalid := clone(valid)
	invalid.Raft.Advertise = ""
	invalid.Detection.ProbeTimeout = 0
	invalid.Detection.NodeStrategy = "bogus"
	invalid.Raft.Bootstrap[1] = "not a peer"
	invalid.Groups = append(invalid.Groups, GroupConfig{Name: "mymaster", Nodes: []string{"127.0.0.1:6379"}})

	for _, tc := range []struct {
		name    string
		c       Config
		wantErr bool
	}{
		{"valid", valid, false},
		{"invalid", invalid, true},
		{"zero", Config{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := clone(tc.c)
			before := clone(c)
			err := c.Validate()
			if (err != nil) != tc.wantErr {
				t.Fatalf("Validate = %v, want error %v", err, tc.wantErr)
			}
			if !reflect.DeepEqual(c, before) {
				t.Errorf("Validate changed the config:\nbefore %+v\n after %+v", before, c)
			}
			// And it is deterministic.
			if err2 := c.Validate(); (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
				t.Errorf("second Validate = %v, first %v", err2, err)
			}
		})
	}
}

func TestPassword(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		file    string
		want    string
		wantErr []string
	}{
		{"plain", write("plain", "s3cret"), "s3cret", nil},
		{"trailing newline", write("nl", "s3cret\n"), "s3cret", nil},
		{"surrounding space and CRLF", write("crlf", "  s3 cret \r\n"), "s3 cret", nil},
		{"empty", write("empty", ""), "", []string{"redis.password_file", "empty"}},
		{"only white space", write("blank", " \n\t\n"), "", []string{"redis.password_file", "empty"}},
		{"missing", filepath.Join(dir, "missing"), "", []string{"redis.password_file", "missing"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{Redis: RedisConfig{PasswordFile: tc.file}}
			got, err := c.Password()
			if tc.wantErr == nil {
				if err != nil || got != tc.want {
					t.Fatalf("Password = %q, %v; want %q, nil", got, err, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Password = %q, nil; want an error", got)
			}
			if got != "" {
				t.Errorf("Password returned %q with its error", got)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not hold %q: %v", w, err)
				}
			}
		})
	}

	t.Run("missing file wraps fs.ErrNotExist", func(t *testing.T) {
		c := Config{Redis: RedisConfig{PasswordFile: filepath.Join(dir, "missing")}}
		if _, err := c.Password(); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Password error = %v, want one wrapping fs.ErrNotExist", err)
		}
	})

	t.Run("through Parse", func(t *testing.T) {
		p := write("through-parse", "hunter2\n")
		c, err := Parse([]byte(edit(t, `password_file: ""`, "password_file: "+p)))
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		if got, err := c.Password(); got != "hunter2" || err != nil {
			t.Errorf("Password = %q, %v; want \"hunter2\", nil", got, err)
		}
	})
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte(example), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(good)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.ID != "w1" {
		t.Errorf("Load: id = %q", c.ID)
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(edit(t, "strategy: offset", "strategy: random")), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "failover.strategy") {
		t.Errorf("Load(bad) = %v; want an error naming the file and failover.strategy", err)
	}

	if _, err := Load(filepath.Join(dir, "absent.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(absent) = %v; want fs.ErrNotExist", err)
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	c, err := Parse([]byte(example))
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Marshal()
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	c2, err := Parse(b)
	if err != nil {
		t.Fatalf("Parse(Marshal(c)): %v\n%s", err, b)
	}
	if !reflect.DeepEqual(c, c2) {
		t.Errorf("round trip changed the config:\n got %+v\nwant %+v", c2, c)
	}
}

func TestValidateAddrAndValidName(t *testing.T) {
	for _, a := range []string{"127.0.0.1:1", "localhost:65535", "[::1]:6379", "redis-0.svc:6379"} {
		if err := ValidateAddr(a); err != nil {
			t.Errorf("ValidateAddr(%q) = %v, want nil", a, err)
		}
	}
	for _, a := range []string{"", "127.0.0.1", ":6379", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:redis", "::1:6379"} {
		if err := ValidateAddr(a); err == nil {
			t.Errorf("ValidateAddr(%q) = nil, want an error", a)
		}
	}
	for _, s := range []string{"w1", "A", "my.master-1_b", strings.Repeat("a", 64)} {
		if !ValidName(s) {
			t.Errorf("ValidName(%q) = false", s)
		}
	}
	for _, s := range []string{"", "-w", ".w", "w 1", "w/1", "w=1", strings.Repeat("a", 65)} {
		if ValidName(s) {
			t.Errorf("ValidName(%q) = true", s)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(example))
	f.Add([]byte(""))
	f.Add([]byte(example + "---\nid: w2\n"))
	f.Add([]byte(strings.Replace(example, "down_after: 1s", "down_after: 1 sec", 1)))
	f.Add([]byte(strings.Replace(example, "probe_interval: 200ms", "probe_interval: 2000000h", 1)))
	f.Add([]byte(example + "  - name: other\n    nodes: [127.0.0.1:6390, 127.0.0.1:6380]\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))

	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data) // must not panic
		if err != nil {
			if err.Error() == "" {
				t.Fatal("Parse returned an error with no text")
			}
			if !reflect.DeepEqual(c, Config{}) {
				t.Fatalf("Parse returned a non-zero config with its error %v", err)
			}
			return
		}

		// An accepted config re-validates, and Validate leaves it alone.
		before := clone(c)
		if err := c.Validate(); err != nil {
			t.Fatalf("accepted config does not re-validate: %v\ninput:\n%s", err, data)
		}
		if !reflect.DeepEqual(c, before) {
			t.Fatalf("Validate changed an accepted config:\nbefore %+v\n after %+v", before, c)
		}
		if _, err := c.Peers(); err != nil {
			t.Fatalf("accepted config has bad peers: %v", err)
		}

		// Marshal writes a file that parses back to the same config (compared
		// as YAML, so that a nil and an empty slice count as equal).
		b, err := c.Marshal()
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		c2, err := Parse(b)
		if err != nil {
			t.Fatalf("Parse(Marshal(c)): %v\ninput:\n%s\nmarshalled:\n%s", err, data, b)
		}
		b2, err := c2.Marshal()
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		if !bytes.Equal(b, b2) {
			t.Fatalf("Marshal/Parse round trip differs:\nfirst:\n%s\nsecond:\n%s", b, b2)
		}
	})
}

func TestWebhooksAndEvents(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "hook.secret")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hook := func(body string) string {
		return example + "webhooks:\n" + body
	}
	good := hook("  - name: ops\n    url: https://hooks.example/warden\n    secret_file: " + secret + "\n    events: [failover_*, quorum_lost]\n")
	c, err := Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	h := c.Webhooks[0]
	if h.Format != "json" || h.Timeout.D() != 5*time.Second || h.GiveUpAfter.D() != time.Hour || len(h.Events) != 2 {
		t.Fatalf("webhook defaults: %+v", h)
	}
	if s, err := h.Secret(); err != nil || s != "s3cret" {
		t.Fatalf("secret %q, %v", s, err)
	}
	for name, tc := range map[string]struct{ yaml, key string }{
		"no name":         {hook("  - url: https://x.example/\n    secret_file: " + secret + "\n"), "webhooks[0].name"},
		"bad url":         {hook("  - name: a\n    url: ftp://x.example/\n    secret_file: " + secret + "\n"), "webhooks[0].url"},
		"no secret":       {hook("  - name: a\n    url: https://x.example/\n"), "webhooks[0].secret_file"},
		"missing secret":  {hook("  - name: a\n    url: https://x.example/\n    secret_file: " + secret + ".nope\n"), "webhooks[0].secret_file"},
		"bad glob":        {hook("  - name: a\n    url: https://x.example/\n    secret_file: " + secret + "\n    events: ['[']\n"), "webhooks[0].events[0]"},
		"bad format":      {hook("  - name: a\n    url: https://x.example/\n    secret_file: " + secret + "\n    format: xml\n"), "webhooks[0].format"},
		"duplicate":       {hook("  - name: a\n    url: https://x.example/\n    secret_file: " + secret + "\n  - name: a\n    url: https://y.example/\n    secret_file: " + secret + "\n"), "webhooks[1].name"},
		"unknown key":     {hook("  - name: a\n    url: https://x.example/\n    secret_file: " + secret + "\n    retries: 3\n"), "webhooks[0].retries"},
		"retention small": {example + "events:\n  retention: 5\n", "events.retention"},
	} {
		_, err := Parse([]byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: error %v, want one naming %s", name, err, tc.key)
		}
	}
}

func TestJoiningMember(t *testing.T) {
	join := "id: w4\ndata_dir: ./data/w4\nraft:\n  bind: 127.0.0.1:7104\n  join: true\nhttp:\n  listen: 127.0.0.1:7204\ndetection:\n  required_watchdogs: 1\n"
	c, err := Parse([]byte(join))
	if err != nil {
		t.Fatalf("a joining member without a bootstrap list: %v", err)
	}
	if !c.Raft.Join || len(c.Raft.Bootstrap) != 0 {
		t.Fatalf("parsed %+v", c.Raft)
	}
	_, err = Parse([]byte(strings.Replace(join, "  join: true\n", "  join: true\n  bootstrap: [w4=127.0.0.1:7104]\n", 1)))
	if err == nil || !strings.Contains(err.Error(), "raft.join") {
		t.Fatalf("join with a bootstrap list: %v", err)
	}
	_, err = Parse([]byte(strings.Replace(join, "  join: true\n", "", 1)))
	if err == nil || !strings.Contains(err.Error(), "raft.bootstrap") {
		t.Fatalf("neither join nor bootstrap: %v", err)
	}
}

func TestFence(t *testing.T) {
	c, err := Parse([]byte(example))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Failover.Fence || c.Failover.FenceMaxLag.D() != time.Second {
		t.Errorf("defaults: fence %v fence_max_lag %v, want true and 1s", c.Failover.Fence, c.Failover.FenceMaxLag.D())
	}
	tests := []struct {
		name   string
		yaml   string
		global bool
		lag    time.Duration
		group  string // groups[0].fence as parsed
		mode   string // in force for groups[0]
	}{
		{"defaults", example, true, time.Second, "", FenceOn},
		{"fence off",
			edit(t, "block_after: 1m", "block_after: 1m\n  fence: false\n  fence_max_lag: 3s"),
			false, 3 * time.Second, "", FenceOff},
		{"group strict",
			edit(t, "nodes: [127.0.0.1:6379, 127.0.0.1:6380, 127.0.0.1:6381]", "nodes: [127.0.0.1:6379, 127.0.0.1:6380, 127.0.0.1:6381]\n    fence: strict"),
			true, time.Second, FenceStrict, FenceStrict},
		{"group off unquoted",
			edit(t, "nodes: [127.0.0.1:6379, 127.0.0.1:6380, 127.0.0.1:6381]", "nodes: [127.0.0.1:6379, 127.0.0.1:6380, 127.0.0.1:6381]\n    fence: off"),
			true, time.Second, FenceOff, FenceOff},
		{"group on while fence is off",
			strings.Replace(edit(t, "block_after: 1m", "block_after: 1m\n  fence: false"),
				"nodes: [127.0.0.1:6379, 127.0.0.1:6380, 127.0.0.1:6381]", "nodes: [127.0.0.1:6379, 127.0.0.1:6380, 127.0.0.1:6381]\n    fence: \"on\"", 1),
			false, time.Second, FenceOn, FenceOn},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if c.Failover.Fence != tt.global || c.Failover.FenceMaxLag.D() != tt.lag {
				t.Errorf("failover.fence %v fence_max_lag %v, want %v %v", c.Failover.Fence, c.Failover.FenceMaxLag.D(), tt.global, tt.lag)
			}
			if got := c.Groups[0].Fence; got != tt.group {
				t.Errorf("groups[0].fence %q, want %q", got, tt.group)
			}
			if got := c.FenceMode(c.Groups[0].Fence); got != tt.mode {
				t.Errorf("mode in force %q, want %q", got, tt.mode)
			}
			b, err := c.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			back, err := Parse(b)
			if err != nil {
				t.Fatalf("round trip: %v\n%s", err, b)
			}
			if back.Failover.Fence != c.Failover.Fence || back.Groups[0].Fence != c.Groups[0].Fence || back.Failover.FenceMaxLag != c.Failover.FenceMaxLag {
				t.Errorf("round trip changed the fence settings:\n%s", b)
			}
		})
	}
}

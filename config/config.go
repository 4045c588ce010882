// Package config holds warden's configuration: the YAML schema, its defaults
// and the validation that names the key at fault.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Node strategies: how many fresh watchdog reports must call a node down
// before it is objectively down.
const (
	StrategyMajority  = "majority"
	StrategyConsensus = "consensus"
	StrategySingle    = "single"
)

// Fence modes: whether warden keeps min-replicas-to-write on a group's
// master, and whether it lifts it when the master is left alone.
const (
	// FenceOn: fence the master while it has replicas; lift the fence when
	// every replica is gone and no failover is possible (availability).
	FenceOn = "on"
	// FenceStrict: fence the master always; a master left alone refuses
	// writes until a replica is back (safety).
	FenceStrict = "strict"
	// FenceOff: warden leaves min-replicas-to-write alone.
	FenceOff = "off"
)

// ValidFenceMode reports whether m is a fence mode ("" included: follow
// failover.fence).
func ValidFenceMode(m string) bool {
	switch m {
	case "", FenceOn, FenceStrict, FenceOff:
		return true
	}
	return false
}

// Failover strategies: which replica property ranks first after priority.
const (
	FailoverOffset  = "offset"
	FailoverLatency = "latency"
)

// Config is one watchdog's whole configuration.
type Config struct {
	ID        string          `yaml:"id"`
	DataDir   string          `yaml:"data_dir"`
	Raft      RaftConfig      `yaml:"raft"`
	HTTP      HTTPConfig      `yaml:"http"`
	Detection DetectionConfig `yaml:"detection"`
	Failover  FailoverConfig  `yaml:"failover"`
	Redis     RedisConfig     `yaml:"redis"`
	Log       LogConfig       `yaml:"log"`
	Sentinel  SentinelConfig  `yaml:"sentinel"`
	Events    EventsConfig    `yaml:"events"`
	Webhooks  []WebhookConfig `yaml:"webhooks,omitempty"`
	Groups    []GroupConfig   `yaml:"groups"`
	Clusters  []ClusterConfig `yaml:"clusters,omitempty"`
	// SourceAddress is the local IP every outgoing Raft, peer and Redis
	// connection leaves from (as Redis's bind-source-addr); empty: the
	// system chooses by route. Webhooks keep the system's choice.
	SourceAddress string `yaml:"source_address,omitempty"`
}

// ClusterConfig is one Redis Cluster to watch.
type ClusterConfig struct {
	Name string `yaml:"name"`
	// Seeds are any nodes of the cluster; the others are discovered from
	// CLUSTER NODES.
	Seeds []string `yaml:"seeds"`
}

// SentinelConfig is the Sentinel-protocol endpoint existing Sentinel
// clients use to find the master.
type SentinelConfig struct {
	// Listen is the RESP address (e.g. 127.0.0.1:26379); empty disables.
	Listen string `yaml:"listen"`
	// Advertise is the address other watchdogs report for this one in
	// SENTINEL sentinels; default: listen.
	Advertise string `yaml:"advertise"`
	// PasswordFile, when set, makes every command but AUTH and HELLO
	// require AUTH with this password first.
	PasswordFile string `yaml:"password_file"`
	// MaxConnections bounds the open client connections.
	MaxConnections int `yaml:"max_connections"`
}

// EventsConfig governs the replicated event log.
type EventsConfig struct {
	// Retention is how many events the log keeps (the oldest are dropped).
	Retention int `yaml:"retention"`
}

// WebhookConfig is one alert receiver.
type WebhookConfig struct {
	Name string `yaml:"name"`
	URL  string `yaml:"url"`
	// SecretFile holds the HMAC-SHA256 key that signs every delivery.
	SecretFile string `yaml:"secret_file"`
	// Events are globs of event kinds (failover_*, quorum_lost); empty: all.
	Events []string `yaml:"events"`
	// Format is json (the event as it is) or slack ({"text": ...}).
	Format string `yaml:"format"`
	// Timeout bounds one POST.
	Timeout Duration `yaml:"timeout"`
	// GiveUpAfter: an event not delivered this long after it happened is
	// dropped with a webhook_failed event.
	GiveUpAfter Duration `yaml:"give_up_after"`
}

// RaftConfig is the watchdog group's own consensus layer.
type RaftConfig struct {
	// Bind is the TCP address the Raft transport (and the watchdogs' peer
	// traffic, multiplexed on it) listens on.
	Bind string `yaml:"bind"`
	// Advertise is the address other members dial; defaults to Bind.
	Advertise string `yaml:"advertise"`
	// Bootstrap lists every initial member as id=host:port. It is used only
	// when the data directory holds no Raft state yet.
	Bootstrap []string `yaml:"bootstrap"`
	// HeartbeatTimeout and ElectionTimeout tune leader failure detection.
	HeartbeatTimeout Duration `yaml:"heartbeat_timeout"`
	ElectionTimeout  Duration `yaml:"election_timeout"`
	// SnapshotThreshold is how many log entries trigger a snapshot.
	SnapshotThreshold uint64 `yaml:"snapshot_threshold"`
	// Join: this member starts without bootstrapping and waits to be
	// added to a running group (POST /v1/raft/peers on any member).
	Join bool `yaml:"join"`
	// TLS is mutual TLS between members (Raft and peer traffic alike):
	// every member needs cert_file, key_file and ca_file.
	TLS TLSFiles `yaml:"tls"`
}

// HTTPConfig is the admin API.
type HTTPConfig struct {
	Listen string `yaml:"listen"`
	// TokenFile holds the bearer token every /v1/ call must present.
	TokenFile string `yaml:"token_file"`
	// Insecure allows a non-loopback listen address without a token.
	Insecure bool `yaml:"insecure"`
	// TLS serves the API over TLS; with ca_file, clients need a
	// certificate signed by it.
	TLS TLSFiles `yaml:"tls"`
}

// DetectionConfig governs probing and voting.
type DetectionConfig struct {
	ProbeInterval     Duration `yaml:"probe_interval"`
	ProbeTimeout      Duration `yaml:"probe_timeout"`
	DownAfter         Duration `yaml:"down_after"`
	NodeStrategy      string   `yaml:"node_strategy"`
	RequiredWatchdogs int      `yaml:"required_watchdogs"`
}

// FailoverConfig governs how a failover is carried out.
type FailoverConfig struct {
	Strategy      string   `yaml:"strategy"`
	ParallelSyncs int      `yaml:"parallel_syncs"`
	BlockAfter    Duration `yaml:"block_after"`
	// Timeout bounds each step that waits on Redis (promotion, one batch of
	// replicas resyncing).
	Timeout Duration `yaml:"timeout"`
	// Fence keeps min-replicas-to-write 1 and min-replicas-max-lag
	// FenceMaxLag on every group's master (groups[].fence overrides it per
	// group), so that a master cut off from its replicas stops taking
	// writes within FenceMaxLag.
	Fence bool `yaml:"fence"`
	// FenceMaxLag is min-replicas-max-lag, in whole seconds.
	FenceMaxLag Duration `yaml:"fence_max_lag"`
}

// RedisConfig is how warden authenticates to the Redis nodes it watches.
type RedisConfig struct {
	Username     string   `yaml:"username"`
	PasswordFile string   `yaml:"password_file"`
	TLS          RedisTLS `yaml:"tls"`
}

// LogConfig selects the log level and encoding.
type LogConfig struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// GroupConfig is one Redis master/replica group to watch.
type GroupConfig struct {
	Name  string   `yaml:"name"`
	Nodes []string `yaml:"nodes"`
	// Fence overrides failover.fence for this group: on, strict or off
	// (empty: on when failover.fence is true, else off).
	Fence string `yaml:"fence,omitempty"`
}

// LocalAddr is source_address as the local end of a TCP dial, or nil when
// the system chooses.
func (c *Config) LocalAddr() net.Addr {
	ip := net.ParseIP(c.SourceAddress)
	if ip == nil {
		return nil
	}
	return &net.TCPAddr{IP: ip}
}

// FenceMode is the fence mode in force for a group whose override is
// mode: the override when set, else on or off by failover.fence.
func (c *Config) FenceMode(mode string) string {
	if mode != "" {
		return mode
	}
	if c.Failover.Fence {
		return FenceOn
	}
	return FenceOff
}

// Peer is one Raft member from raft.bootstrap.
type Peer struct {
	ID   string
	Addr string
}

// Duration is a time.Duration written in YAML as "200ms", "1s", "1m".
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalYAML accepts Go duration strings.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return fmt.Errorf("line %d: want a duration such as 500ms or 2s", n.Line)
	}
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (want e.g. 500ms, 2s, 1m)", n.Line, s)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration back as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Default returns the configuration used for every key the file leaves out.
func Default() Config {
	return Config{
		Raft: RaftConfig{
			HeartbeatTimeout:  Duration(500 * time.Millisecond),
			ElectionTimeout:   Duration(500 * time.Millisecond),
			SnapshotThreshold: 1024,
		},
		Detection: DetectionConfig{
			ProbeInterval:     Duration(200 * time.Millisecond),
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
	}
}

// Load reads, decodes and validates the file at path.
func Load(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse decodes YAML over the defaults (unknown keys are errors), fills in
// derived defaults and validates the result. ${NAME} in a value is replaced
// by the environment variable NAME first (see markRefs).
func Parse(b []byte) (Config, error) { return parse(b, os.LookupEnv) }

// parse is Parse with the environment given as lookup.
func parse(b []byte, lookup func(string) (string, bool)) (Config, error) {
	b, refs := markRefs(b)
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("decode: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return Config{}, errors.New("decode: the file holds more than one YAML document")
	}
	c := Default()
	if len(doc.Content) > 0 {
		root := doc.Content[0]
		if err := expandEnv(root, refs, lookup); err != nil {
			return Config{}, err
		}
		// walkKeys names every unknown key by its path, so the decoding
		// below is as strict as a KnownFields decoder.
		if err := walkKeys(root, reflect.TypeOf(Config{}), ""); err != nil {
			return Config{}, err
		}
		if err := root.Decode(&c); err != nil {
			return Config{}, fmt.Errorf("decode: %w", err)
		}
	}
	c.fillDerived()
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

func walkKeys(n *yaml.Node, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == reflect.TypeOf(Duration(0)) && n.Kind == yaml.ScalarNode {
		if _, err := time.ParseDuration(strings.TrimSpace(n.Value)); err != nil {
			return fmt.Errorf("decode: line %d: %s: %q is not a duration (want e.g. 500ms, 2s, 1m)", n.Line, path, n.Value)
		}
		return nil
	}
	switch {
	case n.Kind == yaml.SequenceNode && t.Kind() == reflect.Slice:
		for i, item := range n.Content {
			if err := walkKeys(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct:
		fields := map[string]reflect.Type{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name != "" && name != "-" {
				fields[name] = f.Type
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			key := k.Value
			if path != "" {
				key = path + "." + k.Value
			}
			ft, ok := fields[k.Value]
			if !ok {
				return fmt.Errorf("decode: line %d: unknown key %s", k.Line, key)
			}
			if err := walkKeys(n.Content[i+1], ft, key); err != nil {
				return err
			}
		}
	}
	return nil
}

// fillDerived sets defaults that depend on other keys.
func (c *Config) fillDerived() {
	if c.Sentinel.Advertise == "" {
		c.Sentinel.Advertise = c.Sentinel.Listen
	}
	for i := range c.Webhooks {
		h := &c.Webhooks[i]
		if h.Format == "" {
			h.Format = "json"
		}
		if h.Timeout == 0 {
			h.Timeout = Duration(5 * time.Second)
		}
		if h.GiveUpAfter == 0 {
			h.GiveUpAfter = Duration(time.Hour)
		}
	}
	if c.Raft.Advertise == "" {
		c.Raft.Advertise = c.Raft.Bind
	}
	if c.Detection.ProbeTimeout == 0 {
		// min(2 × probe_interval, down_after / 2), written so that a huge
		// probe_interval cannot overflow 2 × probe_interval.
		pi := c.Detection.ProbeInterval.D()
		t := pi * 2
		if dn := c.Detection.DownAfter.D() / 2; dn > 0 && pi > dn/2 {
			t = dn
		}
		c.Detection.ProbeTimeout = Duration(t)
	}
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// ValidName reports whether s may name a watchdog or a group.
func ValidName(s string) bool { return nameRE.MatchString(s) }

// ValidateAddr checks a host:port address and returns a message naming what
// is wrong, or nil.
func ValidateAddr(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("%q is not host:port", a)
	}
	if host == "" {
		return fmt.Errorf("%q has no host", a)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("%q has port %q, want 1-65535", a, port)
	}
	return nil
}

// Peers parses raft.bootstrap.
func (c *Config) Peers() ([]Peer, error) {
	var ps []Peer
	for i, s := range c.Raft.Bootstrap {
		id, addr, ok := strings.Cut(s, "=")
		if !ok {
			return nil, fmt.Errorf("raft.bootstrap[%d]: %q is not id=host:port", i, s)
		}
		id, addr = strings.TrimSpace(id), strings.TrimSpace(addr)
		if !ValidName(id) {
			return nil, fmt.Errorf("raft.bootstrap[%d]: %q is not a valid member id (letters, digits, _ . -)", i, id)
		}
		if err := ValidateAddr(addr); err != nil {
			return nil, fmt.Errorf("raft.bootstrap[%d]: %v", i, err)
		}
		ps = append(ps, Peer{ID: id, Addr: addr})
	}
	return ps, nil
}

// Validate checks every key and the relations between keys. It changes
// nothing; every message names the key at fault.
func (c *Config) Validate() error {
	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }

	if c.ID == "" {
		bad("id is required")
	} else if !ValidName(c.ID) {
		bad("id %q may hold only letters, digits, _ . - (at most 64)", c.ID)
	}
	if c.DataDir == "" {
		bad("data_dir is required")
	}
	if c.SourceAddress != "" && net.ParseIP(c.SourceAddress) == nil {
		bad("source_address: %q is not an IP address (a local address, without a port)", c.SourceAddress)
	}
	if c.Raft.Bind == "" {
		bad("raft.bind is required")
	} else if err := ValidateAddr(c.Raft.Bind); err != nil {
		bad("raft.bind: %v", err)
	}
	if c.Raft.Advertise != "" {
		if err := ValidateAddr(c.Raft.Advertise); err != nil {
			bad("raft.advertise: %v", err)
		} else if h, _, _ := net.SplitHostPort(c.Raft.Advertise); h == "0.0.0.0" || h == "::" {
			bad("raft.advertise: %q is not an address other members can dial; set raft.advertise", c.Raft.Advertise)
		}
	}
	peers, err := c.Peers()
	if err != nil {
		bad("%v", err)
	}
	if len(c.Raft.Bootstrap) == 0 && !c.Raft.Join {
		bad("raft.bootstrap must list the initial members as id=host:port (this member included), or set raft.join: true to join a running group")
	} else if c.Raft.Join && len(c.Raft.Bootstrap) > 0 {
		bad("raft.join: a joining member must not list raft.bootstrap (it would start a group of its own)")
	} else if err == nil && !c.Raft.Join {
		ids, addrs := map[string]bool{}, map[string]bool{}
		self := false
		for _, p := range peers {
			if ids[p.ID] {
				bad("raft.bootstrap: member id %q appears twice", p.ID)
			}
			if addrs[p.Addr] {
				bad("raft.bootstrap: address %q appears twice", p.Addr)
			}
			ids[p.ID], addrs[p.Addr] = true, true
			if p.ID == c.ID {
				self = true
				if c.Raft.Advertise != "" && p.Addr != c.Raft.Advertise {
					bad("raft.bootstrap: this member %q is listed at %s but raft.advertise (or raft.bind) is %s", c.ID, p.Addr, c.Raft.Advertise)
				}
			}
		}
		if !self && c.ID != "" {
			bad("raft.bootstrap does not list this member's id %q", c.ID)
		}
		if c.Detection.RequiredWatchdogs > len(peers) {
			bad("detection.required_watchdogs (%d) exceeds the %d members in raft.bootstrap", c.Detection.RequiredWatchdogs, len(peers))
		}
	}
	if c.Raft.HeartbeatTimeout.D() < 50*time.Millisecond {
		bad("raft.heartbeat_timeout must be at least 50ms")
	}
	if c.Raft.ElectionTimeout.D() < c.Raft.HeartbeatTimeout.D() {
		bad("raft.election_timeout must be at least raft.heartbeat_timeout")
	}
	if c.Raft.SnapshotThreshold == 0 {
		bad("raft.snapshot_threshold must be positive")
	}
	if c.HTTP.Listen == "" {
		bad("http.listen is required")
	} else if err := ValidateAddr(c.HTTP.Listen); err != nil {
		bad("http.listen: %v", err)
	} else if c.HTTP.TokenFile == "" && !c.HTTP.Insecure && !isLoopback(c.HTTP.Listen) {
		bad("http.listen %s is not a loopback address: set http.token_file (or http.insecure: true to serve the API to anyone who can reach it)", c.HTTP.Listen)
	}
	if c.HTTP.TokenFile != "" {
		if _, err := os.Stat(c.HTTP.TokenFile); err != nil {
			bad("http.token_file: %v", err)
		}
	}

	d := c.Detection
	if d.ProbeInterval.D() < 10*time.Millisecond {
		bad("detection.probe_interval must be at least 10ms")
	}
	if d.ProbeTimeout.D() <= 0 {
		bad("detection.probe_timeout must be positive")
	}
	// down_after < 2 × probe_interval, without overflowing the product.
	if d.DownAfter.D()/2 < d.ProbeInterval.D() {
		bad("detection.down_after must be at least 2 × detection.probe_interval")
	}
	if d.ProbeTimeout.D() > d.DownAfter.D() {
		bad("detection.probe_timeout must not exceed detection.down_after")
	}
	switch d.NodeStrategy {
	case StrategyMajority, StrategyConsensus, StrategySingle:
	default:
		bad("detection.node_strategy %q must be one of majority, consensus, single", d.NodeStrategy)
	}
	if d.RequiredWatchdogs < 1 {
		bad("detection.required_watchdogs must be at least 1")
	}

	f := c.Failover
	switch f.Strategy {
	case FailoverOffset, FailoverLatency:
	default:
		bad("failover.strategy %q must be offset or latency", f.Strategy)
	}
	if f.ParallelSyncs < 1 {
		bad("failover.parallel_syncs must be at least 1")
	}
	if f.BlockAfter.D() < 0 {
		bad("failover.block_after must not be negative")
	}
	if f.Timeout.D() < time.Second {
		bad("failover.timeout must be at least 1s")
	}
	if lag := f.FenceMaxLag.D(); lag < time.Second || lag > time.Hour || lag%time.Second != 0 {
		bad("failover.fence_max_lag must be whole seconds between 1s and 1h (it is min-replicas-max-lag)")
	}

	c.HTTP.TLS.validate("http.tls", true, false, bad)
	c.Raft.TLS.validate("raft.tls", true, true, bad)
	if rt := c.Redis.TLS; rt.Enabled {
		TLSFiles{CertFile: rt.CertFile, KeyFile: rt.KeyFile, CAFile: rt.CAFile}.validate("redis.tls", false, false, bad)
	} else if rt.CAFile != "" || rt.CertFile != "" || rt.KeyFile != "" || rt.ServerName != "" {
		bad("redis.tls: files are set but redis.tls.enabled is false")
	}
	if c.Redis.PasswordFile != "" {
		if _, err := os.Stat(c.Redis.PasswordFile); err != nil {
			bad("redis.password_file: %v", err)
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level %q must be debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "console", "json":
	default:
		bad("log.format %q must be console or json", c.Log.Format)
	}

	if c.Sentinel.Listen != "" {
		if err := ValidateAddr(c.Sentinel.Listen); err != nil {
			bad("sentinel.listen: %v", err)
		}
	}
	if c.Sentinel.Advertise != "" {
		if err := ValidateAddr(c.Sentinel.Advertise); err != nil {
			bad("sentinel.advertise: %v", err)
		}
	}
	if c.Sentinel.PasswordFile != "" {
		if _, err := os.Stat(c.Sentinel.PasswordFile); err != nil {
			bad("sentinel.password_file: %v", err)
		}
	}
	if c.Sentinel.MaxConnections < 1 {
		bad("sentinel.max_connections must be at least 1")
	}
	if c.Events.Retention < 100 {
		bad("events.retention must be at least 100")
	}
	hooks := map[string]bool{}
	for i, h := range c.Webhooks {
		key := fmt.Sprintf("webhooks[%d]", i)
		switch {
		case h.Name == "":
			bad("%s.name is required", key)
		case !ValidName(h.Name):
			bad("%s.name %q may hold only letters, digits, _ . - (at most 64)", key, h.Name)
		case hooks[h.Name]:
			bad("%s.name %q is used by another webhook", key, h.Name)
		}
		hooks[h.Name] = true
		if u, err := url.Parse(h.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("%s.url %q must be an http:// or https:// URL", key, h.URL)
		}
		if h.SecretFile == "" {
			bad("%s.secret_file is required (the HMAC-SHA256 key that signs deliveries)", key)
		} else if _, err := os.Stat(h.SecretFile); err != nil {
			bad("%s.secret_file: %v", key, err)
		}
		for j, g := range h.Events {
			if _, err := path.Match(g, "x"); err != nil || g == "" {
				bad("%s.events[%d]: %q is not a valid glob", key, j, g)
			}
		}
		switch h.Format {
		case "", "json", "slack":
		default:
			bad("%s.format %q must be json or slack", key, h.Format)
		}
		if h.Timeout.D() < 0 || h.GiveUpAfter.D() < 0 {
			bad("%s: timeout and give_up_after must not be negative", key)
		}
	}

	seenGroup := map[string]bool{}
	owner := map[string]string{}
	for i, g := range c.Groups {
		key := fmt.Sprintf("groups[%d]", i)
		if g.Name == "" {
			bad("%s.name is required", key)
		} else if !ValidName(g.Name) {
			bad("%s.name %q may hold only letters, digits, _ . - (at most 64)", key, g.Name)
		} else if seenGroup[g.Name] {
			bad("%s.name %q is used by another group", key, g.Name)
		}
		seenGroup[g.Name] = true
		if len(g.Nodes) < 2 {
			bad("%s.nodes must list at least two nodes (a master and a replica)", key)
		}
		if !ValidFenceMode(g.Fence) {
			bad("%s.fence %q must be on, strict or off", key, g.Fence)
		}
		for j, n := range g.Nodes {
			if err := ValidateAddr(n); err != nil {
				bad("%s.nodes[%d]: %v", key, j, err)
				continue
			}
			if o, ok := owner[n]; ok {
				bad("%s.nodes[%d]: %s is already a node of %s", key, j, n, o)
				continue
			}
			owner[n] = key
		}
	}
	for i, cl := range c.Clusters {
		key := fmt.Sprintf("clusters[%d]", i)
		if cl.Name == "" {
			bad("%s.name is required", key)
		} else if !ValidName(cl.Name) {
			bad("%s.name %q may hold only letters, digits, _ . - (at most 64)", key, cl.Name)
		} else if seenGroup[cl.Name] {
			bad("%s.name %q is used by a group or another cluster", key, cl.Name)
		}
		seenGroup[cl.Name] = true
		if len(cl.Seeds) == 0 {
			bad("%s.seeds must list at least one node of the cluster", key)
		}
		for j, n := range cl.Seeds {
			if err := ValidateAddr(n); err != nil {
				bad("%s.seeds[%d]: %v", key, j, err)
				continue
			}
			if o, ok := owner[n]; ok {
				bad("%s.seeds[%d]: %s is already a node of %s", key, j, n, o)
				continue
			}
			owner[n] = key
		}
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return &Error{Problems: errs}
	}
	return nil
}

// Error lists every problem Validate found.
type Error struct{ Problems []string }

func (e *Error) Error() string {
	if len(e.Problems) == 1 {
		return "invalid config: " + e.Problems[0]
	}
	return "invalid config:\n  - " + strings.Join(e.Problems, "\n  - ")
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Secret reads webhook h's signing key.
func (h WebhookConfig) Secret() (string, error) {
	return readSecret("webhooks "+h.Name+" secret_file", h.SecretFile)
}

// SentinelPassword reads sentinel.password_file ("" when unset).
func (c *Config) SentinelPassword() (string, error) {
	return readSecret("sentinel.password_file", c.Sentinel.PasswordFile)
}

// Token reads the API bearer token from http.token_file ("" when unset).
func (c *Config) Token() (string, error) { return readSecret("http.token_file", c.HTTP.TokenFile) }

// Password reads the Redis password from redis.password_file ("" when unset).
// Surrounding white space and a trailing newline are dropped.
func (c *Config) Password() (string, error) {
	return readSecret("redis.password_file", c.Redis.PasswordFile)
}

func readSecret(key, path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	p := strings.TrimSpace(string(b))
	if p == "" {
		return "", fmt.Errorf("%s %s is empty", key, path)
	}
	return p, nil
}

// Marshal writes the configuration as YAML (used by the demo to write the
// watchdogs' files). A literal ${ in a value is written $${, so that Parse
// reads back the same configuration.
func (c Config) Marshal() ([]byte, error) {
	var n yaml.Node
	if err := n.Encode(c); err != nil {
		return nil, err
	}
	escapeEnv(&n)
	return yaml.Marshal(&n)
}

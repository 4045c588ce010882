package cluster

import (
	"fmt"
	"math"
	"strconv"
)

// Shard is one entry of CLUSTER SHARDS: the slots a shard serves and its
// nodes, master and replicas alike.
type Shard struct {
	Slots []SlotRange
	Nodes []ShardNode
}

// Master returns the shard's node whose role is master, if any.
func (s Shard) Master() (ShardNode, bool) {
	for _, n := range s.Nodes {
		if n.Role == RoleMaster {
			return n, true
		}
	}
	return ShardNode{}, false
}

// ShardNode is one node of a CLUSTER SHARDS entry.
type ShardNode struct {
	ID string
	// Port is the plain-text client port and TLSPort the TLS one; 0 when
	// the reply has none (Redis leaves out a port it does not know, as for
	// a noaddr node).
	Port, TLSPort int
	IP            string
	// Endpoint is the address clients are told to use: the IP, hostname or
	// "?" for an unknown one, by cluster-preferred-endpoint-type.
	Endpoint string
	// Hostname is "" when the node announces none.
	Hostname          string
	Role              string // RoleMaster or RoleReplica
	ReplicationOffset int64
	// Health is HealthOnline, HealthFail or HealthLoading as Redis 7.0
	// says; another value from a later Redis is kept as it is.
	Health string
}

// Addr is the node's IP and port (the TLS port when there is no plain one)
// joined for dialing; "" when the reply gives neither.
func (n ShardNode) Addr() string {
	port := n.Port
	if port == 0 {
		port = n.TLSPort
	}
	return joinAddr(n.IP, port)
}

// Roles and health values of CLUSTER SHARDS.
const (
	RoleMaster    = "master"
	RoleReplica   = "replica"
	HealthOnline  = "online"
	HealthFail    = "fail"
	HealthLoading = "loading"
)

// ParseShards reads the reply to CLUSTER SHARDS as go-redis's Do returns
// it: a []any of shards, each shard and each node being either a flat
// key/value []any (RESP2) or a map (RESP3, map[any]any; map[string]any is
// accepted too). Strings are string, numbers int64 (int is accepted). Keys
// it does not know are ignored. An error is a *ParseError naming the shard,
// the node and the field.
func ParseShards(reply any) ([]Shard, error) {
	list, ok := reply.([]any)
	if !ok {
		return nil, parseErr("", "reply", typeName(reply), "want a list of shards")
	}
	var shards []Shard
	for i, item := range list {
		where := "shard " + strconv.Itoa(i+1)
		sh, err := parseShard(where, item)
		if err != nil {
			return nil, err
		}
		shards = append(shards, sh)
	}
	return shards, nil
}

func parseShard(where string, item any) (Shard, error) {
	fields, perr := fieldsOf(where, item)
	if perr != nil {
		return Shard{}, perr
	}
	var sh Shard
	slots, ok := fields["slots"]
	if !ok {
		return Shard{}, parseErr(where, "slots", "", "missing")
	}
	pairs, ok := slots.([]any)
	if !ok {
		return Shard{}, parseErr(where, "slots", typeName(slots), "want a list of numbers")
	}
	if len(pairs)%2 != 0 {
		return Shard{}, parseErr(where, "slots", "", fmt.Sprintf("an odd count of numbers (%d), want start and end pairs", len(pairs)))
	}
	for j := 0; j < len(pairs); j += 2 {
		var r SlotRange
		var reason string
		if r.Start, reason = slotOf(pairs[j]); reason == "" {
			r.End, reason = slotOf(pairs[j+1])
		}
		if reason == "" && r.End < r.Start {
			reason = "range ends before it starts"
		}
		if reason != "" {
			return Shard{}, parseErr(where, "slots", fmt.Sprint(pairs[j], " ", pairs[j+1]), reason)
		}
		sh.Slots = append(sh.Slots, r)
	}
	nodesV, ok := fields["nodes"]
	if !ok {
		return Shard{}, parseErr(where, "nodes", "", "missing")
	}
	nodes, ok := nodesV.([]any)
	if !ok {
		return Shard{}, parseErr(where, "nodes", typeName(nodesV), "want a list of nodes")
	}
	for k, nv := range nodes {
		n, err := parseShardNode(fmt.Sprintf("%s node %d", where, k+1), nv)
		if err != nil {
			return Shard{}, err
		}
		sh.Nodes = append(sh.Nodes, n)
	}
	return sh, nil
}

func parseShardNode(where string, item any) (ShardNode, error) {
	fields, perr := fieldsOf(where, item)
	if perr != nil {
		return ShardNode{}, perr
	}
	var n ShardNode
	var reason string
	str := func(key string, dst *string, required bool) bool {
		v, ok := fields[key]
		if !ok {
			if required {
				reason = "missing"
			}
			return !required
		}
		s, ok := v.(string)
		if !ok {
			reason = "want a string, got " + typeName(v)
			return false
		}
		*dst = s
		return true
	}
	num := func(key string, dst *int64, lo, hi int64) bool {
		v, ok := fields[key]
		if !ok {
			return true
		}
		i, ok := intOf(v)
		if !ok {
			reason = "want an integer, got " + typeName(v)
			return false
		}
		if i < lo || i > hi {
			reason = fmt.Sprintf("out of range %d-%d", lo, hi)
			return false
		}
		*dst = i
		return true
	}
	fail := func(key string) (ShardNode, error) {
		return ShardNode{}, parseErr(where, key, valueText(fields[key]), reason)
	}
	// Each case reads one field; the first that fails ends the parse.
	var port, tlsPort int64
	switch {
	case !str("id", &n.ID, true):
		return fail("id")
	case !num("port", &port, 0, math.MaxUint16):
		return fail("port")
	case !num("tls-port", &tlsPort, 0, math.MaxUint16):
		return fail("tls-port")
	case !str("ip", &n.IP, false):
		return fail("ip")
	case !str("endpoint", &n.Endpoint, false):
		return fail("endpoint")
	case !str("hostname", &n.Hostname, false):
		return fail("hostname")
	case !str("role", &n.Role, true):
		return fail("role")
	case !num("replication-offset", &n.ReplicationOffset, math.MinInt64, math.MaxInt64):
		return fail("replication-offset")
	case !str("health", &n.Health, false):
		return fail("health")
	}
	n.Port, n.TLSPort = int(port), int(tlsPort)
	if reason = checkNodeID(n.ID); reason != "" {
		return fail("id")
	}
	if n.Role != RoleMaster && n.Role != RoleReplica {
		reason = `want "master" or "replica"`
		return fail("role")
	}
	return n, nil
}

// fieldsOf turns a flat key/value list or a map into a map by key.
func fieldsOf(where string, item any) (map[string]any, *ParseError) {
	out := map[string]any{}
	add := func(k, v any) *ParseError {
		key, ok := k.(string)
		if !ok {
			return parseErr(where, "key", typeName(k), "want a string")
		}
		if _, dup := out[key]; dup {
			return parseErr(where, key, "", "given twice")
		}
		out[key] = v
		return nil
	}
	switch m := item.(type) {
	case []any:
		if len(m)%2 != 0 {
			return nil, parseErr(where, "", "", fmt.Sprintf("an odd count of elements (%d), want key/value pairs", len(m)))
		}
		for i := 0; i < len(m); i += 2 {
			if err := add(m[i], m[i+1]); err != nil {
				return nil, err
			}
		}
	case map[any]any:
		for k, v := range m {
			if err := add(k, v); err != nil {
				return nil, err
			}
		}
	case map[string]any:
		for k, v := range m {
			out[k] = v
		}
	default:
		return nil, parseErr(where, "", typeName(item), "want a key/value list or a map")
	}
	return out, nil
}

func intOf(v any) (int64, bool) {
	switch i := v.(type) {
	case int64:
		return i, true
	case int:
		return int64(i), true
	}
	return 0, false
}

func slotOf(v any) (int, string) {
	i, ok := intOf(v)
	if !ok {
		return 0, "want an integer, got " + typeName(v)
	}
	if i < 0 || i >= SlotCount {
		return 0, fmt.Sprintf("slot out of range 0-%d", SlotCount-1)
	}
	return int(i), ""
}

func typeName(v any) string {
	if v == nil {
		return "nil"
	}
	return fmt.Sprintf("%T", v)
}

func valueText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int64, int:
		return fmt.Sprint(x)
	}
	return typeName(v)
}

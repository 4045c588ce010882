// Package cluster reads and analyses the state of a Redis Cluster.
//
// Everything here is pure: the functions take the text or the reply a
// watchdog already fetched and return values, so they are tested with
// tables, fixtures captured from real redis-server 7.0 processes, and fuzzing.
// Nothing in this package opens a connection or reads a clock.
//
// # Parsing
//
// [ParseNodes] reads the text of CLUSTER NODES (the Redis 7.0 format, one
// node per line):
//
//	<id> <ip:port@cport[,hostname]> <flags> <master> <ping-sent> <pong-recv> <config-epoch> <link-state> <slot> ...
//
// A slot entry is a slot ("5"), a range ("0-5460"), or an open slot, which
// Redis prints for the answering node only: "[slot->-id]" when the slot is
// migrating to node id, "[slot-<-id]" when it is being imported from node id.
// [FormatNodes] writes the same format back; for Redis's own output the
// round trip is exact.
//
// [ParseShards] reads the reply to CLUSTER SHARDS as go-redis's Do returns
// it: over RESP2 each shard and each node is a flat key/value []any; over
// RESP3 (go-redis's default protocol) they are map[any]any. Both are
// accepted.
//
// # Analysis
//
// [NewTopology] builds one node's view of the cluster: its shards (a master
// and its replicas), the owner of every slot, and the questions a watchdog
// asks: which slots are unassigned ([Topology.Coverage]), which are open
// ([Topology.OpenSlots]), which masters have no usable replica
// ([Topology.MastersWithoutReplica]), which nodes are failing
// ([Topology.FailedNodes]).
//
// [Compare] puts several nodes' views side by side and reports where they
// disagree: a slot range with different owners, a node with different roles
// or masters, or a node that some views know and others do not.
//
// # Slots
//
// [KeySlot] maps a key to its hash slot (CRC16-XMODEM modulo 16384, with the
// {hash tag} rule). [FormatSlots] and [ParseSlots] write and read slot range
// lists such as "0-5460,5462".
//
// # What real Redis 7.0 output looks like
//
// The fixtures in testdata were captured from six redis-server 7.0.15
// processes (see testdata/README.md). Points that matter to a reader:
//
//   - Lines come in no particular order; the answering node is the one
//     flagged myself, not the first line.
//   - Open slots appear only on the myself line, in slot order.
//   - A node whose address was lost is printed ":0@0" and flagged noaddr.
//     Redis never pings a noaddr node, so it is never flagged fail? or
//     fail: it stays in every view until it is forgotten.
//   - A stopped (SIGSTOP) node keeps link-state "connected": the TCP
//     connection stays open, so link-state says nothing about liveness.
//   - A replica's config epoch is its master's.
//   - In CLUSTER SHARDS, health is "online", "fail" or "loading"; a replica
//     whose replication offset the answering node has not yet heard of (0)
//     is reported "loading" even when it is healthy. A noaddr node has no
//     port field and an empty ip and endpoint. The endpoint is "?" when the
//     preferred endpoint type is hostname and the node announces none.
//   - Over RESP3, CLUSTER NODES is a verbatim string; go-redis strips its
//     "txt:" prefix, so the text is the same as over RESP2.
package cluster

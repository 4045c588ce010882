package cluster

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
)

// Node is one line of CLUSTER NODES: one node as the answering node sees it.
type Node struct {
	// ID is the node's 40-character hexadecimal name.
	ID string
	// Addr is IP and Port joined for dialing ("127.0.0.1:7000",
	// "[::1]:7000"); "" when the address is unknown (":0" in the text).
	Addr string
	// IP is the address as Redis prints it (IPv6 without brackets); "" for
	// a node whose address is unknown.
	IP string
	// Port is the client port and BusPort the cluster bus port.
	Port, BusPort int
	// Hostname is the name the node announces (cluster-announce-hostname),
	// printed after a comma; "" when it announces none.
	Hostname string
	Flags    Flags
	// MasterID is the ID of the master this node replicates; "" when the
	// text has "-".
	MasterID string
	// PingSent is when the answering node sent the ping it still awaits a
	// reply to (Unix milliseconds), 0 when none is pending. PongRecv is when
	// the last pong arrived (Unix milliseconds).
	PingSent, PongRecv int64
	ConfigEpoch        uint64
	// Connected is the link-state: whether the answering node's cluster bus
	// link to this node is up. It is not a health check: a stopped process
	// keeps its connections open.
	Connected bool
	// Slots are the slot ranges the node serves, in the order printed.
	Slots []SlotRange
	// Migrating are the node's slots moving out (From is ID, To the target)
	// and Importing the slots moving in (From the source, To is ID), each
	// sorted by slot. Redis prints them on the myself line only.
	Migrating []OpenSlot
	Importing []OpenSlot
}

// Flags are the node's flags. The booleans are the flags Redis 7.0 defines;
// Raw is the list as read, including flags this package does not know.
type Flags struct {
	Myself     bool // the answering node itself
	Master     bool
	Replica    bool // "slave"
	PFail      bool // "fail?": the answering node cannot reach it
	Fail       bool // agreed failed by a majority of masters
	Handshake  bool // being met; its ID is not yet its own
	NoAddr     bool // address unknown
	NoFailover bool // a replica that will not fail over by itself
	NoFlags    bool
	Raw        []string
}

// Failing says whether the node is flagged fail or fail?.
func (f Flags) Failing() bool { return f.Fail || f.PFail }

// String writes the flags as Redis does: Raw joined by commas, or when Raw
// is empty the booleans in Redis's order, "noflags" if none is set.
func (f Flags) String() string {
	if len(f.Raw) > 0 {
		return strings.Join(f.Raw, ",")
	}
	var names []string
	for _, fl := range []struct {
		set  bool
		name string
	}{
		{f.Myself, flagMyself}, {f.Master, flagMaster}, {f.Replica, flagSlave},
		{f.PFail, flagPFail}, {f.Fail, flagFail}, {f.Handshake, flagHandshake},
		{f.NoAddr, flagNoAddr}, {f.NoFailover, flagNoFailover},
	} {
		if fl.set {
			names = append(names, fl.name)
		}
	}
	if len(names) == 0 {
		return flagNoFlags
	}
	return strings.Join(names, ",")
}

const (
	flagMyself     = "myself"
	flagMaster     = "master"
	flagSlave      = "slave"
	flagPFail      = "fail?"
	flagFail       = "fail"
	flagHandshake  = "handshake"
	flagNoAddr     = "noaddr"
	flagNoFailover = "nofailover"
	flagNoFlags    = "noflags"
)

// OpenSlot is a slot being moved from node From to node To.
type OpenSlot struct {
	Slot     int
	From, To string
}

// The fields of a CLUSTER NODES line, in order; the slots follow.
var nodeFields = [...]string{"id", "address", "flags", "master", "ping-sent", "pong-recv", "config-epoch", "link-state"}

// ParseNodes reads the text of CLUSTER NODES. Empty lines, spaces at the
// ends of lines and "\r" before "\n" are ignored. Flags it does not know are
// kept in Flags.Raw. An error is a *ParseError naming the line and the field.
func ParseNodes(s string) ([]Node, error) {
	var nodes []Node
	seen := map[string]int{}
	for i, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		where := "line " + strconv.Itoa(i+1)
		n, err := parseNodeLine(where, line)
		if err != nil {
			return nil, err
		}
		if first, dup := seen[n.ID]; dup {
			return nil, parseErr(where, "id", n.ID, fmt.Sprintf("node already listed on line %d", first))
		}
		seen[n.ID] = i + 1
		nodes = append(nodes, n)
	}
	return nodes, nil
}

func parseNodeLine(where, line string) (Node, error) {
	f := strings.Fields(line)
	if len(f) < len(nodeFields) {
		missing := nodeFields[len(f)]
		return Node{}, parseErr(where, missing, "",
			fmt.Sprintf("missing: the line has only %d of the %d fields", len(f), len(nodeFields)))
	}
	var n Node
	var reason string
	fail := func(field, value string) (Node, error) { return Node{}, parseErr(where, field, value, reason) }

	if reason = checkNodeID(f[0]); reason != "" {
		return fail("id", f[0])
	}
	n.ID = f[0]
	if reason = parseAddress(&n, f[1]); reason != "" {
		return fail("address", f[1])
	}
	if n.Flags, reason = parseFlags(f[2]); reason != "" {
		return fail("flags", f[2])
	}
	if f[3] != "-" {
		if reason = checkNodeID(f[3]); reason != "" {
			return fail("master", f[3])
		}
		n.MasterID = f[3]
	}
	if n.PingSent, reason = parseMillis(f[4]); reason != "" {
		return fail("ping-sent", f[4])
	}
	if n.PongRecv, reason = parseMillis(f[5]); reason != "" {
		return fail("pong-recv", f[5])
	}
	epoch, err := strconv.ParseUint(f[6], 10, 64)
	if err != nil {
		reason = "not an unsigned number"
		return fail("config-epoch", f[6])
	}
	n.ConfigEpoch = epoch
	switch f[7] {
	case "connected":
		n.Connected = true
	case "disconnected":
	default:
		reason = `want "connected" or "disconnected"`
		return fail("link-state", f[7])
	}
	for _, tok := range f[len(nodeFields):] {
		if reason = parseSlotToken(&n, tok); reason != "" {
			return fail("slot", tok)
		}
	}
	sortOpen(n.Migrating)
	sortOpen(n.Importing)
	return n, nil
}

// checkNodeID returns a reason when id is not 40 lower-case hex digits.
func checkNodeID(id string) string {
	if len(id) != 40 {
		return fmt.Sprintf("node ID has %d characters, want 40", len(id))
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return "node ID is not lower-case hexadecimal"
		}
	}
	return ""
}

// parseAddress reads "ip:port@cport" with an optional ",hostname". The IP
// is everything before the last ':' (IPv6 addresses are not bracketed).
func parseAddress(n *Node, s string) string {
	addr, host, hasHost := strings.Cut(s, ",")
	if hasHost {
		n.Hostname = host
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return `no "@" before the cluster bus port`
	}
	hostPort, cport := addr[:at], addr[at+1:]
	colon := strings.LastIndexByte(hostPort, ':')
	if colon < 0 {
		return `no ":" before the port`
	}
	var reason string
	n.IP = hostPort[:colon]
	if n.Port, reason = parsePort(hostPort[colon+1:]); reason != "" {
		return "port: " + reason
	}
	if n.BusPort, reason = parsePort(cport); reason != "" {
		return "cluster bus port: " + reason
	}
	n.Addr = joinAddr(n.IP, n.Port)
	return ""
}

func joinAddr(ip string, port int) string {
	if ip == "" && port == 0 {
		return ""
	}
	return net.JoinHostPort(ip, strconv.Itoa(port))
}

func parsePort(s string) (int, string) {
	if s == "" || strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return 0, "not a number"
	}
	p, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, "out of range 0-65535"
	}
	return int(p), ""
}

func parseFlags(s string) (Flags, string) {
	var fl Flags
	for _, name := range strings.Split(s, ",") {
		switch name {
		case "":
			return Flags{}, "empty flag"
		case flagMyself:
			fl.Myself = true
		case flagMaster:
			fl.Master = true
		case flagSlave:
			fl.Replica = true
		case flagPFail:
			fl.PFail = true
		case flagFail:
			fl.Fail = true
		case flagHandshake:
			fl.Handshake = true
		case flagNoAddr:
			fl.NoAddr = true
		case flagNoFailover:
			fl.NoFailover = true
		case flagNoFlags:
			fl.NoFlags = true
		}
		fl.Raw = append(fl.Raw, name)
	}
	return fl, ""
}

func parseMillis(s string) (int64, string) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, "not a non-negative number"
	}
	return v, ""
}

// parseSlotToken reads "N", "N-M", "[N->-id]" or "[N-<-id]" into n.
func parseSlotToken(n *Node, tok string) string {
	if !strings.HasPrefix(tok, "[") {
		r, reason := parseRange(tok)
		if reason != "" {
			return reason
		}
		n.Slots = append(n.Slots, r)
		return ""
	}
	body, ok := strings.CutSuffix(tok[1:], "]")
	if !ok {
		return `open slot without "]"`
	}
	if slot, peer, ok := strings.Cut(body, "->-"); ok {
		s, reason := openSlot(slot, peer)
		if reason != "" {
			return reason
		}
		n.Migrating = append(n.Migrating, OpenSlot{Slot: s, From: n.ID, To: peer})
		return ""
	}
	if slot, peer, ok := strings.Cut(body, "-<-"); ok {
		s, reason := openSlot(slot, peer)
		if reason != "" {
			return reason
		}
		n.Importing = append(n.Importing, OpenSlot{Slot: s, From: peer, To: n.ID})
		return ""
	}
	return `open slot is neither "[slot->-id]" nor "[slot-<-id]"`
}

func openSlot(slot, peer string) (int, string) {
	s, reason := parseSlot(slot)
	if reason != "" {
		return 0, reason
	}
	if reason := checkNodeID(peer); reason != "" {
		return 0, reason
	}
	return s, ""
}

func sortOpen(open []OpenSlot) {
	sort.SliceStable(open, func(i, j int) bool { return open[i].Slot < open[j].Slot })
}

// String writes the node as one CLUSTER NODES line, without the newline.
// Open slots are written in slot order, a migrating one before an importing
// one of the same slot.
func (n Node) String() string {
	var b strings.Builder
	b.WriteString(n.ID)
	b.WriteByte(' ')
	fmt.Fprintf(&b, "%s:%d@%d", n.IP, n.Port, n.BusPort)
	if n.Hostname != "" {
		b.WriteString("," + n.Hostname)
	}
	master := n.MasterID
	if master == "" {
		master = "-"
	}
	link := "disconnected"
	if n.Connected {
		link = "connected"
	}
	fmt.Fprintf(&b, " %s %s %d %d %d %s", n.Flags, master, n.PingSent, n.PongRecv, n.ConfigEpoch, link)
	for _, r := range n.Slots {
		b.WriteString(" " + r.String())
	}
	mig, imp := n.Migrating, n.Importing
	for len(mig) > 0 || len(imp) > 0 {
		if len(imp) == 0 || (len(mig) > 0 && mig[0].Slot <= imp[0].Slot) {
			fmt.Fprintf(&b, " [%d->-%s]", mig[0].Slot, mig[0].To)
			mig = mig[1:]
		} else {
			fmt.Fprintf(&b, " [%d-<-%s]", imp[0].Slot, imp[0].From)
			imp = imp[1:]
		}
	}
	return b.String()
}

// FormatNodes writes nodes as the text of CLUSTER NODES: one line each,
// each ending in "\n".
func FormatNodes(nodes []Node) string {
	var b strings.Builder
	for _, n := range nodes {
		b.WriteString(n.String())
		b.WriteByte('\n')
	}
	return b.String()
}

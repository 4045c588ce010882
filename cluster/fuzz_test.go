package cluster

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// requireParseError fails unless err is a *ParseError wrapping ErrMalformed.
func requireParseError(t *testing.T, err error) {
	t.Helper()
	var pe *ParseError
	if !errors.As(err, &pe) || !errors.Is(err, ErrMalformed) {
		t.Fatalf("error %v (%T) is not a *ParseError wrapping ErrMalformed", err, err)
	}
}

// FuzzParseNodes: ParseNodes never panics; what it accepts formats back to
// text that parses to the same nodes and formats the same again; every
// accepted view can be analysed, and agrees with itself.
func FuzzParseNodes(f *testing.F) {
	for _, name := range nodeFixtures(f) {
		f.Add(readFixture(f, name))
	}
	a, b := hid('a'), hid('b')
	for _, s := range []string{
		"",
		a + " 127.0.0.1:7000@17000,host myself,master - 0 0 1 connected 0-5460 [5->-" + b + "] [6-<-" + b + "]",
		b + " :0@0 slave,noaddr " + a + " 1 2 3 disconnected",
		a + " ::1:7000@17000 noflags,weird - 0 0 0 connected 1 2-3",
		a + " 1.2.3.4:5@6 master,fail? - 0 0 1 connected 16383\r\n" + b + " 1.2.3.4:7@8 handshake - 0 0 0 disconnected",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		nodes, err := ParseNodes(s)
		if err != nil {
			requireParseError(t, err)
			return
		}
		text := FormatNodes(nodes)
		again, err := ParseNodes(text)
		if err != nil {
			t.Fatalf("formatted text does not parse: %v\n%s", err, text)
		}
		if !reflect.DeepEqual(nodes, again) {
			t.Fatalf("round trip changed the nodes\nfirst  %#v\nsecond %#v", nodes, again)
		}
		if text2 := FormatNodes(again); text2 != text {
			t.Fatalf("formatting is not stable\n%s\n%s", text, text2)
		}
		for _, n := range nodes {
			if len(n.Slots) == 0 {
				continue
			}
			rs, err := ParseSlots(FormatSlots(n.Slots))
			if err != nil || !reflect.DeepEqual(rs, n.Slots) {
				t.Fatalf("slots %v did not round-trip: %v, %v", n.Slots, rs, err)
			}
		}
		if topo, err := NewTopology(nodes); err == nil {
			covered := SlotCount - CountSlots(topo.Coverage())
			owned := 0
			for _, sh := range topo.Shards {
				owned += CountSlots(sh.Slots)
			}
			// Slots of nodes flagged neither master nor replica count as
			// covered but belong to no shard.
			if owned > covered {
				t.Fatalf("shards own %d slots, only %d covered", owned, covered)
			}
			topo.OpenSlots()
			topo.MastersWithoutReplica()
			topo.FailedNodes()
			topo.FailedSlots()
		} else if !errors.Is(err, ErrInconsistent) {
			t.Fatalf("NewTopology error %v does not wrap ErrInconsistent", err)
		}
		if d := Compare(map[string][]Node{"first": nodes, "second": again}); len(d) != 0 {
			t.Fatalf("a view disagrees with itself: %v", d)
		}
	})
}

// shardsReply writes shards back in the shape go-redis gives over RESP2.
func shardsReply(shards []Shard) []any {
	out := []any{}
	for _, sh := range shards {
		slots := []any{}
		for _, r := range sh.Slots {
			slots = append(slots, int64(r.Start), int64(r.End))
		}
		nodes := []any{}
		for _, n := range sh.Nodes {
			nodes = append(nodes, []any{
				"id", n.ID, "port", int64(n.Port), "tls-port", int64(n.TLSPort), "ip", n.IP,
				"endpoint", n.Endpoint, "hostname", n.Hostname, "role", n.Role,
				"replication-offset", n.ReplicationOffset, "health", n.Health,
			})
		}
		out = append(out, []any{"slots", slots, "nodes", nodes})
	}
	return out
}

// FuzzParseShards: decoding arbitrary RESP (2 or 3) as go-redis would and
// parsing it never panics; accepted shards written back as a reply, RESP2
// or RESP3 shaped, parse to the same shards.
func FuzzParseShards(f *testing.F) {
	for _, name := range shardFixtures(f) {
		f.Add([]byte(readFixture(f, name)))
	}
	a, b := hid('a'), hid('b')
	hand := []any{
		shardReply([]int64{0, 5460, 5462, 5462},
			nodeReply(a, 7000, "127.0.0.1", "h.example", "master", 10, "online"),
			nodeReply(b, 7001, "::1", "", "replica", 0, "loading")),
		shardReply(nil, []any{"id", b, "tls-port", int64(7443), "ip", "", "role", "master", "health", "fail"}),
	}
	f.Add(encodeRESP(hand))
	f.Add(encodeRESP(toRESP3(hand)))
	f.Add([]byte("*1\r\n%2\r\n$5\r\nslots\r\n*0\r\n$5\r\nnodes\r\n*0\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		reply, err := decodeRESP(data)
		if err != nil {
			return
		}
		shards, err := ParseShards(reply)
		if err != nil {
			requireParseError(t, err)
			return
		}
		for _, form := range []struct {
			name  string
			reply any
		}{
			{"RESP2", shardsReply(shards)},
			{"RESP3", toRESP3(shardsReply(shards))},
		} {
			again, err := ParseShards(form.reply)
			if err != nil {
				t.Fatalf("%s: written-back shards do not parse: %v", form.name, err)
			}
			if !reflect.DeepEqual(again, shards) {
				t.Fatalf("%s: round trip changed the shards\nfirst  %#v\nsecond %#v", form.name, shards, again)
			}
		}
		for _, sh := range shards {
			if rs, err := ParseSlots(FormatSlots(sh.Slots)); err != nil || !reflect.DeepEqual(rs, sh.Slots) {
				t.Fatalf("slots %v did not round-trip: %v, %v", sh.Slots, rs, err)
			}
			sh.Master()
			for _, n := range sh.Nodes {
				n.Addr()
			}
		}
	})
}

// FuzzParseSlots: what ParseSlots accepts formats back to text that parses
// to the same ranges; merging keeps the slot count.
func FuzzParseSlots(f *testing.F) {
	for _, s := range []string{"", "0-5460,5462", "16383", " 1 , 2-3", "5-4", "1,,2", "0-16383,0-16383"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rs, err := ParseSlots(s)
		if err != nil {
			requireParseError(t, err)
			return
		}
		text := FormatSlots(rs)
		again, err := ParseSlots(text)
		if err != nil || !reflect.DeepEqual(again, rs) || FormatSlots(again) != text {
			t.Fatalf("%q: %v formatted %q parsed %v, %v", s, rs, text, again, err)
		}
		merged := MergeSlots(rs)
		for i := 1; i < len(merged); i++ {
			if merged[i].Start <= merged[i-1].End+1 {
				t.Fatalf("MergeSlots left %v and %v apart", merged[i-1], merged[i])
			}
		}
		if CountSlots(rs) != CountSlots(merged) {
			t.Fatalf("merging changed the count")
		}
	})
}

// FuzzKeySlot: every key has a slot in range, and a hash tag decides it.
func FuzzKeySlot(f *testing.F) {
	f.Add("foo", "user1000")
	f.Add("", "{")
	f.Fuzz(func(t *testing.T, key, tag string) {
		if s := KeySlot(key); s < 0 || s >= SlotCount {
			t.Fatalf("KeySlot(%q) = %d", key, s)
		}
		if tag == "" || strings.ContainsAny(tag, "}") || strings.ContainsAny(tag, "{") {
			return
		}
		if got, want := KeySlot("{"+tag+"}"+key), KeySlot(tag); got != want {
			t.Fatalf("KeySlot({%s}%s) = %d, want KeySlot(%q) = %d", tag, key, got, tag, want)
		}
		if got, want := KeySlot(strings.ReplaceAll(key, "{", "")+"{"+tag+"}"), KeySlot(tag); got != want {
			t.Fatalf("a tag at the end: %d, want %d", got, want)
		}
	})
}

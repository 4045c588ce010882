package cluster

import (
	"errors"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestParseNodesLines(t *testing.T) {
	a, b, c := hid('a'), hid('b'), hid('c')
	tests := []struct {
		name string
		in   string
		want Node
	}{{
		name: "master with one range",
		in:   a + " 127.0.0.1:7000@17000 master - 0 1700000000123 1 connected 0-5460",
		want: Node{ID: a, Addr: "127.0.0.1:7000", IP: "127.0.0.1", Port: 7000, BusPort: 17000,
			Flags:    Flags{Master: true, Raw: []string{"master"}},
			PongRecv: 1700000000123, ConfigEpoch: 1, Connected: true,
			Slots: []SlotRange{{0, 5460}}},
	}, {
		name: "myself with several ranges and a single slot",
		in:   a + " 10.0.0.1:6379@16379 myself,master - 0 0 7 connected 0-99 100 102-5460 16383",
		want: Node{ID: a, Addr: "10.0.0.1:6379", IP: "10.0.0.1", Port: 6379, BusPort: 16379,
			Flags:       Flags{Myself: true, Master: true, Raw: []string{"myself", "master"}},
			ConfigEpoch: 7, Connected: true,
			Slots: []SlotRange{{0, 99}, {100, 100}, {102, 5460}, {16383, 16383}}},
	}, {
		name: "replica",
		in:   b + " 127.0.0.1:7003@17003 slave " + a + " 0 1700000000500 1 connected",
		want: Node{ID: b, Addr: "127.0.0.1:7003", IP: "127.0.0.1", Port: 7003, BusPort: 17003,
			Flags:    Flags{Replica: true, Raw: []string{"slave"}},
			MasterID: a, PongRecv: 1700000000500, ConfigEpoch: 1, Connected: true},
	}, {
		name: "hostname after a comma",
		in:   a + " 127.0.0.1:7000@17000,redis-0.redis.svc.cluster.local master - 0 0 1 connected",
		want: Node{ID: a, Addr: "127.0.0.1:7000", IP: "127.0.0.1", Port: 7000, BusPort: 17000,
			Hostname: "redis-0.redis.svc.cluster.local",
			Flags:    Flags{Master: true, Raw: []string{"master"}}, ConfigEpoch: 1, Connected: true},
	}, {
		name: "noaddr with unknown address",
		in:   b + " :0@0 slave,noaddr,nofailover " + a + " 1700000000001 1700000000000 3 disconnected",
		want: Node{ID: b,
			Flags:    Flags{Replica: true, NoAddr: true, NoFailover: true, Raw: []string{"slave", "noaddr", "nofailover"}},
			MasterID: a, PingSent: 1700000000001, PongRecv: 1700000000000, ConfigEpoch: 3},
	}, {
		name: "handshake",
		in:   c + " 127.0.0.1:7010@17010 handshake - 0 0 0 disconnected",
		want: Node{ID: c, Addr: "127.0.0.1:7010", IP: "127.0.0.1", Port: 7010, BusPort: 17010,
			Flags: Flags{Handshake: true, Raw: []string{"handshake"}}},
	}, {
		name: "fail? (pfail)",
		in:   a + " 127.0.0.1:7000@17000 master,fail? - 1700000000900 1700000000000 1 connected 0-5460",
		want: Node{ID: a, Addr: "127.0.0.1:7000", IP: "127.0.0.1", Port: 7000, BusPort: 17000,
			Flags:    Flags{Master: true, PFail: true, Raw: []string{"master", "fail?"}},
			PingSent: 1700000000900, PongRecv: 1700000000000, ConfigEpoch: 1, Connected: true,
			Slots: []SlotRange{{0, 5460}}},
	}, {
		name: "fail without slots",
		in:   a + " 127.0.0.1:7000@17000 master,fail - 1700000000900 1700000000000 1 disconnected",
		want: Node{ID: a, Addr: "127.0.0.1:7000", IP: "127.0.0.1", Port: 7000, BusPort: 17000,
			Flags:    Flags{Master: true, Fail: true, Raw: []string{"master", "fail"}},
			PingSent: 1700000000900, PongRecv: 1700000000000, ConfigEpoch: 1},
	}, {
		name: "noflags and an unknown flag kept raw",
		in:   a + " 127.0.0.1:7000@17000 noflags,shiny - 0 0 0 connected",
		want: Node{ID: a, Addr: "127.0.0.1:7000", IP: "127.0.0.1", Port: 7000, BusPort: 17000,
			Flags: Flags{NoFlags: true, Raw: []string{"noflags", "shiny"}}, Connected: true},
	}, {
		name: "open slots in both directions, sorted by slot",
		in: a + " 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460" +
			" [6000-<-" + b + "] [100->-" + b + "] [101->-" + c + "] [5-<-" + c + "]",
		want: Node{ID: a, Addr: "127.0.0.1:7000", IP: "127.0.0.1", Port: 7000, BusPort: 17000,
			Flags:       Flags{Myself: true, Master: true, Raw: []string{"myself", "master"}},
			ConfigEpoch: 1, Connected: true,
			Slots:     []SlotRange{{0, 5460}},
			Migrating: []OpenSlot{{100, a, b}, {101, a, c}},
			Importing: []OpenSlot{{5, c, a}, {6000, b, a}}},
	}, {
		name: "IPv6 without brackets",
		in:   a + " ::1:7000@17000 master - 0 0 1 connected",
		want: Node{ID: a, Addr: "[::1]:7000", IP: "::1", Port: 7000, BusPort: 17000,
			Flags: Flags{Master: true, Raw: []string{"master"}}, ConfigEpoch: 1, Connected: true},
	}, {
		name: "trailing spaces, CRLF and doubled spaces",
		in:   "\r\n  " + a + "  127.0.0.1:7000@17000 master - 0 0 1 connected   0-1  \r\n\n",
		want: Node{ID: a, Addr: "127.0.0.1:7000", IP: "127.0.0.1", Port: 7000, BusPort: 17000,
			Flags: Flags{Master: true, Raw: []string{"master"}}, ConfigEpoch: 1, Connected: true,
			Slots: []SlotRange{{0, 1}}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseNodes(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || !reflect.DeepEqual(got[0], tt.want) {
				t.Fatalf("got  %#v\nwant %#v", got, []Node{tt.want})
			}
		})
	}
}

func TestParseNodesEmpty(t *testing.T) {
	for _, in := range []string{"", "\n", "  \r\n\n "} {
		nodes, err := ParseNodes(in)
		if err != nil || len(nodes) != 0 {
			t.Errorf("ParseNodes(%q) = %v, %v; want nothing, no error", in, nodes, err)
		}
	}
}

func TestParseNodesErrors(t *testing.T) {
	a, b := hid('a'), hid('b')
	good := a + " 127.0.0.1:7000@17000 master - 0 0 1 connected 0-5460"
	// with replaces the i-th field of the good line.
	with := func(i int, v string) string {
		f := strings.Fields(good)
		f[i] = v
		return strings.Join(f, " ")
	}
	fields := strings.Fields(good)
	tests := []struct {
		name, in, where, field string
	}{
		{"only an id", a, "line 1", "address"},
		{"too few fields, no link-state", strings.Join(fields[:7], " "), "line 1", "link-state"},
		{"too few fields on the second line", good + "\n" + strings.Join(fields[:4], " "), "line 2", "ping-sent"},
		{"id too short", with(0, "abc"), "line 1", "id"},
		{"id upper case", with(0, strings.ToUpper(a)), "line 1", "id"},
		{"address without bus port", with(1, "127.0.0.1:7000"), "line 1", "address"},
		{"address without port", with(1, "127.0.0.1@17000"), "line 1", "address"},
		{"port not a number", with(1, "127.0.0.1:x@17000"), "line 1", "address"},
		{"port too big", with(1, "127.0.0.1:70000@17000"), "line 1", "address"},
		{"bus port empty", with(1, "127.0.0.1:7000@"), "line 1", "address"},
		{"empty flag", with(2, "master,,fail"), "line 1", "flags"},
		{"master not an id", with(3, "none"), "line 1", "master"},
		{"ping-sent negative", with(4, "-1"), "line 1", "ping-sent"},
		{"pong-recv not a number", with(5, "soon"), "line 1", "pong-recv"},
		{"config-epoch negative", with(6, "-2"), "line 1", "config-epoch"},
		{"link-state unknown", with(7, "up"), "line 1", "link-state"},
		{"slot out of range", with(8, "0-16384"), "line 1", "slot"},
		{"slot range reversed", with(8, "10-5"), "line 1", "slot"},
		{"slot not a number", with(8, "+5"), "line 1", "slot"},
		{"open slot without bracket", good + " [5->-" + b, "line 1", "slot"},
		{"open slot bad id", good + " [5->-xyz]", "line 1", "slot"},
		{"open slot bad slot", good + " [99999-<-" + b + "]", "line 1", "slot"},
		{"open slot no arrow", good + " [5-" + b + "]", "line 1", "slot"},
		{"same id twice", good + "\n\n" + good, "line 3", "id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nodes, err := ParseNodes(tt.in)
			if err == nil {
				t.Fatalf("no error; parsed %v", nodes)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("error %v does not wrap ErrMalformed", err)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			if pe.Where != tt.where || pe.Field != tt.field {
				t.Errorf("error names %q field %q, want %q field %q (%v)", pe.Where, pe.Field, tt.where, tt.field, err)
			}
			if msg := err.Error(); !strings.Contains(msg, tt.where) || !strings.Contains(msg, tt.field) {
				t.Errorf("message %q does not name %q and %q", msg, tt.where, tt.field)
			}
		})
	}
}

// TestFormatNodesRealOutput: every captured CLUSTER NODES text formats back
// to exactly the bytes Redis sent, and names the right node myself.
func TestFormatNodesRealOutput(t *testing.T) {
	for _, name := range nodeFixtures(t) {
		t.Run(name, func(t *testing.T) {
			text := readFixture(t, name)
			nodes := parseFixture(t, name)
			if got := FormatNodes(nodes); got != text {
				t.Errorf("FormatNodes differs from Redis's text\ngot:\n%s\nwant:\n%s", got, text)
			}
			port, _ := strconv.Atoi(strings.TrimPrefix(filepath.Base(name), "nodes-")[:5])
			var myself []Node
			for _, n := range nodes {
				if n.Flags.Myself {
					myself = append(myself, n)
				}
			}
			if len(myself) != 1 || myself[0].Port != port {
				t.Errorf("myself lines %v, want one with port %d", myself, port)
			}
		})
	}
}

func TestFlagsString(t *testing.T) {
	tests := []struct {
		f    Flags
		want string
	}{
		{Flags{}, "noflags"},
		{Flags{Myself: true, Master: true}, "myself,master"},
		{Flags{Replica: true, PFail: true, NoAddr: true, NoFailover: true}, "slave,fail?,noaddr,nofailover"},
		{Flags{Master: true, Fail: true, Handshake: true}, "master,fail,handshake"},
		{Flags{Master: true, Raw: []string{"master", "shiny"}}, "master,shiny"},
	}
	for _, tt := range tests {
		if got := tt.f.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.f, got, tt.want)
		}
	}
}

func TestNodeStringWithoutRaw(t *testing.T) {
	a, b := hid('a'), hid('b')
	n := Node{ID: a, IP: "10.1.2.3", Port: 6379, BusPort: 16379, Hostname: "db-1",
		Flags: Flags{Myself: true, Master: true}, ConfigEpoch: 4, Connected: true,
		Slots:     []SlotRange{{0, 10}, {12, 12}},
		Migrating: []OpenSlot{{Slot: 11, From: a, To: b}},
		Importing: []OpenSlot{{Slot: 5, From: b, To: a}, {Slot: 11, From: b, To: a}}}
	want := a + " 10.1.2.3:6379@16379,db-1 myself,master - 0 0 4 connected 0-10 12 [5-<-" + b + "] [11->-" + b + "] [11-<-" + b + "]"
	if got := n.String(); got != want {
		t.Errorf("String() =\n%s\nwant\n%s", got, want)
	}
}

// The RESP3 reply to CLUSTER NODES is a verbatim string; decoded as go-redis
// does, it is the same text as over RESP2.
func TestParseNodesRESP3Verbatim(t *testing.T) {
	v, err := decodeRESP([]byte(readFixture(t, "steady/nodes-17714-resp3.resp")))
	if err != nil {
		t.Fatal(err)
	}
	text, ok := v.(string)
	if !ok || strings.HasPrefix(text, "txt:") {
		t.Fatalf("decoded %T %.20q, want the text without its txt: prefix", v, v)
	}
	nodes, err := ParseNodes(text)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 6 || FormatNodes(nodes) != text {
		t.Errorf("got %d nodes, round trip equal %v", len(nodes), FormatNodes(nodes) == text)
	}
}

func TestParseNodesRealDetails(t *testing.T) {
	t.Run("noaddr", func(t *testing.T) {
		topo := topologyFixture(t, "noaddr/nodes-17714.txt")
		n, ok := topo.Node(id17718)
		if !ok {
			t.Fatal("old 17718 missing")
		}
		if n.Addr != "" || n.IP != "" || n.Port != 0 || n.BusPort != 0 || !n.Flags.NoAddr || !n.Flags.NoFailover || n.Connected {
			t.Errorf("noaddr node parsed as %+v", n)
		}
	})
	t.Run("hostname", func(t *testing.T) {
		topo := topologyFixture(t, "hostname/nodes-17716.txt")
		n, _ := topo.Node(id17714)
		r, _ := topo.Node(id17717)
		if n.Hostname != "node-a.warden.test" || r.Hostname != "replica-a.warden.test" || n.Addr != "127.0.0.1:17714" {
			t.Errorf("hostnames: %q %q, addr %q", n.Hostname, r.Hostname, n.Addr)
		}
	})
	t.Run("handshake", func(t *testing.T) {
		var hs []Node
		for _, n := range parseFixture(t, "handshake/nodes-17714.txt") {
			if n.Flags.Handshake {
				hs = append(hs, n)
			}
		}
		if len(hs) != 1 || hs[0].Port != 17419 || hs[0].Flags.Master || hs[0].Flags.Replica || hs[0].Connected || hs[0].ConfigEpoch != 0 {
			t.Errorf("handshake nodes: %+v", hs)
		}
	})
	t.Run("open slots on the myself line only", func(t *testing.T) {
		for _, n := range parseFixture(t, "open-slots/nodes-17714.txt") {
			if !n.Flags.Myself {
				if len(n.Migrating)+len(n.Importing) != 0 {
					t.Errorf("%s has open slots", n.ID)
				}
				continue
			}
			wantM := []OpenSlot{{100, id17714, id17715}, {101, id17714, id17715}}
			wantI := []OpenSlot{{6000, id17715, id17714}}
			if !reflect.DeepEqual(n.Migrating, wantM) || !reflect.DeepEqual(n.Importing, wantI) {
				t.Errorf("migrating %v importing %v", n.Migrating, n.Importing)
			}
		}
	})
}

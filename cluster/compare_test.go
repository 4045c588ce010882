package cluster

import (
	"reflect"
	"testing"
)

func TestCompareRealViewsThatAgree(t *testing.T) {
	for _, dir := range []string{"steady", "open-slots", "moved-slot", "hostname", "pfail", "failover", "rejoined", "noaddr", "noaddr-later", "master-down"} {
		t.Run(dir, func(t *testing.T) {
			if got := Compare(viewsFixture(t, dir)); len(got) != 0 {
				t.Errorf("Compare found %v", got)
			}
		})
	}
}

func TestCompareRealDisagreement(t *testing.T) {
	views := viewsFixture(t, "disagree")
	got := Compare(views)
	claims := map[string]string{}
	for name := range views {
		claims[name] = id17715
	}
	claims["127.0.0.1:17715"] = id17714
	want := []Disagreement{{Kind: SlotOwner, Slots: SlotRange{6000, 6000}, Claims: claims}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Compare =\n%v\nwant\n%v", got, want)
	}
	wantText := "slot-owner: slots 6000: 127.0.0.1:17714=" + id17715 + ", 127.0.0.1:17715=" + id17714 +
		", 127.0.0.1:17716=" + id17715 + ", 127.0.0.1:17717=" + id17715 + ", 127.0.0.1:17718=" + id17715 +
		", 127.0.0.1:17719=" + id17715
	if s := got[0].String(); s != wantText {
		t.Errorf("String() =\n%s\nwant\n%s", s, wantText)
	}
}

// Views from before and after the failover, as a watchdog would see them
// when one node has not caught up.
func TestCompareRealFailoverInProgress(t *testing.T) {
	views := map[string][]Node{
		"stale": parseFixture(t, "moved-slot/nodes-17714.txt"),
		"fresh": parseFixture(t, "failover/nodes-17714.txt"),
	}
	want := []Disagreement{
		{Kind: SlotOwner, Slots: SlotRange{10923, 16383}, Claims: map[string]string{"stale": id17716, "fresh": id17719}},
		{Kind: NodeRole, NodeID: id17719, Claims: map[string]string{"stale": ClaimReplicaOf + id17716, "fresh": ClaimMaster}},
	}
	if got := Compare(views); !reflect.DeepEqual(got, want) {
		t.Errorf("Compare =\n%v\nwant\n%v", got, want)
	}
}

func TestCompareHandBuilt(t *testing.T) {
	a, b, c, d, h := hid('a'), hid('b'), hid('c'), hid('d'), hid('f')
	parse := func(s string) []Node {
		nodes, err := ParseNodes(s)
		if err != nil {
			t.Fatal(err)
		}
		return nodes
	}
	x := parse(a + " 10.0.0.1:1@2 myself,master - 0 0 1 connected 0-100\n" +
		b + " 10.0.0.2:1@2 master - 0 0 2 connected 101-16383\n" +
		c + " 10.0.0.3:1@2 slave " + a + " 0 0 1 connected\n" +
		d + " 10.0.0.4:1@2 slave " + b + " 0 0 2 connected\n" +
		h + " 10.0.0.9:1@2 handshake - 0 0 0 disconnected\n")
	y := parse(a + " 10.0.0.1:1@2 master - 0 0 1 connected 0-99\n" +
		b + " 10.0.0.2:1@2 myself,master - 0 0 2 connected 101-16383\n" +
		c + " 10.0.0.3:1@2 master - 0 0 3 connected\n")
	z := parse(a + " 10.0.0.1:1@2 master - 0 0 1 connected 0-100\n" +
		b + " 10.0.0.2:1@2 master - 0 0 2 connected 100-16383\n" +
		c + " 10.0.0.3:1@2 slave,myself " + a + " 0 0 1 connected\n" +
		d + " 10.0.0.4:1@2 noflags - 0 0 2 connected\n")
	got := Compare(map[string][]Node{"x": x, "y": y, "z": z})
	want := []Disagreement{
		{Kind: SlotOwner, Slots: SlotRange{100, 100}, Claims: map[string]string{"x": a, "y": "", "z": a + "+" + b}},
		{Kind: NodeRole, NodeID: c, Claims: map[string]string{"x": ClaimReplicaOf + a, "y": ClaimMaster, "z": ClaimReplicaOf + a}},
		{Kind: NodeMembership, NodeID: d, Claims: map[string]string{"x": ClaimReplicaOf + b, "y": ClaimAbsent, "z": ClaimNoRole}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Compare =\n%v\nwant\n%v", got, want)
	}
	if s := got[0].String(); s != "slot-owner: slots 100: x="+a+", y=unassigned, z="+a+"+"+b {
		t.Errorf("String() = %s", s)
	}
	if s := got[2].String(); s != "node-membership: node "+d+": x=replica of "+b+", y=absent, z=no role" {
		t.Errorf("String() = %s", s)
	}

	if got := Compare(map[string][]Node{"x": x}); got != nil {
		t.Errorf("one view: %v", got)
	}
	if got := Compare(map[string][]Node{"x": x, "again": x}); got != nil {
		t.Errorf("a view against itself: %v", got)
	}
}

func TestDisagreementKindString(t *testing.T) {
	for k, want := range map[DisagreementKind]string{SlotOwner: "slot-owner", NodeRole: "node-role", NodeMembership: "node-membership", 9: "DisagreementKind(9)"} {
		if got := k.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(k), got, want)
		}
	}
}

package cluster

import (
	"bufio"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestCRC16XModemCheckValue(t *testing.T) {
	// The catalogue check value of CRC-16/XMODEM is the CRC of "123456789".
	if got := crc16("123456789"); got != 0x31C3 {
		t.Errorf("crc16(123456789) = %#04x, want 0x31c3", got)
	}
	if got := crc16(""); got != 0 {
		t.Errorf("crc16(\"\") = %#04x, want 0", got)
	}
}

func TestKeySlot(t *testing.T) {
	tests := []struct {
		key  string
		want int
	}{
		{"", 0},
		{"foo", 12182},
		{"bar", 5061},
		{"{user1000}.following", 3443},
		{"{user1000}.followers", 3443},
		{"foo{bar}{zap}", 5061},  // first tag only: "bar"
		{"foo{}{bar}", 8363},     // "{}" is no tag: the whole key
		{"foo{{bar}}zap", 4015},  // the tag is "{bar"
		{"{{}}", KeySlot("{")},   // the tag is "{"
		{"a}b{c}", KeySlot("c")}, // a '}' before the '{' does not count
		{"a{b", 13340},           // no closing brace: the whole key
	}
	for _, tt := range tests {
		if got := KeySlot(tt.key); got != tt.want {
			t.Errorf("KeySlot(%q) = %d, want %d", tt.key, got, tt.want)
		}
	}
}

// TestKeySlotRealRedis checks KeySlot against CLUSTER KEYSLOT answers from
// redis-server 7.0.15.
func TestKeySlotRealRedis(t *testing.T) {
	sc := bufio.NewScanner(strings.NewReader(readFixture(t, "../keyslots-redis-7.0.15.txt")))
	n := 0
	for sc.Scan() {
		slotText, quoted, ok := strings.Cut(sc.Text(), " ")
		want, err := strconv.Atoi(slotText)
		key, qerr := strconv.Unquote(quoted)
		if !ok || err != nil || qerr != nil {
			t.Fatalf("bad fixture line %q", sc.Text())
		}
		if got := KeySlot(key); got != want {
			t.Errorf("KeySlot(%q) = %d, Redis says %d", key, got, want)
		}
		n++
	}
	if n < 300 {
		t.Fatalf("only %d keys in the fixture", n)
	}
}

func TestFormatSlots(t *testing.T) {
	tests := []struct {
		in   []SlotRange
		want string
	}{
		{nil, ""},
		{[]SlotRange{{0, 5460}, {5462, 5462}}, "0-5460,5462"},
		{[]SlotRange{{16383, 16383}}, "16383"},
		{[]SlotRange{{10, 20}, {0, 1}}, "10-20,0-1"}, // order kept
	}
	for _, tt := range tests {
		if got := FormatSlots(tt.in); got != tt.want {
			t.Errorf("FormatSlots(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseSlots(t *testing.T) {
	tests := []struct {
		in   string
		want []SlotRange
		bad  bool
	}{
		{in: "", want: nil},
		{in: "  ", want: nil},
		{in: "0-5460,5462", want: []SlotRange{{0, 5460}, {5462, 5462}}},
		{in: " 1 , 3-4 ", want: []SlotRange{{1, 1}, {3, 4}}},
		{in: "0-16383", want: []SlotRange{{0, 16383}}},
		{in: "16384", bad: true},
		{in: "5-4", bad: true},
		{in: "1,,2", bad: true},
		{in: "1-", bad: true},
		{in: "-1", bad: true},
		{in: "1-2-3", bad: true},
		{in: "x", bad: true},
		{in: "+1", bad: true},
	}
	for _, tt := range tests {
		got, err := ParseSlots(tt.in)
		if tt.bad {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Field != "slot" || !errors.Is(err, ErrMalformed) {
				t.Errorf("ParseSlots(%q) error = %v, want a ParseError on field slot", tt.in, err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseSlots(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestMergeAndCountSlots(t *testing.T) {
	in := []SlotRange{{10, 20}, {0, 4}, {5, 5}, {15, 30}, {32, 32}}
	want := []SlotRange{{0, 5}, {10, 30}, {32, 32}}
	if got := MergeSlots(in); !reflect.DeepEqual(got, want) {
		t.Errorf("MergeSlots = %v, want %v", got, want)
	}
	if in[0] != (SlotRange{10, 20}) {
		t.Error("MergeSlots changed its input")
	}
	if got := CountSlots(in); got != 6+21+1 {
		t.Errorf("CountSlots = %d, want 28", got)
	}
	if MergeSlots(nil) != nil || CountSlots(nil) != 0 {
		t.Error("nothing should merge to nothing")
	}
}

func TestRangesWhere(t *testing.T) {
	got := rangesWhere(func(s int) bool { return s == 0 || (s >= 100 && s < 200) || s == SlotCount-1 })
	want := []SlotRange{{0, 0}, {100, 199}, {16383, 16383}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rangesWhere = %v, want %v", got, want)
	}
	if got := rangesWhere(func(int) bool { return true }); !reflect.DeepEqual(got, []SlotRange{{0, 16383}}) {
		t.Errorf("all slots = %v", got)
	}
}

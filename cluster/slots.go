package cluster

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// SlotCount is the number of hash slots in a Redis Cluster.
const SlotCount = 16384

// SlotRange is the slots Start to End, both included.
type SlotRange struct {
	Start, End int
}

// Len is the number of slots in the range.
func (r SlotRange) Len() int { return r.End - r.Start + 1 }

// Contains says whether slot is in the range.
func (r SlotRange) Contains(slot int) bool { return slot >= r.Start && slot <= r.End }

// String writes the range as Redis does: "5" for one slot, "0-5460" for more.
func (r SlotRange) String() string {
	if r.Start == r.End {
		return strconv.Itoa(r.Start)
	}
	return strconv.Itoa(r.Start) + "-" + strconv.Itoa(r.End)
}

// FormatSlots writes ranges in the order given, separated by commas:
// "0-5460,5462". No ranges give "".
func FormatSlots(ranges []SlotRange) string {
	return joinRanges(ranges, ",")
}

func joinRanges(ranges []SlotRange, sep string) string {
	var b strings.Builder
	for i, r := range ranges {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(r.String())
	}
	return b.String()
}

// ParseSlots reads what FormatSlots writes: comma-separated slots and
// ranges, spaces around each allowed. "" gives no ranges. The ranges keep
// their order; see MergeSlots to sort and join them.
func ParseSlots(s string) ([]SlotRange, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []SlotRange
	for _, part := range strings.Split(s, ",") {
		r, reason := parseRange(strings.TrimSpace(part))
		if reason != "" {
			return nil, parseErr("", "slot", part, reason)
		}
		out = append(out, r)
	}
	return out, nil
}

// parseRange reads "N" or "N-M". It returns a reason when s is not one.
func parseRange(s string) (SlotRange, string) {
	lo, hi, isRange := strings.Cut(s, "-")
	start, reason := parseSlot(lo)
	if reason != "" {
		return SlotRange{}, reason
	}
	end := start
	if isRange {
		if end, reason = parseSlot(hi); reason != "" {
			return SlotRange{}, reason
		}
		if end < start {
			return SlotRange{}, "range ends before it starts"
		}
	}
	return SlotRange{Start: start, End: end}, ""
}

// parseSlot reads one slot number, which must be decimal digits only.
func parseSlot(s string) (int, string) {
	if s == "" {
		return 0, "empty slot number"
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, "slot is not a number"
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n >= SlotCount {
		return 0, fmt.Sprintf("slot out of range 0-%d", SlotCount-1)
	}
	return n, ""
}

// MergeSlots returns the same slots as ranges sorted by start, with
// overlapping and adjacent ranges joined. The input is not changed.
func MergeSlots(ranges []SlotRange) []SlotRange {
	if len(ranges) == 0 {
		return nil
	}
	rs := append([]SlotRange(nil), ranges...)
	sort.Slice(rs, func(i, j int) bool { return rs[i].Start < rs[j].Start })
	out := rs[:1]
	for _, r := range rs[1:] {
		last := &out[len(out)-1]
		if r.Start <= last.End+1 {
			last.End = max(last.End, r.End)
			continue
		}
		out = append(out, r)
	}
	return out
}

// CountSlots is the number of slots in ranges, counting a slot once even
// when ranges overlap.
func CountSlots(ranges []SlotRange) int {
	n := 0
	for _, r := range MergeSlots(ranges) {
		n += r.Len()
	}
	return n
}

// rangesWhere returns, as sorted ranges, the slots for which in is true.
func rangesWhere(in func(slot int) bool) []SlotRange {
	var out []SlotRange
	start := -1
	for s := 0; s <= SlotCount; s++ {
		if s < SlotCount && in(s) {
			if start < 0 {
				start = s
			}
			continue
		}
		if start >= 0 {
			out = append(out, SlotRange{Start: start, End: s - 1})
			start = -1
		}
	}
	return out
}

// KeySlot is the hash slot Redis Cluster stores key in: CRC16-XMODEM of the
// key modulo 16384. When the key holds a '{' followed later by a '}' with at
// least one byte between them, only the bytes between the first '{' and the
// first '}' after it are hashed (the hash tag), so "{user1000}.following"
// and "{user1000}.followers" share a slot. "{}" is not a hash tag.
func KeySlot(key string) int {
	if open := strings.IndexByte(key, '{'); open >= 0 {
		if n := strings.IndexByte(key[open+1:], '}'); n > 0 {
			key = key[open+1 : open+1+n]
		}
	}
	return int(crc16(key) % SlotCount)
}

// crc16 is CRC-16/XMODEM: polynomial x^16 + x^12 + x^5 + 1 (0x1021),
// initial value 0, bits taken most significant first, no final XOR. Each
// byte is XORed into the top of the register, then the register is shifted
// left eight times, subtracting (XOR) the polynomial whenever a 1 falls off
// the top.
func crc16(s string) uint16 {
	const poly = 0x1021
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for bit := 0; bit < 8; bit++ {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ poly
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

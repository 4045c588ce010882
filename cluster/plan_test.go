package cluster

import (
	"errors"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// parseOwners reads owners written as id -> "0-99,200".
func parseOwners(t *testing.T, text map[string]string) map[string][]SlotRange {
	t.Helper()
	owners := make(map[string][]SlotRange, len(text))
	for id, s := range text {
		rs, err := ParseSlots(s)
		if err != nil {
			t.Fatalf("owners of %s: %v", id, err)
		}
		owners[id] = rs
	}
	return owners
}

// formatMoves writes each move as "from>to slots".
func formatMoves(moves []Move) []string {
	var out []string
	for _, m := range moves {
		out = append(out, m.From+">"+m.To+" "+FormatSlots(m.Slots))
	}
	return out
}

// even3 is what EvenSlots(3) gives a, b and c.
var even3 = map[string]string{"a": "0-5461", "b": "5462-10922", "c": "10923-16383"}

// withMaster is owners with id holding slots.
func withMaster(owners map[string]string, id, slots string) map[string]string {
	out := maps.Clone(owners)
	out[id] = slots
	return out
}

func TestEvenSlots(t *testing.T) {
	for n, want := range map[int]string{
		1: "0-16383",
		3: "0-5461,5462-10922,10923-16383",
		5: "0-3276,3277-6553,6554-9830,9831-13107,13108-16383",
	} {
		rs, err := EvenSlots(n)
		if err != nil {
			t.Fatalf("EvenSlots(%d): %v", n, err)
		}
		if got := FormatSlots(rs); got != want {
			t.Errorf("EvenSlots(%d) = %s, want %s", n, got, want)
		}
	}
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, SlotCount).Draw(t, "n")
		rs, err := EvenSlots(n)
		if err != nil {
			t.Fatal(err)
		}
		next := 0
		for i, r := range rs {
			if r.Start != next || r.Len() < SlotCount/n || r.Len() > SlotCount/n+1 || i > 0 && r.Len() > rs[i-1].Len() {
				t.Fatalf("range %d is %s after %d", i, r, next)
			}
			next = r.End + 1
		}
		if len(rs) != n || next != SlotCount {
			t.Fatalf("%d ranges end at %d", len(rs), next)
		}
	})
}

func TestBalance(t *testing.T) {
	tests := []struct {
		name    string
		owners  map[string]string
		weights map[string]float64
		pct     float64
		want    []string
	}{
		{
			name:   "even stays",
			owners: even3,
		},
		{
			name:   "empty fourth master gets 4096 from each",
			owners: withMaster(even3, "d", ""),
			want:   []string{"a>d 4096-5461", "b>d 9558-10922", "c>d 15019-16383"},
		},
		{
			name:   "within threshold",
			owners: map[string]string{"a": "0-8199", "b": "8200-16383"},
			pct:    1,
		},
		{
			name:   "beyond threshold",
			owners: map[string]string{"a": "0-8199", "b": "8200-16383"},
			pct:    0.05,
			want:   []string{"a>b 8192-8199"},
		},
		{
			name:    "threshold never keeps slots on a weight 0 master",
			owners:  map[string]string{"a": "0-16382", "b": "16383"},
			weights: map[string]float64{"b": 0},
			pct:     100,
			want:    []string{"b>a 16383"},
		},
		{
			name:    "weights 2:1:1",
			owners:  even3,
			weights: map[string]float64{"a": 2},
			want:    []string{"b>a 9558-10922", "c>a 15019-16383"},
		},
		{
			name:    "weight 0 drains",
			owners:  even3,
			weights: map[string]float64{"c": 0},
			want:    []string{"c>a 10923-13652", "c>b 13653-16383"},
		},
		{
			name:   "uneven non-contiguous start; the extra slot goes to the lowest id",
			owners: map[string]string{"a": "0-99,5000-5999,9000-16383", "b": "100-4999", "c": "6000-8999"},
			want:   []string{"a>b 13362-13922", "a>c 13923-16383"},
		},
		{
			name:   "a donor's top slots span two ranges",
			owners: map[string]string{"a": "0-8199,16300-16383", "b": "8200-16299"},
			want:   []string{"a>b 8192-8199,16300-16383"},
		},
		{
			name:   "no masters",
			owners: map[string]string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			owners := parseOwners(t, tt.owners)
			moves, err := Balance(owners, tt.weights, tt.pct)
			if err != nil {
				t.Fatal(err)
			}
			if got := formatMoves(moves); !slices.Equal(got, tt.want) {
				t.Errorf("moves %q, want %q", got, tt.want)
			}
			if len(moves) == 0 {
				return
			}
			after, err := ApplyMoves(owners, moves)
			if err != nil {
				t.Fatal(err)
			}
			targets, _ := Targets(owners, tt.weights)
			for id, target := range targets {
				if got := CountSlots(after[id]); got != target {
					t.Errorf("%s holds %d slots after the moves, want %d", id, got, target)
				}
			}
		})
	}
}

func TestTargets(t *testing.T) {
	owners := parseOwners(t, withMaster(even3, "d", ""))
	got, err := Targets(owners, map[string]float64{"a": 1.5, "b": 0, "c": 0.5, "d": 2})
	if err != nil {
		t.Fatal(err)
	}
	// Shares 6144, 0, 2048, 8192: exact, nothing to round.
	if want := map[string]int{"a": 6144, "b": 0, "c": 2048, "d": 8192}; !maps.Equal(got, want) {
		t.Errorf("targets %v, want %v", got, want)
	}
	// 16384/3 leaves 1 over, with equal remainders: the lowest id gets it.
	if got, _ := Targets(parseOwners(t, even3), nil); got["a"] != 5462 || got["b"] != 5461 || got["c"] != 5461 {
		t.Errorf("targets %v, want a 5462, b and c 5461", got)
	}
	// Weights far apart do not overflow or lose the total.
	got, err = Targets(owners, map[string]float64{"a": math.MaxFloat64, "b": math.MaxFloat64, "c": math.SmallestNonzeroFloat64, "d": 0})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{"a": 8192, "b": 8192, "c": 0, "d": 0}; !maps.Equal(got, want) {
		t.Errorf("targets %v, want %v", got, want)
	}
}

func TestDrain(t *testing.T) {
	tests := []struct {
		name   string
		owners map[string]string
		id     string
		want   []string
	}{
		{
			name:   "even",
			owners: even3,
			id:     "c",
			want:   []string{"c>a 10923-13652", "c>b 13653-16383"},
		},
		{
			name:   "the others trade when they start uneven",
			owners: map[string]string{"a": "0-9999", "b": "10000-12999", "c": "13000-16383"},
			id:     "c",
			want:   []string{"a>b 8192-9999", "c>b 13000-16383"},
		},
		{
			name:   "already empty",
			owners: withMaster(even3, "d", ""),
			id:     "d",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			moves, err := Drain(parseOwners(t, tt.owners), tt.id)
			if err != nil {
				t.Fatal(err)
			}
			if got := formatMoves(moves); !slices.Equal(got, tt.want) {
				t.Errorf("moves %q, want %q", got, tt.want)
			}
		})
	}
}

func TestApplyMoves(t *testing.T) {
	owners := parseOwners(t, map[string]string{"a": "0-99", "b": "100-199", "c": ""})
	moves := []Move{
		{From: "b", To: "a", Slots: []SlotRange{{100, 149}}},
		{From: "a", To: "c", Slots: []SlotRange{{0, 9}, {140, 149}}},
	}
	after, err := ApplyMoves(owners, moves)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for id, rs := range after {
		got[id] = FormatSlots(rs)
	}
	if want := map[string]string{"a": "10-139", "b": "150-199", "c": "0-9,140-149"}; !maps.Equal(got, want) {
		t.Errorf("after the moves %v, want %v", got, want)
	}
	if FormatSlots(owners["a"]) != "0-99" {
		t.Errorf("owners changed: a holds %s", FormatSlots(owners["a"]))
	}
}

func TestPlanErrors(t *testing.T) {
	owners := map[string][]SlotRange{"a": {{0, 99}}, "b": {{100, 199}}}
	tests := []struct {
		name string
		err  error
		want string
		is   error
	}{
		{"no masters", second(EvenSlots(0)), "even slots for 0 masters", ErrInvalidPlan},
		{"too many masters", second(EvenSlots(SlotCount + 1)), "even slots for 16385 masters", ErrInvalidPlan},
		{"weight for a stranger", second(Targets(owners, map[string]float64{"z": 1})), "weight for z: not one of the masters", ErrInvalidPlan},
		{"negative weight", second(Targets(owners, map[string]float64{"a": -1})), "weight -1 for a", ErrInvalidPlan},
		{"NaN weight", second(Targets(owners, map[string]float64{"b": math.NaN()})), "weight NaN for b", ErrInvalidPlan},
		{"infinite weight", second(Balance(owners, map[string]float64{"a": math.Inf(1)}, 0)), "weight +Inf for a", ErrInvalidPlan},
		{"all weights zero", second(Targets(owners, map[string]float64{"a": 0, "b": 0})), "all weights are zero but the masters hold 200 slots", ErrInvalidPlan},
		{"negative threshold", second(Balance(owners, nil, -5)), "balance threshold -5%", ErrInvalidPlan},
		{"NaN threshold", second(Balance(owners, nil, math.NaN())), "balance threshold NaN%", ErrInvalidPlan},
		{"drain a stranger", second(Drain(owners, "z")), "drain z: not one of the masters", ErrInvalidPlan},
		{"drain the only master", second(Drain(map[string][]SlotRange{"a": {{0, 99}}}, "a")), "drain a: it is the only master", ErrInvalidPlan},
		{
			"move a slot From does not hold",
			second(ApplyMoves(owners, []Move{{From: "a", To: "b", Slots: []SlotRange{{99, 100}}}})),
			"move 0 (a to b): slot 100 is not held by a", ErrInvalidPlan,
		},
		{
			"move a slot twice",
			second(ApplyMoves(owners, []Move{{From: "a", To: "b", Slots: []SlotRange{{5, 5}}}, {From: "a", To: "b", Slots: []SlotRange{{5, 5}}}})),
			"move 1 (a to b): slot 5 is not held by a", ErrInvalidPlan,
		},
		{
			"move to a stranger",
			second(ApplyMoves(owners, []Move{{From: "a", To: "z", Slots: []SlotRange{{5, 5}}}})),
			`move 0 (a to z): "z" is not one of the masters`, ErrInvalidPlan,
		},
		{
			"move slots outside the cluster",
			second(ApplyMoves(owners, []Move{{From: "a", To: "b", Slots: []SlotRange{{16000, 16384}}}})),
			"move 0 (a to b): slots 16000-16384 are not a range within 0-16383", ErrInvalidPlan,
		},
		{
			"a slot held twice",
			second(Balance(map[string][]SlotRange{"a": {{0, 99}}, "b": {{50, 60}}}, nil, 0)),
			"slot 50 is held by both a and b", ErrInconsistent,
		},
		{
			"owner slots outside the cluster",
			second(Drain(map[string][]SlotRange{"a": {{-1, 5}}, "b": nil}, "a")),
			"master a holds slots -1-5, not a range within 0-16383", ErrInconsistent,
		},
		{
			"an empty id",
			second(ApplyMoves(map[string][]SlotRange{"": nil}, nil)),
			"a master has an empty id", ErrInconsistent,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil || !strings.Contains(tt.err.Error(), tt.want) || !errors.Is(tt.err, tt.is) {
				t.Errorf("error %v, want one containing %q and wrapping %v", tt.err, tt.want, tt.is)
			}
		})
	}
}

func second[T any](_ T, err error) error { return err }

// drawOwners draws 1 to 8 masters a, b, ... sharing the slots in random
// runs; some masters hold nothing and some runs no master.
func drawOwners(t *rapid.T) map[string][]SlotRange {
	n := rapid.IntRange(1, 8).Draw(t, "masters")
	owners := make(map[string][]SlotRange, n)
	for i := range n {
		owners[string(rune('a'+i))] = nil
	}
	holders := append(slices.Sorted(maps.Keys(owners)), "")
	cuts := rapid.SliceOfNDistinct(rapid.IntRange(1, SlotCount-1), 0, 24, rapid.ID[int]).Draw(t, "cuts")
	slices.Sort(cuts)
	bounds := append(append([]int{0}, cuts...), SlotCount)
	for i := range len(bounds) - 1 {
		if id := rapid.SampledFrom(holders).Draw(t, "holder"); id != "" {
			owners[id] = append(owners[id], SlotRange{Start: bounds[i], End: bounds[i+1] - 1})
		}
	}
	return owners
}

// drawWeights gives some masters a weight, 0 among them.
func drawWeights(t *rapid.T, owners map[string][]SlotRange) map[string]float64 {
	weights := map[string]float64{}
	for _, id := range slices.Sorted(maps.Keys(owners)) {
		switch rapid.IntRange(0, 3).Draw(t, "weight-kind-"+id) {
		case 0: // missing: 1
		case 1:
			weights[id] = 0
		default:
			weights[id] = rapid.Float64Range(0, 5).Draw(t, "weight-"+id)
		}
	}
	return weights
}

// checkPlan checks that moves take owners exactly to targets, moving each
// slot at most once, only the excess of each master, its highest slots.
func checkPlan(t *rapid.T, owners map[string][]SlotRange, targets map[string]int, moves []Move) {
	after, err := ApplyMoves(owners, moves)
	if err != nil {
		t.Fatalf("moves %q: %v", formatMoves(moves), err)
	}
	var moved []SlotRange
	count := 0
	given := map[string]int{}
	for _, m := range moves {
		if m.Count() == 0 || m.From == m.To || !slices.Equal(m.Slots, MergeSlots(m.Slots)) {
			t.Fatalf("move %q is empty, to itself or not merged", formatMoves([]Move{m}))
		}
		if kept := after[m.From]; len(kept) > 0 && kept[len(kept)-1].End >= m.Slots[0].Start {
			t.Fatalf("%s gives %s but keeps %s", m.From, FormatSlots(m.Slots), FormatSlots(kept))
		}
		moved = append(moved, m.Slots...)
		count += m.Count()
		given[m.From] += m.Count()
	}
	if CountSlots(moved) != count {
		t.Fatalf("moves %q move some slot twice", formatMoves(moves))
	}
	excess := 0
	for id, target := range targets {
		have := CountSlots(owners[id])
		if got := CountSlots(after[id]); got != target {
			t.Fatalf("%s holds %d after the moves, target %d", id, got, target)
		}
		if given[id] != max(have-target, 0) {
			t.Fatalf("%s holds %d, target %d, gives %d", id, have, target, given[id])
		}
		excess += max(have-target, 0)
	}
	if count != excess {
		t.Fatalf("moves %d slots, excess is %d", count, excess)
	}
}

func TestBalanceProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		owners := drawOwners(t)
		weights := drawWeights(t, owners)
		pct := rapid.SampledFrom([]float64{0, 0.5, 5, 50}).Draw(t, "threshold")
		moves, err := Balance(owners, weights, pct)
		targets, terr := Targets(owners, weights)
		if terr != nil {
			if err == nil || !strings.Contains(terr.Error(), "all weights are zero") {
				t.Fatalf("Targets: %v; Balance: %v", terr, err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		checkTargets(t, owners, weights, targets)
		again, _ := Balance(maps.Clone(owners), maps.Clone(weights), pct)
		if !reflect.DeepEqual(moves, again) {
			t.Fatalf("moves %q, then %q", formatMoves(moves), formatMoves(again))
		}
		within := true
		for id, target := range targets {
			off := math.Abs(float64(CountSlots(owners[id]) - target))
			within = within && off <= float64(target)*pct/100 && (target > 0 || off == 0)
		}
		if within != (len(moves) == 0) {
			t.Fatalf("all within %v%% of their targets is %v, yet moves %q", pct, within, formatMoves(moves))
		}
		if !within {
			checkPlan(t, owners, targets, moves)
		}
	})
}

// checkTargets checks that targets sum to the slots held and that each is
// its exact share rounded up or down.
func checkTargets(t *rapid.T, owners map[string][]SlotRange, weights map[string]float64, targets map[string]int) {
	weight := func(id string) float64 {
		if w, ok := weights[id]; ok {
			return w
		}
		return 1
	}
	total, sum, weightSum := 0, 0, 0.0
	for id, rs := range owners {
		total += CountSlots(rs)
		sum += targets[id]
		weightSum += weight(id)
	}
	if sum != total {
		t.Fatalf("targets %v sum to %d, not %d", targets, sum, total)
	}
	for id, target := range targets {
		if share := float64(total) * weight(id) / weightSum; total > 0 && math.Abs(float64(target)-share) >= 1+1e-9 {
			t.Fatalf("%s gets %d, share %v", id, target, share)
		}
	}
}

func TestDrainProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		owners := drawOwners(t)
		id := rapid.SampledFrom(slices.Sorted(maps.Keys(owners))).Draw(t, "drained")
		moves, err := Drain(owners, id)
		if len(owners) == 1 {
			if err == nil {
				t.Fatalf("drained the only master: %q", formatMoves(moves))
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		targets, err := Targets(owners, map[string]float64{id: 0})
		if err != nil {
			t.Fatal(err)
		}
		checkPlan(t, owners, targets, moves)
		lo, hi := SlotCount, 0
		for other, target := range targets {
			if other != id {
				lo, hi = min(lo, target), max(hi, target)
			}
		}
		if targets[id] != 0 || hi-lo > 1 {
			t.Fatalf("targets %v after draining %s", targets, id)
		}
	})
}

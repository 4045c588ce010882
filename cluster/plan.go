package cluster

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"math/big"
	"slices"
)

// ErrInvalidPlan is wrapped by every error about planning arguments that
// cannot be planned with (a bad weight, count or threshold, an unknown
// master) and by every error about a move that cannot be applied.
var ErrInvalidPlan = errors.New("invalid slot plan")

// Move gives Slots, now served by From, to To (node ids).
type Move struct {
	From  string      `json:"from"`
	To    string      `json:"to"`
	Slots []SlotRange `json:"-"`
}

// Count is the number of slots in the move.
func (m Move) Count() int { return CountSlots(m.Slots) }

// EvenSlots splits the 16384 slots into n contiguous ranges whose sizes
// differ by at most one, the first SlotCount%n ranges getting one more: the
// layout redis-cli gives a new cluster, except that redis-cli rounds a
// fractional cursor and so may put the larger ranges elsewhere. n must be 1
// to SlotCount.
func EvenSlots(n int) ([]SlotRange, error) {
	if n < 1 || n > SlotCount {
		return nil, fmt.Errorf("even slots for %d masters: need 1 to %d masters: %w", n, SlotCount, ErrInvalidPlan)
	}
	out := make([]SlotRange, n)
	start := 0
	for i := range out {
		size := SlotCount / n
		if i < SlotCount%n {
			size++
		}
		out[i] = SlotRange{Start: start, End: start + size - 1}
		start += size
	}
	return out, nil
}

// Targets returns how many slots each master should hold: the slots the
// masters hold between them, shared in proportion to weights. owners lists
// every candidate master (an empty slice for one that holds nothing yet);
// weights maps some of them to a weight (missing is 1, 0 is to hold
// nothing). Shares are rounded by largest remainder, ties going to the
// lower id, so the targets sum exactly to the total.
//
// It fails, wrapping ErrInvalidPlan, for a weight given for an id not in
// owners, a negative, NaN or infinite weight, and all weights zero while
// the masters hold slots; and, wrapping ErrInconsistent, when owners cannot
// be a cluster (see ApplyMoves).
func Targets(owners map[string][]SlotRange, weights map[string]float64) (map[string]int, error) {
	if _, err := slotOwners(owners); err != nil {
		return nil, err
	}
	for _, id := range slices.Sorted(maps.Keys(weights)) {
		w := weights[id]
		if _, ok := owners[id]; !ok {
			return nil, fmt.Errorf("weight for %s: not one of the masters: %w", id, ErrInvalidPlan)
		}
		if w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
			return nil, fmt.Errorf("weight %v for %s: must be a finite number, 0 or more: %w", w, id, ErrInvalidPlan)
		}
	}

	// Exact arithmetic: float shares could round so that equal remainders
	// differ, or the whole parts add up to more than the total.
	ids := slices.Sorted(maps.Keys(owners))
	total := 0
	sum := new(big.Rat)
	ws := make([]*big.Rat, len(ids))
	for i, id := range ids {
		total += CountSlots(owners[id])
		w, ok := weights[id]
		if !ok {
			w = 1
		}
		ws[i] = new(big.Rat).SetFloat64(w)
		sum.Add(sum, ws[i])
	}
	targets := make(map[string]int, len(ids))
	if total == 0 {
		for _, id := range ids {
			targets[id] = 0
		}
		return targets, nil
	}
	if sum.Sign() == 0 {
		return nil, fmt.Errorf("all weights are zero but the masters hold %d slots: %w", total, ErrInvalidPlan)
	}

	type share struct {
		id        string
		remainder *big.Rat
	}
	shares := make([]share, len(ids))
	left := total
	for i, id := range ids {
		exact := new(big.Rat).Mul(ws[i], new(big.Rat).SetInt64(int64(total)))
		exact.Quo(exact, sum)
		whole := new(big.Int).Quo(exact.Num(), exact.Denom())
		targets[id] = int(whole.Int64())
		left -= targets[id]
		shares[i] = share{id, exact.Sub(exact, new(big.Rat).SetInt(whole))}
	}
	// Stable, and ids are sorted: equal remainders stay in id order.
	slices.SortStableFunc(shares, func(a, b share) int { return b.remainder.Cmp(a.remainder) })
	for _, s := range shares[:left] {
		targets[s.id]++
	}
	return targets, nil
}

// Balance plans the moves that bring every master to its target (see
// Targets). When every master is already within thresholdPct percent of its
// target (|have-target| <= target*thresholdPct/100, so a master whose target
// is 0 must hold 0) it returns no moves. Otherwise it moves exactly to the
// targets, and no more than that: donors (have > target) give their
// highest-numbered slots, donors in id order, and receivers (have < target),
// in id order, take them in that order. So each move is one donor's run of
// top slots, merged into few ranges, and moves come sorted by From, then To.
//
// It fails, wrapping ErrInvalidPlan, when thresholdPct is negative or NaN,
// and as Targets does.
func Balance(owners map[string][]SlotRange, weights map[string]float64, thresholdPct float64) ([]Move, error) {
	if thresholdPct < 0 || math.IsNaN(thresholdPct) {
		return nil, fmt.Errorf("balance threshold %v%%: must be 0 or more: %w", thresholdPct, ErrInvalidPlan)
	}
	targets, err := Targets(owners, weights)
	if err != nil {
		return nil, err
	}
	for id, target := range targets {
		have := CountSlots(owners[id])
		if math.Abs(float64(have-target)) > float64(target)*thresholdPct/100 || target == 0 && have > 0 {
			return movesToTargets(owners, targets), nil
		}
	}
	return nil, nil
}

// Drain plans moving every slot of id to the other masters in owners, so
// that they end up holding Targets over the others with weight 1 each. The
// moves are made as Balance makes them; when the others start uneven they
// trade slots among themselves too.
//
// It fails, wrapping ErrInvalidPlan, when id is not in owners or is the
// only master; and as Targets does.
func Drain(owners map[string][]SlotRange, id string) ([]Move, error) {
	if _, ok := owners[id]; !ok {
		return nil, fmt.Errorf("drain %s: not one of the masters: %w", id, ErrInvalidPlan)
	}
	if len(owners) == 1 {
		return nil, fmt.Errorf("drain %s: it is the only master: %w", id, ErrInvalidPlan)
	}
	targets, err := Targets(owners, map[string]float64{id: 0})
	if err != nil {
		return nil, err
	}
	return movesToTargets(owners, targets), nil
}

// movesToTargets plans the moves that bring every master in owners to its
// target, as Balance describes. The targets must sum to the slots held.
func movesToTargets(owners map[string][]SlotRange, targets map[string]int) []Move {
	type gift struct {
		from  string
		slots []SlotRange
	}
	ids := slices.Sorted(maps.Keys(owners))
	var gifts []gift
	for _, id := range ids {
		held := MergeSlots(owners[id])
		if CountSlots(held) > targets[id] {
			_, top := splitSlots(held, targets[id])
			gifts = append(gifts, gift{from: id, slots: top})
		}
	}
	var moves []Move
	for _, id := range ids {
		for need := targets[id] - CountSlots(owners[id]); need > 0; {
			g := &gifts[0]
			take, rest := splitSlots(g.slots, need)
			moves = append(moves, Move{From: g.from, To: id, Slots: take})
			need -= CountSlots(take)
			if g.slots = rest; len(rest) == 0 {
				gifts = gifts[1:]
			}
		}
	}
	return moves
}

// splitSlots cuts sorted, merged ranges after their first n slots. Both
// parts are new slices.
func splitSlots(rs []SlotRange, n int) (head, tail []SlotRange) {
	for i, r := range rs {
		if n < r.Len() {
			head, tail = slices.Clone(rs[:i]), slices.Clone(rs[i:])
			if n > 0 {
				head = append(head, SlotRange{Start: r.Start, End: r.Start + n - 1})
				tail[0].Start += n
			}
			return head, tail
		}
		n -= r.Len()
	}
	return slices.Clone(rs), nil
}

// ApplyMoves returns owners after the moves, in order: a new map with the
// same masters, their slots sorted and merged. It fails, wrapping
// ErrInvalidPlan, when a move names a master not in owners or takes a slot
// its From does not hold by then; and, wrapping ErrInconsistent, when
// owners cannot be a cluster: an empty id, a slot outside 0-16383 or held
// by two masters.
func ApplyMoves(owners map[string][]SlotRange, moves []Move) (map[string][]SlotRange, error) {
	held, err := slotOwners(owners)
	if err != nil {
		return nil, err
	}
	for i, m := range moves {
		where := fmt.Sprintf("move %d (%s to %s)", i, m.From, m.To)
		for _, id := range []string{m.From, m.To} {
			if _, ok := owners[id]; !ok {
				return nil, fmt.Errorf("%s: %q is not one of the masters: %w", where, id, ErrInvalidPlan)
			}
		}
		for _, r := range m.Slots {
			if !validRange(r) {
				return nil, fmt.Errorf("%s: slots %d-%d are not a range within 0-%d: %w", where, r.Start, r.End, SlotCount-1, ErrInvalidPlan)
			}
			for s := r.Start; s <= r.End; s++ {
				if held[s] != m.From {
					return nil, fmt.Errorf("%s: slot %d is not held by %s: %w", where, s, m.From, ErrInvalidPlan)
				}
				held[s] = m.To
			}
		}
	}
	out := make(map[string][]SlotRange, len(owners))
	for id := range owners {
		out[id] = rangesWhere(func(s int) bool { return held[s] == id })
	}
	return out, nil
}

// slotOwners returns the id of the master holding each slot, "" for none.
func slotOwners(owners map[string][]SlotRange) ([]string, error) {
	held := make([]string, SlotCount)
	for _, id := range slices.Sorted(maps.Keys(owners)) {
		if id == "" {
			return nil, fmt.Errorf("a master has an empty id: %w", ErrInconsistent)
		}
		for _, r := range owners[id] {
			if !validRange(r) {
				return nil, fmt.Errorf("master %s holds slots %d-%d, not a range within 0-%d: %w", id, r.Start, r.End, SlotCount-1, ErrInconsistent)
			}
			for s := r.Start; s <= r.End; s++ {
				if held[s] != "" && held[s] != id {
					return nil, fmt.Errorf("slot %d is held by both %s and %s: %w", s, held[s], id, ErrInconsistent)
				}
				held[s] = id
			}
		}
	}
	return held, nil
}

func validRange(r SlotRange) bool {
	return r.Start >= 0 && r.End < SlotCount && r.Start <= r.End
}

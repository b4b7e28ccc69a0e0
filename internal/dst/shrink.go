package dst

import "slices"

// Shrink reduces a failing history to a short one that still breaks invariant inv:
// delta debugging (ddmin) over its steps, then each step's operations and faults one
// by one. Each try is a replay; budget bounds them.
func Shrink(h History, inv string, opts Options, budget int) History {
	return ShrinkWhile(h, opts, budget, func(r Result) bool { return slices.Contains(r.Broke(), inv) })
}

// ShrinkWhile is Shrink for any property of the result (e.g. one kind of violation).
func ShrinkWhile(h History, opts Options, budget int, still func(Result) bool) History {
	runs := 0
	fails := func(steps []Step) bool {
		if runs >= budget {
			return false
		}
		runs++
		r := Replay(History{Seed: h.Seed, Backend: h.Backend, Steps: steps}, opts)
		return r.Err == nil && still(r)
	}
	steps := ddmin(h.Steps, fails)
	// Each remaining step: fewer concurrent operations, or none concurrent (one step
	// each, in thread order), no faults.
	for i := 0; i < len(steps); i++ {
		if n := len(steps[i].Ops); n > 1 {
			var seq []Step
			for _, op := range steps[i].Ops {
				seq = append(seq, Step{Ops: []Op{op}, Faults: steps[i].Faults})
			}
			try := slices.Concat(cloneSteps(steps[:i]), seq, cloneSteps(steps[i+1:]))
			if fails(try) {
				steps = try
			}
		}
		for j := 0; len(steps[i].Ops) > 1 && j < len(steps[i].Ops); j++ {
			try := cloneSteps(steps)
			try[i].Ops = slices.Delete(try[i].Ops, j, j+1)
			if fails(try) {
				steps, j = try, j-1
			}
		}
		if len(steps[i].Faults) > 0 {
			try := cloneSteps(steps)
			try[i].Faults = nil
			if fails(try) {
				steps = try
			}
		}
	}
	// And once more over the steps, one at a time: 1-minimal.
	for i := 0; i < len(steps); i++ {
		try := slices.Delete(cloneSteps(steps), i, i+1)
		if fails(try) {
			steps, i = try, i-1
		}
	}
	// A step of one operation has no interleaving to seed.
	for i := range steps {
		if len(steps[i].Ops) == 1 && steps[i].Sched != 0 {
			try := cloneSteps(steps)
			try[i].Sched = 0
			if fails(try) {
				steps = try
			}
		}
	}
	return History{Seed: h.Seed, Backend: h.Backend, Steps: steps}
}

// ddmin is Zeller's delta debugging: the smallest sub-list (by removing chunks) for
// which fails still holds.
func ddmin(items []Step, fails func([]Step) bool) []Step {
	n := 2
	for len(items) >= 2 {
		chunks := split(items, n)
		reduced := false
		for i := range chunks {
			if fails(chunks[i]) {
				items, n, reduced = chunks[i], 2, true
				break
			}
		}
		if !reduced {
			for i := range chunks {
				comp := complement(chunks, i)
				if fails(comp) {
					items, n, reduced = comp, max(n-1, 2), true
					break
				}
			}
		}
		if !reduced {
			if n >= len(items) {
				break
			}
			n = min(2*n, len(items))
		}
	}
	return items
}

func split(items []Step, n int) [][]Step {
	var out [][]Step
	size, rest := len(items)/n, len(items)%n
	at := 0
	for i := range n {
		k := size
		if i < rest {
			k++
		}
		out = append(out, cloneSteps(items[at:at+k]))
		at += k
	}
	return out
}

func complement(chunks [][]Step, skip int) []Step {
	var out []Step
	for i, c := range chunks {
		if i != skip {
			out = append(out, c...)
		}
	}
	return cloneSteps(out)
}

func cloneSteps(s []Step) []Step {
	out := make([]Step, len(s))
	for i, st := range s {
		out[i] = Step{Ops: slices.Clone(st.Ops), Sched: st.Sched, Faults: slices.Clone(st.Faults)}
	}
	return out
}

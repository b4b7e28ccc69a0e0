package dst

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Case is a shrunk failure kept as a regression test (testdata/*.json): the history
// that broke Invariant, replayed by TestRegressions.
type Case struct {
	Name      string `json:"name"`
	Invariant string `json:"invariant"`
	// Note says what the case is (e.g. which sequence of issue #16) and how it was found.
	Note    string  `json:"note,omitempty"`
	History History `json:"history"`
}

// Encode writes the case as testdata keeps it: one line per step, so a shrunk history
// reads as a list of operations.
func (c Case) Encode() []byte {
	var b strings.Builder
	head, _ := json.Marshal(struct {
		Name      string `json:"name"`
		Invariant string `json:"invariant"`
		Note      string `json:"note,omitempty"`
	}{c.Name, c.Invariant, c.Note})
	b.Write(head[:len(head)-1])
	backend := ""
	if c.History.Backend != "" {
		backend = fmt.Sprintf(", \"backend\": %q", c.History.Backend)
	}
	fmt.Fprintf(&b, ",\n\"history\": {\"seed\": %d%s, \"steps\": [\n", c.History.Seed, backend)
	for i, st := range c.History.Steps {
		line, _ := json.Marshal(st)
		b.WriteString("  ")
		b.Write(line)
		if i < len(c.History.Steps)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	b.WriteString("]}}\n")
	return []byte(b.String())
}

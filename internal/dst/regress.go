package dst

// Case is a shrunk failure kept as a regression test (testdata/*.json): the history
// that broke Invariant, replayed by TestRegressions.
type Case struct {
	Name      string `json:"name"`
	Invariant string `json:"invariant"`
	// Note says what the case is (e.g. which sequence of issue #16) and how it was found.
	Note    string  `json:"note,omitempty"`
	History History `json:"history"`
}

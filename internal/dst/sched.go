package dst

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// The cooperative scheduler. The operations of one step run as threads (goroutines),
// but only one of them runs at a time: a thread runs until it reaches a yield point —
// a store call, a call to WeChat Pay, a webhook delivery — and parks there; when every
// thread of the step is parked or finished, the scheduler picks one parked thread, with
// the step's own random source, and lets it go on. The interleaving of a step is thus a
// function of its seed, never of goroutine timing.
//
// The code under test must keep one thread of control per operation: a goroutine it
// starts must be waited for (notify's handleWithin and deliverNow are, within their
// budgets, which the DST makes long; reconcile and billfetch run with one worker).
//
// A crash detaches the threads in flight in the crashed process — the one that crashed
// and those parked on one of its calls: the step goes on without them, and they run to
// their end in the background, every call they make failing at once (a crashed
// process's work is abandoned; it never touches the world again).

// stuckAfter is how long the scheduler waits for a running thread to park before it
// calls the history stuck: a thread blocked outside a yield point (a lock, a channel,
// a real-time wait that never ends).
const stuckAfter = 60 * time.Second

type scheduler struct {
	mu      sync.Mutex
	wake    chan struct{} // a thread parked or finished
	active  bool          // a step is running: yield points park
	rng     *rand.Rand
	parked  []*parkedThread
	running int // threads running (at most one, or the dead ones of a crashed incarnation)
	live    int // threads of the step not finished
	current int // the thread last let go
	// detached marks the threads a crash took out of the step (by thread index).
	detached []bool
	onGrant  func(thread int, label string)
}

type parkedThread struct {
	ch     chan struct{}
	thread int
	label  string
	inc    *incarnation // the incarnation whose call parked it (nil: the thread's start)
}

func newScheduler(onGrant func(thread int, label string)) *scheduler {
	return &scheduler{wake: make(chan struct{}, 1), onGrant: onGrant}
}

func (s *scheduler) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// yield parks the calling thread until the scheduler lets it go on. Outside a step it
// returns at once. inc is the incarnation the call goes to (nil for a thread's start):
// a crash of it releases the thread, and whoever called yield then finds it dead.
func (s *scheduler) yield(label string, inc *incarnation) {
	s.mu.Lock()
	if !s.active || (inc != nil && inc.dead.Load()) {
		s.mu.Unlock()
		return
	}
	p := &parkedThread{ch: make(chan struct{}), thread: s.current, label: label, inc: inc}
	s.parked = append(s.parked, p)
	s.running--
	s.mu.Unlock()
	s.signal()
	<-p.ch
}

// crashed detaches the running thread (the one whose call crashed inc) and every
// thread parked on a call to inc: the step goes on without them while they fail fast
// in the background.
func (s *scheduler) crashed(inc *incarnation) {
	s.mu.Lock()
	if !s.active {
		s.mu.Unlock()
		return
	}
	keep := s.parked[:0]
	var release []*parkedThread
	for _, p := range s.parked {
		if p.inc == inc {
			release = append(release, p)
		} else {
			keep = append(keep, p)
		}
	}
	s.parked = keep
	if !s.detached[s.current] {
		s.detached[s.current] = true
		s.running--
		s.live--
	}
	for _, p := range release {
		s.detached[p.thread] = true
		s.live--
	}
	s.mu.Unlock()
	for _, p := range release {
		close(p.ch)
	}
	s.signal()
}

// run runs fns as the threads of one step, interleaved by seed, and returns when all
// have finished or been detached by a crash (gone[i]). A thread that panics ends with
// its panic recorded in panics.
func (s *scheduler) run(seed uint64, fns []func()) (panics []string, gone []bool, err error) {
	s.mu.Lock()
	s.active, s.rng = true, rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	s.parked, s.running, s.live, s.detached = nil, 0, len(fns), make([]bool, len(fns))
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.active = false
		s.mu.Unlock()
	}()
	var pmu sync.Mutex
	detached := s.detached // this step's: a detached thread may end during a later step
	// Threads start one at a time, each running to its first yield (its start), so the
	// parked list begins in thread order.
	for i, fn := range fns {
		s.mu.Lock()
		s.running++
		s.current = i
		s.mu.Unlock()
		go func() {
			defer func() {
				if r := recover(); r != nil {
					pmu.Lock()
					panics = append(panics, fmt.Sprintf("thread %d: %v", i, r))
					pmu.Unlock()
				}
				s.mu.Lock()
				if !detached[i] {
					s.live--
					s.running--
				}
				s.mu.Unlock()
				s.signal()
			}()
			s.yield("start", nil)
			fn()
		}()
		if err := s.quiesce(); err != nil {
			return panics, nil, err
		}
	}
	for {
		if err := s.quiesce(); err != nil {
			return panics, nil, err
		}
		s.mu.Lock()
		if s.live == 0 {
			gone = slices.Clone(detached)
			s.mu.Unlock()
			pmu.Lock()
			defer pmu.Unlock()
			return slices.Clone(panics), gone, nil
		}
		if len(s.parked) == 0 {
			s.mu.Unlock()
			return panics, nil, fmt.Errorf("dst: %d threads alive, none running or parked", s.live)
		}
		i := s.rng.IntN(len(s.parked))
		p := s.parked[i]
		s.parked = append(s.parked[:i:i], s.parked[i+1:]...)
		s.running++
		s.current = p.thread
		s.mu.Unlock()
		if s.onGrant != nil {
			s.onGrant(p.thread, p.label)
		}
		close(p.ch)
	}
}

// quiesce waits until no thread runs.
func (s *scheduler) quiesce() error {
	deadline := time.NewTimer(stuckAfter)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		n := s.running
		s.mu.Unlock()
		if n <= 0 {
			return nil
		}
		select {
		case <-s.wake:
		case <-deadline.C:
			return fmt.Errorf("dst: stuck: a thread ran %v without reaching a yield point (blocked outside the store, WeChat Pay and the webhook)", stuckAfter)
		}
	}
}

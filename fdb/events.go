package fdb

import "sync/atomic"

// subscribers is the list of functions Subscribe added. A change copies
// the list, so emit reads it without a lock.
type subscribers struct {
	fs atomic.Pointer[[]*func(Event)]
}

// Subscribe adds f to the functions that see every change of the table,
// besides the onEvent given to New, and returns a function that removes it.
// Like onEvent, f runs with the table's lock held: it must not block and
// must not call into the table.
func (t *Table) Subscribe(f func(Event)) (cancel func()) {
	p := &f
	t.subs.change(func(fs []*func(Event)) []*func(Event) { return append(fs, p) })
	return func() {
		t.subs.change(func(fs []*func(Event)) []*func(Event) {
			out := make([]*func(Event), 0, len(fs))
			for _, g := range fs {
				if g != p {
					out = append(out, g)
				}
			}
			return out
		})
	}
}

// change replaces the list with what edit makes of a copy of it.
func (s *subscribers) change(edit func([]*func(Event)) []*func(Event)) {
	for {
		old := s.fs.Load()
		var cur []*func(Event)
		if old != nil {
			cur = append(cur, *old...)
		}
		next := edit(cur)
		if s.fs.CompareAndSwap(old, &next) {
			return
		}
	}
}

// notify hands ev to the subscribers.
func (s *subscribers) notify(ev Event) {
	if fs := s.fs.Load(); fs != nil {
		for _, f := range *fs {
			(*f)(ev)
		}
	}
}

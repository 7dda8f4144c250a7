package afpacket

import (
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Bits of mapping.state.
const (
	// stateClosed is set once, by Close.
	stateClosed = 1 << iota
	// stateHolding is set while the Receive goroutine may touch the ring:
	// during Receive, and between a Receive that returned frames and the
	// next Receive, since those frames point into the ring.
	stateHolding
)

// mapping is a receive ring's memory, shared by the Receive goroutine and
// Close: Close marks it closed, and whichever of the two lets go of it
// last unmaps it. A Port and a Shared each have one.
type mapping struct {
	state atomic.Uint32 // stateClosed | stateHolding
	once  sync.Once     // unmaps mem, once closed and not holding
	mem   *[]byte       // the ring's mem field; nil after the unmap
}

// closed reports whether Close has run.
func (m *mapping) closed() bool { return m.state.Load()&stateClosed != 0 }

// hold marks the ring as in use by the Receive goroutine, unless it is
// closed: then it lets the ring go and reports false.
func (m *mapping) hold() bool {
	for {
		s := m.state.Load()
		if s&stateClosed != 0 {
			m.unhold()
			return false
		}
		if s&stateHolding != 0 || m.state.CompareAndSwap(s, s|stateHolding) {
			return true
		}
	}
}

// unhold marks the ring as no longer in use by the Receive goroutine. If
// it is closed, nobody will use it again: unmap it.
func (m *mapping) unhold() {
	if m.state.And(^uint32(stateHolding))&stateClosed != 0 {
		m.once.Do(m.unmap)
	}
}

// close marks the ring closed and reports whether this call did (false:
// closed before).
func (m *mapping) close() bool { return m.state.Or(stateClosed)&stateClosed == 0 }

// release unmaps the ring after close, unless the Receive goroutine holds
// it: then its next Receive does.
func (m *mapping) release() {
	if m.state.Load()&stateHolding == 0 {
		m.once.Do(m.unmap)
	}
}

func (m *mapping) unmap() {
	unix.Munmap(*m.mem)
	*m.mem = nil
}

package fdb_test

import (
	"testing"

	"github.com/xswitch/xswitch/fdb"
)

// mirror follows a table through its events alone, as the BPF map syncer
// will; if it ends up different from the table, an event was missing or wrong.
type mirror struct {
	t     *testing.T
	ports map[fdb.Key]fdb.PortID
	// bad is the first inconsistent event; record runs under the table's lock
	// and may run on any goroutine, so it must not call t.Fatal.
	bad string
}

func newMirror(t *testing.T) *mirror {
	return &mirror{t: t, ports: make(map[fdb.Key]fdb.PortID)}
}

func (m *mirror) record(ev fdb.Event) {
	old, had := m.ports[ev.Key]
	switch ev.Kind {
	case fdb.EventLearned:
		if had && m.bad == "" {
			m.bad = "learned a key it has: " + ev.String()
		}
		m.ports[ev.Key] = ev.Port
	case fdb.EventMoved:
		if (!had || old != ev.OldPort || ev.Port == ev.OldPort) && m.bad == "" {
			m.bad = "bad move: " + ev.String()
		}
		m.ports[ev.Key] = ev.Port
	default:
		if (!had || old != ev.Port) && m.bad == "" {
			m.bad = "removed what it does not have: " + ev.String()
		}
		delete(m.ports, ev.Key)
	}
}

// check compares the mirror with tbl; call it when no one changes tbl.
func (m *mirror) check(tbl *fdb.Table) {
	m.t.Helper()
	if m.bad != "" {
		m.t.Fatal(m.bad)
	}
	n := 0
	tbl.Range(func(e fdb.Entry) bool {
		n++
		if p, ok := m.ports[e.Key]; !ok || p != e.Port {
			m.t.Errorf("table has %v on %d, events say %d (present %v)", e.Key, e.Port, p, ok)
		}
		return true
	})
	if n != len(m.ports) {
		m.t.Errorf("table has %d entries, events say %d", n, len(m.ports))
	}
}

package daemon

import (
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/xswitch/xswitch/bpf"
	"github.com/xswitch/xswitch/fdb"
)

// mirror keeps the fast path's MAC map in step with the bridges' tables.
// Table events arrive under the table's lock, so they are queued, never
// applied there; one goroutine applies them in order. When the queue
// overflows, the bridge's map entries are rebuilt from its table.
type mirror struct {
	fp  FastPath
	log *slog.Logger

	queue   chan mirrorMsg
	stopped atomic.Bool
	lost    atomic.Bool   // an event did not fit in the queue
	nudge   chan struct{} // a send when lost is set; one slot
	quit    chan struct{}
	done    chan struct{}

	// Owned by the goroutine.
	bridges map[uint32]*mirrorBridge
}

type mirrorBridge struct {
	table *fdb.Table
	ports map[fdb.PortID]int // fast-path ports: id → ifindex
}

type msgKind uint8

const (
	msgEvent      msgKind = iota
	msgBridge             // a bridge's table to follow
	msgPortAdd            // a fast-path port attached: mirror its entries
	msgPortRemove         // a port is gone: nothing may point at it
	msgSync               // reply on ack when everything before is applied
)

type mirrorMsg struct {
	kind    msgKind
	bridge  uint32
	ev      fdb.Event
	table   *fdb.Table
	port    fdb.PortID
	ifindex int
	ack     chan struct{}
}

// mirrorQueue is how many table events may wait; a guest inventing source
// MACs fills it, and the mirror then resynchronises.
const mirrorQueue = 4096

func newMirror(fp FastPath, log *slog.Logger) *mirror {
	m := &mirror{
		fp:      fp,
		log:     log,
		queue:   make(chan mirrorMsg, mirrorQueue),
		nudge:   make(chan struct{}, 1),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
		bridges: map[uint32]*mirrorBridge{},
	}
	go m.run()
	return m
}

// onEvent returns the table event hook of a bridge.
func (m *mirror) onEvent(bridge uint32) func(fdb.Event) {
	return func(ev fdb.Event) {
		if m.stopped.Load() {
			return
		}
		select {
		case m.queue <- mirrorMsg{kind: msgEvent, bridge: bridge, ev: ev}:
		default:
			m.lost.Store(true)
			select {
			case m.nudge <- struct{}{}:
			default:
			}
		}
	}
}

func (m *mirror) send(msg mirrorMsg) {
	if !m.stopped.Load() {
		m.queue <- msg
	}
}

func (m *mirror) addBridge(id uint32, t *fdb.Table) {
	m.send(mirrorMsg{kind: msgBridge, bridge: id, table: t})
}

func (m *mirror) addPort(bridge uint32, id fdb.PortID, ifindex int) {
	m.send(mirrorMsg{kind: msgPortAdd, bridge: bridge, port: id, ifindex: ifindex})
}

func (m *mirror) removePort(bridge uint32, id fdb.PortID) {
	m.send(mirrorMsg{kind: msgPortRemove, bridge: bridge, port: id})
}

// sync waits until everything queued so far is applied.
func (m *mirror) sync() {
	if m.stopped.Load() {
		return
	}
	ack := make(chan struct{})
	m.queue <- mirrorMsg{kind: msgSync, ack: ack}
	<-ack
}

// stop ends the mirror (the daemon calls it under its lock, which also
// serialises send), leaving the map as it is: after a restart the next
// daemon warms its tables from it. Events after stop (ports removed as the
// daemon shuts down) are ignored.
func (m *mirror) stop() {
	if m.stopped.Swap(true) {
		return
	}
	close(m.quit)
	<-m.done
}

func (m *mirror) run() {
	defer close(m.done)
	for {
		select {
		case <-m.quit:
			// What is queued still goes to the map the next daemon adopts.
			m.drain(false)
			return
		case msg := <-m.queue:
			m.apply(msg)
		case <-m.nudge:
			if m.lost.Swap(false) {
				m.log.Warn("fast-path MAC map fell behind; resynchronising it")
				// The queued events are older than the tables: drop them
				// (and keep the rest) before copying the tables over.
				m.drain(true)
				for id := range m.bridges {
					m.resync(id)
				}
			}
		}
	}
}

// drain applies what is queued, skipping table events if skipEvents.
func (m *mirror) drain(skipEvents bool) {
	for {
		select {
		case msg := <-m.queue:
			if !(skipEvents && msg.kind == msgEvent) {
				m.apply(msg)
			}
		default:
			return
		}
	}
}

func (m *mirror) apply(msg mirrorMsg) {
	b := m.bridges[msg.bridge]
	switch msg.kind {
	case msgSync:
		close(msg.ack)
	case msgBridge:
		m.bridges[msg.bridge] = &mirrorBridge{table: msg.table, ports: map[fdb.PortID]int{}}
	case msgPortAdd:
		if b == nil {
			return
		}
		b.ports[msg.port] = msg.ifindex
		b.table.Range(func(e fdb.Entry) bool {
			if e.Port == msg.port {
				m.put(msg.bridge, e.Key, msg.ifindex, e.Static, e.LastSeen)
			}
			return true
		})
	case msgPortRemove:
		if b != nil {
			delete(b.ports, msg.port)
		}
	case msgEvent:
		if b == nil {
			return
		}
		ev := msg.ev
		switch ev.Kind {
		case fdb.EventLearned, fdb.EventMoved:
			if idx, ok := b.ports[ev.Port]; ok {
				m.put(msg.bridge, ev.Key, idx, ev.Static, fdb.Now())
			} else {
				m.del(msg.bridge, ev.Key) // now behind a port without fast path
			}
		default:
			m.del(msg.bridge, ev.Key)
		}
	}
}

func (m *mirror) put(bridge uint32, k fdb.Key, ifindex int, static bool, seen int64) {
	if err := m.fp.PutFDB(bridge, k, ifindex, static, seen); err != nil {
		m.log.Warn("cannot mirror MAC entry to the fast path; its frames go through userspace", "mac", k.String(), "ifindex", ifindex, "err", err)
	}
}

func (m *mirror) del(bridge uint32, k fdb.Key) {
	if err := m.fp.DeleteFDB(bridge, k); err != nil {
		m.log.Warn("cannot remove MAC entry from the fast path", "mac", k.String(), "err", err)
	}
}

// resync makes the bridge's map entries equal to its table.
func (m *mirror) resync(bridge uint32) {
	b := m.bridges[bridge]
	want := map[fdb.Key]bool{}
	b.table.Range(func(e fdb.Entry) bool {
		if idx, ok := b.ports[e.Port]; ok {
			want[e.Key] = true
			m.put(bridge, e.Key, idx, e.Static, e.LastSeen)
		}
		return true
	})
	for _, e := range m.fp.FDB() {
		if e.Bridge == bridge && !want[e.Key] {
			m.del(bridge, e.Key)
		}
	}
}

// warmCache holds the MAC map as an earlier run left it, to warm the tables
// of the ports that attach again.
type warmCache struct {
	mu      sync.Mutex
	byIndex map[int][]bpf.FDBEntry
}

func newWarmCache(fp FastPath) *warmCache {
	w := &warmCache{byIndex: map[int][]bpf.FDBEntry{}}
	for _, e := range fp.FDB() {
		w.byIndex[e.Ifindex] = append(w.byIndex[e.Ifindex], e)
	}
	return w
}

// take returns, once, the entries an earlier run had on ifindex in bridge.
func (w *warmCache) take(ifindex int, bridge uint32) []bpf.FDBEntry {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []bpf.FDBEntry
	for _, e := range w.byIndex[ifindex] {
		if e.Bridge == bridge && !e.Static {
			out = append(out, e)
		}
	}
	delete(w.byIndex, ifindex)
	return out
}

// drop forgets what was not taken.
func (w *warmCache) drop() {
	w.mu.Lock()
	w.byIndex = nil
	w.mu.Unlock()
}

package daemon

import (
	"errors"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"

	"github.com/xswitch/xswitch/bpf"
	"github.com/xswitch/xswitch/fdb"
)

// mirror keeps the fast path's MAC map in step with the bridges' tables.
// Table events arrive under the table's lock, so they are queued, never
// applied there; one goroutine applies them in order. When the queue
// overflows, the bridge's map entries are rebuilt from its table.
//
// The other way, the MACs the programs learn themselves go into the tables
// through the same queue; an entry a table refuses (a port at its limit, a
// MAC static elsewhere) is put back in the map as the table has it.
type mirror struct {
	fp  FastPath
	log *slog.Logger

	queue   chan mirrorMsg
	stopped atomic.Bool
	lost    atomic.Bool   // an event did not fit in the queue
	nudge   chan struct{} // a send when lost is set; one slot
	quit    chan struct{}
	done    chan struct{}

	learns     *bpf.LearnReader // nil when the fast path cannot tell
	learnsDone chan struct{}    // closed when readLearned returns

	// Owned by the goroutine.
	bridges map[uint32]*mirrorBridge
	// parked holds MACs learned on ports not attached yet (after a
	// restart, before the daemon adopts them), by ifindex; at most
	// mirrorQueue of them.
	parked  map[int][]mirrorMsg
	nparked int
}

type mirrorBridge struct {
	table   *fdb.Table
	ports   map[fdb.PortID]int // fast-path ports: id → ifindex
	byIndex map[int]fdb.PortID // the same, the other way
}

// learnSource is a fast path whose programs learn MACs themselves.
type learnSource interface {
	LearnReader() (*bpf.LearnReader, error)
}

type msgKind uint8

const (
	msgEvent      msgKind = iota
	msgBridge             // a bridge's table to follow
	msgPortAdd            // a fast-path port attached: mirror its entries
	msgPortRemove         // a port is gone: nothing may point at it
	msgSync               // reply on ack when everything before is applied
	msgLearned            // the programs learned ev.Key on ifindex
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
		parked:  map[int][]mirrorMsg{},
	}
	if src, ok := fp.(learnSource); ok {
		r, err := src.LearnReader()
		if err != nil {
			log.Warn("the daemon cannot hear what the fast path learns: it learns from punted frames only", "err", err)
		} else {
			m.learns, m.learnsDone = r, make(chan struct{})
		}
	}
	go m.run()
	if m.learns != nil {
		go m.readLearned()
	}
	return m
}

// readLearned queues what the programs learn. A full queue holds the
// reader back, and the ring behind it: once the ring is full the programs
// punt instead of learning.
func (m *mirror) readLearned() {
	defer close(m.learnsDone)
	for {
		l, err := m.learns.Read()
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				m.log.Warn("reading what the fast path learns failed: it learns from punted frames only", "err", err)
			}
			return
		}
		msg := mirrorMsg{kind: msgLearned, bridge: l.Bridge, ev: fdb.Event{Key: l.Key}, ifindex: l.Ifindex}
		select {
		case m.queue <- msg:
		case <-m.quit:
			return
		}
	}
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
	if m.learns != nil {
		m.learns.Close()
		<-m.learnsDone
	}
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
		m.bridges[msg.bridge] = &mirrorBridge{table: msg.table, ports: map[fdb.PortID]int{}, byIndex: map[int]fdb.PortID{}}
	case msgPortAdd:
		if b == nil {
			return
		}
		b.ports[msg.port] = msg.ifindex
		b.byIndex[msg.ifindex] = msg.port
		b.table.Range(func(e fdb.Entry) bool {
			if e.Port == msg.port {
				m.put(msg.bridge, e.Key, msg.ifindex, e.Static, e.LastSeen)
			}
			return true
		})
		m.unpark(msg.ifindex)
	case msgPortRemove:
		if b != nil {
			if idx, ok := b.ports[msg.port]; ok {
				delete(b.byIndex, idx)
			}
			delete(b.ports, msg.port)
		}
	case msgLearned:
		m.learned(msg)
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

// learned gives a bridge's table a MAC the programs learned. Its port may
// not be attached yet: then it waits for it.
func (m *mirror) learned(msg mirrorMsg) {
	k := msg.ev.Key
	var id fdb.PortID
	b := m.bridges[msg.bridge]
	if b != nil {
		id = b.byIndex[msg.ifindex]
	}
	if id == 0 {
		if m.nparked >= mirrorQueue {
			m.del(msg.bridge, k) // userspace learns it from a punted frame
			return
		}
		m.parked[msg.ifindex] = append(m.parked[msg.ifindex], msg)
		m.nparked++
		return
	}
	switch b.table.Learn(k, id, fdb.Now()) {
	case fdb.Refused, fdb.StaticConflict:
		m.restore(msg.bridge, b, k)
	}
}

// unpark learns what waited for the port on ifindex.
func (m *mirror) unpark(ifindex int) {
	msgs := m.parked[ifindex]
	delete(m.parked, ifindex)
	m.nparked -= len(msgs)
	for _, msg := range msgs {
		if b := m.bridges[msg.bridge]; b != nil && b.byIndex[ifindex] != 0 {
			m.learned(msg)
		} else {
			m.del(msg.bridge, msg.ev.Key) // the port is in another bridge now
		}
	}
}

// restore makes the map entry of k what the bridge's table says.
func (m *mirror) restore(bridge uint32, b *mirrorBridge, k fdb.Key) {
	if e, ok := b.table.Get(k); ok {
		if idx, ok := b.ports[e.Port]; ok {
			m.put(bridge, k, idx, e.Static, e.LastSeen)
			return
		}
	}
	m.del(bridge, k)
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

package fdb

import "strconv"

// EventKind says what happened to an entry.
type EventKind uint8

const (
	// EventLearned: a new entry, learned from traffic or added static.
	EventLearned EventKind = iota
	// EventMoved: the entry now points at Port instead of OldPort.
	EventMoved
	// EventAged: Age removed the entry.
	EventAged
	// EventEvicted: the table was full and gave the entry's slot to a new MAC.
	EventEvicted
	// EventFlushed: Flush or FlushPort removed the entry.
	EventFlushed
	// EventDeleted: Delete removed the entry.
	EventDeleted
)

var eventKindNames = [...]string{
	EventLearned: "learned",
	EventMoved:   "moved",
	EventAged:    "aged",
	EventEvicted: "evicted",
	EventFlushed: "flushed",
	EventDeleted: "deleted",
}

func (k EventKind) String() string {
	if int(k) < len(eventKindNames) {
		return eventKindNames[k]
	}
	return "EventKind(" + strconv.Itoa(int(k)) + ")"
}

// Event reports one change to a table, so that a mirror (the BPF fdb map) can
// follow it. Events are delivered in the order the changes happen.
type Event struct {
	// Kind says what changed.
	Kind EventKind
	// Key is the entry that changed.
	Key Key
	// Port is where the entry points now, or pointed when it was removed.
	Port PortID
	// OldPort is where the entry pointed before an EventMoved; 0 otherwise.
	OldPort PortID
	// Static is set for the events of static entries.
	Static bool
}

func (e Event) String() string {
	s := e.Kind.String() + " " + e.Key.String() + " port " + strconv.FormatUint(uint64(e.Port), 10)
	if e.Kind == EventMoved {
		s += " from port " + strconv.FormatUint(uint64(e.OldPort), 10)
	}
	return s
}

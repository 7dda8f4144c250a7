package dataplane

import (
	"bytes"
	"fmt"
	"strconv"
	"time"

	"github.com/xswitch/xswitch/fdb"
)

// Trace says what the bridge would do with one frame entering on a port,
// and why, without forwarding it or learning from it. It comes from the
// decisions the workers make (admit, unicastTo, egressOf), not a copy of
// them.
type Trace struct {
	Bridge string `json:"bridge"`
	In     string `json:"in"`
	// VLAN is the frame's VLAN inside the bridge (0: untagged on a
	// transparent port); not set when the frame is dropped on ingress.
	VLAN uint16 `json:"vlan"`
	// Verdict is "drop", "unicast" or "flood".
	Verdict string `json:"verdict"`
	// Reason says why: a drop reason (as in the drop counters), or what made
	// the frame unicast or flooded.
	Reason string `json:"reason"`
	// Source is the table's entry for the source MAC, and what learning
	// does with it.
	Source *TraceMAC `json:"source,omitempty"`
	// Destination is the table's entry for the destination MAC, for a
	// unicast address.
	Destination *TraceMAC `json:"destination,omitempty"`
	// Egress are the ports the frame leaves on, each with its tag.
	Egress []TraceEgress `json:"egress"`
	// Refused are the ports a flood skips, each with the reason.
	Refused []TraceEgress `json:"refused,omitempty"`
	// Mirrored are the mirror destinations that get a copy of the frame:
	// of the ingress port's frames, or of an egress port's.
	Mirrored []string `json:"mirrored,omitempty"`
}

// TraceMAC is what the MAC table holds for one address.
type TraceMAC struct {
	MAC   string `json:"mac"`
	VLAN  uint16 `json:"vlan"`
	Known bool   `json:"known"`
	// Port is where the table has the address (empty when unknown, or
	// when its port is gone).
	Port       string  `json:"port,omitempty"`
	Static     bool    `json:"static,omitempty"`
	AgeSeconds float64 `json:"age_seconds,omitempty"`
	// Learn is what a frame from this address does to the entry
	// ("learned", "refreshed", "moved from PORT", "static: kept").
	Learn string `json:"learn,omitempty"`
}

// TraceEgress is one egress port of a traced frame.
type TraceEgress struct {
	Port string `json:"port"`
	// Tag is how the frame leaves: "as is", "untagged" or "tagged N"; for
	// a refused port, the reason ("vlan", "isolated").
	Tag string `json:"tag"`
}

// Trace says what the bridge would do with frame (an Ethernet frame, with
// an 802.1Q tag in band if it has one) entering on the port named in.
func (b *Bridge) Trace(in string, frame []byte) (t Trace, err error) {
	set := b.ports.Load()
	var from *port
	for _, q := range set.list {
		if q.info.Name == in {
			from = q
			break
		}
	}
	if from == nil {
		return Trace{}, fmt.Errorf("bridge %s: trace from %s: %w", b.name, in, ErrNoPort)
	}
	t = Trace{Bridge: b.name, In: in, Egress: []TraceEgress{}}
	if from.mirrorDest.Load() {
		t.Verdict, t.Reason = "drop", DropMirrorPort.String()
		return t, nil
	}
	if from.blocked.Load() {
		t.Verdict, t.Reason = "drop", DropBlocked.String()
		return t, nil
	}
	if m := from.mirrors.Load(); m != nil {
		for _, q := range m.in {
			t.Mirrored = append(t.Mirrored, q.info.Name)
		}
	}
	defer func() { // copies of what leaves on a mirrored port
		for _, e := range t.Egress {
			for _, q := range set.list {
				if m := q.mirrors.Load(); q.info.Name == e.Port && m != nil {
					for _, d := range m.out {
						t.Mirrored = append(t.Mirrored, d.info.Name)
					}
				}
			}
		}
	}()
	f := Frame{Data: append([]byte(nil), frame...)} // ingress may move a tag in the buffer
	pol := from.pol.Load()
	vlans, checked := b.checks(pol)
	v, qinq, r, ok := admit(&f, pol, vlans)
	if !ok {
		t.Verdict, t.Reason = "drop", r.String()
		return t, nil
	}
	t.VLAN = v
	d := f.Data
	t.Source = b.traceMAC(set, v, d[6:12], from)
	e, local := unicastTo(b.fdb, set, from, v, d[0:6])
	if d[0]&1 == 0 {
		t.Destination = b.traceMAC(set, v, d[0:6], nil)
	}
	// A worker learns the source before it looks the destination up: a
	// frame to its own source finds it on the ingress port, unless a
	// static entry keeps it elsewhere.
	if !local && !t.Source.Static && bytes.Equal(d[0:6], d[6:12]) {
		e, local = nil, true
	}
	if local {
		t.Verdict, t.Reason = "drop", DropLocal.String()
		return t, nil
	}
	if e != nil {
		t.Verdict, t.Reason = "unicast", "destination learned on "+e.info.Name
		how := egressAsIs
		if checked {
			how = egressOf(pol, e.pol.Load(), v, qinq)
		}
		switch how {
		case egressVLAN:
			t.Verdict, t.Reason = "drop", DropVLAN.String()
		case egressIsolated:
			t.Verdict, t.Reason = "drop", DropIsolated.String()
		default:
			t.Egress = append(t.Egress, TraceEgress{Port: e.info.Name, Tag: tagName(how, v)})
		}
		return t, nil
	}
	t.Verdict = "flood"
	switch {
	case d[0] == 0xff && d[1] == 0xff && d[2] == 0xff && d[3] == 0xff && d[4] == 0xff && d[5] == 0xff:
		t.Reason = "broadcast"
	case d[0]&1 != 0:
		t.Reason = "multicast"
	case t.Destination != nil && t.Destination.Known && t.Destination.Port != "":
		t.Reason = "destination's port is blocked"
	case t.Destination != nil && t.Destination.Known:
		t.Reason = "destination's port is gone"
	default:
		t.Reason = "unknown destination"
	}
	for _, q := range set.list {
		if q == from || q.mirrorDest.Load() {
			continue
		}
		if q.blocked.Load() {
			t.Refused = append(t.Refused, TraceEgress{Port: q.info.Name, Tag: "blocked"})
			continue
		}
		how := egressAsIs
		if checked {
			how = egressOf(pol, q.pol.Load(), v, qinq)
		}
		switch how {
		case egressVLAN:
			t.Refused = append(t.Refused, TraceEgress{Port: q.info.Name, Tag: "vlan"})
		case egressIsolated:
			t.Refused = append(t.Refused, TraceEgress{Port: q.info.Name, Tag: "isolated"})
		default:
			t.Egress = append(t.Egress, TraceEgress{Port: q.info.Name, Tag: tagName(how, v)})
		}
	}
	return t, nil
}

// traceMAC describes the table's entry for mac in VLAN v; with from set,
// also what learning it from that port does.
func (b *Bridge) traceMAC(set *portSet, v uint16, mac []byte, from *port) *TraceMAC {
	k := fdb.MakeKey(v, mac)
	m := &TraceMAC{MAC: k.MAC().String(), VLAN: v}
	e, ok := b.fdb.Get(k)
	if ok {
		m.Known, m.Static = true, e.Static
		m.AgeSeconds = time.Duration(fdb.Now() - e.LastSeen).Seconds()
		if q := set.get(e.Port); q != nil {
			m.Port = q.info.Name
		}
	}
	if from == nil {
		return m
	}
	switch {
	case !ok:
		m.Learn = "learned"
	case e.Static:
		m.Learn = "static: kept"
	case e.Port == from.id:
		m.Learn = "refreshed"
	case m.Port == "":
		m.Learn = "learned (its port is gone)"
	default:
		m.Learn = "moved from " + m.Port
	}
	return m
}

// tagName says how a frame of VLAN v leaves, for a Trace.
func tagName(how egress, v uint16) string {
	switch how {
	case egressUntagged:
		return "untagged"
	case egressTagged:
		return "tagged " + strconv.Itoa(int(v))
	}
	return "as is"
}

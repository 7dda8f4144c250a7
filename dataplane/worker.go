package dataplane

import (
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"syscall"
	"time"

	"github.com/xswitch/xswitch/fdb"
)

// worker forwards batches of frames: a port's own worker those of its port,
// a Shared's worker those of any port of its bridge. Its egress queues grow
// to what batches need and are then reused, so the loop allocates nothing.
type worker struct {
	b *Bridge
	// in is the port whose frames forward takes; nil in a Shared's worker,
	// which names the ingress port of every run it passes.
	in *port

	// qcap is the receive batch size: the most frames a queue holds
	// before it is sent, and what one batch adds to it at most.
	qcap    int
	out     [][]Frame // per egress slot, frames waiting to be sent; grown on use
	pending []int     // slots of out used in this batch, in first-use order
	// queued says, per slot, that the slot is in pending: a queue sent
	// when full is empty but still pending.
	queued []bool
	// mq holds the frames of the ports the bridge's MultiSender reaches,
	// which have no queue in out: one Send for all of them.
	mq multiQueue

	// batchSet is, in a Shared's worker, the port set that begin returned
	// for the batch in progress; nil between batches.
	batchSet *portSet
}

func newWorker(b *Bridge, in *port, batch int) *worker {
	w := &worker{b: b, in: in, qcap: max(batch, 1)}
	if ms := b.tx.ms; ms != nil {
		w.mq.cap = max(ms.BatchSize(), 1)
	}
	return w
}

// run is the forwarding loop of port in. It ends when the port is closed.
func (b *Bridge) run(in *port) {
	defer close(in.done)
	w := newWorker(b, in, in.p.BatchSize())
	rx := make([]Frame, w.qcap)
	backoff := time.Duration(0)
	for {
		n, err := in.p.Receive(rx)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			backoff = receiveFailed(b.log.With("port", in.info.Name), err, backoff)
			continue
		}
		backoff = 0
		w.forward(rx[:n])
	}
}

// receiveFailed logs a receive error and sleeps the next backoff step,
// which it returns: a receiver that keeps failing must not spin a core, and
// its error is logged at most once per step.
func receiveFailed(log *slog.Logger, err error, backoff time.Duration) time.Duration {
	backoff = min(max(2*backoff, time.Millisecond), time.Second)
	log.Warn("receive failed", "err", err, "retry_in", backoff)
	time.Sleep(backoff)
	return backoff
}

// vid returns the VLAN ID of a frame's outer tag, in band or out of band
// (0 when untagged): its VLAN on a transparent port.
func vid(f *Frame) uint16 {
	if f.Tagged {
		return f.VLAN & 0xfff
	}
	d := f.Data
	if len(d) >= EthHdrLen+VLANTagLen {
		if et := binary.BigEndian.Uint16(d[12:14]); et == EtherTypeVLAN || et == EtherTypeQinQ {
			return binary.BigEndian.Uint16(d[14:16]) & 0xfff
		}
	}
	return 0
}

// forward forwards a batch of frames of the worker's port: one pass, then
// one Send for the ports the MultiSender reaches and one per other egress
// port.
func (w *worker) forward(frames []Frame) {
	set := w.begin()
	w.pass(w.in, set, frames, fdb.Now())
	w.flush(set)
}

// begin loads the bridge's ports for a batch and makes room for their
// queues.
func (w *worker) begin() *portSet {
	set := w.b.ports.Load()
	if len(w.out) < len(set.bySlot) {
		w.grow(len(set.bySlot))
	}
	return set
}

// pass learns the sources of frames, which entered on port in, at now,
// looks up their destinations and queues them for their egress ports in
// set, which begin returned; flush sends the queues.
//
// The ingress port's policy is loaded once per pass. While no port of the
// bridge has VLANs and the ingress port is not isolated, frames keep their
// tags and no egress port's policy is read: a bridge without policies pays
// two loads per batch and two tests per frame.
func (w *worker) pass(in *port, set *portSet, frames []Frame, now int64) {
	in.capture(frames, In)
	if in.mirrorDest.Load() {
		in.dropAll(frames, DropMirrorPort)
		return
	}
	in.mirrorIn(frames)
	if in.blocked.Load() {
		in.dropAll(frames, DropBlocked)
		return
	}
	from := in.pol.Load()
	storm := in.storm.Load()
	vlans, checked := w.b.checks(from)
	table := w.b.fdb
	var rxBytes, flooded, gso uint64
	var drops [numDropReasons]uint64
	for i := range frames {
		f := &frames[i]
		rxBytes += uint64(len(f.Data))
		if f.VNet.GSOType != VNetHdrGSONone {
			gso++
		}
		v, qinq, r, ok := admit(f, from, vlans)
		if !ok {
			drops[r]++
			continue
		}
		d := f.Data
		table.Learn(fdb.MakeKey(v, d[6:12]), in.id, now)
		e, local := unicastTo(table, set, in, v, d)
		if local {
			drops[DropLocal]++
			continue
		}
		if e != nil {
			f.Exclusive = true
			if !checked {
				w.add(e, f)
				continue
			}
			switch how := egressOf(from, e.pol.Load(), v, qinq); how {
			case egressVLAN:
				drops[DropVLAN]++
			case egressIsolated:
				drops[DropIsolated]++
			default:
				setTag(w.add(e, f), how, v)
			}
			continue
		}
		if storm != nil && !storm[stormKind(d)].take(now) {
			drops[DropStorm]++
			continue
		}
		flooded++
		f.Exclusive = false
		for _, e := range set.list {
			if e == in || e.mirrorDest.Load() || e.blocked.Load() {
				continue
			}
			if !checked {
				w.add(e, f)
				continue
			}
			if how := egressOf(from, e.pol.Load(), v, qinq); how < egressVLAN {
				setTag(w.add(e, f), how, v)
			}
		}
	}

	c := &in.c
	c.rxPackets.Add(uint64(len(frames)))
	c.rxBytes.Add(rxBytes)
	if flooded != 0 {
		c.flooded.Add(flooded)
	}
	if gso != 0 {
		c.rxGSO.Add(gso)
	}
	for r, n := range drops {
		if n != 0 {
			c.rxDrops[r].Add(n)
		}
	}
}

// dropAll counts frames received on in and dropped, all for reason r.
func (in *port) dropAll(frames []Frame, r DropReason) {
	var bytes uint64
	for i := range frames {
		bytes += uint64(len(frames[i].Data))
	}
	in.c.rxPackets.Add(uint64(len(frames)))
	in.c.rxBytes.Add(bytes)
	in.c.rxDrops[r].Add(uint64(len(frames)))
}

func (w *worker) grow(slots int) {
	w.out = append(w.out, make([][]Frame, slots-len(w.out))...)
	w.queued = append(w.queued, make([]bool, slots-len(w.queued))...)
	if cap(w.pending) < slots {
		w.pending = make([]int, 0, slots)
	}
}

// add queues a copy of f for egress port e, sending the queue first when it
// holds a batch, and returns the copy, which the caller may retag for e
// alone.
func (w *worker) add(e *port, f *Frame) *Frame {
	if e.mtx.reached {
		return w.addMulti(e, f)
	}
	q := w.out[e.slot]
	if len(q) >= w.qcap {
		send(e, q)
		q = q[:0]
	}
	if len(q) == 0 && !w.queued[e.slot] {
		w.queued[e.slot] = true
		w.pending = append(w.pending, e.slot)
	}
	// A queue grows to the most frames a batch gave it, and stays: most
	// ports of a big bridge get one frame of a flood per batch, or none.
	q = append(q, *f)
	w.out[e.slot] = q
	return &q[len(q)-1]
}

// flush sends every queued frame.
func (w *worker) flush(set *portSet) {
	w.flushMulti()
	for _, slot := range w.pending {
		q := w.out[slot]
		if len(q) > 0 {
			send(set.bySlot[slot], q)
		}
		clear(q) // drop references into the ingress port's buffers
		w.out[slot] = q[:0]
		w.queued[slot] = false
	}
	w.pending = w.pending[:0]
}

// send hands frames to e's device, skipping (and counting) the frames it
// refuses.
func send(e *port, frames []Frame) {
	e.txMu.Lock()
	defer e.txMu.Unlock()
	c := &e.c
	if e.detached {
		c.txDrops[DropPortRemoved].Add(uint64(len(frames)))
		return
	}
	var sent, bytes, mtu, other uint64
	for len(frames) > 0 {
		n, err := e.p.Send(frames)
		e.capture(frames[:n], Out)
		e.mirrorOut(frames[:n])
		for i := range frames[:n] {
			bytes += uint64(len(frames[i].Data))
		}
		sent += uint64(n)
		if err == nil || n >= len(frames) {
			break
		}
		if errors.Is(err, syscall.EMSGSIZE) {
			mtu++
		} else {
			other++
		}
		frames = frames[n+1:]
	}
	c.txPackets.Add(sent)
	c.txBytes.Add(bytes)
	if mtu != 0 {
		c.txDrops[DropMTU].Add(mtu)
	}
	if other != 0 {
		c.txDrops[DropTxError].Add(other)
	}
}

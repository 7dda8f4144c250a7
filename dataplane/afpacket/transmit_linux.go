package afpacket

import (
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/dataplane"
)

// transmitter is the sending side of a port: a blocking socket outside the
// netpoller (see openSender) and the sendmmsg messages it sends. The
// dataplane serializes Send, so only one goroutine uses it at a time.
type transmitter struct {
	name    string             // interface name; immutable
	ifindex int32              // the interface the socket is bound to, 0 if getsockname failed; immutable
	file    *os.File           // owns the sending socket's descriptor; closed by close
	rc      syscall.RawConn    // file's; every syscall on the socket goes through it, so none can run on a closed (and perhaps reused) descriptor
	tx      sender             // preallocated sendmmsg messages
	sent    int                // messages sent by the last flush
	errno   syscall.Errno      // errno of the last message refused by the last flush; 0 if none
	errs    dataplane.OpErrors // the errors of refused frames, made once per errno
	flushFn func(uintptr) bool // t.flush, bound once so that RawConn.Write does not allocate
	stats   *counters          // the port's; Tx* written here
}

// newTransmitter takes over file; on error it closes it.
func newTransmitter(name string, batch int, file *os.File, stats *counters) (*transmitter, error) {
	rc, err := file.SyscallConn()
	if err != nil {
		file.Close()
		return nil, opError(name, "netpoller", err)
	}
	t := &transmitter{name: name, file: file, rc: rc, tx: newSender(batch), stats: stats,
		errs: dataplane.OpErrors{Kind: "afpacket", Port: name, Op: "sendmmsg"}}
	t.flushFn = t.flush
	t.ifindex = boundIfindex(rc)
	return t, nil
}

// boundIfindex returns the interface rc's socket is bound to, 0 if it
// cannot tell.
func boundIfindex(rc syscall.RawConn) int32 {
	var ifindex int32
	rc.Control(func(fd uintptr) {
		sa, err := unix.Getsockname(int(fd))
		if ll, ok := sa.(*unix.SockaddrLinklayer); err == nil && ok {
			ifindex = int32(ll.Ifindex)
		}
	})
	return ifindex
}

// send is Port.Send once the port is known to be open.
func (t *transmitter) send(frames []dataplane.Frame) (int, error) {
	sent := 0
	for len(frames) > 0 {
		k, bad := t.tx.load(frames)
		frames = frames[k:]
		if t.tx.n > 0 {
			if err := t.rc.Write(t.flushFn); err != nil {
				t.tx.reset()
				return sent, opError(t.name, "send", net.ErrClosed)
			}
			sent += t.sent
			if t.errno != 0 {
				return sent, t.errs.Get(t.errno)
			}
		}
		if bad {
			t.stats.txInvalid.Add(1)
			return sent, t.errs.Get(syscall.EINVAL)
		}
	}
	return sent, nil
}

// flush is RawConn.Write's callback: it sends the loaded messages, without
// waiting, and is done.
func (t *transmitter) flush(fd uintptr) bool {
	t.sent, t.errno = t.tx.flush(fd, t.stats)
	return true
}

func (t *transmitter) close() error { return t.file.Close() }

// Package afpacket is a dataplane.Port on a Linux AF_PACKET socket: a
// TPACKET_V3 ring for receiving, sendmmsg for sending, and the virtio-net
// header on both, so checksum offload and GSO super-frames pass through.
//
// Receiving. The kernel copies frames into the blocks of a ring shared with
// the switch and hands a block over when it is full or BlockTimeout after
// its first frame. Receive waits in Go's netpoller (no thread per port),
// then returns frames whose Data point into the ring: no copy. They stay
// valid until the next Receive on the port, which gives their blocks back to
// the kernel. Out-of-band VLAN tags are reported in Frame.Tagged/VLAN/TPID;
// frames too long for a block are counted (Stats.RxTruncated), not returned.
// The socket is in promiscuous mode (undone by the kernel when it closes)
// and does not see frames transmitted on the interface, by the switch or by
// anyone else.
//
// Sending. Send writes each frame with its virtio-net header, re-inserting an
// out-of-band tag after the MACs. It never waits: it stops at the first frame
// the kernel refuses, counts it (Stats.Tx*) and reports it, and the caller
// decides about the rest. It sends on a second socket, a blocking one that
// receives nothing and that the netpoller leaves alone: in the netpoller,
// every sent frame the kernel frees would wake the netpoller's epoll.
// A MultiSender sends for every port of its namespace at once instead: one
// unbound socket whose sendmmsg messages each name their interface, so a
// flood costs a system call per thousand frames rather than one per port.
//
// Closing. Close may be called from any goroutine; it wakes a blocked
// Receive, which returns an error satisfying errors.Is(err, net.ErrClosed).
// The ring stays mapped while the Receive goroutine may still hold frames
// from it, and is unmapped by its next Receive (which returns net.ErrClosed
// at once). So the goroutine that receives must call Receive after Close,
// as a loop that stops on net.ErrClosed does; otherwise the ring stays
// mapped until the process exits.
//
// Stats may be called from any goroutine, also after Close.
//
// Ports of the fast path. A Shared is one socket bound to the fast path's
// punt ethertype on every interface of its namespace: a dataplane.Receiver
// that delivers the punts of every port with the ifindex each came in on,
// from a TPACKET_V2 ring (a frame is handed over as soon as it is written:
// no timer). The ports themselves are then SendOnly: a sending socket, no
// ring, nothing to receive.
//
// Ports without the fast path. OpenTaps opens a few Shared receivers, each
// bound to every protocol on every interface and blind to what they
// transmit, as one PACKET_FANOUT group whose eBPF program hands each frame
// of a known port to that port's tap and whose socket filter drops the
// rest: each tap has its own ring and reader, none has a timer, a frame
// reaches one tap, and a flooding port fills only its own tap's ring. Such
// ports are SendOnly too. Where no filter can be had, OpenRing gives a port
// a TPACKET_V2 ring of its own (a RingPort): no timer either, but a ring
// per port.
package afpacket

// Package afxdp is a dataplane.Port on Linux AF_XDP sockets: one socket per
// receive queue of the interface, all sharing one UMEM (a region of frame
// buffers registered with the kernel), so frames move between ports as
// descriptors instead of being copied.
//
// Frames reach a socket only through an XDP program that redirects them to
// it (an XSKMAP entry): Config.Register is called with each socket so the
// caller can put it in its program's map.
//
// Receiving. The kernel takes free frames from a socket's fill ring, writes
// received frames into them and posts descriptors on the RX ring. Receive
// returns those frames in place; their Data stay valid until the next
// Receive on the port, which hands them back to the fill ring, except the
// ones another port's Send took. A fill ring holds what its socket's
// traffic needs: a socket that has never received a few frames, one that
// has at least an equal share of a quarter of the UMEM, and a busy one twice
// what the kernel took since the last Receive, lent from the pool while the
// fill rings hold less than three quarters of the UMEM (see refill). After
// a full batch, Receive spins on the rings for Config.SpinTime before it
// sleeps in Go's netpoller, on an epoll instance of the port's sockets: an
// idle port costs no CPU and no thread. A port whose fill rings ran dry with the pool
// empty is woken when frames come back to the pool, not by a timer.
// Sockets bind with XDP_USE_NEED_WAKEUP, so the kernel is woken only when
// it asks to be.
//
// Sending. Send posts descriptors on the TX ring of the port's first queue
// and wakes the kernel when it asks. A frame the dataplane sends to this
// port only (Frame.Exclusive) whose buffer lies in the same UMEM and was
// received by an AF_XDP port is sent without a copy: its descriptor moves to
// the TX ring. Every other frame is copied into a free UMEM frame, an
// out-of-band VLAN tag put back after the MACs. An AF_XDP device takes no
// offload metadata, so Send finishes partial checksums and cuts GSO
// super-frames into segments in software (dataplane.FinishChecksum,
// dataplane.Segmenter) first. Frames longer than the MTU are refused with
// EMSGSIZE.
//
// Jumbo frames. A UMEM frame is at most a page (Linux 6.18 refuses 8 and
// 16 KiB frames on ordinary pages), so a frame longer than one, less the kernel's
// headroom, spans several: the sockets are bound with XDP_USE_SG
// (multi-buffer, Linux 6.6) and such a frame comes as descriptors marked
// XDP_PKT_CONTD but the last. Receive joins the parts into a buffer of the
// port's, up to 32 such frames a call; Send copies a long frame into as many
// UMEM frames as it needs. Copy mode always binds with XDP_USE_SG, zero-copy
// only for a link whose MTU needs it; a UMEM's first socket decides for
// those that share it, and a port that needs multi-buffer on a UMEM without
// it gets a UMEM of its own. MaxMTU is the longest MTU a port carries; Open
// refuses a link with a longer one (ErrMTU). Frames the kernel could not
// fit are dropped by it and counted (KernelDrops): never truncated.
//
// Every UMEM frame has one owner at a time: the free pool, or one socket
// (its fill or RX ring and the frames Receive returned, or its TX and
// completion rings). A sender's frames go back to the pool at the end of
// each Send, and a closed socket's when it closes, so none leak or idle in
// a port that stopped sending; UMEM.Free counts the pool.
package afxdp

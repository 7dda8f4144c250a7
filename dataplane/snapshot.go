package dataplane

import (
	"syscall"

	"github.com/xswitch/xswitch/fdb"
)

// PortStatus is what exporters show of a port at one moment: its
// description, with the Policy in force (not the one it was attached with),
// and the dataplane's counters, with the figures particular to its kind in
// the section of that kind. Bridge.Ports builds it once per port; the
// metrics collector and the control API both read it.
type PortStatus struct {
	PortInfo
	ID       fdb.PortID
	Counters CounterValues
	// KernelDrops is set for a port whose kernel side drops frames before
	// the dataplane sees them (a KernelDropper).
	KernelDrops *KernelDrops
	// TxErrors counts, by reason, what the port's sockets refused to send;
	// empty for a port that keeps no such counters. The reasons depend on
	// the kind.
	TxErrors []ReasonCount
	AFPacket *AFPacketStatus // set for an AF_PACKET port
	AFXDP    *AFXDPStatus    // set for an AF_XDP port
}

// KernelDrops are the frames a port's kernel side dropped.
type KernelDrops struct {
	RingFull  uint64 // the receive ring was full
	Truncated uint64 // too long for the receive ring
}

// ReasonCount is a counter of one reason, named for exporters.
type ReasonCount struct {
	Reason string
	Count  uint64
}

// AFPacketStatus are the figures particular to an AF_PACKET port.
type AFPacketStatus struct {
	// RingFreezes counts the times the receive ring ran full and the
	// kernel stopped filling it until a block was handed back.
	RingFreezes uint64
	// SocketErrors counts asynchronous socket errors (e.g. ENETDOWN while
	// the link was down); LastSocketError is the latest, 0 if none.
	SocketErrors    uint64
	LastSocketError syscall.Errno
}

// AFXDPStatus are the figures particular to an AF_XDP port.
type AFXDPStatus struct {
	ZeroCopy   bool // its sockets are bound in zero-copy mode
	Queues     int  // sockets, one per receive queue
	SharesUMEM bool // the kernel let it share the bridge's UMEM
	// TxUncopied counts frames sent from the receiving port's buffer.
	TxUncopied uint64
	// Segmented counts GSO super-frames cut in software, Segments what
	// they gave.
	Segmented, Segments uint64
	// ChecksumsCompleted counts received frames whose pending TCP or UDP
	// checksum the port finished.
	ChecksumsCompleted uint64
}

// StatusReporter is implemented by ports with figures of their own kind:
// ReportStatus fills their section of s (and TxErrors). It is called from
// any goroutine, also after the port is closed.
type StatusReporter interface {
	ReportStatus(s *PortStatus)
}

// status builds the PortStatus of an attached port.
func (q *port) status() PortStatus {
	s := PortStatus{PortInfo: q.info, ID: q.id, Counters: q.c.Load()}
	s.Policy = clonePolicy(*q.pol.Load())
	if kd, ok := q.p.(KernelDropper); ok {
		full, trunc := kd.KernelDrops()
		s.KernelDrops = &KernelDrops{RingFull: full, Truncated: trunc}
	}
	if r, ok := q.p.(StatusReporter); ok {
		r.ReportStatus(&s)
	}
	return s
}

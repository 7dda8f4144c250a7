package bpf

// PortStats are the fast path's counters of one ingress port, summed over
// the CPUs.
type PortStats struct {
	Packets        uint64 // received and forwarded in the kernel
	Bytes          uint64 // of those frames, as on the wire (VLAN tag included)
	XDPPackets     uint64 // of Packets, those redirected by XDP
	RedirectErrors uint64 // XDP redirects refused by the devmap (then forwarded by TC or userspace)
	PuntErrors     uint64 // frames TC could not punt (too long to grow by the punt header): dropped
	Punts          [len(PuntReasons)]uint64
	// Drops are the frames the programs dropped, by the dataplane's drop
	// reason names ("spoofed", "vlan", "isolated"; every one of
	// DropReasons is there). A frame the egress port's VLANs or isolation
	// refuse is counted on its ingress port, as the userspace switch counts
	// unicast.
	Drops map[string]uint64
	// TxPackets are the frames the programs redirected to the port, from
	// any port; TxBytes their bytes as they left, tag pushed or popped.
	TxPackets uint64
	TxBytes   uint64
	// DropBytes are the bytes of the frames in Drops and PuntErrors.
	DropBytes uint64
	// FDBRefused are the frames the programs forwarded or dropped without
	// learning their source, the port being at its MAC limit (Port.MaxMACs).
	FDBRefused uint64
	// Flooded are the frames TC flooded itself (floodmap.go), apart from
	// Packets; FloodedBytes their bytes as on the wire.
	Flooded      uint64
	FloodedBytes uint64
}

// Received is what the programs took from the port and did not hand to
// userspace, frames and bytes: those they forwarded, flooded or dropped.
func (s PortStats) Received() (packets, bytes uint64) {
	packets = s.Packets + s.Flooded + s.PuntErrors
	for _, d := range s.Drops {
		packets += d
	}
	return packets, s.Bytes + s.FloodedBytes + s.DropBytes
}

// Stats returns the counters of an attached port.
func (fp *FastPath) Stats(ifindex int) (PortStats, bool) {
	var (
		per   []xswitchPortStats
		s     PortStats
		drops [len(DropReasons)]uint64
	)
	if err := fp.objs.XsStats.Lookup(uint32(ifindex), &per); err != nil {
		return s, false
	}
	for _, c := range per {
		s.Packets += c.Packets
		s.Bytes += c.Bytes
		s.XDPPackets += c.XdpPackets
		s.RedirectErrors += c.RedirectErrors
		s.PuntErrors += c.PuntErrors
		s.TxPackets += c.TxPackets
		s.TxBytes += c.TxBytes
		s.DropBytes += c.DropBytes
		s.FDBRefused += c.FdbRefused
		s.Flooded += c.Flooded
		s.FloodedBytes += c.FloodedBytes
		for i := range s.Punts {
			s.Punts[i] += c.Punts[i]
		}
		for i := range drops {
			drops[i] += c.Drops[i]
		}
	}
	s.Drops = make(map[string]uint64, len(DropReasons))
	for i, r := range DropReasons {
		s.Drops[r] = drops[i]
	}
	return s, true
}

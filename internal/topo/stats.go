package topo

// LinkStats are a link's kernel counters, as `ip -s link` shows them.
type LinkStats struct {
	RxPackets, TxPackets uint64
	RxBytes, TxBytes     uint64
	RxErrors, TxErrors   uint64
	RxDropped, TxDropped uint64
	Multicast            uint64
}

// Sub returns the counters' growth since an earlier reading.
func (s LinkStats) Sub(earlier LinkStats) LinkStats {
	return LinkStats{
		RxPackets: s.RxPackets - earlier.RxPackets, TxPackets: s.TxPackets - earlier.TxPackets,
		RxBytes: s.RxBytes - earlier.RxBytes, TxBytes: s.TxBytes - earlier.TxBytes,
		RxErrors: s.RxErrors - earlier.RxErrors, TxErrors: s.TxErrors - earlier.TxErrors,
		RxDropped: s.RxDropped - earlier.RxDropped, TxDropped: s.TxDropped - earlier.TxDropped,
		Multicast: s.Multicast - earlier.Multicast,
	}
}

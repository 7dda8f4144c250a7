// Package control is xswitchd's control API: JSON over HTTP on a unix socket,
// for xswitchctl and for scripts.
package control

// Port is a port and its counters, as GET /v1/ports returns them.
type Port struct {
	Bridge string `json:"bridge"`
	Name   string `json:"port"`
	Kind   string `json:"kind"`
	Uplink bool   `json:"uplink"`
	DomID  *int   `json:"domid,omitempty"`
	DevID  *int   `json:"devid,omitempty"`
	// VLAN is the port's VLANs as policy.ParseVLANs reads them:
	// "transparent", "access 10", "trunk 20,30 native 10".
	VLAN      string `json:"vlan"`
	Isolated  bool   `json:"isolated"`
	AntiSpoof bool   `json:"antispoof"`
	// MAC is the guest's MAC anti-spoofing checks, "" when none is set.
	MAC string `json:"mac"`
	// Allowed are the source addresses and prefixes anti-spoofing lets
	// through; a single address is written without its prefix length.
	Allowed []string `json:"allowed"`
	// Runtime says the port was added through the control API, not by the
	// configuration file or the naming rule; Spec is then what it was
	// asked to be (empty fast path and port type take the bridge's), when
	// the daemon tells.
	Runtime   bool              `json:"runtime"`
	Spec      *PortSpec         `json:"spec,omitempty"`
	RxPackets uint64            `json:"rx_packets"`
	RxBytes   uint64            `json:"rx_bytes"`
	RxGSO     uint64            `json:"rx_gso_packets"`
	TxPackets uint64            `json:"tx_packets"`
	TxBytes   uint64            `json:"tx_bytes"`
	Flooded   uint64            `json:"flooded"`
	Drops     map[string]uint64 `json:"drops"`
	// FastPath is the port's eBPF fast-path mode: xdp, tc or off. Frames
	// it forwards are counted here, not in RxPackets.
	FastPath        string            `json:"fastpath"`
	FastPathPackets uint64            `json:"fastpath_packets"`
	FastPathBytes   uint64            `json:"fastpath_bytes"`
	Punts           map[string]uint64 `json:"fastpath_punts,omitempty"`
	// TxErrors counts by reason what the port's sockets refused to send.
	TxErrors map[string]uint64 `json:"tx_errors,omitempty"`
	// AFPacket is set for an AF_PACKET port.
	AFPacket *AFPacket `json:"afpacket,omitempty"`
	// AFXDP is set for an AF_XDP port.
	AFXDP *AFXDP `json:"afxdp,omitempty"`
	// Blocked says loop protection blocks the port, until BlockedUntil
	// (RFC 3339); LoopBlocks counts the times it did (docs/loops.md).
	Blocked      bool   `json:"blocked"`
	BlockedUntil string `json:"blocked_until,omitempty"`
	LoopBlocks   uint64 `json:"loop_blocks"`
}

// AFPacket are the counters particular to an AF_PACKET port.
type AFPacket struct {
	RingFreezes     uint64 `json:"ring_freezes"`
	SocketErrors    uint64 `json:"socket_errors"`
	LastSocketError string `json:"last_socket_error,omitempty"`
}

// AFXDP are the counters particular to an AF_XDP port.
type AFXDP struct {
	Socket             string `json:"socket"` // zerocopy or copy
	Queues             int    `json:"queues"`
	SharesUMEM         bool   `json:"shares_umem"`
	TxUncopied         uint64 `json:"tx_uncopied_packets"`
	Segmented          uint64 `json:"segmented_packets"`
	Segments           uint64 `json:"segments"`
	ChecksumsCompleted uint64 `json:"checksums_completed"`
}

// FDBEntry is a learned or static MAC, as GET /v1/fdb returns it.
type FDBEntry struct {
	Bridge     string  `json:"bridge"`
	VLAN       uint16  `json:"vlan"`
	MAC        string  `json:"mac"`
	Port       string  `json:"port"`
	Static     bool    `json:"static"`
	AgeSeconds float64 `json:"age_seconds"`
}

// Bridge is a bridge and its table's counters, as GET /v1/bridges returns it.
type Bridge struct {
	Name       string `json:"bridge"`
	Ports      int    `json:"ports"`
	FDBEntries int    `json:"fdb_entries"`
	Learned    uint64 `json:"fdb_learned"`
	Moved      uint64 `json:"fdb_moved"`
	Aged       uint64 `json:"fdb_aged"`
	Evicted    uint64 `json:"fdb_evicted"`
	Refused    uint64 `json:"fdb_refused"`
	Flushed    uint64 `json:"fdb_flushed"`
}

// Flushed is the answer of POST /v1/fdb/flush.
type Flushed struct {
	Removed int `json:"removed"`
}

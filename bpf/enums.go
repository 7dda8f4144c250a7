package bpf

// The enums of maps.h under Go names. bpf2go generates their values (the
// -type list in gen.go), so the programs and the loader cannot disagree.

// PuntReasons name the reasons a frame is punted to userspace, indexed like
// PortStats.Punts (enum punt_reason).
var PuntReasons = [xswitchPuntReasonPUNT_MAX]string{
	xswitchPuntReasonPUNT_UNKNOWN_SOURCE: "unknown_source",
	xswitchPuntReasonPUNT_MOVED_SOURCE:   "moved_source",
	xswitchPuntReasonPUNT_FLOOD:          "flood",
	xswitchPuntReasonPUNT_UNKNOWN_DEST:   "unknown_destination",
	xswitchPuntReasonPUNT_LOCAL_DEST:     "local_destination",
	xswitchPuntReasonPUNT_EGRESS:         "egress_not_fastpath",
	xswitchPuntReasonPUNT_MTU:            "mtu",
	xswitchPuntReasonPUNT_UNPARSED:       "unparsed",
	xswitchPuntReasonPUNT_XDP_LIMIT:      "xdp_limit",
	xswitchPuntReasonPUNT_MIRROR:         "mirror",
}

// DropReasons name the reasons the programs drop a frame, indexed like the
// drops of struct port_stats (enum drop_reason): the names of the
// dataplane's drop reasons, so exporters add the two.
var DropReasons = [xswitchDropReasonDROP_MAX]string{
	xswitchDropReasonDROP_SPOOFED:  "spoofed",
	xswitchDropReasonDROP_VLAN:     "vlan",
	xswitchDropReasonDROP_ISOLATED: "isolated",
	xswitchDropReasonDROP_MIRROR:   "mirror_destination",
	xswitchDropReasonDROP_BLOCKED:  "blocked",
	xswitchDropReasonDROP_STORM:    "storm",
}

// PuntEtherType is the ethertype of the header the TC program puts in the
// frames it punts: a fast-path port's socket binds to it (see
// afpacket.Config.PuntEtherType).
const PuntEtherType = uint16(xswitchPuntHeaderPUNT_ETHERTYPE)

// PuntHeaderLen is the length of that header: its ethertype and the punt
// reason, between the frame's MAC addresses and its own ethertype.
const PuntHeaderLen = int(xswitchPuntHeaderPUNT_HDR_LEN)

// Flags of the maps' entries (enum port_flag, enum fdb_flag).
const (
	portXDPTx      = uint32(xswitchPortFlagPORT_XDP_TX)
	portPeer       = uint32(xswitchPortFlagPORT_PEER)
	portXSK        = uint32(xswitchPortFlagPORT_XSK)
	portNoFast     = uint32(xswitchPortFlagPORT_NO_FAST)
	portIsolated   = uint32(xswitchPortFlagPORT_ISOLATED)
	portAntiSpoof  = uint32(xswitchPortFlagPORT_ANTISPOOF)
	portMirrorIn   = uint32(xswitchPortFlagPORT_MIRROR_IN)
	portMirrorOut  = uint32(xswitchPortFlagPORT_MIRROR_OUT)
	portMirrorDest = uint32(xswitchPortFlagPORT_MIRROR_DEST)
	portBlocked    = uint32(xswitchPortFlagPORT_BLOCKED)
	fdbStatic      = uint32(xswitchFdbFlagFDB_STATIC)
)

// Address families of the allowed-address map's keys (enum addr_family).
const (
	addrIPv4 = uint8(xswitchAddrFamilyADDR_IPV4)
	addrIPv6 = uint8(xswitchAddrFamilyADDR_IPV6)
)

package control

// EVPNSession is a BGP neighbor of GET /v1/evpn/sessions.
type EVPNSession struct {
	Neighbor    string `json:"neighbor"`
	ASN         uint32 `json:"asn"`
	State       string `json:"state"` // established, active, connect, idle...
	Established bool   `json:"established"`
	Uptime      int64  `json:"uptime_unix,omitempty"` // when it came up
	Received    uint64 `json:"routes_received"`       // its routes in the table now
	Sent        uint64 `json:"routes_sent"`
}

// EVPNVNI is a local VNI of GET /v1/evpn/vnis.
type EVPNVNI struct {
	VNI        uint32   `json:"vni"`
	VTEP       string   `json:"vtep"` // the local one
	RD         string   `json:"rd"`
	RT         string   `json:"rt"`
	LocalMACs  int      `json:"local_macs"`
	RemoteMACs int      `json:"remote_macs"`
	Flood      []string `json:"flood"` // remote VTEPs from type-3 routes
}

// EVPNVTEP is a remote VTEP of GET /v1/evpn/vteps.
type EVPNVTEP struct {
	VNI   uint32 `json:"vni"`
	VTEP  string `json:"vtep"`
	Peer  string `json:"peer"`
	Stale bool   `json:"stale,omitempty"` // its session is down: removed when the grace period ends
}

// EVPNMAC is a MAC of GET /v1/evpn/macs: advertised from here (origin
// local) or received (origin remote).
type EVPNMAC struct {
	VNI       uint32 `json:"vni"`
	MAC       string `json:"mac"`
	IP        string `json:"ip,omitempty"`
	Origin    string `json:"origin"`
	VTEP      string `json:"vtep"`
	Seq       uint32 `json:"seq"`
	Peer      string `json:"peer,omitempty"`
	Installed bool   `json:"installed"` // the remote route that won, in the dataplane
	Stale     bool   `json:"stale,omitempty"`
}

package control

// Takeover is the answer of POST /v1/takeover and POST /v1/release: what
// was taken over or released, and what moved.
type Takeover struct {
	Kind      string   `json:"kind"`      // nic or bridge
	Interface string   `json:"interface"` // as named before the takeover: eth0, xenbr0
	Bridge    string   `json:"bridge"`
	Uplink    string   `json:"uplink"`
	Ports     []string `json:"ports,omitempty"`
	HostPort  string   `json:"host_port"`
	// Changed is false when there was nothing to do.
	Changed   bool     `json:"changed"`
	Message   string   `json:"message"`
	Steps     []string `json:"steps,omitempty"`
	Addresses []string `json:"addresses,omitempty"`
	Routes    []string `json:"routes,omitempty"`
	// OutageMS is how long dom0's addresses were on no forwarding link.
	OutageMS float64 `json:"outage_ms"`
}

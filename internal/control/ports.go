package control

import "errors"

// PortSpec is the body of PUT /v1/ports/{name}: the bridge a port joins at
// run time and its settings. Empty strings take the defaults (transparent
// VLANs, the bridge's fast-path mode and port type).
type PortSpec struct {
	Bridge    string   `json:"bridge"`
	VLAN      string   `json:"vlan,omitempty"` // policy.ParseVLANs syntax: "access 10", "trunk 20,30 native 10"
	Isolated  bool     `json:"isolated,omitempty"`
	AntiSpoof bool     `json:"antispoof,omitempty"`
	MAC       string   `json:"mac,omitempty"`
	Allowed   []string `json:"allowed,omitempty"` // addresses or prefixes
	FastPath  string   `json:"fastpath,omitempty"`
	PortType  string   `json:"port_type,omitempty"`
}

// PortChange is the answer of PUT and DELETE /v1/ports/{name}.
type PortChange struct {
	Port   string `json:"port"`
	Bridge string `json:"bridge,omitempty"`
	// Changed is false when the port was already as asked.
	Changed bool   `json:"changed"`
	Message string `json:"message"`
}

// Static is the body of PUT and DELETE /v1/fdb/static: a MAC pinned to a
// port at run time (Port is ignored by DELETE).
type Static struct {
	Bridge string `json:"bridge"`
	MAC    string `json:"mac"`
	VLAN   uint16 `json:"vlan"`
	Port   string `json:"port,omitempty"`
}

// StaticChange is the answer of PUT and DELETE /v1/fdb/static.
type StaticChange struct {
	Static
	Changed bool   `json:"changed"`
	Message string `json:"message"`
}

// Error is the body of every answer that is not 2xx.
type Error struct {
	Error string `json:"error"`
}

// Errors a port or static-MAC call wraps, so the server answers with the
// right status: ErrInvalid (400: bad VLAN list, MAC, address ...) and
// ErrNotFound (404: unknown bridge, no such interface).
var (
	ErrInvalid  = errors.New("invalid request")
	ErrNotFound = errors.New("not found")
)

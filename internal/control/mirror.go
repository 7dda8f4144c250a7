package control

// Mirror is a port mirror: the frames port From receives ("ingress"),
// sends ("egress") or both go, copied, to port To, which takes no other
// part in switching. GET /v1/mirrors lists them; PUT /v1/mirrors adds one
// (or changes its direction), DELETE /v1/mirrors removes one added so.
type Mirror struct {
	Bridge    string `json:"bridge"`
	From      string `json:"from"`
	To        string `json:"to"`
	Direction string `json:"direction,omitempty"` // default both
	// Runtime says the mirror was added through the control API, not by
	// the configuration file; ignored in requests.
	Runtime bool `json:"runtime,omitempty"`
	// Active says both ports are attached, so frames are copied; ignored
	// in requests.
	Active bool `json:"active,omitempty"`
}

// MirrorChange is the answer of PUT and DELETE /v1/mirrors.
type MirrorChange struct {
	Mirror
	Changed bool   `json:"changed"`
	Message string `json:"message"`
}

package bpf

import (
	"errors"
	"fmt"
)

// Mode says how a port takes part in the fast path.
type Mode string

// The port modes.
const (
	ModeAuto Mode = "auto" // native XDP where the driver has it, TC otherwise
	ModeXDP  Mode = "xdp"  // native XDP (and TC for what XDP cannot redirect)
	ModeTC   Mode = "tc"   // TC ingress only
	ModeOff  Mode = "off"  // no fast path: userspace forwards every frame
)

// ParseMode checks a mode name.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeAuto, ModeXDP, ModeTC, ModeOff:
		return m, nil
	case "":
		return ModeAuto, nil
	}
	return "", fmt.Errorf("unknown fast path mode %q (want auto, xdp, tc or off)", s)
}

// autoMode is the mode auto resolves to on a port that is not an AF_XDP
// port: native XDP where the driver has it, but not on a veth (its peer
// loses TSO as soon as the veth has an XDP program, frags or not, which
// would cost a guest its super-frames) nor where the device strips VLAN tags
// into metadata, which XDP cannot see.
func autoMode(kind string, feats uint64, stripsTags bool) Mode {
	if feats&xdpActBasic != 0 && kind != "veth" && !stripsTags {
		return ModeXDP
	}
	return ModeTC
}

// xskMode is the mode of an AF_XDP port, whose XDP program alone feeds its
// sockets: xdp (auto means xdp) or off (every frame to the sockets).
func xskMode(m Mode) (Mode, error) {
	switch m {
	case ModeAuto:
		return ModeXDP, nil
	case ModeTC:
		return "", errors.New("an AF_XDP port's fast path is xdp or off, not tc")
	}
	return m, nil
}

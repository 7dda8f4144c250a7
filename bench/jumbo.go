package main

import (
	"flag"

	"github.com/xswitch/xswitch/internal/topo"
)

// mtu, when set, is the MTU of the guests that talk and of their vifs, as
// on a storage or DRBD bridge: the figures are then for jumbo frames.
var mtu = flag.Int("mtu", 0, "`MTU` of guests a and b and of their vifs, e.g. 9000 for jumbo frames (0: the default)")

// setMTU gives the guests' eth0 and their vifs the -mtu MTU, if set.
func setMTU(h *topo.Host, guests ...*topo.Guest) error {
	if *mtu == 0 {
		return nil
	}
	for _, g := range guests {
		if err := g.SetMTU("eth0", *mtu); err != nil {
			return err
		}
		if err := h.SetMTU(g.Vif(), *mtu); err != nil {
			return err
		}
	}
	return nil
}

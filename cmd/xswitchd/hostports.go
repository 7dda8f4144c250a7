package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/xswitch/xswitch/internal/hostport"
)

// cleanupHostPorts removes the namespace's host ports when remove is set,
// and otherwise lists them as kept: dom0's addresses and routes live on
// them, and a cleanup before an upgrade (or over ssh through one of them)
// must not take dom0 off the network.
func cleanupHostPorts(remove bool, out io.Writer) error {
	found, err := hostport.Find()
	if err != nil {
		return err
	}
	var errs []error
	for _, h := range found {
		if !remove {
			fmt.Fprintf(out, "host port %s (bridge %s) kept, with its addresses; -remove-host-ports removes it\n", h.Name, h.Bridge)
			continue
		}
		if err := hostport.Remove(h.Name); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(out, "host port %s (bridge %s) removed\n", h.Name, h.Bridge)
	}
	return errors.Join(errs...)
}

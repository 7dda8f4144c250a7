package daemon

import (
	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/dataplane/afpacket"
)

// multiSender is a dataplane.MultiSender the daemon closes.
type multiSender interface {
	dataplane.MultiSender
	Close() error
}

// multiSenderOpener is implemented by the sockets that can send the frames
// of many AF_PACKET ports at once: the kernel's.
type multiSenderOpener interface {
	MultiSender() (multiSender, error)
}

var _ multiSenderOpener = (*kernelSockets)(nil)

// MultiSender opens the one socket that sends the frames of every AF_PACKET
// port of the namespace.
func (s *kernelSockets) MultiSender() (multiSender, error) {
	m, err := afpacket.OpenMultiSender(afpacket.MultiConfig{})
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return m, nil
}

// multiSends is the MultiSender every bridge shares: opened with the first
// bridge, closed after the last port. Under the daemon's mu.
type multiSends struct {
	ms     multiSender // nil until opened, and if it could not be
	opened bool        // the opening was tried
}

// multiSender returns the bridges' MultiSender, opening it the first time;
// nil when the sockets have none or it did not open, and each port then
// sends on its own socket. Under mu or before the daemon runs.
func (d *Daemon) multiSender() dataplane.MultiSender {
	m := &d.multi
	if !m.opened {
		m.opened = true
		if o, ok := d.sys.sockets.(multiSenderOpener); ok {
			ms, err := o.MultiSender()
			if err != nil {
				d.log.Warn("cannot open the socket that sends to many ports at once: each AF_PACKET port sends on its own, one system call per port of a flood", "err", err)
			}
			m.ms = ms
		}
	}
	if m.ms == nil {
		return nil
	}
	return m.ms
}

// closeMultiSender closes the bridges' MultiSender, once no bridge has a
// port. Under mu.
func (d *Daemon) closeMultiSender() error {
	if d.multi.ms == nil {
		return nil
	}
	err := d.multi.ms.Close()
	d.multi.ms = nil
	return err
}

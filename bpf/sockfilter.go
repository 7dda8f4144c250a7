package bpf

// The generated files are committed, as for the fast path (gen.go).
//go:generate go tool bpf2go -tags linux -target bpfel sockfilter sockfilter.c -- -O2 -Wall -Werror -I/usr/include/x86_64-linux-gnu -I/usr/include/aarch64-linux-gnu

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"
)

// SockFilter is the socket filter of the userspace AF_PACKET ports'
// receiver (sockfilter.c): attached to a socket bound to every protocol on
// every interface, it lets through only the frames that entered on one of
// the interfaces added to it. It is not pinned: it lives as long as the
// socket and the process.
type SockFilter struct {
	objs sockfilterObjects
}

// LoadSockFilter loads the filter, with no interface in it.
func LoadSockFilter() (*SockFilter, error) {
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("socket filter: %w", err)
	}
	f := &SockFilter{}
	if err := loadSockfilterObjects(&f.objs, nil); err != nil {
		return nil, fmt.Errorf("socket filter: %w", err)
	}
	return f, nil
}

// FD returns the program's descriptor, for SO_ATTACH_BPF. It stays valid
// until Close; the kernel keeps the program as long as a socket has it.
func (f *SockFilter) FD() int { return f.objs.XswitchSockfilter.FD() }

// Add lets the frames that enter on ifindex through.
func (f *SockFilter) Add(ifindex int) error {
	if err := f.objs.SfPorts.Update(uint32(ifindex), uint8(1), ebpf.UpdateAny); err != nil {
		return fmt.Errorf("socket filter: add ifindex %d: %w", ifindex, err)
	}
	return nil
}

// Delete stops the frames of ifindex; an ifindex not in the filter is no
// error.
func (f *SockFilter) Delete(ifindex int) error {
	err := f.objs.SfPorts.Delete(uint32(ifindex))
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("socket filter: delete ifindex %d: %w", ifindex, err)
	}
	return nil
}

// Has reports whether the frames of ifindex pass.
func (f *SockFilter) Has(ifindex int) bool {
	var v uint8
	return f.objs.SfPorts.Lookup(uint32(ifindex), &v) == nil
}

// Close releases the program and its map. A socket the program is attached
// to keeps both.
func (f *SockFilter) Close() error { return f.objs.Close() }

package bpf

// The generated files are committed, as for the fast path (gen.go).
//go:generate go tool bpf2go -tags linux -target bpfel sockfilter sockfilter.c -- -O2 -Wall -Werror -I/usr/include/x86_64-linux-gnu -I/usr/include/aarch64-linux-gnu

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"
)

// SockFilter is the socket filter and the fanout program of the userspace
// AF_PACKET ports' receivers, the taps (sockfilter.c): attached to sockets
// bound to every protocol on every interface, in one fanout group, they let
// through only the frames that entered on one of the interfaces added, each
// to the tap it was added with. It is not pinned: it lives as long as the
// sockets and the process.
type SockFilter struct {
	objs sockfilterObjects
}

// LoadSockFilter loads the programs, with no interface in them.
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

// FanoutFD returns the fanout program's descriptor, for PACKET_FANOUT_DATA.
func (f *SockFilter) FanoutFD() int { return f.objs.XswitchTapfanout.FD() }

// Add lets the frames that enter on ifindex through, to tap (the index of
// a socket in the fanout group). Adding it again moves it.
func (f *SockFilter) Add(ifindex, tap int) error {
	if tap < 0 {
		return fmt.Errorf("socket filter: add ifindex %d: tap %d", ifindex, tap)
	}
	if err := f.objs.SfPorts.Update(uint32(ifindex), uint32(tap), ebpf.UpdateAny); err != nil {
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

// Tap returns the tap the frames of ifindex go to, if they pass.
func (f *SockFilter) Tap(ifindex int) (int, bool) {
	var v uint32
	if f.objs.SfPorts.Lookup(uint32(ifindex), &v) != nil {
		return 0, false
	}
	return int(v), true
}

// Close releases the programs and their map. A socket a program is
// attached to keeps it and the map.
func (f *SockFilter) Close() error { return f.objs.Close() }

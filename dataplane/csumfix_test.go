package dataplane

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

func TestFinishChecksum(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		for _, udp := range []bool{false, true} {
			for _, vlan := range []bool{false, true} {
				for _, n := range []int{0, 1, 2, 777, 1501} {
					s := oflSpec{v6: v6, udp: udp, vlan: vlan, id: 42, seq: 1e9, flags: 0x18, payload: oflPattern(n)}
					want := oflBuild(t, s)
					f := oflKernelState(t, s, 0)
					f.VNet.GSOType, f.VNet.GSOSize = VNetHdrGSONone, 0
					if bytes.Equal(f.Data, want) {
						t.Fatal("pending frame already complete")
					}
					if err := FinishChecksum(f); err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(f.Data, want) {
						t.Errorf("v6=%v udp=%v vlan=%v payload %d: differs from gopacket", v6, udp, vlan, n)
					}
					if f.VNet.Flags&VNetHdrFNeedsCsum != 0 {
						t.Error("NeedsCsum not cleared")
					}
					// Without the flag nothing happens, even to a wrong checksum.
					f.Data[len(f.Data)-1]++
					d := bytes.Clone(f.Data)
					if err := FinishChecksum(f); err != nil || !bytes.Equal(f.Data, d) {
						t.Errorf("frame without the flag changed (err %v)", err)
					}
				}
			}
		}
	}
}

func TestFinishChecksumOutOfRange(t *testing.T) {
	s := oflSpec{udp: true, payload: oflPattern(10)}
	for _, tc := range []struct{ start, off uint16 }{
		{1000, 6}, {34, 1000}, {uint16(14 + 20 + 8 + 10 - 1), 0}, {0xffff, 0xffff},
	} {
		f := oflKernelState(t, s, 0)
		f.VNet.GSOType, f.VNet.GSOSize = VNetHdrGSONone, 0
		f.VNet.CsumStart, f.VNet.CsumOffset = tc.start, tc.off
		d := bytes.Clone(f.Data)
		if err := FinishChecksum(f); !errors.Is(err, errCsumRange) {
			t.Errorf("start %d offset %d: err %v, want %v", tc.start, tc.off, err, errCsumRange)
		}
		if !bytes.Equal(f.Data, d) || f.VNet.Flags != VNetHdrFNeedsCsum {
			t.Errorf("start %d offset %d: frame modified", tc.start, tc.off)
		}
		var sg Segmenter
		if _, err := sg.Init(f); !errors.Is(err, errCsumRange) {
			t.Errorf("Segmenter.Init: err %v, want %v", err, errCsumRange)
		}
	}
}

func TestCompletePendingChecksum(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, v6 := range []bool{false, true} {
		for _, udp := range []bool{false, true} {
			for _, vlan := range []bool{false, true} {
				for _, n := range []int{1, 2, 333, 1400} {
					s := oflSpec{v6: v6, udp: udp, vlan: vlan, id: 5, seq: 77, flags: 0x18, payload: oflPattern(n)}
					name := func(what string) string {
						return fmt.Sprintf("%s v6=%v udp=%v vlan=%v payload %d", what, v6, udp, vlan, n)
					}
					want := oflBuild(t, s)
					// Ethernet padding must stay outside the sum.
					want = append(want, bytes.Repeat([]byte{0xa5}, max(0, 60-len(want)))...)
					l3, l4, _ := oflOffsets(s)
					off := l4 + oflCsumOffset(udp)
					proto := byte(6)
					if udp {
						proto = 17
					}
					l4len := int(binary.BigEndian.Uint16(want[l3+4:])) // ipv6 payload length
					if !v6 {
						l4len = int(binary.BigEndian.Uint16(want[l3+2:])) - (l4 - l3)
					}
					pseudo := naiveFold(naivePseudo(want, l3, v6, proto, l4len))

					// Pending: fixed.
					d := bytes.Clone(want)
					binary.BigEndian.PutUint16(d[off:], pseudo)
					if !CompletePendingChecksum(d) {
						t.Errorf("%s: pending checksum not completed", name("pending"))
					}
					if !bytes.Equal(d, want) {
						t.Errorf("%s: completed checksum differs from gopacket", name("pending"))
					}
					if CompletePendingChecksum(d) {
						t.Errorf("%s: completed twice", name("pending"))
					}

					// Correct: untouched.
					d = bytes.Clone(want)
					if CompletePendingChecksum(d) || !bytes.Equal(d, want) {
						t.Errorf("%s: correct checksum touched", name("correct"))
					}

					// Corrupt: untouched.
					good := binary.BigEndian.Uint16(want[off:])
					bad := good
					for bad == good || bad == pseudo || bad == 0 || bad == 0xffff^good {
						bad = uint16(r.Uint32())
					}
					d = bytes.Clone(want)
					binary.BigEndian.PutUint16(d[off:], bad)
					c := bytes.Clone(d)
					if CompletePendingChecksum(d) || !bytes.Equal(d, c) {
						t.Errorf("%s: corrupt checksum touched", name("corrupt"))
					}

					// UDP without checksum: untouched.
					if udp {
						d = bytes.Clone(want)
						binary.BigEndian.PutUint16(d[off:], 0)
						c := bytes.Clone(d)
						if CompletePendingChecksum(d) || !bytes.Equal(d, c) {
							t.Errorf("%s: zero udp checksum touched", name("zero"))
						}
					}

					// An IPv4 fragment or an IPv6 extension header: untouched.
					d = bytes.Clone(want)
					binary.BigEndian.PutUint16(d[off:], pseudo)
					if v6 {
						d[l3+6] = 0 // hop-by-hop options
					} else {
						d[l3+6] |= 0x20 // more fragments
					}
					c = bytes.Clone(d)
					if CompletePendingChecksum(d) || !bytes.Equal(d, c) {
						t.Errorf("%s: fragment or extension header touched", name("frag"))
					}
				}
			}
		}
	}

	// Not IP, and too short to be anything.
	arp := append([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x08, 0x06}, make([]byte, 46)...)
	for _, d := range [][]byte{arp, arp[:13], nil, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x81, 0x00, 0, 1}} {
		c := bytes.Clone(d)
		if CompletePendingChecksum(d) || !bytes.Equal(d, c) {
			t.Errorf("non-ip frame %x touched", c)
		}
	}
}

func TestChecksumFixAllocs(t *testing.T) {
	u := oflKernelState(t, oflSpec{udp: true, payload: oflPattern(1000)}, 0)
	u.VNet.GSOType, u.VNet.GSOSize = VNetHdrGSONone, 0
	pending := bytes.Clone(u.Data)
	start := u.VNet.CsumStart
	allocs := testing.AllocsPerRun(50, func() {
		u.VNet.Flags, u.VNet.CsumStart = VNetHdrFNeedsCsum, start
		_ = FinishChecksum(u)
		u.VNet.Flags, u.VNet.CsumStart = VNetHdrFNeedsCsum, 0xffff
		_ = FinishChecksum(u) // out of range
		CompletePendingChecksum(pending)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per run, want 0", allocs)
	}
}

package afpacket

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/xswitch/xswitch/dataplane"
)

// FuzzVNetHdr decodes arbitrary virtio-net headers: encoding one back
// gives the same bytes, and a tag moves exactly the offsets that count
// from the start of the frame.
func FuzzVNetHdr(f *testing.F) {
	for _, h := range []dataplane.VNetHdr{
		{},
		{Flags: dataplane.VNetHdrFNeedsCsum, CsumStart: 34, CsumOffset: 16},
		{Flags: dataplane.VNetHdrFNeedsCsum, GSOType: dataplane.VNetHdrGSOTCPv4, HdrLen: 66, GSOSize: 1448, CsumStart: 34, CsumOffset: 16},
		{Flags: dataplane.VNetHdrFNeedsCsum, GSOType: dataplane.VNetHdrGSOTCPv6 | dataplane.VNetHdrGSOECN, HdrLen: 86, GSOSize: 1428, CsumStart: 54, CsumOffset: 16},
		{Flags: dataplane.VNetHdrFNeedsCsum, GSOType: dataplane.VNetHdrGSOUDPL4, HdrLen: 42, GSOSize: 1472, CsumStart: 34, CsumOffset: 6},
	} {
		b := make([]byte, dataplane.VNetHdrLen)
		encodeVNetHdr(b, h, 0)
		f.Add(b, true)
	}
	f.Fuzz(func(t *testing.T, b []byte, tagged bool) {
		if len(b) < dataplane.VNetHdrLen {
			return
		}
		h := decodeVNetHdr(b)
		out := make([]byte, dataplane.VNetHdrLen)
		encodeVNetHdr(out, h, 0)
		if !bytes.Equal(out, b[:dataplane.VNetHdrLen]) {
			t.Fatalf("% x decoded as %+v, encoded back as % x", b[:dataplane.VNetHdrLen], h, out)
		}
		if !tagged {
			return
		}
		encodeVNetHdr(out, h, dataplane.VLANTagLen)
		g := decodeVNetHdr(out)
		want := h
		if h.HdrLen != 0 {
			want.HdrLen += dataplane.VLANTagLen
		}
		if h.Flags&dataplane.VNetHdrFNeedsCsum != 0 {
			want.CsumStart += dataplane.VLANTagLen
		}
		if g != want {
			t.Fatalf("%+v sent with a tag as %+v, want %+v", h, g, want)
		}
	})
}

// FuzzUnpunt takes arbitrary frames as a punt ring holds them, a virtio-net
// header then the frame: a frame with the punt header comes out as it was
// before the fast path inserted it, with the header's offsets moved back;
// any other frame is left alone; and segmenting the result never panics.
func FuzzUnpunt(f *testing.F) {
	const punt = 0x88b6
	tcp := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x88, 0xb6, 0, 3, 0x08, 0x00, 0x45, 0, 0, 40}
	vh := make([]byte, dataplane.VNetHdrLen)
	encodeVNetHdr(vh, dataplane.VNetHdr{Flags: dataplane.VNetHdrFNeedsCsum, GSOType: dataplane.VNetHdrGSOTCPv4,
		HdrLen: 66 + PuntHeaderLen, GSOSize: 1448, CsumStart: 34 + PuntHeaderLen, CsumOffset: 16}, 0)
	f.Add(append(bytes.Clone(vh), tcp...))
	f.Add(append(make([]byte, dataplane.VNetHdrLen), tcp[:16]...))
	f.Add(append(make([]byte, dataplane.VNetHdrLen), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x08, 0x06, 0, 1))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < dataplane.VNetHdrLen {
			return
		}
		in := dataplane.Frame{VNet: decodeVNetHdr(b), Data: bytes.Clone(b[dataplane.VNetHdrLen:])}
		orig := in
		orig.Data = bytes.Clone(in.Data)
		fr := in
		unpunt(&fr, punt)
		d := orig.Data
		if len(d) < macsLen+PuntHeaderLen || binary.BigEndian.Uint16(d[macsLen:]) != punt {
			if !bytes.Equal(fr.Data, d) || fr.VNet != orig.VNet {
				t.Fatalf("frame without a punt header changed: % x %+v → % x %+v", d, orig.VNet, fr.Data, fr.VNet)
			}
			return
		}
		if want := append(bytes.Clone(d[:macsLen]), d[macsLen+PuntHeaderLen:]...); !bytes.Equal(fr.Data, want) {
			t.Fatalf("unpunt(% x) = % x, want % x", d, fr.Data, want)
		}
		want := orig.VNet
		if want.Flags&dataplane.VNetHdrFNeedsCsum != 0 && want.CsumStart >= PuntHeaderLen {
			want.CsumStart -= PuntHeaderLen
		}
		if want.HdrLen >= PuntHeaderLen {
			want.HdrLen -= PuntHeaderLen
		}
		if fr.VNet != want {
			t.Fatalf("virtio-net header %+v after unpunt, want %+v", fr.VNet, want)
		}
		var s dataplane.Segmenter
		if n, err := s.Init(&fr); err == nil {
			dst := make([]byte, s.Len(0))
			s.Write(n-1, dst[:s.Len(n-1)])
		}
	})
}

package afpacket

import (
	"bytes"
	"testing"

	"github.com/xswitch/xswitch/dataplane"
)

func TestUnpunt(t *testing.T) {
	orig := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x08, 0x00, 0x45, 0, 0, 20}
	punted := append(append(append([]byte{}, orig[:12]...), 0x88, 0xb6, 0, 3), orig[12:]...)
	f := dataplane.Frame{Data: punted, VNet: dataplane.VNetHdr{
		Flags: dataplane.VNetHdrFNeedsCsum, GSOType: dataplane.VNetHdrGSOTCPv4,
		HdrLen: 66 + 4, GSOSize: 1448, CsumStart: 34 + 4, CsumOffset: 16,
	}}
	unpunt(&f, 0x88b6)
	if !bytes.Equal(f.Data, orig) {
		t.Errorf("frame % x, want % x", f.Data, orig)
	}
	if f.VNet.HdrLen != 66 || f.VNet.CsumStart != 34 || f.VNet.CsumOffset != 16 || f.VNet.GSOSize != 1448 {
		t.Errorf("virtio-net header %+v: offsets not moved back by the punt header", f.VNet)
	}

	// A frame without the punt header is left alone.
	g := dataplane.Frame{Data: append([]byte{}, orig...), VNet: dataplane.VNetHdr{CsumStart: 34, Flags: dataplane.VNetHdrFNeedsCsum}}
	unpunt(&g, 0x88b6)
	if !bytes.Equal(g.Data, orig) || g.VNet.CsumStart != 34 {
		t.Errorf("frame without punt header changed: % x %+v", g.Data, g.VNet)
	}
}

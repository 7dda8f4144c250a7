package afpacket

import (
	"testing"

	"github.com/xswitch/xswitch/dataplane"
)

func TestVNetHdrEncoding(t *testing.T) {
	gso := dataplane.VNetHdr{
		Flags: dataplane.VNetHdrFNeedsCsum, GSOType: dataplane.VNetHdrGSOTCPv4 | dataplane.VNetHdrGSOECN,
		HdrLen: 66, GSOSize: 1448, CsumStart: 34, CsumOffset: 16,
	}
	for _, tc := range []struct {
		name   string
		in     dataplane.VNetHdr
		tagLen uint16
		want   dataplane.VNetHdr
	}{
		{"plain frame", dataplane.VNetHdr{}, 0, dataplane.VNetHdr{}},
		{"untagged GSO", gso, 0, gso},
		{
			"tagged GSO: offsets move past the tag", gso, dataplane.VLANTagLen,
			dataplane.VNetHdr{Flags: gso.Flags, GSOType: gso.GSOType, HdrLen: 70, GSOSize: 1448, CsumStart: 38, CsumOffset: 16},
		},
		{
			"tagged, checksum already valid: nothing to move",
			dataplane.VNetHdr{Flags: dataplane.VNetHdrFDataValid}, dataplane.VLANTagLen,
			dataplane.VNetHdr{Flags: dataplane.VNetHdrFDataValid},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := make([]byte, dataplane.VNetHdrLen)
			encodeVNetHdr(b, tc.in, tc.tagLen)
			if got := decodeVNetHdr(b); got != tc.want {
				t.Errorf("encoded then decoded %+v, want %+v", got, tc.want)
			}
		})
	}
}

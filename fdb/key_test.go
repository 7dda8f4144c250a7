package fdb_test

import (
	"bytes"
	"testing"

	"github.com/xswitch/xswitch/fdb"
)

func TestKey(t *testing.T) {
	tests := []struct {
		vid     uint16
		mac     []byte
		wantVID uint16
		wantStr string
	}{
		{0, []byte{0, 0, 0, 0, 0, 0}, 0, "00:00:00:00:00:00"},
		{1, []byte{0x02, 0x16, 0x3e, 0x01, 0x02, 0x03}, 1, "02:16:3e:01:02:03 vlan 1"},
		{4095, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 4095, "ff:ff:ff:ff:ff:ff vlan 4095"},
		{0x1000 | 10, []byte{0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}, 10, "aa:bb:cc:dd:ee:ff vlan 10"},
		{100, []byte{1, 2, 3, 4, 5, 6, 7, 8}, 100, "01:02:03:04:05:06 vlan 100"},
	}
	for _, tt := range tests {
		k := fdb.MakeKey(tt.vid, tt.mac)
		if got := k.VID(); got != tt.wantVID {
			t.Errorf("MakeKey(%d, %v).VID() = %d, want %d", tt.vid, tt.mac, got, tt.wantVID)
		}
		if got := k.MAC(); !bytes.Equal(got, tt.mac[:6]) {
			t.Errorf("MakeKey(%d, %v).MAC() = %v", tt.vid, tt.mac, got)
		}
		if got := k.String(); got != tt.wantStr {
			t.Errorf("MakeKey(%d, %v).String() = %q, want %q", tt.vid, tt.mac, got, tt.wantStr)
		}
	}
}

func TestKeyDistinguishesVLANs(t *testing.T) {
	m := []byte{0x02, 0, 0, 0, 0, 1}
	if fdb.MakeKey(1, m) == fdb.MakeKey(2, m) {
		t.Fatal("same MAC on VLANs 1 and 2 gives one key")
	}
}

func TestMakeKeyShortMACPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("MakeKey with a 5-byte MAC did not panic")
		}
	}()
	fdb.MakeKey(1, []byte{1, 2, 3, 4, 5})
}

package packetsock

import (
	"encoding/binary"
	"testing"
	"unsafe"
)

func TestHtons(t *testing.T) {
	v := Htons(0x88b5)
	b := (*[2]byte)(unsafe.Pointer(&v))
	if got := binary.BigEndian.Uint16(b[:]); got != 0x88b5 {
		t.Fatalf("Htons(0x88b5) lies in memory as %#04x, want big-endian 0x88b5", got)
	}
}

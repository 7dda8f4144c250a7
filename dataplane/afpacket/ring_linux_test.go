package afpacket

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/dataplane"
)

// A hand-built TPACKET_V3 ring, laid out as the kernel's uapi
// <linux/if_packet.h> says (offsets written out here, independently of the
// unix structs the ring reads through).

const (
	testBlockSize = 4096
	testMacOffset = 92 // where tpacket_rcv puts a MAC header with a virtio-net header before it
)

type testPacket struct {
	data      []byte
	vnet      dataplane.VNetHdr
	truncated bool   // the kernel stored less than the frame
	status    uint32 // TP_STATUS_VLAN_VALID, TP_STATUS_VLAN_TPID_VALID
	tci       uint32
	tpid      uint16
}

// buildRing returns a ring of len(blocks) blocks; blocks[i] are the packets
// of block i, which is handed to the user if it has any.
func buildRing(t *testing.T, blocks [][]testPacket) ring {
	t.Helper()
	mem := make([]byte, testBlockSize*len(blocks))
	ne := binary.NativeEndian
	for b, pkts := range blocks {
		blk := mem[b*testBlockSize : (b+1)*testBlockSize]
		ne.PutUint32(blk[0:], unix.TPACKET_V3)
		ne.PutUint32(blk[12:], uint32(len(pkts))) // num_pkts
		ne.PutUint32(blk[16:], 48)                // offset_to_first_pkt
		if len(pkts) > 0 {
			ne.PutUint32(blk[8:], unix.TP_STATUS_USER) // block_status
		}
		off := 48
		for i, p := range pkts {
			h := blk[off:]
			snap := len(p.data)
			if p.truncated {
				snap /= 2
			}
			next := (testMacOffset + snap + 7) &^ 7
			if i == len(pkts)-1 {
				next = 0
			}
			ne.PutUint32(h[0:], uint32(next))
			ne.PutUint32(h[12:], uint32(snap))        // tp_snaplen
			ne.PutUint32(h[16:], uint32(len(p.data))) // tp_len
			ne.PutUint32(h[20:], p.status)
			ne.PutUint16(h[24:], testMacOffset)
			ne.PutUint32(h[32:], p.tci)
			ne.PutUint16(h[36:], p.tpid)
			encodeVNetHdr(h[testMacOffset-dataplane.VNetHdrLen:], p.vnet, 0)
			copy(h[testMacOffset:], p.data[:snap])
			off += next
			if off+testMacOffset+snap > testBlockSize {
				t.Fatalf("block %d overflows", b)
			}
		}
	}
	return newRing(mem, testBlockSize, len(blocks), 0)
}

func pkt(s string) testPacket { return testPacket{data: []byte(s)} }

func blockStatus(r *ring, b int) uint32 { return r.blockHdr(b).Block_status }

// names returns the Data of frames as strings.
func names(frames []dataplane.Frame) []string {
	var s []string
	for _, f := range frames {
		s = append(s, string(f.Data))
	}
	return s
}

func TestRingBatchesEndMidBlockAndReleaseWholeBlocks(t *testing.T) {
	r := buildRing(t, [][]testPacket{
		{pkt("a0"), pkt("a1"), pkt("a2"), pkt("a3"), pkt("a4")},
		{pkt("b0"), pkt("b1"), pkt("b2")},
		{}, // still the kernel's
	})
	frames := make([]dataplane.Frame, 3)

	n, _, bytes := r.fill(frames)
	if got := names(frames[:n]); fmt.Sprint(got) != "[a0 a1 a2]" || bytes != 6 {
		t.Fatalf("first batch %v (%d bytes), want [a0 a1 a2] (6 bytes)", got, bytes)
	}
	r.release()
	if blockStatus(&r, 0) != unix.TP_STATUS_USER {
		t.Fatal("block 0 handed back while half read")
	}

	n, _, _ = r.fill(frames)
	if got := names(frames[:n]); fmt.Sprint(got) != "[a3 a4 b0]" {
		t.Fatalf("second batch %v, want [a3 a4 b0]", got)
	}
	// Frames of block 0 are still in the caller's hands until release.
	if blockStatus(&r, 0) != unix.TP_STATUS_USER {
		t.Fatal("block 0 handed back before the next release")
	}
	r.release()
	if blockStatus(&r, 0) != unix.TP_STATUS_KERNEL || blockStatus(&r, 1) != unix.TP_STATUS_USER {
		t.Fatalf("after release: block 0 status %d, block 1 status %d; want kernel, user", blockStatus(&r, 0), blockStatus(&r, 1))
	}

	n, _, _ = r.fill(make([]dataplane.Frame, 10))
	if n != 2 {
		t.Fatalf("third batch has %d frames, want 2 (b1 b2; block 2 is the kernel's)", n)
	}
	r.release()
	if blockStatus(&r, 1) != unix.TP_STATUS_KERNEL {
		t.Fatal("block 1 not handed back")
	}
	if n, _, _ := r.fill(frames); n != 0 {
		t.Fatalf("empty ring gave %d frames", n)
	}
}

func TestRingDoesNotLapItself(t *testing.T) {
	r := buildRing(t, [][]testPacket{{pkt("a")}, {pkt("b")}})
	frames := make([]dataplane.Frame, 10)
	if n, _, _ := r.fill(frames); n != 2 {
		t.Fatalf("got %d frames, want 2", n)
	}
	// Both blocks are read but not released: block 0 still says USER, and
	// must not be read again.
	if n, _, _ := r.fill(frames); n != 0 {
		t.Fatalf("read %d frames again before releasing them", n)
	}
	r.release()
	if blockStatus(&r, 0) != unix.TP_STATUS_KERNEL || blockStatus(&r, 1) != unix.TP_STATUS_KERNEL {
		t.Fatal("blocks not handed back")
	}
}

func TestRingFrameFields(t *testing.T) {
	gso := dataplane.VNetHdr{Flags: dataplane.VNetHdrFNeedsCsum, GSOType: dataplane.VNetHdrGSOTCPv4, HdrLen: 66, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}
	r := buildRing(t, [][]testPacket{{
		{data: []byte("plain")},
		{data: []byte("too long for the ring"), truncated: true},
		{data: []byte("gso"), vnet: gso},
		{data: []byte("q"), status: unix.TP_STATUS_VLAN_VALID, tci: 0x6064},
		{data: []byte("ad"), status: unix.TP_STATUS_VLAN_VALID | unix.TP_STATUS_VLAN_TPID_VALID, tci: 0x0ffe, tpid: 0x88a8},
	}})
	frames := make([]dataplane.Frame, 8)
	// Stale values from an earlier batch must be overwritten.
	for i := range frames {
		frames[i] = dataplane.Frame{Tagged: true, VLAN: 1, TPID: 2, VNet: gso}
	}
	n, truncated, _ := r.fill(frames)
	want := []dataplane.Frame{
		{Data: []byte("plain")},
		{Data: []byte("gso"), VNet: gso},
		{Data: []byte("q"), Tagged: true, VLAN: 0x6064, TPID: 0x8100},
		{Data: []byte("ad"), Tagged: true, VLAN: 0x0ffe, TPID: 0x88a8},
	}
	if n != len(want) || truncated != 1 {
		t.Fatalf("fill = %d frames, %d truncated; want %d, 1", n, truncated, len(want))
	}
	for i, w := range want {
		f := frames[i]
		if !bytes.Equal(f.Data, w.Data) || f.VNet != w.VNet || f.Tagged != w.Tagged || f.VLAN != w.VLAN || f.TPID != w.TPID {
			t.Errorf("frame %d = %+v, want %+v", i, f, w)
		}
		if cap(f.Data) != len(f.Data) {
			t.Errorf("frame %d: cap %d > len %d lets an append write into the ring", i, cap(f.Data), len(f.Data))
		}
	}
}

func TestRingReadsPastTruncatedFrames(t *testing.T) {
	// The port releases at once the blocks that gave no frame; the ring
	// must count them as read.
	r := buildRing(t, [][]testPacket{{{data: []byte("big"), truncated: true}}, {}})
	n, truncated, _ := r.fill(make([]dataplane.Frame, 4))
	if n != 0 || truncated != 1 || r.done != 1 {
		t.Fatalf("fill = %d frames, %d truncated, %d blocks done; want 0, 1, 1", n, truncated, r.done)
	}
	r.release()
	if blockStatus(&r, 0) != unix.TP_STATUS_KERNEL {
		t.Fatal("block of a truncated frame not handed back")
	}
}

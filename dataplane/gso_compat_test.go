package dataplane

import (
	"bytes"
	"errors"
	"testing"
)

// TestSegmentFuncs checks that the per-segment functions cut as a Segmenter
// does, and fail as it does.
func TestSegmentFuncs(t *testing.T) {
	for _, c := range segmentCases {
		f := c.frame(t)
		var s Segmenter
		n, err := s.Init(f)
		if got, gerr := GSOSegments(f); got != n || gerr != err {
			t.Fatalf("%s: GSOSegments = %d, %v; Init = %d, %v", c.name, got, gerr, n, err)
		}
		for i := range n {
			if l, err := SegmentLen(f, i); l != s.Len(i) || err != nil {
				t.Fatalf("%s: SegmentLen(%d) = %d, %v; Len = %d", c.name, i, l, err, s.Len(i))
			}
			want := make([]byte, s.Len(i))
			got := make([]byte, s.Len(i))
			_, _ = s.Write(i, want)
			if m, err := WriteSegment(f, i, got); m != len(want) || err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%s: WriteSegment(%d) = %d, %v, or differs from Write", c.name, i, m, err)
			}
		}
		for _, i := range []int{-1, n} {
			if _, err := SegmentLen(f, i); !errors.Is(err, errSegIndex) {
				t.Errorf("%s: SegmentLen(%d): err %v", c.name, i, err)
			}
			if _, err := WriteSegment(f, i, make([]byte, 1<<17)); !errors.Is(err, errSegIndex) {
				t.Errorf("%s: WriteSegment(%d): err %v", c.name, i, err)
			}
		}
	}

	bad := segmentCases[0].frame(t)
	bad.VNet.GSOType = VNetHdrGSOUDP
	if _, err := GSOSegments(bad); !errors.Is(err, errGSOType) {
		t.Errorf("GSOSegments: err %v", err)
	}
	if _, err := SegmentLen(bad, 0); !errors.Is(err, errGSOType) {
		t.Errorf("SegmentLen: err %v", err)
	}
	if _, err := WriteSegment(bad, 0, make([]byte, 1<<17)); !errors.Is(err, errGSOType) {
		t.Errorf("WriteSegment: err %v", err)
	}

	f := segmentCases[0].frame(t)
	dst := make([]byte, 2000)
	allocs := testing.AllocsPerRun(50, func() {
		n, _ := GSOSegments(f)
		for i := range n {
			l, _ := SegmentLen(f, i)
			_, _ = WriteSegment(f, i, dst[:l])
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per run, want 0", allocs)
	}
}

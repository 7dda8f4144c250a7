package dataplane

// The per-segment functions that came before Segmenter, each parsing the
// frame's headers again; they stay until their last caller moves to it.

// GSOSegments returns how many frames f becomes: what Segmenter.Init
// returns.
//
// Deprecated: it parses f's headers on every call; use a Segmenter.
func GSOSegments(f *Frame) (int, error) {
	var s Segmenter
	return s.Init(f)
}

// SegmentLen returns the length of segment i of f.
//
// Deprecated: it parses f's headers on every call; use a Segmenter.
func SegmentLen(f *Frame, i int) (int, error) {
	var s Segmenter
	if _, err := s.Init(f); err != nil {
		return 0, err
	}
	if uint(i) >= uint(s.n) {
		return 0, errSegIndex
	}
	return s.Len(i), nil
}

// WriteSegment writes segment i of f into dst and returns its length.
//
// Deprecated: it parses f's headers on every call; use a Segmenter.
func WriteSegment(f *Frame, i int, dst []byte) (int, error) {
	var s Segmenter
	if _, err := s.Init(f); err != nil {
		return 0, err
	}
	return s.Write(i, dst)
}

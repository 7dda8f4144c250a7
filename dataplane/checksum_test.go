package dataplane

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

func TestChecksumArithmetic(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 600)
	for n := 0; n <= len(buf); n++ {
		for _, fill := range []string{"random", "ones", "zeros"} {
			b := buf[:n]
			for i := range b {
				switch fill {
				case "random":
					b[i] = byte(r.Uint32())
				case "ones":
					b[i] = 0xff
				default:
					b[i] = 0
				}
			}
			want := naiveFold(naiveSum(b))
			if got := csumFold(csumAdd(0, b)); got != want {
				t.Fatalf("%s len %d: csum %#04x, want %#04x", fill, n, got, want)
			}
			// Split at an even offset, as the pseudo-header is chained.
			k := (n / 3) &^ 1
			if got := csumFold(csumAdd(csumAdd(0, b[:k]), b[k:])); got != want {
				t.Fatalf("%s len %d split %d: csum %#04x, want %#04x", fill, n, k, got, want)
			}
		}
	}
	// An accumulator at the top of its range must take carries around.
	for _, acc := range []uint64{^uint64(0), ^uint64(0) - 1, 1 << 63} {
		want := csumFold(acc) // any 16-bit split of acc, summed
		b := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
		got := csumFold(csumAdd(acc, b))
		// Adding 0xffff...ff (negative zero) changes nothing.
		if got != want && !(got == 0xffff && want == 0) {
			t.Errorf("acc %#x + ones: %#04x, want %#04x", acc, got, want)
		}
		if got := csumFold(csumAddUint(acc, 1)); got != naiveFold(uint32(want)+1) {
			t.Errorf("acc %#x + 1: %#04x, want %#04x", acc, got, naiveFold(uint32(want)+1))
		}
	}
}

func BenchmarkChecksum(b *testing.B) {
	for _, n := range []int{64, 1500, 65536} {
		buf := oflPattern(n)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				csumFold(csumAdd(0, buf))
			}
		})
	}
}

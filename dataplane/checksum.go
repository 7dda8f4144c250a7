package dataplane

import (
	"encoding/binary"
	"math/bits"
)

// The Internet checksum (RFC 1071) kept in a 64-bit one's-complement
// accumulator: csumAdd and csumAddUint add to it, csumFold reduces it to the
// 16-bit sum whose complement goes on the wire.

// csumAdd adds b, taken as big-endian 16-bit words starting at an even offset
// of the checksummed data (an odd last byte is the high half of a word), to
// the one's-complement accumulator acc; csumFold reduces the result. Summing
// 64-bit words with end-around carry gives the same sum as 16-bit words
// because 2^16-1 divides 2^64-1, and lets the carries chain through
// bits.Add64 (ADC on amd64).
func csumAdd(acc uint64, b []byte) uint64 {
	var c uint64
	for len(b) >= 32 {
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[8:]), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[16:]), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[24:]), c)
		b = b[32:]
	}
	for len(b) >= 8 {
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b), c)
		b = b[8:]
	}
	if len(b) >= 4 {
		acc, c = bits.Add64(acc, uint64(binary.BigEndian.Uint32(b)), c)
		b = b[4:]
	}
	if len(b) >= 2 {
		acc, c = bits.Add64(acc, uint64(binary.BigEndian.Uint16(b)), c)
		b = b[2:]
	}
	if len(b) == 1 {
		acc, c = bits.Add64(acc, uint64(b[0])<<8, c)
	}
	// The last carry goes around; if that overflows too, acc is 0 and
	// takes the second carry without overflowing again.
	acc, c = bits.Add64(acc, 0, c)
	return acc + c
}

// csumAddUint adds v to the one's-complement accumulator acc.
func csumAddUint(acc, v uint64) uint64 {
	acc, c := bits.Add64(acc, v, 0)
	return acc + c
}

// csumFold reduces a one's-complement accumulator to 16 bits. It returns 0
// only when the accumulator is 0.
func csumFold(acc uint64) uint16 {
	s := acc>>32 + acc&0xffffffff // < 2^33
	s = s>>32 + s&0xffffffff      // < 2^32
	s = s>>16 + s&0xffff          // < 2^17
	s = s>>16 + s&0xffff          // < 2^16
	return uint16(s)
}

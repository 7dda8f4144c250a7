package main

import (
	"math/rand/v2"

	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/internal/topo"
)

// macFlooder sends frames from ever new random source MACs: a batch of
// frames of their own, whose sources change before every batch.
type macFlooder struct {
	*generator
	frames [][]byte
	iovs   []unix.Iovec
	rnd    *rand.Rand
}

// startMACFlood sends from c frames to b, each from a new source MAC: a
// switch without a limit learns every one.
func startMACFlood(c, b *topo.Guest) (sender, error) {
	const batch = 64
	dst := b.MAC()
	f := &macFlooder{rnd: rand.New(rand.NewPCG(1, 2)), iovs: make([]unix.Iovec, batch)}
	for range batch {
		f.frames = append(f.frames, topo.EtherFrame(dst, c.MAC(), 0x88b5, make([]byte, 46)))
	}
	err := c.Do(func() error {
		var err error
		f.generator, err = newGenerator("eth0", f.frames[0], batch)
		return err
	})
	if err != nil {
		return nil, err
	}
	for i := range f.msgs {
		f.iovs[i].Base = &f.frames[i][0]
		f.iovs[i].SetLen(len(f.frames[i]))
		f.msgs[i].Hdr.Iov = &f.iovs[i]
	}
	return f, nil
}

func (f *macFlooder) send() (int, error) {
	for _, fr := range f.frames {
		v := f.rnd.Uint64()
		fr[6] = 0x02 // locally administered, unicast
		for i := range 5 {
			fr[7+i] = byte(v >> (8 * i))
		}
	}
	return f.generator.send()
}

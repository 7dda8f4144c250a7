package afxdp

import (
	"testing"

	"github.com/xswitch/xswitch/internal/nstest"
)

// TestReopenRightAfterClose closes a port and opens it again at once, as a
// reload does, over and over: the kernel lets go of the closed socket's
// queue some time after close, and the new socket must still bind, on the
// shared UMEM, every time.
func TestReopenRightAfterClose(t *testing.T) {
	e := newEnv(t, 1024)
	e.port("x1", "g1", Config{}) // keeps a socket on the UMEM to share
	p, _ := e.port("x2", "g2", Config{})
	base, err := e.fp.ReserveXSK(1)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Queues: 1, Register: func(q, fd int) error { return e.fp.RegisterXSK(base+uint32(q), fd) }}
	for i := range 30 {
		p.Close()
		p.Receive(nil)
		nstest.In(t, e.ns, func() error {
			p, err = Open("x2", e.umem, cfg)
			return err
		})
		if !p.SharesUMEM() {
			t.Fatalf("open %d: the port does not share the UMEM", i+1)
		}
	}
	p.Close()
	p.Receive(nil)
}

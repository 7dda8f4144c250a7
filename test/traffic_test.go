package e2e

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/internal/topo"
)

// flow is a steady flow of frames tagged flow-0, flow-1, ... from one guest
// to another, that must lose nothing while a test changes the switch.
type flow struct {
	stop chan struct{}
	wg   sync.WaitGroup
	sent int // written by the sender until wg is done
}

// startFlow sends a frame from one guest to another every 2 ms until end.
func startFlow(t *testing.T, from, to *topo.Guest) *flow {
	f := &flow{stop: make(chan struct{})}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-f.stop:
				return
			case <-tick.C:
				// send makes a frame the guest's link refused (ENOBUFS,
				// it did not leave) again.
				if _, err := send(from, marker(to.MAC(), from.MAC(), fmt.Sprint("flow-", f.sent))); err != nil {
					t.Error(err)
					return
				}
				f.sent++
			}
		}
	}()
	return f
}

// end stops the flow and returns how many frames it sent.
func (f *flow) end() int {
	close(f.stop)
	f.wg.Wait()
	return f.sent
}

// receiveSum accepts one connection on l and sends on the channel what came
// through it, as "N bytes, sha256 X", or the error that ended it.
func receiveSum(l net.Listener) <-chan string {
	got := make(chan string, 1)
	go func() {
		conn, err := l.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		defer conn.Close()
		h := sha256.New()
		n, err := io.Copy(h, conn)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- fmt.Sprintf("%d bytes, sha256 %x", n, h.Sum(nil))
	}()
	return got
}

// sendRandom writes size pseudo-random bytes drawn from seed to conn, in
// writes of 256 KiB, and closes it; it returns what receiveSum should
// report.
func sendRandom(conn net.Conn, seed [32]byte, size int) (string, error) {
	defer conn.Close()
	want := sha256.New()
	src := rand.NewChaCha8(seed)
	buf := make([]byte, 256<<10)
	for sent := 0; sent < size; sent += len(buf) {
		src.Read(buf)
		want.Write(buf)
		if _, err := conn.Write(buf); err != nil {
			return "", fmt.Errorf("after %d bytes: %w", sent, err)
		}
	}
	return fmt.Sprintf("%d bytes, sha256 %x", size, want.Sum(nil)), nil
}

// send injects frames from g one at a time, each again while g's link
// refuses it for a moment: ENOBUFS says the frame did not leave the guest,
// the receiving side's backlog being full on a busy machine. It returns
// how many sends were made again.
func send(g *topo.Guest, frames ...[]byte) (again int, err error) {
	for _, f := range frames {
		for try := 0; ; try++ {
			err := g.Inject(f)
			if err == nil {
				break
			}
			if !errors.Is(err, unix.ENOBUFS) || try == 1000 {
				return again, err
			}
			again++
			time.Sleep(time.Millisecond)
		}
	}
	return again, nil
}

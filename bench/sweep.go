package main

import (
	"context"
	"fmt"
	"net"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/internal/control"
	"github.com/xswitch/xswitch/internal/topo"
)

// sweepDef varies one thing and measures 64-byte (or sized) frames/s in
// the one-core layout, one run per point.
type sweepDef struct {
	name   string
	xlabel string
	xs     []int
	// skip says a mode this sweep leaves out, and why.
	skip func(m mode) string
	// measure sets up mode m for value x and measures it; point, if set,
	// does so instead and reports the point's figures itself.
	measure func(ctx context.Context, o options, m mode, x int) (rate, error)
	point   func(ctx context.Context, o options, m mode, x int, p *progress) (point, error)
}

var sweeps = []sweepDef{
	{
		name: "frame size", xlabel: "frame size, bytes", xs: []int{64, 128, 256, 512, 1024, 1500},
		measure: func(ctx context.Context, o options, m mode, x int) (rate, error) {
			t, err := m.setup(ctx, o.xswitchd, setupOpts{})
			if err != nil {
				return rate{}, err
			}
			defer t.close()
			return throughput(ctx, m, t, x, o.duration, false)
		},
	},
	{
		name: "ports", xlabel: "guest ports on the bridge (traffic between two)", xs: []int{2, 64, 256, 1024},
		skip: func(m mode) string {
			if m.kind == "wire" {
				return "a wire has two ends"
			}
			return ""
		},
		point: measurePorts,
	},
	{
		name: "MAC table size", xlabel: "learned MACs in the table", xs: []int{1000, 10000, 100000, 1000000},
		skip: func(m mode) string {
			switch {
			case m.kind == "wire":
				return "a wire learns nothing"
			case m.kind == "xswitch" && m.fastPath != "off":
				return "the fast path's MAC map holds 262144 entries"
			}
			return ""
		},
		measure: func(ctx context.Context, o options, m mode, x int) (rate, error) {
			yaml := fmt.Sprintf("bridges:\n  - name: xenbr0\n    ports: [\"vif*\"]\n    fdb: {max-entries: %d, max-per-port: %d}\n", 2*x+16, 2*x+16)
			t, err := m.setup(ctx, o.xswitchd, setupOpts{idle: 1, yaml: yaml})
			if err != nil {
				return rate{}, err
			}
			defer t.close()
			if err := fillFDB(ctx, t, x); err != nil {
				return rate{}, err
			}
			return throughput(ctx, m, t, 64, o.duration, false)
		},
	},
}

func sweepSteps(todo []sweepDef, ms []mode) int {
	n := 0
	for _, s := range todo {
		for _, m := range ms {
			if s.skip == nil || s.skip(m) == "" {
				n += len(s.xs)
			}
		}
	}
	return n
}

func (s sweepDef) run(ctx context.Context, o options, ms []mode, p *progress) (*sweep, error) {
	sw := &sweep{Name: s.name, XLabel: s.xlabel, Modes: map[string][]point{}, Errors: map[string]string{}}
	for _, m := range ms {
		if s.skip != nil {
			if why := s.skip(m); why != "" {
				sw.Errors[m.name] = "not measured: " + why
				continue
			}
		}
		for _, x := range s.xs {
			p.step("sweep of %s: %s at %d", s.name, m.name, x)
			pt, err := s.measurePoint(ctx, o, m, x, p)
			if ctx.Err() != nil {
				return sw, ctx.Err()
			}
			if err != nil {
				sw.Errors[m.name] = fmt.Sprintf("at %d: %v", x, err)
				p.note("failed: %v", err)
				continue
			}
			sw.Modes[m.name] = append(sw.Modes[m.name], pt)
		}
	}
	return sw, nil
}

func (s sweepDef) measurePoint(ctx context.Context, o options, m mode, x int, p *progress) (point, error) {
	if s.point != nil {
		return s.point(ctx, o, m, x, p)
	}
	r, err := s.measure(ctx, o, m, x)
	if err == nil {
		p.note("delivered %.0f frames/s (sent %.0f)%s", r.delivered, r.generated, dropsNote(r.drops))
	}
	return point{X: float64(x), Delivered: r.delivered}, err
}

// fillFDB has a third guest send n frames from n made-up source MACs to
// its own MAC, which the switch has learned on the guest's port: every
// frame teaches a MAC and is dropped there. The switch's receive ring may
// overflow on the way, so the frames are sent again until the table holds
// them all (at most 5 passes).
func fillFDB(ctx context.Context, t *topology, n int) error {
	c := t.c
	if err := c.Inject(topo.EtherFrame(t.a.MAC(), c.MAC(), 0x88b5, make([]byte, 46))); err != nil {
		return err
	}
	time.Sleep(50 * time.Millisecond)
	learned := func() (int, error) {
		if t.pid == 0 {
			return n, nil // the kernel bridge learns as the frames arrive
		}
		var bs []control.Bridge
		c := control.NewClient(t.sock)
		if err := askSwitch(ctx, func(ctx context.Context) error { return c.Get(ctx, "/v1/bridges", nil, &bs) }); err != nil || len(bs) == 0 {
			return 0, fmt.Errorf("read the switch's table: %v", err)
		}
		return bs[0].FDBEntries, nil
	}
	frame := make([]byte, 60)
	copy(frame, c.MAC())
	frame[12], frame[13] = 0x88, 0xb5
	for pass := 0; pass < 5; pass++ {
		err := c.Do(func() error {
			fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			ifi, err := net.InterfaceByName("eth0")
			if err != nil {
				return err
			}
			if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifi.Index}); err != nil {
				return err
			}
			for i := 0; i < n && ctx.Err() == nil; {
				copy(frame[6:], []byte{0x02, 0xfd, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)})
				_, err := unix.Write(fd, frame)
				if err == unix.ENOBUFS || err == unix.EAGAIN {
					time.Sleep(100 * time.Microsecond)
					continue
				}
				if err != nil {
					return err
				}
				if i++; i%1024 == 0 {
					time.Sleep(200 * time.Microsecond) // let the switch keep up
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("fill the MAC table: %w", err)
		}
		time.Sleep(300 * time.Millisecond)
		got, err := learned()
		if err != nil {
			return err
		}
		if got >= n {
			return ctx.Err()
		}
	}
	return fmt.Errorf("the switch learned fewer than %d MACs in 5 passes", n)
}

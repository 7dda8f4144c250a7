package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xswitch/xswitch/internal/control"
	"github.com/xswitch/xswitch/internal/topo"
)

// firstPings measures, count times, the round trip of the first ICMP echo
// from a to b after the switch's MAC table and both guests' neighbour
// caches were flushed: the ARP exchange and the first frames of a new
// conversation, which a switch may handle on a slower path than a learned
// flow. An echo right after it is the same path warm. It returns the
// medians of both in µs.
func firstPings(ctx context.Context, m mode, t *topology, count int) (first, warm float64, err error) {
	var fd int
	if err := t.a.Do(func() (err error) {
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
		return err
	}); err != nil {
		return 0, 0, fmt.Errorf("ping socket: %w", err)
	}
	defer unix.Close(fd)
	tv := unix.NsecToTimeval(time.Second.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return 0, 0, fmt.Errorf("ping socket: %w", err)
	}
	to := &unix.SockaddrInet4{Addr: t.bAddr.As4()}
	var firsts, warms []float64
	for i := range count {
		if err := flush(ctx, m, t); err != nil {
			return 0, 0, err
		}
		seq := uint16(2 * i)
		rtt, err := echo(fd, to, seq)
		if err != nil {
			return 0, 0, fmt.Errorf("first ping %d: %w", i+1, err)
		}
		firsts = append(firsts, rtt)
		if rtt, err = echo(fd, to, seq+1); err != nil {
			return 0, 0, fmt.Errorf("ping after the first %d: %w", i+1, err)
		}
		warms = append(warms, rtt)
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
	}
	return median(firsts), median(warms), nil
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}

// flush empties the switch's MAC table (the kernel bridge's dynamic
// entries; all of xswitch's bridges' dynamic entries, as `xswitchctl flush`
// does) and the guests' neighbour caches, and lets things settle.
func flush(ctx context.Context, m mode, t *topology) error {
	switch {
	case t.pid != 0:
		var f control.Flushed
		c := control.NewClient(t.sock)
		if err := askSwitch(ctx, func(ctx context.Context) error { return c.Post(ctx, "/v1/fdb/flush", nil, &f) }); err != nil {
			return fmt.Errorf("flush the MAC table: %w", err)
		}
	case m.kind == "bridge":
		if out, err := t.h.Command(ctx, "ip", "link", "set", "br0", "type", "bridge", "fdb_flush").CombinedOutput(); err != nil {
			return fmt.Errorf("flush the bridge's MAC table: %v: %s", err, out)
		}
	}
	for _, g := range []*topo.Guest{t.a, t.b} {
		if out, err := g.Command(ctx, "ip", "neigh", "flush", "all").CombinedOutput(); err != nil {
			return fmt.Errorf("ip neigh flush all in %s: %v: %s", g.Name(), err, out)
		}
	}
	time.Sleep(20 * time.Millisecond)
	return nil
}

// echo sends one ICMP echo request with sequence number seq on the raw
// socket fd and waits for its reply; it returns the round trip in µs.
func echo(fd int, to *unix.SockaddrInet4, seq uint16) (float64, error) {
	const id = 0x5842
	req := make([]byte, 8+56)
	req[0] = 8 // echo request
	binary.BigEndian.PutUint16(req[4:], id)
	binary.BigEndian.PutUint16(req[6:], seq)
	binary.BigEndian.PutUint16(req[2:], inetChecksum(req))
	buf := make([]byte, 1500)
	start := time.Now()
	if err := unix.Sendto(fd, req, 0, to); err != nil {
		return 0, err
	}
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EWOULDBLOCK) {
			return 0, errors.New("no reply within a second")
		}
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return 0, err
		}
		// The raw socket hands over the IP header too.
		if n < 20 {
			continue
		}
		ihl := int(buf[0]&0x0f) * 4
		if n < ihl+8 {
			continue
		}
		r := buf[ihl:n]
		if r[0] == 0 && binary.BigEndian.Uint16(r[4:]) == id && binary.BigEndian.Uint16(r[6:]) == seq {
			return float64(time.Since(start).Nanoseconds()) / 1e3, nil
		}
		if time.Since(start) > time.Second {
			return 0, errors.New("no reply within a second")
		}
	}
}

// inetChecksum is the Internet checksum (RFC 1071) of parts one after
// the other; every part but the last must have an even length.
func inetChecksum(parts ...[]byte) uint16 {
	var sum uint32
	for _, b := range parts {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(binary.BigEndian.Uint16(b[i:]))
		}
		if len(b)%2 == 1 {
			sum += uint32(b[len(b)-1]) << 8
		}
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

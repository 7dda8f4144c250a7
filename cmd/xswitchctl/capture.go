package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/xswitch/xswitch/internal/control"
)

const captureAbout = `Capture the frames PORT receives and sends, whichever path forwards them
(userspace, or the eBPF fast path in the kernel), each once. Without -w,
one line per frame: time, direction, path, MACs, type and length. With
-w FILE (or -w - for standard output) the frames are written as pcapng,
which tcpdump -r and Wireshark read; each frame's interface, named after
the port, is described as "PORT in|out userspace|tc|xdp". It ends after
-c frames, on Ctrl-C, or when the port goes; frames lost because the
reader was too slow are counted at the end.`

func (cl *cli) capture(args []string) error {
	fs := cl.flags("xswitchctl capture", "PORT", captureAbout)
	var (
		file, bridge, mac, ethertype string
		count                        int
		vlan                         = -1
	)
	fs.StringVar(&file, "w", "", "write pcapng to `FILE` (- for standard output) instead of a line per frame")
	fs.IntVar(&count, "c", 0, "stop after `N` frames (0: until Ctrl-C)")
	fs.StringVar(&bridge, "bridge", "", "the `BRIDGE` of PORT (default: the bridge that has it)")
	fs.StringVar(&mac, "mac", "", "only frames from or to `MAC`")
	fs.IntVar(&vlan, "vlan", -1, "only frames tagged with VLAN `N` on the port's wire (0: only untagged)")
	fs.StringVar(&ethertype, "type", "", "only frames of ethertype `T` (after the tags), e.g. 0x0806, or arp, ipv4, ipv6")
	pos, err := fs.parse(args, 1, 1)
	if err != nil {
		return err
	}
	q := url.Values{"port": {pos[0]}}
	if bridge != "" {
		q.Set("bridge", bridge)
	}
	if count < 0 {
		return usageError{fs: fs, msg: "-c: want a number of frames"}
	}
	if count > 0 {
		q.Set("count", strconv.Itoa(count))
	}
	if mac != "" {
		q.Set("mac", mac)
	}
	if vlan >= 0 {
		q.Set("vlan", strconv.Itoa(vlan))
	}
	if ethertype != "" {
		et, ok := map[string]string{"arp": "0x0806", "ipv4": "0x0800", "ipv6": "0x86dd"}[ethertype]
		if !ok {
			et = ethertype
		}
		q.Set("ethertype", et)
	}

	// The capture runs until Ctrl-C: -timeout bounds only the start.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c := control.NewClient(cl.socket)
	startCtx, cancel := ctx, context.CancelFunc(func() {})
	if cl.timeout > 0 {
		startCtx, cancel = context.WithTimeout(ctx, cl.timeout)
	}
	body, err := streamStart(startCtx, ctx, c, q)
	cancel()
	if err != nil {
		return cl.failed(err, "capture on "+pos[0], pos[0])
	}
	defer body.Close()
	fmt.Fprintf(cl.stderr, "capturing on %s; Ctrl-C stops\n", pos[0])

	var n, lost uint64
	switch file {
	case "":
		n, lost, err = printFrames(ctx, body, cl.stdout)
	default:
		out := io.Writer(cl.stdout)
		if file != "-" {
			f, err := os.Create(file)
			if err != nil {
				return err
			}
			defer f.Close()
			out = f
		}
		n, lost, err = copyBlocks(body, out)
	}
	if ctx.Err() != nil {
		err = nil // Ctrl-C: the frames so far are whole
	}
	if err != nil {
		return fmt.Errorf("capture on %s: %w", pos[0], err)
	}
	msg := fmt.Sprintf("%d frames captured", n)
	if lost > 0 {
		msg += fmt.Sprintf(", %d lost (the reader was too slow)", lost)
	}
	fmt.Fprintln(cl.stderr, msg)
	return nil
}

// streamStart asks for the capture under startCtx, and returns a body that
// reads until ctx ends.
func streamStart(startCtx, ctx context.Context, c *control.Client, q url.Values) (io.ReadCloser, error) {
	type result struct {
		body io.ReadCloser
		err  error
	}
	done := make(chan result, 1)
	go func() {
		b, err := c.Stream(ctx, "/v1/capture", q)
		done <- result{b, err}
	}()
	select {
	case r := <-done:
		return r.body, r.err
	case <-startCtx.Done():
		go func() {
			if r := <-done; r.body != nil {
				r.body.Close()
			}
		}()
		return nil, startCtx.Err()
	}
}

// printFrames writes a line per frame of the pcapng stream r.
func printFrames(ctx context.Context, r io.Reader, w io.Writer) (n, lost uint64, err error) {
	ng, err := pcapgo.NewNgReader(r, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		return 0, 0, err
	}
	for {
		data, ci, err := ng.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return n, ngLost(ng), nil
		}
		if err != nil {
			return n, 0, err
		}
		n++
		dir, path := "?", "?"
		if intf, err := ng.Interface(ci.InterfaceIndex); err == nil {
			_, dir, path, _ = control.ParseCaptureInterfaceDescription(intf.Description)
		}
		fmt.Fprintf(w, "%s %-3s %-9s %s\n", ci.Timestamp.Format("15:04:05.000000"), dir, path, describeFrame(data))
	}
}

// ngLost sums what the interface statistics say was dropped.
func ngLost(ng *pcapgo.NgReader) (lost uint64) {
	for i := range ng.NInterfaces() {
		if intf, err := ng.Interface(i); err == nil {
			lost += intf.Statistics.PacketsDropped
		}
	}
	return lost
}

// describeFrame says in one line what a frame is.
func describeFrame(d []byte) string {
	if len(d) < 14 {
		return fmt.Sprintf("runt, %d bytes", len(d))
	}
	s := fmt.Sprintf("%s > %s", macString(d[6:12]), macString(d[0:6]))
	et, off := binary.BigEndian.Uint16(d[12:]), 14
	for (et == 0x8100 || et == 0x88a8) && len(d) >= off+4 {
		s += fmt.Sprintf(", vlan %d", binary.BigEndian.Uint16(d[off:])&0xfff)
		et, off = binary.BigEndian.Uint16(d[off+2:]), off+4
	}
	return fmt.Sprintf("%s, %s (0x%04x), %d bytes", s, layers.EthernetType(et), et, len(d))
}

func macString(b []byte) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5])
}

// copyBlocks copies the pcapng stream r to w block by block, so that what
// w holds is whole blocks whenever the copy stops, and counts the packets
// and what the statistics blocks say was lost.
func copyBlocks(r io.Reader, w io.Writer) (n, lost uint64, err error) {
	br := bufio.NewReader(r)
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	order := binary.ByteOrder(binary.LittleEndian)
	hdr := make([]byte, 12)
	for {
		if _, err := io.ReadFull(br, hdr[:8]); err != nil {
			if errors.Is(err, io.EOF) {
				return n, lost, nil
			}
			return n, lost, err
		}
		typ := order.Uint32(hdr[0:])
		if typ == 0x0a0d0d0a { // section header: its byte-order magic follows
			if _, err := io.ReadFull(br, hdr[8:12]); err != nil {
				return n, lost, err
			}
			if binary.BigEndian.Uint32(hdr[8:]) == 0x1a2b3c4d {
				order = binary.BigEndian
			} else {
				order = binary.LittleEndian
			}
		}
		size := order.Uint32(hdr[4:])
		have := 8
		if typ == 0x0a0d0d0a {
			have = 12
		}
		if size < uint32(have)+4 || size > 1<<26 || size%4 != 0 {
			return n, lost, fmt.Errorf("pcapng block of %d bytes: the stream is corrupt", size)
		}
		block := make([]byte, size)
		copy(block, hdr[:have])
		if _, err := io.ReadFull(br, block[have:]); err != nil {
			return n, lost, err
		}
		switch typ {
		case 6: // enhanced packet
			n++
		case 5: // interface statistics: isb_ifdrop is option 5
			lost += ifDrop(block, order)
		}
		if _, err := bw.Write(block); err != nil {
			return n, lost, err
		}
		if err := bw.Flush(); err != nil {
			return n, lost, err
		}
	}
}

// ifDrop returns the isb_ifdrop option of an interface statistics block.
func ifDrop(b []byte, order binary.ByteOrder) uint64 {
	opts := b[20 : len(b)-4] // after type, length, interface, reserved and timestamp
	for len(opts) >= 4 {
		code, l := order.Uint16(opts), int(order.Uint16(opts[2:]))
		if code == 0 || 4+l > len(opts) {
			return 0
		}
		if code == 5 && l == 8 {
			return order.Uint64(opts[4:])
		}
		opts = opts[4+(l+3)&^3:]
	}
	return 0
}

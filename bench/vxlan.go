package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/xswitch/xswitch/internal/topo"
)

// The VXLAN figures: guest a on host A sends to guest b on host B, the two
// hosts joined by an underlay veth, each guest on a bridge with a VXLAN
// device of VNI 100. Both hosts run the same switch: the kernel bridge
// (the baseline), or xswitchd with its tunnel port. The guests' MTU fits
// the tunnel (1450), as a real deployment's would.

var benchVXLAN = flag.Bool("vxlan", true, "measure guest to guest across two hosts over VXLAN: 64-byte frames on one core, TCP and request/response, xswitch against the kernel bridge with a VXLAN device")

// vxlanMode is one way of joining the hosts' guests to the tunnel.
type vxlanMode struct {
	name string
	mode mode // its switch, as the single-host modes run it
}

const bridgeVXLANMode = "kernel bridge + vxlan"

var vxlanModes = []vxlanMode{
	{bridgeVXLANMode, mode{kind: "bridge"}},
	{"xswitch fastpath tc + vxlan", mode{kind: "xswitch", fastPath: "tc", portType: "afpacket"}},
	{"xswitch userspace afpacket + vxlan", mode{kind: "xswitch", fastPath: "off", portType: "afpacket"}},
}

const (
	benchVNI       = 100
	benchTunnelMTU = 1450 // the underlay veth's 1500 minus 50 bytes of VXLAN over IPv4
)

var benchVTEP = [2]string{"10.76.0.1", "10.76.0.2"}

// vxlanYAMLFor is xswitchd's configuration on host i.
func vxlanYAMLFor(i int) string {
	return fmt.Sprintf(`bridges:
  - name: xenbr0
    ports: ["vif*"]
    vxlan:
      - {vni: %d, local: %s, underlay: ul0, flood: [%s]}
`, benchVNI, benchVTEP[i], benchVTEP[1-i])
}

// setupVXLAN builds the two hosts of a VXLAN mode and starts their
// switches; the topology's h is host A, and closing it stops and removes
// both.
func (vm vxlanMode) setup(ctx context.Context, xswitchd string) (_ *topology, err error) {
	var hosts [2]*topo.Host
	var stops []func()
	t := &topology{}
	cleanup := func() {
		for _, s := range stops {
			s()
		}
		for _, h := range hosts[1:] {
			if h != nil {
				h.Close()
			}
		}
	}
	defer func() {
		if err != nil {
			cleanup()
			if hosts[0] != nil {
				hosts[0].Close()
			}
		}
	}()
	for i := range hosts {
		if hosts[i], err = topo.NewHost(fmt.Sprintf("benchvx%c", 'a'+i)); err != nil {
			return nil, err
		}
	}
	t.h = hosts[0]
	if err := nsRun(ctx, hosts[0].Netns,
		[]string{"ip", "link", "add", "ul0", "type", "veth", "peer", "name", "ul0", "netns", hosts[1].Name()},
		[]string{"ip", "addr", "add", benchVTEP[0] + "/24", "dev", "ul0"},
		[]string{"ip", "link", "set", "ul0", "up"},
	); err != nil {
		return nil, err
	}
	if err := nsRun(ctx, hosts[1].Netns,
		[]string{"ip", "addr", "add", benchVTEP[1] + "/24", "dev", "ul0"},
		[]string{"ip", "link", "set", "ul0", "up"},
	); err != nil {
		return nil, err
	}
	var guests [2]*topo.Guest
	for i, h := range hosts {
		g, err := h.AddGuest("vif1.0", topo.MAC(i+1), guestAddr(i+1))
		if err != nil {
			return nil, err
		}
		if err := g.SetMTU("eth0", benchTunnelMTU); err != nil {
			return nil, err
		}
		if err := h.SetMTU("vif1.0", benchTunnelMTU); err != nil {
			return nil, err
		}
		guests[i] = g
		if vm.mode.kind == "bridge" {
			vni := fmt.Sprint(benchVNI)
			if err := nsRun(ctx, h.Netns,
				[]string{"ip", "link", "add", "vxlan" + vni, "type", "vxlan", "id", vni, "local", benchVTEP[i], "dstport", "4789", "dev", "ul0", "nolearning"},
				[]string{"ip", "link", "set", "vxlan" + vni, "addrgenmode", "none", "up"},
				[]string{"bridge", "fdb", "append", "00:00:00:00:00:00", "dev", "vxlan" + vni, "dst", benchVTEP[1-i]},
			); err != nil {
				return nil, err
			}
			if err := h.AddBridge("br0", "vif1.0", "vxlan"+vni); err != nil {
				return nil, err
			}
			continue
		}
		sock := filepath.Join(os.TempDir(), h.Name()+".sock")
		stop, pid, err := startSwitch(ctx, h, xswitchd, vm.mode, vxlanYAMLFor(i), sock, 2)
		if err != nil {
			return nil, fmt.Errorf("host %c: %w", 'A'+i, err)
		}
		stops = append(stops, stop)
		if i == 0 {
			t.pid, t.sock = pid, sock
		}
	}
	t.a, t.b, t.bAddr = guests[0], guests[1], guests[1].Addr()
	t.stop = cleanup
	// Each switch learns the other host's guest, so that no frame of the
	// flow is flooded: a speaks first, then newFlow has b speak.
	hello := topo.EtherFrame(t.b.MAC(), t.a.MAC(), 0x88b5, []byte("hello"))
	if err := t.a.Inject(hello); err != nil {
		return nil, err
	}
	time.Sleep(100 * time.Millisecond)
	return t, nil
}

// measureVXLAN takes the VXLAN figures, after the single-host ones, and
// adds them to res as modes whose ratios are to the kernel bridge's.
func measureVXLAN(ctx context.Context, o options, res *results) error {
	if !*benchVXLAN || o.only != "" || o.dom0Only {
		return nil
	}
	ms := vxlanModes
	if o.smoke {
		ms = ms[:2]
	}
	p := &progress{start: time.Now(), total: len(ms) * o.runs}
	for _, vm := range ms {
		r := &modeResult{Mode: vm.name, Available: true, Baseline: bridgeVXLANMode}
		res.Modes = append(res.Modes, r)
		if err := vm.mode.available(o.xswitchd); err != nil {
			r.Available, r.Reason = false, err.Error()
			continue
		}
		if err := vm.measure(ctx, o, r, p); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r.Available, r.Reason = false, err.Error()
			p.note("%s: unavailable: %v", vm.name, err)
		}
	}
	p.note("the + vxlan modes: guest on host A to guest on host B over VNI %d (underlay veth, MTU %d in the guests), both hosts running the switch named; 64-byte frames on one core only; ratios to %s", benchVNI, benchTunnelMTU, bridgeVXLANMode)
	return nil
}

// measure takes one VXLAN mode's figures, a fresh pair of hosts per run.
func (vm vxlanMode) measure(ctx context.Context, o options, r *modeResult, p *progress) error {
	r.OneCore = &layoutResult{}
	r.TCPGbps, r.P50us, r.P99us = &stat{}, &stat{}, &stat{}
	for i := range o.runs {
		p.step("%s, run %d/%d: 64-byte frames, TCP stream, request/response", vm.name, i+1, o.runs)
		t, err := vm.setup(ctx, o.xswitchd)
		if err != nil {
			return err
		}
		err = func() error {
			defer t.close()
			rt, err := throughput(ctx, vm.mode, t, 64, o.duration, false)
			if err != nil {
				return err
			}
			rt.drops = t.drops(ctx)
			r.OneCore.Delivered.add(rt.delivered)
			r.OneCore.Generated.add(rt.generated)
			r.OneCore.CPUNs.add(rt.cpuNs)
			gbps, err := tcp(ctx, t, o.duration)
			if err != nil {
				return err
			}
			r.TCPGbps.add(gbps)
			p50, p99, err := latency(ctx, t, o.pings)
			if err != nil {
				return err
			}
			r.P50us.add(p50)
			r.P99us.add(p99)
			p.note("sent %.0f frames/s, delivered %.0f frames/s, %.0f ns of CPU per frame%s; TCP %.2f Gbit/s; round trip p50 %.1f µs, p99 %.1f µs",
				rt.generated, rt.delivered, rt.cpuNs, dropsNote(rt.drops), gbps, p50, p99)
			return nil
		}()
		if err != nil {
			return err
		}
	}
	return nil
}

package server

import (
	"fmt"
	"net/http"
	"net/netip"

	"github.com/xswitch/xswitch/bpf"
	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/internal/control"
	"github.com/xswitch/xswitch/internal/metrics"
)

// PortControl is a Source that also adds, changes and removes ports and
// static MACs at run time (the daemon). Errors wrap control.ErrInvalid or
// control.ErrNotFound where the request is at fault, and name the port or
// bridge and the cause.
type PortControl interface {
	SetPort(name string, spec control.PortSpec) (control.PortChange, error)
	RemovePort(name string) (control.PortChange, error)
	SetStatic(s control.Static) (control.StaticChange, error)
	DeleteStatic(s control.Static) (control.StaticChange, error)
}

// RuntimePorts is a Source that tells the ports added through PortControl
// from those of the configuration file and the naming rule.
type RuntimePorts interface {
	RuntimePort(name string) bool
}

// RuntimeSpecs is a Source that also tells what its run-time ports were
// asked to be: xswitchctl port set changes a port's settings from these, so
// a fast-path mode or port type left to the bridge stays so.
type RuntimeSpecs interface {
	RuntimePortSpec(name string) (control.PortSpec, bool)
}

// runtimeOf returns what tells the run-time ports of src, with their specs
// where src has them.
func runtimeOf(src Source) func(name string) (*control.PortSpec, bool) {
	switch rt := src.(type) {
	case RuntimeSpecs:
		return func(name string) (*control.PortSpec, bool) {
			spec, ok := rt.RuntimePortSpec(name)
			if !ok {
				return nil, false
			}
			return &spec, true
		}
	case RuntimePorts:
		return func(name string) (*control.PortSpec, bool) { return nil, rt.RuntimePort(name) }
	}
	return func(string) (*control.PortSpec, bool) { return nil, false }
}

// portRoutes serves GET /v1/ports, and PUT and DELETE /v1/ports/{name}
// when src is a PortControl (501 otherwise).
func portRoutes(mux *http.ServeMux, src Source) {
	mux.HandleFunc("GET /v1/ports", func(w http.ResponseWriter, r *http.Request) {
		list, ok := bridges(src, w, r)
		if !ok {
			return
		}
		runtime := runtimeOf(src)
		out := []control.Port{}
		for _, b := range list {
			for _, p := range metrics.Ports(src, b) {
				c := portJSON(p)
				c.Spec, c.Runtime = runtime(p.Name)
				loopJSON(&c, src, p)
				out = append(out, c)
			}
		}
		reply(w, out)
	})
	pc, ok := src.(PortControl)
	if !ok {
		mux.HandleFunc("PUT /v1/ports/{name}", notImplemented)
		mux.HandleFunc("DELETE /v1/ports/{name}", notImplemented)
		return
	}
	mux.HandleFunc("PUT /v1/ports/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		var spec control.PortSpec
		if err := decode(w, r, &spec); err != nil {
			fail(w, http.StatusBadRequest, fmt.Sprintf("port %s: %v", name, err))
			return
		}
		if spec.Bridge == "" {
			fail(w, http.StatusBadRequest, fmt.Sprintf("port %s: no bridge given", name))
			return
		}
		ch, err := pc.SetPort(name, spec)
		answer(w, ch, err)
	})
	mux.HandleFunc("DELETE /v1/ports/{name}", func(w http.ResponseWriter, r *http.Request) {
		ch, err := pc.RemovePort(r.PathValue("name"))
		answer(w, ch, err)
	})
}

// answer replies with v, the result of a call, or fails with its error.
func answer(w http.ResponseWriter, v any, err error) {
	if err != nil {
		failWith(w, err)
		return
	}
	reply(w, v)
}

func notImplemented(w http.ResponseWriter, r *http.Request) {
	fail(w, http.StatusNotImplemented, "this xswitchd does not add or change ports and static MACs at run time")
}

func portJSON(p metrics.Port) control.Port {
	c := p.Counters
	out := control.Port{Bridge: p.Bridge, Name: p.Name, Kind: p.Kind, Uplink: p.Uplink, FastPath: p.FastPath,
		RxPackets: c.RxPackets, RxBytes: c.RxBytes, RxGSO: c.RxGSO, TxPackets: c.TxPackets, TxBytes: c.TxBytes, Flooded: c.Flooded,
		Drops: map[string]uint64{}}
	if p.Vif != nil {
		out.DomID, out.DevID = &p.Vif.DomID, &p.Vif.DevID
	}
	policyJSON(&out, p)
	for _, r := range dataplane.DropReasons() {
		out.Drops[r.String()] = c.Drops[r]
	}
	if kd := p.KernelDrops; kd != nil {
		out.Drops["ring_full"], out.Drops["truncated"] = kd.RingFull, kd.Truncated
	}
	if len(p.TxErrors) > 0 {
		out.TxErrors = map[string]uint64{}
		for _, e := range p.TxErrors {
			out.TxErrors[e.Reason] = e.Count
		}
	}
	if x := p.AFPacket; x != nil {
		out.AFPacket = &control.AFPacket{RingFreezes: x.RingFreezes, SocketErrors: x.SocketErrors}
		if x.LastSocketError != 0 {
			out.AFPacket.LastSocketError = x.LastSocketError.Error()
		}
	}
	if x := p.AFXDP; x != nil {
		out.AFXDP = &control.AFXDP{Socket: "copy", Queues: x.Queues, SharesUMEM: x.SharesUMEM, TxUncopied: x.TxUncopied,
			Segmented: x.Segmented, Segments: x.Segments, ChecksumsCompleted: x.ChecksumsCompleted}
		if x.ZeroCopy {
			out.AFXDP.Socket = "zerocopy"
		}
	}
	if s := p.FastPathStats; s != nil {
		out.FastPathPackets, out.FastPathBytes = s.Packets, s.Bytes
		out.Punts = map[string]uint64{}
		for i, r := range bpf.PuntReasons {
			out.Punts[r] = s.Punts[i]
		}
		// The fast path drops for the dataplane's reasons; a port's
		// count is what both dropped.
		for r, n := range s.Drops {
			out.Drops[r] += n
		}
	}
	return out
}

// policyJSON fills in the port's VLANs, isolation and anti-spoofing.
func policyJSON(out *control.Port, p metrics.Port) {
	pol := p.Policy
	out.VLAN, out.Isolated, out.AntiSpoof = pol.VLAN.String(), pol.Isolated, pol.AntiSpoof
	if pol.MAC != nil {
		out.MAC = pol.MAC.String()
	}
	out.Allowed = make([]string, len(pol.Allowed))
	for i, a := range pol.Allowed {
		out.Allowed[i] = prefixString(a)
	}
}

// prefixString writes a single address without its prefix length, as
// policy.ParseAllowed reads it.
func prefixString(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

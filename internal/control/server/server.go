// Package server serves xswitchd's control API (package control) over the
// daemon's bridges.
package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/xswitch/xswitch/bpf"
	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/fdb"
	"github.com/xswitch/xswitch/internal/control"
	"github.com/xswitch/xswitch/internal/metrics"
)

// Source gives the server the bridges to show.
type Source interface {
	Bridges() []*dataplane.Bridge
}

// Handler serves the control API over src.
func Handler(src Source) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/bridges", func(w http.ResponseWriter, r *http.Request) {
		out := []control.Bridge{}
		for _, b := range src.Bridges() {
			st := b.FDB().Stats()
			out = append(out, control.Bridge{Name: b.Name(), Ports: len(b.Ports()), FDBEntries: st.Entries,
				Learned: st.Learned, Moved: st.Moved, Aged: st.Aged, Evicted: st.Evicted, Refused: st.Refused, Flushed: st.Flushed})
		}
		reply(w, out)
	})
	mux.HandleFunc("GET /v1/ports", func(w http.ResponseWriter, r *http.Request) {
		out := []control.Port{}
		list, ok := bridges(src, w, r)
		if !ok {
			return
		}
		for _, b := range list {
			for _, p := range metrics.Ports(src, b) {
				out = append(out, portJSON(p))
			}
		}
		reply(w, out)
	})
	mux.HandleFunc("GET /v1/fdb", func(w http.ResponseWriter, r *http.Request) {
		out := []control.FDBEntry{}
		now := fdb.Now()
		list, ok := bridges(src, w, r)
		if !ok {
			return
		}
		for _, b := range list {
			b.FDB().Range(func(e fdb.Entry) bool {
				port, _ := b.PortName(e.Port)
				out = append(out, control.FDBEntry{Bridge: b.Name(), VLAN: e.Key.VID(), MAC: e.Key.MAC().String(), Port: port,
					Static: e.Static, AgeSeconds: time.Duration(now - e.LastSeen).Seconds()})
				return true
			})
		}
		sort.Slice(out, func(i, j int) bool {
			a, b := out[i], out[j]
			if a.Bridge != b.Bridge {
				return a.Bridge < b.Bridge
			}
			if a.VLAN != b.VLAN {
				return a.VLAN < b.VLAN
			}
			return a.MAC < b.MAC
		})
		reply(w, out)
	})
	mux.HandleFunc("POST /v1/fdb/flush", func(w http.ResponseWriter, r *http.Request) {
		port := r.URL.Query().Get("port")
		removed := 0
		found := port == ""
		list, ok := bridges(src, w, r)
		if !ok {
			return
		}
		for _, b := range list {
			if port == "" {
				removed += b.FDB().Flush()
				continue
			}
			for _, p := range b.Ports() {
				if p.Name == port {
					found = true
					removed += b.FDB().FlushPort(p.ID)
				}
			}
		}
		if !found {
			http.Error(w, fmt.Sprintf("no port %q", port), http.StatusNotFound)
			return
		}
		reply(w, control.Flushed{Removed: removed})
	})
	takeoverRoutes(mux, src)
	return mux
}

// bridges returns the bridges a request names with ?bridge=, or all. An
// unknown name is answered with 404 and ok false.
func bridges(src Source, w http.ResponseWriter, r *http.Request) (_ []*dataplane.Bridge, ok bool) {
	all := src.Bridges()
	name := r.URL.Query().Get("bridge")
	if name == "" {
		return all, true
	}
	for _, b := range all {
		if b.Name() == name {
			return []*dataplane.Bridge{b}, true
		}
	}
	http.Error(w, fmt.Sprintf("no bridge %q", name), http.StatusNotFound)
	return nil, false
}

func portJSON(p metrics.Port) control.Port {
	c := p.Counters
	out := control.Port{Bridge: p.Bridge, Name: p.Name, Kind: p.Kind, Uplink: p.Uplink, FastPath: p.FastPath,
		RxPackets: c.RxPackets, RxBytes: c.RxBytes, RxGSO: c.RxGSO, TxPackets: c.TxPackets, TxBytes: c.TxBytes, Flooded: c.Flooded,
		Drops: map[string]uint64{}}
	if p.Vif != nil {
		out.DomID, out.DevID = &p.Vif.DomID, &p.Vif.DevID
	}
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
	}
	return out
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// Listen opens the control socket at path, replacing a stale socket file left
// by a daemon that died, but refusing to steal the socket of a live one.
func Listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, fmt.Errorf("control socket %s: another xswitchd is listening there", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("control socket %s: remove stale socket: %w", path, err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	return l, nil
}

package server

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/internal/control"
)

// captureQueue is how many frames a capture holds for a slow reader before
// it loses some (and says how many at the end).
const captureQueue = 4096

// captureRoutes serves GET /v1/capture.
func captureRoutes(mux *http.ServeMux, src Source) {
	mux.HandleFunc("GET /v1/capture", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		name := q.Get("port")
		if name == "" {
			fail(w, http.StatusBadRequest, "capture: want ?port=")
			return
		}
		filter, count, err := captureParams(q)
		if err != nil {
			fail(w, http.StatusBadRequest, "capture on "+name+": "+err.Error())
			return
		}
		list, ok := bridges(src, w, r)
		if !ok {
			return
		}
		var (
			c    *dataplane.Capture
			info dataplane.PortInfo
		)
		for _, b := range list {
			for _, p := range b.Ports() {
				if p.Name == name {
					info = p.PortInfo
					c, err = b.Capture(name, filter, captureQueue)
				}
			}
		}
		switch {
		case c == nil && err == nil:
			fail(w, http.StatusNotFound, fmt.Sprintf("capture: no port %q", name))
			return
		case err != nil:
			fail(w, http.StatusNotFound, "capture: "+err.Error())
			return
		}
		defer c.Close()
		streamCapture(w, r, c, info, count)
	})
}

// captureParams reads the filter and the frame count of a capture request.
func captureParams(q url.Values) (f dataplane.CaptureFilter, count int, err error) {
	if s := q.Get("mac"); s != "" {
		if f.MAC, err = net.ParseMAC(s); err != nil || len(f.MAC) != 6 {
			return f, 0, fmt.Errorf("mac %q: want an Ethernet address", s)
		}
	}
	if s := q.Get("vlan"); s != "" {
		v, err := strconv.ParseUint(s, 10, 12)
		if err != nil || v > 4094 {
			return f, 0, fmt.Errorf("vlan %q: want 0 (untagged frames) to 4094", s)
		}
		vid := uint16(v)
		f.VLAN = &vid
	}
	if s := q.Get("ethertype"); s != "" {
		v, err := strconv.ParseUint(s, 0, 16)
		if err != nil {
			return f, 0, fmt.Errorf("ethertype %q: want a number such as 0x0806", s)
		}
		f.EtherType = uint16(v)
	}
	if s := q.Get("count"); s != "" {
		if count, err = strconv.Atoi(s); err != nil || count < 0 {
			return f, 0, fmt.Errorf("count %q: want a number of frames (0: no limit)", s)
		}
	}
	return f, count, nil
}

// captureInterfaces are the pcapng interfaces of a capture, one per
// direction and path: a frame's interface says how it went. Every port has
// all three paths: a frame another port's program sends to this one has
// that program's path, and an XDP port leaves some frames to its TC
// program.
func captureInterfaces(dataplane.PortInfo) []captureIf {
	var out []captureIf
	for _, p := range []string{"userspace", "tc", "xdp"} {
		out = append(out, captureIf{dataplane.In, p}, captureIf{dataplane.Out, p})
	}
	return out
}

type captureIf struct {
	dir  dataplane.Direction
	path string
}

// streamCapture writes the frames of c as pcapng, one interface per
// direction and path, until count frames (0: until the client goes or the
// port does), flushing each.
func streamCapture(w http.ResponseWriter, r *http.Request, c *dataplane.Capture, info dataplane.PortInfo, count int) {
	ifs := captureInterfaces(info)
	ngIf := func(i captureIf) pcapgo.NgInterface {
		return pcapgo.NgInterface{Name: info.Name, LinkType: layers.LinkTypeEthernet, SnapLength: 0,
			Description: control.CaptureInterfaceDescription(info.Name, i.dir.String(), i.path)}
	}
	w.Header().Set("Content-Type", "application/x-pcapng")
	flusher, _ := w.(http.Flusher)
	ng, err := pcapgo.NewNgWriterInterface(w, ngIf(ifs[0]), pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Application: "xswitchd"}})
	if err != nil {
		return
	}
	for _, i := range ifs[1:] {
		if _, err := ng.AddInterface(ngIf(i)); err != nil {
			return
		}
	}
	if ng.Flush() != nil {
		return
	}
	if flusher != nil {
		flusher.Flush()
	}
	index := func(f dataplane.CapturedFrame) int {
		for n, i := range ifs {
			if i.dir == f.Dir && i.path == f.Path {
				return n
			}
		}
		return 0
	}
	end := func() { // what the capture lost, counted on the first interface
		ng.WriteInterfaceStats(0, pcapgo.NgInterfaceStatistics{PacketsDropped: c.Lost(), PacketsReceived: pcapgo.NgNoValue64})
		ng.Flush()
	}
	for sent := 0; count == 0 || sent < count; sent++ {
		select {
		case <-r.Context().Done():
			return
		case <-c.Done():
			end()
			return
		case f := <-c.Frames():
			ci := gopacket.CaptureInfo{Timestamp: f.Time, CaptureLength: len(f.Data), Length: len(f.Data), InterfaceIndex: index(f)}
			if err := ng.WritePacket(ci, f.Data); err != nil {
				return
			}
			if ng.Flush() != nil {
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
	}
	end()
}

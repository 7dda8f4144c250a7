package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/xswitch/xswitch/internal/control"
)

// evpn shows the BGP EVPN control plane: sessions, VNIs, remote VTEPs and
// MACs.
func (cl *cli) evpn(args []string) error {
	fs := cl.flags("xswitchctl evpn", "[sessions|vnis|vteps|macs]",
		"The BGP EVPN control plane: BGP sessions (the default), local VNIs, remote VTEPs, or local and remote MACs.")
	pos, err := fs.parse(args, 0, 1)
	if err != nil {
		return err
	}
	what := "sessions"
	if len(pos) > 0 {
		what = pos[0]
	}
	switch what {
	case "sessions":
		var v []control.EVPNSession
		if done, err := cl.get("/v1/evpn/sessions", nil, &v); done || err != nil {
			return cl.failed(err, "", "")
		}
		cl.table(func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "NEIGHBOR\tASN\tSTATE\tUP\tRECEIVED\tSENT")
			for _, s := range v {
				up := "-"
				if s.Established && s.Uptime > 0 {
					up = time.Since(time.Unix(s.Uptime, 0)).Round(time.Second).String()
				}
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%d\t%d\n", s.Neighbor, s.ASN, s.State, up, s.Received, s.Sent)
			}
		})
	case "vnis":
		var v []control.EVPNVNI
		if done, err := cl.get("/v1/evpn/vnis", nil, &v); done || err != nil {
			return cl.failed(err, "", "")
		}
		cl.table(func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "VNI\tVTEP\tRD\tRT\tLOCAL-MACS\tREMOTE-MACS\tFLOOD")
			for _, n := range v {
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d\t%d\t%s\n", n.VNI, n.VTEP, n.RD, n.RT, n.LocalMACs, n.RemoteMACs, orDash(strings.Join(n.Flood, ",")))
			}
		})
	case "vteps":
		var v []control.EVPNVTEP
		if done, err := cl.get("/v1/evpn/vteps", nil, &v); done || err != nil {
			return cl.failed(err, "", "")
		}
		cl.table(func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "VNI\tVTEP\tPEER\tSTALE")
			for _, t := range v {
				fmt.Fprintf(w, "%d\t%s\t%s\t%v\n", t.VNI, t.VTEP, t.Peer, t.Stale)
			}
		})
	case "macs", "routes":
		var v []control.EVPNMAC
		if done, err := cl.get("/v1/evpn/macs", nil, &v); done || err != nil {
			return cl.failed(err, "", "")
		}
		cl.table(func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "VNI\tMAC\tIP\tORIGIN\tVTEP\tSEQ\tPEER\tINSTALLED\tSTALE")
			for _, m := range v {
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%v\t%v\n", m.VNI, m.MAC, orDash(m.IP), m.Origin, m.VTEP, m.Seq, orDash(m.Peer), m.Installed, m.Stale)
			}
		})
	default:
		return usageError{fs, fmt.Sprintf("unknown view %q (want sessions, vnis, vteps or macs)", what)}
	}
	return nil
}

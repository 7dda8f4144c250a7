package main

import (
	"cmp"
	"slices"
	"strconv"
	"time"

	"github.com/xswitch/xswitch/internal/control"
)

// portRate is what one port did between two samples of its counters, per
// second. Frames the fast path forwarded count as received, as the port
// received them; FastShare is their part of the frames received.
type portRate struct {
	Bridge string `json:"bridge"`
	Port   string `json:"port"`
	DomID  *int   `json:"domid,omitempty"`
	Uplink bool   `json:"uplink"`
	// FastPath is the port's mode: xdp, tc or off.
	FastPath string `json:"fastpath"`
	// New says the port was not there at the previous sample: it has no
	// rates yet.
	New       bool    `json:"new,omitempty"`
	RxFrames  float64 `json:"rx_frames_per_second"`
	RxBits    float64 `json:"rx_bits_per_second"`
	TxFrames  float64 `json:"tx_frames_per_second"`
	TxBits    float64 `json:"tx_bits_per_second"`
	FastShare float64 `json:"fastpath_share"` // 0 to 1; 0 without frames received
	Drops     float64 `json:"drops_per_second"`
	// DropsBy are the drops per second of each reason that dropped any.
	DropsBy map[string]float64 `json:"drops_by_reason_per_second,omitempty"`
}

// portKey names a port across samples: a port that moves to another
// bridge starts its counters again.
type portKey struct{ bridge, port string }

// rates returns the rates of the ports of cur, seen dt after prev, the
// busiest first: by frames received and sent, then by drops, then by
// bridge and name. A counter that went down started again (the port was
// attached again, or xswitchd restarted): its rate is its value over dt,
// as Prometheus's rate() takes it.
func rates(prev, cur []control.Port, dt time.Duration) []portRate {
	before := make(map[portKey]control.Port, len(prev))
	for _, p := range prev {
		before[portKey{p.Bridge, p.Name}] = p
	}
	secs := dt.Seconds()
	out := make([]portRate, 0, len(cur))
	for _, p := range cur {
		r := portRate{Bridge: p.Bridge, Port: p.Name, DomID: p.DomID, Uplink: p.Uplink, FastPath: p.FastPath}
		q, ok := before[portKey{p.Bridge, p.Name}]
		if !ok || secs <= 0 {
			r.New = true
			out = append(out, r)
			continue
		}
		per := func(now, then uint64) float64 {
			if now < then {
				return float64(now) / secs
			}
			return float64(now-then) / secs
		}
		fast := per(p.FastPathPackets, q.FastPathPackets)
		r.RxFrames = per(p.RxPackets, q.RxPackets) + fast
		r.RxBits = 8 * (per(p.RxBytes, q.RxBytes) + per(p.FastPathBytes, q.FastPathBytes))
		r.TxFrames = per(p.TxPackets, q.TxPackets)
		r.TxBits = 8 * per(p.TxBytes, q.TxBytes)
		if r.RxFrames > 0 {
			r.FastShare = fast / r.RxFrames
		}
		for reason, n := range p.Drops {
			if v := per(n, q.Drops[reason]); v > 0 {
				if r.DropsBy == nil {
					r.DropsBy = map[string]float64{}
				}
				r.DropsBy[reason] = v
				r.Drops += v
			}
		}
		out = append(out, r)
	}
	slices.SortStableFunc(out, func(a, b portRate) int {
		return cmp.Or(
			cmp.Compare(b.RxFrames+b.TxFrames, a.RxFrames+a.TxFrames),
			cmp.Compare(b.Drops, a.Drops),
			cmp.Compare(a.Bridge, b.Bridge),
			cmp.Compare(a.Port, b.Port))
	})
	return out
}

// si writes a rate with an SI prefix and three significant digits:
// 0, 7.5, 950, 12.3k, 1.20M, 9.41G.
func si(v float64) string {
	const prefixes = " kMGTP"
	if v == 0 {
		return "0"
	}
	i := 0
	for v >= 999.5 && i < len(prefixes)-1 {
		v /= 1000
		i++
	}
	prec := 2
	switch {
	case v >= 99.95:
		prec = 0
	case v >= 9.995:
		prec = 1
	}
	s := strconv.FormatFloat(v, 'f', prec, 64)
	if i == 0 {
		return s
	}
	return s + prefixes[i:i+1]
}

package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/xswitch/xswitch/fdb"
)

// LoopSource is a Source whose bridges guard against loops (docs/loops.md).
type LoopSource interface {
	// PortLoop returns what loop protection knows of the port with the
	// given name and id; false if its bridge has no loop protection.
	PortLoop(bridge, port string, id fdb.PortID) (PortLoop, bool)
}

// PortLoop is what loop protection knows of a port.
type PortLoop struct {
	// Blocked says the port is blocked, until Until.
	Blocked bool
	Until   time.Time
	// Blocks counts the times loop protection blocked the port.
	Blocks uint64
	// Flaps counts the MAC moves onto the port, which a loop makes by
	// the thousand.
	Flaps uint64
}

var (
	portBlocked      = desc("port_blocked", "1 while loop protection blocks the port (a MAC flapped between it and another port: a loop); it drops what it receives and is sent nothing until the hold time passes.", portLabels...)
	portBlockedTotal = desc("port_blocked_total", "Times loop protection blocked the port.", portLabels...)
	fdbFlaps         = desc("fdb_flaps_total", "MAC addresses that moved onto the port from another port of the bridge; a loop makes thousands a second on both its ports.", portLabels...)
)

// loopDescs are the descriptions of collectLoop's series.
var loopDescs = []*prometheus.Desc{portBlocked, portBlockedTotal, fdbFlaps}

// collectLoop sends the loop protection series of p, if src has them.
func (c *Collector) collectLoop(ch chan<- prometheus.Metric, p Port, labels []string) {
	ls, ok := c.src.(LoopSource)
	if !ok {
		return
	}
	l, ok := ls.PortLoop(p.Bridge, p.Name, p.ID)
	if !ok {
		return
	}
	blocked := 0.0
	if l.Blocked {
		blocked = 1
	}
	ch <- prometheus.MustNewConstMetric(portBlocked, prometheus.GaugeValue, blocked, labels...)
	ch <- prometheus.MustNewConstMetric(portBlockedTotal, prometheus.CounterValue, float64(l.Blocks), labels...)
	ch <- prometheus.MustNewConstMetric(fdbFlaps, prometheus.CounterValue, float64(l.Flaps), labels...)
}

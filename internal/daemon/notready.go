package daemon

import (
	"fmt"
	"sort"
)

// NotReady says what keeps the daemon from being ready, one reason a line,
// or nothing when it is: the first scan of the interfaces not done yet,
// the eBPF programs not loaded while the configuration asks for them (a
// fast-path mode other than off, or AF_XDP ports), and each interface
// present that the configuration makes a port but that is none, with the
// reason its attach failed. Interfaces that are absent, enslaved to a
// kernel bridge or bond, or removed through the control API are not
// waited for, as READY=1 does not wait for them either.
func (d *Daemon) NotReady() []string {
	select {
	case <-d.ready.c():
	default:
		return []string{"starting: the interfaces are not all scanned yet"}
	}
	var why []string
	d.mu.Lock()
	fpErr := d.fpErr
	wants := d.cfg.WantsFastPath() || d.cfg.WantsAFXDP()
	d.mu.Unlock()
	if fpErr != nil && wants {
		why = append(why, fmt.Sprintf("fast path not loaded: %v", fpErr))
	}
	links, err := d.sys.links.LinkList()
	if err != nil {
		return append(why, fmt.Sprintf("cannot list the interfaces: %v", err))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var ports []string
	for _, l := range links {
		idx, name := l.Attrs().Index, l.Attrs().Name
		if _, ok := d.attached[idx]; ok || enslaved(l) || d.deleted[idx] == name {
			continue
		}
		b, _, ok := matchPort(d.cfg, name)
		if !ok {
			continue
		}
		cause := d.failed[idx]
		if cause == "" {
			cause = "not attached yet"
		}
		ports = append(ports, fmt.Sprintf("port %s of %s not attached: %s", name, b.Name, cause))
	}
	sort.Strings(ports)
	return append(why, ports...)
}

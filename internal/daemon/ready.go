package daemon

import "sync"

// readiness is closed once the daemon has compared the system's links with
// its configuration in full and attached every interface that matches (or
// logged why one could not attach). The zero value is ready to use.
type readiness struct {
	make  sync.Once
	close sync.Once
	ch    chan struct{} // made by make, closed by close
}

func (r *readiness) c() chan struct{} {
	r.make.Do(func() { r.ch = make(chan struct{}) })
	return r.ch
}

func (r *readiness) set() {
	ch := r.c()
	r.close.Do(func() { close(ch) })
}

// Ready is closed after the first full resync: every interface present at
// start that the configuration matches is a port by then, except those
// whose attach failed and was logged. A service manager may start what
// needs the ports (the guests) from then on.
func (d *Daemon) Ready() <-chan struct{} { return d.ready.c() }

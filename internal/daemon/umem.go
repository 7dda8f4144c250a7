package daemon

// UMEMFrames calls f with the size of each bridge's UMEM and the frames in
// its pool; it takes mu.
func (d *Daemon) UMEMFrames(f func(bridge string, frames, free int)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ks, ok := d.sys.sockets.(*kernelSockets)
	if !ok {
		return
	}
	for bridge, u := range ks.umems {
		f(bridge, u.Frames(), u.Free())
	}
}

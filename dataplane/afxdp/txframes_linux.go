package afxdp

// The sender's frames: the spares it copies frames into, the frames the
// completion ring gives back, and the way back to the pool, which it takes
// once per Send. All under tx.mu.

// alloc returns a free frame for the sender, from its spares, which it
// refills from the completion ring or from the pool, as many at once as
// the Send has frames left.
func (p *Port) alloc() (uint64, bool) {
	t, u := &p.tx, p.umem
	if len(t.spare) == 0 {
		p.reap()
	}
	if len(t.spare) == 0 {
		n := u.get(t.spare[:min(max(t.left, 1), cap(t.spare))], 0)
		t.spare = t.spare[:n]
		if n == 0 {
			return 0, false
		}
		for _, a := range t.spare {
			u.owner[a>>u.shift].Store(t.q.txOwner)
		}
	}
	a := t.spare[len(t.spare)-1]
	t.spare = t.spare[:len(t.spare)-1]
	return a, true
}

// free gives a frame alloc returned back to the sender's spares, or
// towards the pool.
func (p *Port) free(addr uint64) {
	t := &p.tx
	addr &^= p.umem.frameSize - 1
	if len(t.spare) < cap(t.spare) {
		t.spare = append(t.spare, addr)
		return
	}
	if len(t.back) == cap(t.back) {
		p.putBack()
	}
	t.back = append(t.back, addr)
}

// returnSpares gives the spares and the frames on their way back to the
// pool, at the end of a Send.
func (p *Port) returnSpares() {
	t := &p.tx
	if len(t.back)+len(t.spare) > cap(t.back) {
		p.putBack()
	}
	t.back = append(t.back, t.spare...)
	t.spare = t.spare[:0]
	p.putBack()
}

// putBack returns the frames in back to the pool.
func (p *Port) putBack() {
	t := &p.tx
	if len(t.back) > 0 {
		p.umem.put(t.back)
		t.back = t.back[:0]
	}
}

// reap takes completed frames back: into the spares, the rest towards the
// pool.
func (p *Port) reap() {
	t := &p.tx
	r := &t.q.comp
	n := r.avail()
	if n == 0 {
		return
	}
	if len(t.back)+int(n) > cap(t.back) {
		p.putBack()
	}
	mask := p.umem.frameSize - 1
	for range n {
		a := *r.addr(r.local) &^ mask
		r.local++
		if len(t.spare) < cap(t.spare) {
			t.spare = append(t.spare, a) // owned by txOwner since it was posted
		} else {
			t.back = append(t.back, a)
		}
	}
	r.release()
	t.done += uint64(n)
}

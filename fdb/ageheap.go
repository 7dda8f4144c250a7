package fdb

import "container/heap"

// ageHeap is a min-heap of one port's dynamic entries by (queued, key), so
// that eviction and aging find the least recently seen entry in O(log n)
// instead of scanning the port. The fast path moves lastSeen on without the
// lock, so queued lags behind it; oldest catches up lazily.
type ageHeap []*entry

func (h ageHeap) Len() int { return len(h) }

func (h ageHeap) Less(i, j int) bool {
	a, b := h[i], h[j]
	return a.queued < b.queued || a.queued == b.queued && a.key < b.key
}

func (h ageHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}

// Push is for container/heap; use heap.Push.
func (h *ageHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}

// Pop is for container/heap; use heap.Pop.
func (h *ageHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil // let a removed entry be collected
	*h = old[:len(old)-1]
	return e
}

// oldest returns the least recently seen entry, or nil if there is none.
// Entries refreshed since they were queued go back down the heap until the
// top one is current; then no entry was seen earlier, because each one's
// lastSeen is at least its queued, which is at least the top's.
func (h *ageHeap) oldest() *entry {
	for len(*h) > 0 {
		e := (*h)[0]
		seen := e.lastSeen.Load()
		if seen <= e.queued {
			return e
		}
		e.queued = seen
		heap.Fix(h, 0)
	}
	return nil
}

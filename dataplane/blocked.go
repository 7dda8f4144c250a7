package dataplane

import "fmt"

// SetBlocked blocks the named port against a loop, or unblocks it. While
// blocked, what the port receives is dropped (DropBlocked) without being
// learned, floods skip it, and unicast to a MAC learned on it is flooded as
// to an unknown destination, past it. Batches begun before it returns may
// still be forwarded as before.
func (b *Bridge) SetBlocked(name string, blocked bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, q := range b.ports.Load().list {
		if q.info.Name == name {
			if q.blocked.Swap(blocked) != blocked {
				b.log.Info("port blocking changed", "port", name, "blocked", blocked)
			}
			return nil
		}
	}
	return fmt.Errorf("bridge %s: set blocked of %s: %w", b.name, name, ErrNoPort)
}

// Blocked says whether the named port is blocked (SetBlocked).
func (b *Bridge) Blocked(name string) bool {
	for _, q := range b.ports.Load().list {
		if q.info.Name == name {
			return q.blocked.Load()
		}
	}
	return false
}

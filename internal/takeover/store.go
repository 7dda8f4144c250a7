package takeover

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
)

// DefaultState is where the daemon keeps its takeovers.
const DefaultState = "/var/lib/xswitch/takeover.json"

// Kind says what was taken over.
type Kind string

// The kinds of takeover.
const (
	KindNIC    Kind = "nic"    // ethN became the uplink pethN; host port ethN
	KindBridge Kind = "bridge" // kernel bridge xenbrN became xswitch's; host port xenbrN
)

// Record is a takeover in force: what xswitchd must keep (a bridge beyond
// its configuration) and what a release needs to undo it.
type Record struct {
	Kind      Kind     `json:"kind"`
	Interface string   `json:"interface"` // as named before: eth0, xenbr0
	Bridge    string   `json:"bridge"`    // the switch's bridge
	Uplink    string   `json:"uplink"`
	Ports     []string `json:"ports,omitempty"` // the other ports, in the kernel bridge's order
	HostPort  string   `json:"host_port"`
	MAC       string   `json:"mac"`
	MTU       int      `json:"mtu"`
	// Up says the interface was administratively up.
	Up bool `json:"up"`
	// Kernel is the kernel bridge's settings, for KindBridge.
	Kernel *BridgeSettings `json:"kernel_bridge,omitempty"`
}

// Store is the state file of takeovers, written whole on each change
// (a new file renamed over the old) so a crash leaves one or the other.
type Store struct {
	path string

	mu   sync.Mutex
	recs map[string]Record // by Interface
}

// OpenStore reads the state file at path; a missing file is an empty store.
func OpenStore(path string) (*Store, error) {
	s := &Store{path: path, recs: map[string]Record{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("takeover state: %w", err)
	}
	var recs []Record
	if err := json.Unmarshal(data, &recs); err != nil {
		return nil, fmt.Errorf("takeover state %s: %w", path, err)
	}
	for _, r := range recs {
		s.recs[r.Interface] = r
	}
	return s, nil
}

// Path is the state file's path.
func (s *Store) Path() string { return s.path }

// Records returns the takeovers in force, by interface name.
func (s *Store) Records() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Record, 0, len(s.recs))
	for _, r := range s.recs {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Interface < out[j].Interface })
	return out
}

// Lookup finds the takeover of an interface by any of its names: the one
// taken over, the uplink or the host port.
func (s *Store) Lookup(name string) (Record, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.recs[name]; ok {
		return r, true
	}
	for _, r := range s.recs {
		if r.Uplink == name || r.HostPort == name {
			return r, true
		}
	}
	return Record{}, false
}

func (s *Store) put(r Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, had := s.recs[r.Interface]
	s.recs[r.Interface] = r
	if err := s.save(); err != nil {
		if had {
			s.recs[r.Interface] = old
		} else {
			delete(s.recs, r.Interface)
		}
		return err
	}
	return nil
}

func (s *Store) remove(iface string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, had := s.recs[iface]
	if !had {
		return nil
	}
	delete(s.recs, iface)
	if err := s.save(); err != nil {
		s.recs[iface] = old
		return err
	}
	return nil
}

// save writes the records; under mu.
func (s *Store) save() error {
	recs := make([]Record, 0, len(s.recs))
	for _, r := range s.recs {
		recs = append(recs, r)
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Interface < recs[j].Interface })
	data, err := json.MarshalIndent(recs, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o755); err != nil {
		return fmt.Errorf("takeover state: %w", err)
	}
	tmp := s.path + ".new"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("takeover state: %w", err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("takeover state: %w", err)
	}
	return nil
}

func (s *Store) get(iface string) (Record, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.recs[iface]
	return r, ok
}

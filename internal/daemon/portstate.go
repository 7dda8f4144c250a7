package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/xswitch/xswitch/internal/config"
	"github.com/xswitch/xswitch/internal/control"
)

// DefaultPortState is where the daemon keeps the ports and static MACs
// added at run time.
const DefaultPortState = "/var/lib/xswitch/ports.json"

// portState is the port state file: the runtime ports with the specs they
// were given, in canonical form, and the runtime static MACs, as of the
// boot Boot names. Like the guests whose hotplug scripts add them, they
// last until the machine reboots: after a reboot the scripts add them
// again as the guests come back, and a record from before would give a
// new guest's vif the settings of an old one of the same name.
type portState struct {
	Boot    string           `json:"boot_id,omitempty"`
	Ports   []statePort      `json:"ports"`
	Statics []control.Static `json:"statics"`
	Mirrors []control.Mirror `json:"mirrors,omitempty"`
}

type statePort struct {
	Name string `json:"name"`
	control.PortSpec
}

// LoadPortState reads the port state file at path into cfg, whose runtime
// ports and static MACs then come back, and has the daemon made from cfg
// keep them there. A missing file is an empty one; an entry that no longer
// reads is logged and dropped. Call it before New.
func LoadPortState(cfg *config.Config, path string, log *slog.Logger) error {
	cfg.PortState = path
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("port state: %w", err)
	}
	var st portState
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("port state %s: %w", path, err)
	}
	if boot := bootID(); st.Boot != "" && boot != "" && st.Boot != boot {
		log.Info("forgetting the runtime ports and static MACs on record: they are from before the last boot, and hotplug scripts add them again as guests start",
			"ports", len(st.Ports), "statics", len(st.Statics), "state", path)
		return nil
	}
	for _, p := range st.Ports {
		rp, err := runtimePort(p.Name, p.PortSpec)
		if err != nil {
			log.Error("dropping a runtime port on record that does not read", "port", p.Name, "state", path, "err", err)
			continue
		}
		cfg.SetRuntimePort(rp)
		log.Info("runtime port on record", "port", rp.Name, "bridge", rp.Bridge, "vlan", rp.Policy.VLAN.String(), "state", path)
	}
	for _, s := range st.Statics {
		rs, err := runtimeStatic(s, true)
		if err != nil {
			log.Error("dropping a runtime static MAC on record that does not read", "mac", s.MAC, "state", path, "err", err)
			continue
		}
		cfg.SetRuntimeStatic(rs)
	}
	for _, m := range st.Mirrors {
		rm := config.RuntimeMirror{Bridge: m.Bridge, Mirror: config.Mirror{From: m.From, To: m.To, Direction: m.Direction}}
		if err := rm.Check(); err != nil {
			log.Error("dropping a runtime mirror on record that does not read", "from", m.From, "to", m.To, "state", path, "err", err)
			continue
		}
		cfg.SetRuntimeMirror(rm)
	}
	return nil
}

// savePorts writes the port state file, whole (a new file renamed over the
// old, so a crash leaves one or the other); under mu. Without a file it
// does nothing.
func (d *Daemon) savePorts() error {
	path := d.cfg.PortState
	if path == "" {
		return nil
	}
	st := portState{Boot: bootID(), Ports: []statePort{}, Statics: []control.Static{}}
	for _, p := range d.cfg.RuntimePorts {
		st.Ports = append(st.Ports, statePort{Name: p.Name, PortSpec: portSpec(p)})
	}
	sort.Slice(st.Ports, func(i, j int) bool { return st.Ports[i].Name < st.Ports[j].Name })
	for _, s := range d.cfg.RuntimeStatics {
		st.Statics = append(st.Statics, staticOf(s))
	}
	sort.Slice(st.Statics, func(i, j int) bool {
		a, b := st.Statics[i], st.Statics[j]
		if a.Bridge != b.Bridge {
			return a.Bridge < b.Bridge
		}
		if a.VLAN != b.VLAN {
			return a.VLAN < b.VLAN
		}
		return a.MAC < b.MAC
	})
	for _, m := range d.cfg.RuntimeMirrors {
		st.Mirrors = append(st.Mirrors, control.Mirror{Bridge: m.Bridge, From: m.From, To: m.To, Direction: m.Direction})
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("port state: %w", err)
	}
	tmp := path + ".new"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("port state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("port state: %w", err)
	}
	return nil
}

// bootIDFile names the current boot; a variable so tests can fake a reboot.
var bootIDFile = "/proc/sys/kernel/random/boot_id"

// bootID returns the kernel's id of the current boot, "" when unknown.
func bootID() string {
	b, err := os.ReadFile(bootIDFile)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// logSaveErr logs a failure to write the port state file back as it was.
func (d *Daemon) logSaveErr(err error) {
	if err != nil {
		d.log.Error("cannot write the port state back; the file may hold a change that did not take", "state", d.cfg.PortState, "err", err)
	}
}

package config

import (
	"strings"
	"testing"
)

// FuzzParse feeds Parse arbitrary files: it must not panic, every error
// must name the file, and a file it accepts has bridges with names.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"bridges:\n  - name: xenbr0\n    uplink: peth0\n    ports: [\"vif*.0\", \"vif*.0-emu\"]\n",
		"fastpath: tc\nport-type: afpacket\nbridges:\n  - name: a\n    ports: [\"vif*\"]\n",
		"afxdp: {frames: 4096, frame-size: 2048, rx-ring: 512, tx-ring: 256, batch-size: 32, bind: copy, spin-time: 0}\n" +
			"punt-ring: {frames: 1024, frame-size: 2KiB, batch-size: 128}\nbridges:\n  - name: a\n    rings:\n      vif: {block-size: 256KiB, blocks: 4}\n",
		"bridges:\n  - name: a\n    host-port: {name: drbd, mac: \"02:00:00:00:01:01\", mtu: 9000}\n  - name: b\n    host-port: eth0\n",
		"bridges:\n  - name: a\n    uplink: peth0\n    port-settings:\n      peth0: {vlan: \"trunk 10,20 native 10\"}\n      \"vif9.*\": {vlan: \"access 20\", isolated: true}\n",
		"bridges:\n  - name: a\n    static:\n      - {mac: \"02:16:3e:00:00:01\", port: vif1.0, vlan: 10}\n    fdb: {max-entries: 100, max-per-port: 10}\n    aging-time: 10s\n",
		"bridges:\n  - name: a\n    mirrors:\n      - {from: vif1.0, to: vif9.0, direction: ingress}\n",
		"bridges: &b\n  - name: a\n    ports: *b\n",
		"bridges:\n  - <<: {name: a}\n",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("x.yaml", data)
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "x.yaml") {
					t.Fatalf("error %q does not name the file", err)
				}
			}
			return
		}
		if len(c.Bridges) == 0 {
			t.Fatal("accepted a file without bridges")
		}
		for _, b := range c.Bridges {
			if b.Name == "" {
				t.Fatalf("accepted a bridge without a name: %+v", b)
			}
		}
	})
}

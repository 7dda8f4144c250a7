package takeover

import (
	"errors"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestRun: steps run in order; a failing step, injected or real, undoes
// itself and the ones before, last first, and the error says which step
// failed and whether the rollback did.
func TestRun(t *testing.T) {
	boom := errors.New("boom")
	for _, tt := range []struct {
		name     string
		failAt   int // injected
		fails    int // the step whose do fails for real; 0 none
		undoFail int // the step whose undo fails; 0 none
		want     []string
		err      string
	}{
		{"all done", 0, 0, 0, []string{"do 1", "do 2", "do 3"}, ""},
		{"injected at 2", 2, 0, 0, []string{"do 1", "do 2", "undo 2", "undo 1"}, "step 2 of 3, s2: failure injected for a rollback drill; rolled back, nothing changed"},
		{"real at 3", 0, 3, 0, []string{"do 1", "do 2", "do 3", "undo 3", "undo 2", "undo 1"}, "step 3 of 3, s3: boom; rolled back"},
		{"undo fails", 3, 0, 2, []string{"do 1", "do 2", "do 3", "undo 3", "undo 2", "undo 1"}, "rolling back failed, the system is between states: undo step 2, s2: boom"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var log []string
			var steps []step
			for i := 1; i <= 3; i++ {
				steps = append(steps, step{name: "s" + strconv.Itoa(i),
					do: func() error {
						log = append(log, "do "+strconv.Itoa(i))
						if i == tt.fails {
							return boom
						}
						return nil
					},
					undo: func() error {
						log = append(log, "undo "+strconv.Itoa(i))
						if i == tt.undoFail {
							return boom
						}
						return nil
					}})
			}
			done, err := run(steps, tt.failAt)
			if !slices.Equal(log, tt.want) {
				t.Errorf("ran %v, want %v", log, tt.want)
			}
			if tt.err == "" {
				if err != nil || len(done) != 3 {
					t.Errorf("done %v, err %v; want all 3 done", done, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("err %v, want one containing %q", err, tt.err)
			}
		})
	}
}

// TestStore: records survive a reopening of the file and are found by any
// of their names; a removed one is gone from the file too.
func TestStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "takeover.json")
	s, err := OpenStore(path)
	if err != nil || len(s.Records()) != 0 {
		t.Fatalf("a missing file: %v, %v; want an empty store", s.Records(), err)
	}
	nic := Record{Kind: KindNIC, Interface: "eth0", Bridge: "xenbr0", Uplink: "peth0", HostPort: "eth0", MAC: "02:00:00:00:00:01", MTU: 1500, Up: true}
	br := Record{Kind: KindBridge, Interface: "xenbr1", Bridge: "xenbr1", Uplink: "eth1", Ports: []string{"vif1.1"}, HostPort: "xenbr1",
		Kernel: &BridgeSettings{"stp_state": 0, "forward_delay": 1500}}
	for _, r := range []Record{nic, br} {
		if err := s.put(r); err != nil {
			t.Fatal(err)
		}
	}
	s, err = OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"eth0": "eth0", "peth0": "eth0", "xenbr1": "xenbr1", "eth1": "xenbr1"} {
		if r, ok := s.Lookup(name); !ok || r.Interface != want {
			t.Errorf("Lookup(%q) = %q, %v; want %q", name, r.Interface, ok, want)
		}
	}
	if r, _ := s.Lookup("xenbr1"); (*r.Kernel)["forward_delay"] != 1500 || !slices.Equal(r.Ports, []string{"vif1.1"}) {
		t.Errorf("xenbr1 read back as %+v", r)
	}
	if err := s.remove("eth0"); err != nil {
		t.Fatal(err)
	}
	if s, _ = OpenStore(path); len(s.Records()) != 1 {
		t.Errorf("after removing eth0 the file holds %v", s.Records())
	}
}

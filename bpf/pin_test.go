package bpf

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/xswitch/xswitch/fdb"
)

// TestStalePinsReplaced checks that maps pinned by another build (another
// version, or another layout) are detected, logged and replaced, and that
// maps pinned by this build are adopted with their content.
func TestStalePinsReplaced(t *testing.T) {
	newEnv(t) // root, and a namespace of our own
	dir := fmt.Sprintf("/sys/fs/bpf/xs%d-pintest", os.Getpid())
	t.Cleanup(func() { Cleanup(dir) })
	var log bytes.Buffer
	load := func() *FastPath {
		t.Helper()
		fp, err := Load(Options{PinDir: dir, Log: slog.New(slog.NewTextHandler(&log, nil))})
		if err != nil {
			t.Fatal(err)
		}
		return fp
	}
	k := fdb.MakeKey(0, macA)

	// Same build: adopted, content kept.
	fp := load()
	if err := fp.PutFDB(1, k, 5, false, fdb.Now()); err != nil {
		t.Fatal(err)
	}
	fp.Close()
	fp = load()
	if n := len(fp.FDB()); n != 1 {
		t.Errorf("same build: %d MAC entries after reload, want the 1 pinned", n)
	}
	if strings.Contains(log.String(), "replacing") {
		t.Errorf("same build: pins replaced:\n%s", log.String())
	}

	// Another version.
	if err := fp.objs.XsMeta.Update(uint32(0), xswitchMeta{Version: 1}, ebpf.UpdateAny); err != nil {
		t.Fatal(err)
	}
	fp.Close()
	fp = load()
	if !strings.Contains(log.String(), "another build") {
		t.Errorf("no log line about pins of another build:\n%s", log.String())
	}
	if n := len(fp.FDB()); n != 0 {
		t.Errorf("stale maps adopted: %d MAC entries", n)
	}
	fp.Close()

	// Another layout: an fdb map with other key and value sizes.
	log.Reset()
	os.Remove(filepath.Join(dir, "xs_fdb"))
	odd, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Hash, KeySize: 8, ValueSize: 8, MaxEntries: 4})
	if err != nil {
		t.Fatal(err)
	}
	if err := odd.Pin(filepath.Join(dir, "xs_fdb")); err != nil {
		t.Fatal(err)
	}
	odd.Close()
	fp = load()
	defer fp.Close()
	if !strings.Contains(log.String(), "incompatible") {
		t.Errorf("no log line about incompatible pinned maps:\n%s", log.String())
	}
	if err := fp.PutFDB(1, k, 5, false, fdb.Now()); err != nil {
		t.Errorf("the replaced fdb map does not work: %v", err)
	}
}

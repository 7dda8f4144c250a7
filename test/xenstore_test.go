package e2e

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// xenstore is a fake of Xen's store for the hotplug script: xenstore-read,
// -write, -exists and -rm on PATH, as xen-utils has them, over a directory
// where node /a/b keeps its value in the file a/b/.value and its children
// in a/b/. A relative path is dom0's, under /local/domain/0, as the real
// tools resolve it.
type xenstore struct {
	t    *testing.T
	root string
	// bin holds the four tools; it goes first on the script's PATH.
	bin string
}

// xenstoreTools are the fake tools; @ROOT@ is the store's directory.
var xenstoreTools = map[string]string{
	"xenstore-read": `for p; do
	f=$(node "$p")/.value
	if [ ! -f "$f" ]; then echo "xenstore-read: couldn't read path $p" >&2; exit 1; fi
	cat "$f"; echo
done`,
	"xenstore-write": `[ $# -ge 2 ] && [ $(($# % 2)) -eq 0 ] || { echo "usage: xenstore-write path value..." >&2; exit 2; }
while [ $# -ge 2 ]; do
	d=$(node "$1"); mkdir -p "$d" && printf '%s' "$2" >"$d/.value" || exit 1
	shift 2
done`,
	"xenstore-exists": `for p; do [ -d "$(node "$p")" ] || exit 1; done`,
	"xenstore-rm": `[ "${1:-}" = -t ] && shift
for p; do
	d=$(node "$p")
	if [ ! -d "$d" ]; then echo "xenstore-rm: could not remove path $p" >&2; exit 1; fi
	rm -rf "$d"
done`,
}

// newXenstore makes an empty store and its tools.
func newXenstore(t *testing.T) *xenstore {
	t.Helper()
	x := &xenstore{t: t, root: t.TempDir(), bin: t.TempDir()}
	for name, body := range xenstoreTools {
		script := "#!/bin/sh\n" +
			"# A fake " + name + " for the end-to-end tests.\n" +
			"set -u\n" +
			"node() { case $1 in /*) p=$1 ;; *) p=/local/domain/0/$1 ;; esac; printf '%s%s\\n' '" + x.root + "' \"$p\"; }\n" +
			body + "\n"
		if err := os.WriteFile(filepath.Join(x.bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return x
}

// dir returns where node p lives.
func (x *xenstore) dir(p string) string {
	if !path.IsAbs(p) {
		p = "/local/domain/0/" + p
	}
	return filepath.Join(x.root, filepath.FromSlash(path.Clean(p)))
}

// write sets node p to value.
func (x *xenstore) write(p, value string) {
	x.t.Helper()
	d := x.dir(p)
	if err := os.MkdirAll(d, 0o755); err != nil {
		x.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, ".value"), []byte(value), 0o644); err != nil {
		x.t.Fatal(err)
	}
}

// read returns node p's value and whether it exists.
func (x *xenstore) read(p string) (string, bool) {
	x.t.Helper()
	b, err := os.ReadFile(filepath.Join(x.dir(p), ".value"))
	if errors.Is(err, fs.ErrNotExist) {
		return "", false
	}
	if err != nil {
		x.t.Fatal(err)
	}
	return string(b), true
}

// rm deletes node p and its children, as libxl does with a device's
// backend directory once it is gone.
func (x *xenstore) rm(p string) {
	x.t.Helper()
	if err := os.RemoveAll(x.dir(p)); err != nil {
		x.t.Fatal(err)
	}
}

// path returns the PATH that puts the tools first, then dirs.
func (x *xenstore) path(dirs ...string) string {
	return "PATH=" + strings.Join(append(append([]string{x.bin}, dirs...), os.Getenv("PATH")), ":")
}

// Package server serves xswitchd's control API (package control) over the
// daemon's bridges.
package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/user"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/xswitch/xswitch/dataplane"
	"github.com/xswitch/xswitch/internal/control"
)

// Source gives the server the bridges to show.
type Source interface {
	Bridges() []*dataplane.Bridge
}

// Handler serves the control API over src. A Source that is also a
// PortControl, Takeovers, FastPathTracer or MirrorControl serves those
// calls too.
func Handler(src Source) http.Handler {
	mux := http.NewServeMux()
	bridgeRoutes(mux, src)
	portRoutes(mux, src)
	fdbRoutes(mux, src)
	takeoverRoutes(mux, src)
	traceRoutes(mux, src)
	captureRoutes(mux, src)
	mirrorRoutes(mux, src)
	evpnRoutes(mux, src)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fail(w, http.StatusNotFound, fmt.Sprintf("no endpoint %s %s", r.Method, r.URL.Path))
	})
	// The mux would redirect a path such as /v1//ports to its clean form
	// with an HTML answer: every answer of the API is JSON.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; p == "" || p[0] != '/' || path.Clean(p) != p {
			fail(w, http.StatusNotFound, fmt.Sprintf("no endpoint %s %q", r.Method, p))
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// bridgeRoutes serves GET /v1/bridges.
func bridgeRoutes(mux *http.ServeMux, src Source) {
	mux.HandleFunc("GET /v1/bridges", func(w http.ResponseWriter, r *http.Request) {
		out := []control.Bridge{}
		for _, b := range src.Bridges() {
			st := b.FDB().Stats()
			out = append(out, control.Bridge{Name: b.Name(), Ports: len(b.Ports()), FDBEntries: st.Entries,
				Learned: st.Learned, Moved: st.Moved, Aged: st.Aged, Evicted: st.Evicted, Refused: st.Refused, Flushed: st.Flushed})
		}
		reply(w, out)
	})
}

// bridges returns the bridges a request names with ?bridge=, or all. An
// unknown name is answered with 404 and ok false.
func bridges(src Source, w http.ResponseWriter, r *http.Request) (_ []*dataplane.Bridge, ok bool) {
	all := src.Bridges()
	name := r.URL.Query().Get("bridge")
	if name == "" {
		return all, true
	}
	for _, b := range all {
		if b.Name() == name {
			return []*dataplane.Bridge{b}, true
		}
	}
	fail(w, http.StatusNotFound, fmt.Sprintf("no bridge %q", name))
	return nil, false
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// fail answers with status and msg as a control.Error.
func fail(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(control.Error{Error: msg})
}

// failWith answers with err and the status its kind calls for: 400 for
// control.ErrInvalid, 404 for control.ErrNotFound, 500 for the rest.
func failWith(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, control.ErrInvalid):
		status = http.StatusBadRequest
	case errors.Is(err, control.ErrNotFound):
		status = http.StatusNotFound
	}
	fail(w, status, err.Error())
}

// maxBody bounds a request's body; the largest, a PortSpec with its
// allowed addresses, is far smaller.
const maxBody = 1 << 16

// decode reads the JSON object of a request's body into v. Unknown fields,
// values of the wrong type and anything after the object are refused; the
// error names the field at fault.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var (
			te *json.UnmarshalTypeError
			se *json.SyntaxError
			me *http.MaxBytesError
		)
		switch {
		case errors.Is(err, io.EOF):
			return errors.New("body: empty, want a JSON object")
		case errors.Is(err, io.ErrUnexpectedEOF):
			return errors.New("body: JSON cut short")
		case errors.As(err, &te) && te.Field != "":
			return fmt.Errorf("body: field %q: want %s, got %s", te.Field, te.Type, te.Value)
		case errors.As(err, &te):
			return fmt.Errorf("body: want a JSON object, got %s", te.Value)
		case errors.As(err, &se):
			return fmt.Errorf("body: not JSON at byte %d: %v", se.Offset, se)
		case errors.As(err, &me):
			return fmt.Errorf("body: longer than %d bytes", me.Limit)
		}
		// An unknown field, which json names.
		return errors.New("body: " + strings.TrimPrefix(err.Error(), "json: "))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("body: more than one JSON value")
	}
	return nil
}

// Listen opens the control socket at path, replacing a stale socket file left
// by a daemon that died, but refusing to steal the socket of a live one. The
// socket is root's alone (mode 0600), or, given group (a name or a number),
// also open to that group's members (mode 0660): connecting takes write
// permission, so the mode is what keeps everyone else out.
func Listen(path, group string) (net.Listener, error) {
	gid := -1
	if group != "" {
		var err error
		if gid, err = lookupGroup(group); err != nil {
			return nil, fmt.Errorf("control socket %s: %w", path, err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, fmt.Errorf("control socket %s: another xswitchd is listening there", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("control socket %s: remove stale socket: %w", path, err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	if err := restrict(path, gid); err != nil {
		l.Close()
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	return l, nil
}

// restrict gives the socket its mode: 0600, or 0660 with group gid. The
// group changes before the mode widens, so no other group ever gets in.
func restrict(path string, gid int) error {
	if err := os.Chmod(path, 0o600); err != nil {
		return err
	}
	if gid < 0 {
		return nil
	}
	if err := os.Chown(path, -1, gid); err != nil {
		return fmt.Errorf("give it group %d: %w (a daemon without CAP_CHOWN must be a member of the group: SupplementaryGroups= in its unit)", gid, err)
	}
	return os.Chmod(path, 0o660)
}

// lookupGroup resolves a group name, or takes a number as it is.
func lookupGroup(group string) (int, error) {
	if gid, err := strconv.Atoi(group); err == nil && gid >= 0 {
		return gid, nil
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		return -1, fmt.Errorf("control-group: %w", err)
	}
	return strconv.Atoi(g.Gid)
}

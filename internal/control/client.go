package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
)

// Client talks to xswitchd's control socket.
type Client struct {
	path string
	http *http.Client
}

// NewClient returns a client of the socket at path.
func NewClient(path string) *Client {
	return &Client{path: path, http: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}}
}

// ErrNotRunning is what a call returns, wrapped, when nothing listens on
// the control socket: the socket file is missing or refuses connections.
var ErrNotRunning = errors.New("xswitchd is not running")

// ErrDenied is what a call returns, wrapped, when the caller may not use the
// control socket.
var ErrDenied = errors.New("permission denied")

// APIError is an answer of the daemon that is not 200 OK.
type APIError struct {
	Method, Endpoint string
	Status           int    // the HTTP status
	Message          string // the daemon's reason, as control.Error holds it
}

func (e *APIError) Error() string {
	return fmt.Sprintf("xswitchd: %s %s: %s", e.Method, e.Endpoint, e.Message)
}

// Unwrap makes errors.Is(err, ErrInvalid) and errors.Is(err, ErrNotFound)
// hold for answers 400 and 404.
func (e *APIError) Unwrap() error {
	switch e.Status {
	case http.StatusBadRequest:
		return ErrInvalid
	case http.StatusNotFound:
		return ErrNotFound
	}
	return nil
}

// Get fetches an endpoint such as "/v1/ports" into v.
func (c *Client) Get(ctx context.Context, endpoint string, q url.Values, v any) error {
	return c.do(ctx, http.MethodGet, endpoint, q, nil, v)
}

// Post calls an endpoint such as "/v1/fdb/flush" and decodes the answer into v.
func (c *Client) Post(ctx context.Context, endpoint string, q url.Values, v any) error {
	return c.do(ctx, http.MethodPost, endpoint, q, nil, v)
}

// PostJSON posts body as JSON to an endpoint such as "/v1/trace" and
// decodes the answer into v.
func (c *Client) PostJSON(ctx context.Context, endpoint string, body, v any) error {
	return c.do(ctx, http.MethodPost, endpoint, nil, body, v)
}

// Put sends body as JSON to an endpoint such as "/v1/ports/vif3.0" and
// decodes the answer into v.
func (c *Client) Put(ctx context.Context, endpoint string, body, v any) error {
	return c.do(ctx, http.MethodPut, endpoint, nil, body, v)
}

// Delete calls an endpoint with DELETE, sending body as JSON unless it is
// nil, and decodes the answer into v.
func (c *Client) Delete(ctx context.Context, endpoint string, body, v any) error {
	return c.do(ctx, http.MethodDelete, endpoint, nil, body, v)
}

func (c *Client) do(ctx context.Context, method, endpoint string, q url.Values, body, v any) error {
	resp, err := c.send(ctx, method, endpoint, q, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

// Stream calls an endpoint with GET and returns the answer's body, which
// the caller reads (until ctx ends) and closes: for GET /v1/capture.
func (c *Client) Stream(ctx context.Context, endpoint string, q url.Values) (io.ReadCloser, error) {
	resp, err := c.send(ctx, http.MethodGet, endpoint, q, nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// send makes a call and returns the answer when it is 200 OK, or the
// daemon's reason as an APIError.
func (c *Client) send(ctx context.Context, method, endpoint string, q url.Values, body any) (*http.Response, error) {
	u := "http://xswitchd" + endpoint
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.connError(err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, &APIError{Method: method, Endpoint: endpoint, Status: resp.StatusCode, Message: errorMessage(resp)}
	}
	return resp, nil
}

// connError says why the daemon could not be asked, without the URL the
// socket's path stands in for.
func (c *Client) connError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, os.ErrNotExist) {
		var op *net.OpError
		if errors.As(err, &op) {
			err = op.Err // "connect: no such file or directory"
		}
		return fmt.Errorf("%w (control socket %s: %v)", ErrNotRunning, c.path, err)
	}
	if errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("%w to the control socket %s: it is open to root only, or to the members of xswitchd's control-group", ErrDenied, c.path)
	}
	return fmt.Errorf("xswitchd at %s: %w", c.path, err)
}

// errorMessage reads the reason of a failed call: the control.Error body,
// or the text of an answer that is not JSON.
func errorMessage(resp *http.Response) string {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var e Error
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return e.Error
	}
	if s := strings.TrimSpace(string(b)); s != "" {
		return s
	}
	return resp.Status
}

package control

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
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

// Get fetches an endpoint such as "/v1/ports" into v.
func (c *Client) Get(ctx context.Context, endpoint string, q url.Values, v any) error {
	return c.do(ctx, http.MethodGet, endpoint, q, v)
}

// Post calls an endpoint such as "/v1/fdb/flush" and decodes the answer into v.
func (c *Client) Post(ctx context.Context, endpoint string, q url.Values, v any) error {
	return c.do(ctx, http.MethodPost, endpoint, q, v)
}

func (c *Client) do(ctx context.Context, method, endpoint string, q url.Values, v any) error {
	u := "http://xswitchd" + endpoint
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("xswitchd at %s: %w", c.path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("xswitchd: %s %s: %s", method, endpoint, strings.TrimSpace(string(msg)))
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

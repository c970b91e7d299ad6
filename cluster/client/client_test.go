package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"aas/cluster/api"
)

// TestErrorRoundTrip checks that a sentinel returned by a handler comes
// back through the router and the client as the same sentinel.
func TestErrorRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		err  error
		code int
		is   error
	}{
		{"bad request", fmt.Errorf("%w: field x", api.ErrBadRequest), 400, api.ErrBadRequest},
		{"not found", fmt.Errorf("peer: %w", api.ErrNotFound), 404, api.ErrNotFound},
		{"conflict", api.ErrConflict, 409, api.ErrConflict},
		{"no leader", fmt.Errorf("apply: %w", api.ErrNoLeader), 503, api.ErrNoLeader},
		{"unavailable", api.ErrUnavailable, 503, api.ErrUnavailable},
		{"not leader", &api.NotLeaderError{LeaderHTTP: "127.0.0.1:1"}, 421, api.ErrNotLeader},
		{"explicit", &api.StatusError{Code: 418, Err: errors.New("teapot")}, 418, nil},
		{"other", errors.New("boom"), 500, nil},
	}
	rt := api.NewRouter(nil)
	for i, tc := range tests {
		rt.Handle("GET", fmt.Sprintf("/e/%d", i), func(w http.ResponseWriter, r *http.Request) (any, error) { return nil, tc.err })
	}
	rt.Handle("GET", "/ok", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return api.LeaderInfo{ID: "a"}, nil
	})
	srv := httptest.NewServer(rt)
	defer srv.Close()
	c := New(srv.URL)
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Do(context.Background(), "GET", fmt.Sprintf("/e/%d", i), nil, nil)
			var ce *Error
			if !errors.As(err, &ce) || ce.Code != tc.code {
				t.Fatalf("err %v, want status %d", err, tc.code)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("err %v is not %v", err, tc.is)
			}
			if tc.code == 421 && ce.Leader != "127.0.0.1:1" {
				t.Fatalf("leader hint %q lost", ce.Leader)
			}
		})
	}
	var li api.LeaderInfo
	if err := c.Do(context.Background(), "GET", "/ok", nil, &li); err != nil || li.ID != "a" {
		t.Fatalf("ok: %+v %v", li, err)
	}
	if err := c.Do(context.Background(), "POST", "/ok", nil, nil); err == nil {
		t.Fatal("wrong method accepted")
	}
}

func TestAddressResolution(t *testing.T) {
	tests := []struct{ flag, env, want string }{
		{"", "", DefaultAddress},
		{"", "10.0.0.1:7070", "http://10.0.0.1:7070"},
		{"127.0.0.1:9", "10.0.0.1:7070", "http://127.0.0.1:9"},
		{"https://x:1/", "", "https://x:1"},
	}
	for _, tc := range tests {
		t.Setenv(EnvAddress, tc.env)
		if got := New(ResolveAddress(tc.flag)).Address(); got != tc.want {
			t.Errorf("flag %q env %q: %q, want %q", tc.flag, tc.env, got, tc.want)
		}
	}
}

func TestDecodeJSONRejectsUnknownFields(t *testing.T) {
	rt := api.NewRouter(nil)
	rt.Handle("POST", "/join", func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req api.JoinRequest
		if err := api.DecodeJSON(r, &req); err != nil {
			return nil, err
		}
		return req, nil
	})
	srv := httptest.NewServer(rt)
	defer srv.Close()
	c := New(srv.URL)
	err := c.Do(context.Background(), "POST", "/join", map[string]any{"adresses": []string{"x"}}, nil)
	if !errors.Is(err, api.ErrBadRequest) {
		t.Fatalf("misspelt field: %v, want bad request", err)
	}
	var out api.JoinRequest
	if err := c.Do(context.Background(), "POST", "/join", api.JoinRequest{Addresses: []string{"x"}}, &out); err != nil || len(out.Addresses) != 1 {
		t.Fatalf("valid body: %+v %v", out, err)
	}
}

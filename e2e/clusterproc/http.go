package clusterproc

import (
	"net/http"
	"time"
)

// newHTTPClient is a client with short timeouts for polling local agents.
func newHTTPClient() *http.Client {
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     30 * time.Second,
		},
	}
}

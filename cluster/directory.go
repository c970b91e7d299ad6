package cluster

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"aas/cluster/api"
	"aas/internal/atomicfile"
)

// directory maps controller IDs to their addresses (raft, HTTP, gossip).
// Raft knows only raft addresses; forwarding needs the leader's HTTP
// address, so every controller keeps this map, fed by discovery, join
// requests and gossip metadata, and persisted in DATA_DIR/peers.json so it
// survives a restart of the whole cluster.
type directory struct {
	mu     sync.Mutex
	fileMu sync.Mutex // serialises writers of the file
	path   string
	nodes  map[string]api.Identity
}

func loadDirectory(path string) (*directory, error) {
	d := &directory{path: path, nodes: map[string]api.Identity{}}
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return d, nil
	}
	if err != nil {
		return nil, fmt.Errorf("peer directory: %w", err)
	}
	var list []api.Identity
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("peer directory %s: %w", path, err)
	}
	for _, n := range list {
		if n.ID != "" {
			d.nodes[n.ID] = n
		}
	}
	return d, nil
}

// merge records n (address fields only; volatile fields are kept as the
// latest seen). It reports whether addresses changed and persists if so.
func (d *directory) merge(n api.Identity) bool {
	if n.ID == "" {
		return false
	}
	d.mu.Lock()
	old, ok := d.nodes[n.ID]
	if ok {
		// Keep known addresses when the update lacks them.
		if n.HTTPAddr == "" {
			n.HTTPAddr = old.HTTPAddr
		}
		if n.RaftAddr == "" {
			n.RaftAddr = old.RaftAddr
		}
		if n.GossipAddr == "" {
			n.GossipAddr = old.GossipAddr
		}
		if n.Cloud == "" {
			n.Cloud = old.Cloud
		}
	}
	changed := !ok || old.HTTPAddr != n.HTTPAddr || old.RaftAddr != n.RaftAddr || old.GossipAddr != n.GossipAddr || old.Cloud != n.Cloud
	d.nodes[n.ID] = n
	d.mu.Unlock()
	if changed {
		d.persist()
	}
	return changed
}

func (d *directory) get(id string) (api.Identity, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n, ok := d.nodes[id]
	return n, ok
}

// byRaftAddr finds the node advertising a raft address.
func (d *directory) byRaftAddr(addr string) (api.Identity, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, n := range d.nodes {
		if n.RaftAddr == addr {
			return n, true
		}
	}
	return api.Identity{}, false
}

func (d *directory) list() []api.Identity {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.listLocked()
}

func (d *directory) listLocked() []api.Identity {
	out := make([]api.Identity, 0, len(d.nodes))
	for _, n := range d.nodes {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// persist writes the address part of the directory atomically. Failures
// are not fatal: the directory is rebuilt from discovery and gossip.
func (d *directory) persist() {
	if d.path == "" {
		return
	}
	d.fileMu.Lock()
	defer d.fileMu.Unlock()
	list := d.list()
	stored := make([]api.Identity, len(list))
	for i, n := range list {
		stored[i] = api.Identity{ID: n.ID, Cloud: n.Cloud, RaftAddr: n.RaftAddr, HTTPAddr: n.HTTPAddr, GossipAddr: n.GossipAddr}
	}
	b, _ := json.MarshalIndent(stored, "", "  ")
	_ = atomicfile.Write(filepath.Clean(d.path), b, 0o600)
}

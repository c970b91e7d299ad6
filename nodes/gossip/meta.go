package gossip

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hashicorp/memberlist"
)

// Roles a member can announce in its Meta.
const (
	RoleServer     = "server"
	RoleHypervisor = "hypervisor"
)

// MaxMetaSize is memberlist's hard limit on a node's metadata, in bytes.
const MaxMetaSize = memberlist.MetaMaxSize

// Sentinel errors; match them with errors.Is.
var (
	// ErrMetaTooLarge: the encoded Meta does not fit memberlist's 512 bytes.
	ErrMetaTooLarge = errors.New("gossip: node metadata too large")
	// ErrInvalidMeta: a Meta field has a value the cluster cannot use.
	ErrInvalidMeta = errors.New("gossip: invalid node metadata")
	// ErrInvalidConfig: Config cannot start a node.
	ErrInvalidConfig = errors.New("gossip: invalid config")
	// ErrJoin: none of the given peers could be contacted.
	ErrJoin = errors.New("gossip: join failed")
	// ErrShutdown: the node has been shut down.
	ErrShutdown = errors.New("gossip: node shut down")
)

// Meta is what a member announces about itself. It travels as memberlist node
// metadata, so its encoding (see Encode) must fit MaxMetaSize bytes.
type Meta struct {
	NodeID   string `json:"id"`
	Role     string `json:"r"` // RoleServer or RoleHypervisor
	Cloud    string `json:"c,omitempty"`
	Driver   string `json:"d,omitempty"`
	Capacity int    `json:"cap,omitempty"`
	APIAddr  string `json:"api,omitempty"`
	HTTPAddr string `json:"http,omitempty"`
	RaftAddr string `json:"raft,omitempty"`
}

// wireMeta is the encoded form: Meta plus the leave intent, which lets the
// receivers tell a graceful leave from a failure (memberlist does not expose
// that distinction through its public API).
type wireMeta struct {
	V int `json:"v"` // encoding version, currently 1
	Meta
	Leaving bool `json:"lv,omitempty"`
}

const metaVersion = 1

// Validate reports whether m can be announced: a node ID, a known role, a
// non-negative capacity and an encoding that fits MaxMetaSize (measured with
// the leave flag set, so a later Leave never overflows).
func (m Meta) Validate() error {
	if m.NodeID == "" {
		return fmt.Errorf("%w: field NodeID is empty", ErrInvalidMeta)
	}
	switch m.Role {
	case RoleServer, RoleHypervisor:
	default:
		return fmt.Errorf("%w: field Role is %q, want %q or %q", ErrInvalidMeta, m.Role, RoleServer, RoleHypervisor)
	}
	if m.Capacity < 0 {
		return fmt.Errorf("%w: field Capacity is %d, must not be negative", ErrInvalidMeta, m.Capacity)
	}
	b, err := encodeMeta(m, true)
	if err != nil {
		return err
	}
	if len(b) > MaxMetaSize {
		return fmt.Errorf("%w: %d bytes encoded for node %q, limit %d (shorten addresses, cloud or driver names)",
			ErrMetaTooLarge, len(b), m.NodeID, MaxMetaSize)
	}
	return nil
}

// Encode returns the wire form of m (compact JSON). It does not validate.
func (m Meta) Encode() ([]byte, error) { return encodeMeta(m, false) }

func encodeMeta(m Meta, leaving bool) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // '<' stays one byte: the 512-byte budget is tight
	if err := enc.Encode(wireMeta{V: metaVersion, Meta: m, Leaving: leaving}); err != nil {
		return nil, fmt.Errorf("gossip: encode meta: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// DecodeMeta parses metadata received from a peer.
func DecodeMeta(b []byte) (Meta, error) {
	w, err := decodeWire(b)
	return w.Meta, err
}

func decodeWire(b []byte) (wireMeta, error) {
	var w wireMeta
	if len(b) == 0 {
		return w, fmt.Errorf("%w: empty metadata", ErrInvalidMeta)
	}
	if len(b) > MaxMetaSize {
		return w, fmt.Errorf("%w: %d bytes, limit %d", ErrMetaTooLarge, len(b), MaxMetaSize)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&w); err != nil {
		return wireMeta{}, fmt.Errorf("%w: %w", ErrInvalidMeta, err)
	}
	if w.V != metaVersion {
		return wireMeta{}, fmt.Errorf("%w: field v is %d, want %d", ErrInvalidMeta, w.V, metaVersion)
	}
	return w, nil
}

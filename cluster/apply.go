package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"aas/cluster/api"
	"aas/cluster/client"
	"aas/fsm"
)

// defaultApplyTimeout bounds Apply when ctx has no deadline.
const defaultApplyTimeout = 30 * time.Second

// Applied is the outcome of a committed command.
type Applied struct {
	// Index is the raft index the command was committed at.
	Index uint64
	// Value is the FSM's result value as JSON (nil if none).
	Value json.RawMessage
}

// Apply encodes and commits an fsm command. On a follower it is forwarded
// to the leader over HTTP; while there is no leader it retries until ctx
// ends. A command the FSM rejects returns an error wrapping
// ErrCommandRejected (and, when applied locally, the fsm sentinel).
func (s *Server) Apply(ctx context.Context, t fsm.MessageType, payload any) (Applied, error) {
	cmd, err := fsm.Encode(t, payload)
	if err != nil {
		return Applied{}, err
	}
	return s.ApplyRaw(ctx, cmd)
}

// ApplyRaw commits an already encoded command (type byte + payload).
func (s *Server) ApplyRaw(ctx context.Context, cmd []byte) (Applied, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultApplyTimeout)
		defer cancel()
	}
	wait := joinRetryInitial
	for {
		var res Applied
		var err error
		if s.IsLeader() {
			res, err = s.applyLocal(ctx, cmd)
		} else {
			res, err = s.forwardApply(ctx, cmd)
		}
		// Retry only when the command certainly was not committed: no
		// leader, or raft refused it as a non-leader before appending.
		if err == nil || !(errors.Is(err, api.ErrNoLeader) || errors.Is(err, errNotLeaderBeforeAppend)) {
			return res, err
		}
		if !s.sleepCtx(ctx, wait) {
			if s.shuttingDown() {
				return Applied{}, ErrShutdown
			}
			return Applied{}, fmt.Errorf("apply: %w (%v)", err, ctx.Err())
		}
		wait = min(wait*2, 500*time.Millisecond)
	}
}

// errNotLeaderBeforeAppend marks raft.ErrNotLeader from Apply: the entry
// was never appended, so retrying cannot apply it twice.
var errNotLeaderBeforeAppend = errors.New("not leader before append")

func (s *Server) applyLocal(ctx context.Context, cmd []byte) (Applied, error) {
	timeout := defaultApplyTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(dl), time.Millisecond)
	}
	f := s.raft.Apply(cmd, timeout)
	if err := f.Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) {
			return Applied{}, fmt.Errorf("%w: %w", errNotLeaderBeforeAppend, api.ErrNoLeader)
		}
		return Applied{}, s.raftWriteErr("apply", err)
	}
	out := Applied{Index: f.Index()}
	res, ok := f.Response().(fsm.ApplyResult)
	if !ok {
		return out, nil
	}
	if res.Err != nil {
		return out, fmt.Errorf("%w: %w", ErrCommandRejected, res.Err)
	}
	if res.Value != nil {
		b, err := json.Marshal(res.Value)
		if err != nil {
			return out, fmt.Errorf("apply: encoding result: %w", err)
		}
		out.Value = b
	}
	return out, nil
}

func (s *Server) forwardApply(ctx context.Context, cmd []byte) (Applied, error) {
	c, err := s.leaderClient()
	if err != nil {
		return Applied{}, err
	}
	var resp api.ApplyResponse
	err = c.Do(ctx, http.MethodPost, "/v1/internal/apply?forwarded=1", cmd, &resp)
	if err != nil {
		return Applied{}, remoteApplyErr(err)
	}
	return Applied{Index: resp.Index, Value: resp.Value}, nil
}

// remoteApplyErr turns the leader's answer back into local sentinels.
func remoteApplyErr(err error) error {
	var ce *client.Error
	if !errors.As(err, &ce) {
		// Transport error: the leader may have committed it; do not retry.
		return fmt.Errorf("forward to leader: %w", err)
	}
	switch {
	case ce.Code == http.StatusMisdirectedRequest:
		// The leader changed between lookup and send; it did not append.
		return fmt.Errorf("%w: %w", errNotLeaderBeforeAppend, api.ErrNoLeader)
	case ce.Code == http.StatusUnprocessableEntity:
		inner := error(errors.New(ce.Message))
		for _, sent := range []error{fsm.ErrUnknownCommand, fsm.ErrBadCommand} {
			if strings.Contains(ce.Message, sent.Error()) {
				inner = fmt.Errorf("%w: %s", sent, ce.Message)
				break
			}
		}
		return fmt.Errorf("%w: %w", ErrCommandRejected, inner)
	}
	return fmt.Errorf("forward to leader: %w", err)
}

// handleApply is POST /v1/internal/apply: the body is an encoded command.
func (s *Server) handleApply(w http.ResponseWriter, r *http.Request) (any, error) {
	cmd, err := readBody(r, 64<<20)
	if err != nil {
		return nil, err
	}
	if len(cmd) == 0 {
		return nil, fmt.Errorf("%w: empty command", api.ErrBadRequest)
	}
	var res Applied
	if isForwarded(r) {
		if !s.IsLeader() {
			return nil, s.notLeader()
		}
		res, err = s.applyLocal(r.Context(), cmd)
		if errors.Is(err, errNotLeaderBeforeAppend) {
			return nil, s.notLeader()
		}
	} else {
		res, err = s.ApplyRaw(r.Context(), cmd)
	}
	if err != nil {
		return nil, err
	}
	return api.ApplyResponse{Index: res.Index, Value: res.Value}, nil
}

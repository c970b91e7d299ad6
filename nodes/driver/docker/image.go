package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/moby/moby/client"
)

// BuildScratchImage builds image tag FROM scratch holding the static binary
// at binPath as /ctl, with entrypoint ["/ctl"] and command ["workload"]. The
// build context is a tar made here and sent through the engine API: no
// registry and no docker CLI are needed.
func (d *Driver) BuildScratchImage(ctx context.Context, tag, binPath string) error {
	bin, err := os.ReadFile(binPath)
	if err != nil {
		return fmt.Errorf("docker driver: build image: %w", err)
	}
	dockerfile := "FROM scratch\nCOPY ctl /ctl\nENTRYPOINT [\"/ctl\"]\nCMD [\"workload\"]\n"
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, []byte(dockerfile)}, {"ctl", 0o755, bin}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: now}); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	res, err := d.cli.ImageBuild(ctx, &buf, client.ImageBuildOptions{Tags: []string{tag}, Remove: true, ForceRemove: true})
	if err != nil {
		return fmt.Errorf("docker driver: build image %s: %w", tag, err)
	}
	defer res.Body.Close()
	// The body is a stream of JSON messages; a failed build reports an
	// "error" message rather than an HTTP error.
	dec := json.NewDecoder(res.Body)
	for {
		var msg struct {
			Stream string `json:"stream"`
			Error  string `json:"error"`
		}
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return fmt.Errorf("docker driver: build image %s: read progress: %w", tag, err)
		}
		if msg.Error != "" {
			return fmt.Errorf("docker driver: build image %s: %s", tag, msg.Error)
		}
	}
	if _, err := d.cli.ImageInspect(ctx, tag); err != nil {
		return fmt.Errorf("docker driver: build image %s: not found after build: %w", tag, err)
	}
	return nil
}

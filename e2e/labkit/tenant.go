package labkit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"

	"go.yaml.in/yaml/v3"

	"aas/cluster/api"
	"aas/cluster/client"
)

// DemoTenantFile is the example the lab applies by default.
const DemoTenantFile = "examples/multicloud-tenant.yml"

// AdaptTenant rewrites a rich-format tenant file for clouds: the tenant's
// cloud list becomes exactly clouds (an entry of the file with the same
// name keeps its settings; a new one gets priority 10 × its position), and
// each group's own cloud list keeps only lab clouds (dropped if none is
// left). Comments are not kept.
func AdaptTenant(data []byte, clouds []string) ([]byte, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: tenant: %v", ErrInvalid, err)
	}
	if doc == nil {
		return nil, fmt.Errorf("%w: tenant: empty document", ErrInvalid)
	}
	byName := map[string]map[string]any{}
	if list, ok := doc["clouds"].([]any); ok {
		for _, e := range list {
			if m, ok := e.(map[string]any); ok {
				if n, ok := m["name"].(string); ok {
					byName[n] = m
				}
			}
		}
	}
	in := map[string]bool{}
	var out []any
	for i, name := range clouds {
		in[name] = true
		if m, ok := byName[name]; ok {
			out = append(out, m)
			continue
		}
		out = append(out, map[string]any{"name": name, "priority": 10 * i})
	}
	doc["clouds"] = out
	if groups, ok := doc["groups"].([]any); ok {
		for _, g := range groups {
			gm, ok := g.(map[string]any)
			if !ok {
				continue
			}
			list, ok := gm["clouds"].([]any)
			if !ok {
				continue
			}
			var keep []any
			for _, e := range list {
				if m, ok := e.(map[string]any); ok && in[fmt.Sprint(m["name"])] {
					keep = append(keep, m)
				}
			}
			if len(keep) == 0 {
				delete(gm, "clouds")
			} else {
				gm["clouds"] = keep
			}
		}
	}
	return yaml.Marshal(doc)
}

// applyDemoTenant adapts the tenant file to the lab's clouds and applies it
// through the leader. It returns the tenant's name, or an error wrapping
// ErrTenantAPIMissing when the agents have no tenant API.
func (l *Lab) applyDemoTenant(ctx context.Context, file string) (string, error) {
	file, err := tenantPath(file)
	if err != nil {
		return "", err
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("labkit: demo tenant: %w", err)
	}
	var clouds []string
	for _, c := range l.Controllers() {
		clouds = append(clouds, c.Cloud)
	}
	adapted, err := AdaptTenant(data, clouds)
	if err != nil {
		return "", fmt.Errorf("%s: %w", file, err)
	}
	if err := os.WriteFile(l.st.WorkDir+"/tenant.yml", adapted, 0o644); err != nil {
		return "", err
	}
	c, ok := l.Controller(l.st.Leader)
	if !ok {
		c = l.Controllers()[0]
	}
	res, err := l.Client(c).ApplyTenant(ctx, "tenant.yml", adapted, -1)
	if err != nil {
		var ce *client.Error
		if errors.Is(err, api.ErrNotFound) || errors.As(err, &ce) && ce.Code == http.StatusMethodNotAllowed {
			return "", fmt.Errorf("%w: POST /v1/tenants on %s: %v", ErrTenantAPIMissing, c.HTTPAddr, err)
		}
		return "", fmt.Errorf("labkit: apply demo tenant: %w", err)
	}
	return res.Tenant, nil
}

// tenantPath is file, or the demo tenant found above the working
// directory when file is empty.
func tenantPath(file string) (string, error) {
	if file != "" {
		return file, nil
	}
	return findUp(DemoTenantFile)
}

func execOutput(name string, args ...string) (string, error) {
	var b bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	return b.String(), err
}

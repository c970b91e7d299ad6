package tenant

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"aas/fsm"
)

// Change is one difference between two specs. Path names the field with
// list elements keyed by name where they have one: groups[web].scaling.max.
// Old is empty for an addition, New for a removal.
type Change struct {
	Path string `json:"path"`
	Old  string `json:"old,omitempty"`
	New  string `json:"new,omitempty"`
}

func (c Change) String() string {
	switch {
	case c.Old == "":
		return fmt.Sprintf("+ %s: %s", c.Path, c.New)
	case c.New == "":
		return fmt.Sprintf("- %s: %s", c.Path, c.Old)
	}
	return fmt.Sprintf("~ %s: %s → %s", c.Path, c.Old, c.New)
}

// Diff lists what applying next over cur would change, sorted by path;
// cur may be nil (a new tenant). Secrets are compared but shown redacted.
// Both specs should be validated (defaults filled) so that a default
// written out and one left implicit compare equal.
func Diff(cur, next *Spec) []Change {
	a, b := map[string]string{}, map[string]string{}
	if cur != nil {
		flatten(cur, a)
	}
	flatten(next, b)
	return changes(a, b)
}

// changes compares two flattened forms.
func changes(a, b map[string]string) []Change {
	var out []Change
	for p, nv := range b {
		if ov, ok := a[p]; !ok {
			out = append(out, Change{Path: p, New: nv})
		} else if ov != nv {
			out = append(out, Change{Path: p, Old: ov, New: nv})
		}
	}
	for p, ov := range a {
		if _, ok := b[p]; !ok {
			out = append(out, Change{Path: p, Old: ov})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// DiffState lists what applying next would change in the replicated state
// of its tenant: cur and groups are the tenant and its groups as the FSM
// holds them (cur nil for a new tenant). Both sides are compared in the
// FSM's form (ToFSM), so defaults and the tenant-level clouds copied into
// each group compare equal; template passwords and secrets are shown
// redacted (a changed secret still shows as changed). This is what
// `ctl tenant diff` prints.
func DiffState(cur *fsm.Tenant, groups []fsm.Group, next *Spec) ([]Change, error) {
	nc, err := ToFSM(next)
	if err != nil {
		return nil, err
	}
	a, b := map[string]string{}, map[string]string{}
	if cur != nil {
		old := fsm.ApplyTenant{Tenant: fsm.TenantSpec{
			Name: cur.Name, PublicIP: cur.PublicIP, Networks: cur.Networks, Settings: cur.Settings,
		}}
		for _, g := range groups {
			old.Groups = append(old.Groups, fsm.GroupSpec{
				Name: g.Name, Network: g.Network, Min: g.Min, Max: g.Max, Policy: g.Policy,
				Template: g.Template, Clouds: g.Clouds, DrainPeriod: g.DrainPeriod,
			})
		}
		flattenAny(old, a)
	}
	flattenAny(*nc, b)
	return changes(a, b), nil
}

// flattenAny flattens the JSON form of v, redacting template secrets.
func flattenAny(v any, m map[string]string) {
	raw, _ := json.Marshal(v)
	var x any
	_ = json.Unmarshal(raw, &x)
	tmp := map[string]string{}
	walk("", x, tmp)
	for p, val := range tmp {
		if isSecretPath(p) {
			val = fmt.Sprintf("%s#%d", Redacted, fingerprint(val, 0))
		}
		m[p] = val
	}
	delete(m, "time")
	delete(m, "expected_version")
}

// isSecretPath matches template.password and template.secrets[…].value.
func isSecretPath(p string) bool {
	if strings.HasSuffix(p, ".template.password") {
		return true
	}
	i := strings.Index(p, ".template.secrets[")
	return i >= 0 && strings.HasSuffix(p, "].value")
}

// flatten writes the leaves of s's JSON form into m. Secret values are
// replaced by a marker that still changes when the secret does.
func flatten(s *Spec, m map[string]string) {
	c := s.Clone()
	c.Source, c.Format = "", ""
	for i, p := range Secrets(c) {
		*p = fmt.Sprintf("%s#%d", Redacted, fingerprint(*p, i))
	}
	b, _ := json.Marshal(c)
	var v any
	_ = json.Unmarshal(b, &v)
	walk("", v, m)
}

// fingerprint is a short non-cryptographic digest that lets Diff notice a
// changed secret without showing it (FNV-1a, 16 bits: leaks ≤ 16 bits).
func fingerprint(s string, salt int) uint16 {
	h := uint32(2166136261) ^ uint32(salt)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return uint16(h ^ h>>16)
}

func walk(path string, v any, m map[string]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			walk(join(path, k), e, m)
		}
	case []any:
		for i, e := range x {
			key := strconv.Itoa(i)
			if o, ok := e.(map[string]any); ok {
				if n, ok := o["name"].(string); ok && n != "" {
					key = n
				} else if n, ok := o["cidr"].(string); ok && n != "" {
					key = n
				}
			}
			walk(path+"["+key+"]", e, m)
		}
	case nil:
	default:
		b, _ := json.Marshal(x)
		s := string(b)
		if strings.HasPrefix(s, `"`) {
			s, _ = strconv.Unquote(s)
		}
		if path == "" || s == "" {
			return
		}
		m[path] = s
	}
}

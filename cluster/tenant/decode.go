package tenant

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"aas/scaler"
)

// pos is where a field sits in the file and the name errors use for it.
type pos struct {
	line  int
	name  string // "" = the path itself
	alias bool   // registered by the flat format, not decoded
}

// lineMap records the line of every decoded field by its path
// ("groups[0].scaling.min"); flat files register aliases so that errors
// found on the rich form name the flat key ("min_containers").
type lineMap struct {
	m map[string]pos
}

func newLineMap() *lineMap { return &lineMap{m: make(map[string]pos)} }

func (lm *lineMap) set(path string, line int) {
	if _, ok := lm.m[path]; !ok {
		lm.m[path] = pos{line: line}
	}
}

func (lm *lineMap) alias(path string, p pos) {
	p.alias = true
	lm.m[path] = p
}

// has reports whether the file sets the field (aliases do not count).
func (lm *lineMap) has(path string) bool {
	if lm == nil {
		return false
	}
	p, ok := lm.m[path]
	return ok && !p.alias
}

// at returns the line and the display name of path. A field absent from the
// file takes the line of its closest present parent.
func (lm *lineMap) at(path string) (int, string) {
	if lm == nil {
		return 0, path
	}
	if p, ok := lm.m[path]; ok {
		if p.name != "" {
			return p.line, p.name
		}
		return p.line, path
	}
	for q := parentPath(path); q != ""; q = parentPath(q) {
		if p, ok := lm.m[q]; ok {
			return p.line, path
		}
	}
	return lm.m[""].line, path // the document
}

func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i <= 0 {
		return ""
	}
	return p[:i]
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// Parse reads a tenant file in the flat or the rich format, applies the
// defaults and validates it. file names the input in errors. On error it
// returns nil and a FieldErrors (wrapping ErrInvalid) with every problem
// found, each as "file:line: field: reason".
func Parse(data []byte, file string) (*Spec, error) {
	el := &errList{file: file}
	if len(data) > MaxFileSize {
		el.add(0, "", "file is %d bytes, the limit is %d", len(data), MaxFileSize)
		return nil, el.err()
	}
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			el.add(0, "", "empty file")
		} else {
			el.add(yamlErrLine(err), "", "YAML syntax: %s", yamlErrReason(err))
		}
		return nil, el.err()
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		el.add(extra.Line, "", "more than one YAML document")
		return nil, el.err()
	}
	if !prescan(&root, el) {
		return nil, el.err()
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	if doc.Kind != yaml.MappingNode {
		if doc.Kind == yaml.ScalarNode && doc.Tag == "!!null" {
			el.add(doc.Line, "", "empty file")
		} else {
			el.add(doc.Line, "", "want a mapping of keys at the top level")
		}
		return nil, el.err()
	}
	d := &decoder{errs: el, lines: newLineMap()}
	var spec *Spec
	if isFlat(doc) {
		var f flatSpec
		d.decode(doc, reflect.ValueOf(&f).Elem(), "", 0)
		if len(el.errs) > 0 {
			return nil, el.err()
		}
		spec = f.toSpec(d.lines, el)
	} else {
		spec = &Spec{}
		d.decode(doc, reflect.ValueOf(spec).Elem(), "", 0)
		spec.Format = FormatRich
	}
	if len(el.errs) > 0 {
		return nil, el.err()
	}
	spec.Source = file
	spec.lines = d.lines
	if err := spec.validate(el); err != nil {
		return nil, err
	}
	return spec, nil
}

// yamlErrLine extracts the line from a go-yaml error ("yaml: line 3: …").
func yamlErrLine(err error) int {
	s := err.Error()
	if i := strings.Index(s, "line "); i >= 0 {
		rest := s[i+5:]
		j := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
		if j > 0 {
			if n, err := strconv.Atoi(rest[:j]); err == nil {
				return n
			}
		}
	}
	return 0
}

func yamlErrReason(err error) string {
	s := strings.TrimPrefix(err.Error(), "yaml: ")
	if strings.HasPrefix(s, "line ") {
		if _, after, ok := strings.Cut(s, ": "); ok {
			return after
		}
	}
	return s
}

// prescan refuses anchors, aliases and merge keys (so no alias expansion can
// blow up memory), and bounds the depth and the number of nodes. It walks
// iteratively: a deep tree cannot exhaust the stack.
func prescan(root *yaml.Node, el *errList) bool {
	type item struct {
		n     *yaml.Node
		depth int
	}
	stack := []item{{root, 0}}
	nodes := 0
	// Report the earliest offending node, whatever the walk order.
	firstLine, firstReason := 0, ""
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		n := it.n
		nodes++
		if nodes > MaxNodes {
			el.add(n.Line, "", "more than %d YAML nodes", MaxNodes)
			return false
		}
		if it.depth > MaxDepth {
			el.add(n.Line, "", "nested deeper than %d levels", MaxDepth)
			return false
		}
		var reason string
		switch {
		case n.Kind == yaml.AliasNode:
			reason = fmt.Sprintf("YAML aliases (*%s) are not allowed in tenant files", clip(n.Value))
		case n.Anchor != "":
			reason = fmt.Sprintf("YAML anchors (&%s) are not allowed in tenant files", clip(n.Anchor))
		case n.Tag == "!!merge":
			reason = "YAML merge keys (<<) are not allowed in tenant files"
		case n.Tag != "" && !strings.HasPrefix(n.Tag, "!!"):
			reason = fmt.Sprintf("custom YAML tag %q is not allowed", clip(n.Tag))
		}
		if reason != "" && (firstLine == 0 || n.Line < firstLine) {
			firstLine, firstReason = n.Line, reason
		}
		if n.Kind == yaml.AliasNode {
			continue // never follow an alias
		}
		for _, c := range n.Content {
			stack = append(stack, item{c, it.depth + 1})
		}
	}
	if firstReason != "" {
		el.add(firstLine, "", "%s", firstReason)
		return false
	}
	return true
}

// decoder fills Go values from YAML nodes, strictly: unknown and duplicate
// keys, wrong kinds and out-of-range numbers are errors with the line.
type decoder struct {
	errs  *errList
	lines *lineMap
}

var durationType = reflect.TypeOf(scaler.Duration(0))

// fieldInfo maps a YAML key to a (possibly nested, for inline) field index.
type fieldInfo struct {
	index []int
}

// structFields lists a struct's keys: the yaml tag's name, else the json
// tag's (so driver templates, which only have json tags, decode), else the
// lower-cased field name; ",inline" embeds the fields of a struct.
func structFields(t reflect.Type) (map[string]fieldInfo, []string) {
	out := map[string]fieldInfo{}
	var order []string
	var walk func(t reflect.Type, prefix []int)
	walk = func(t reflect.Type, prefix []int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			tag, ok := f.Tag.Lookup("yaml")
			if !ok {
				tag = f.Tag.Get("json")
			}
			name, opts, _ := strings.Cut(tag, ",")
			if name == "-" {
				continue
			}
			idx := append(append([]int(nil), prefix...), i)
			if strings.Contains(opts, "inline") && f.Type.Kind() == reflect.Struct {
				walk(f.Type, idx)
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			if _, dup := out[name]; !dup {
				out[name] = fieldInfo{index: idx}
				order = append(order, name)
			}
		}
	}
	walk(t, nil)
	return out, order
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", clip(n.Value))
	}
	return "something else"
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	line, name := d.lines.at(path)
	if n != nil {
		line = n.Line
	}
	d.errs.add(line, name, format, args...)
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string, depth int) {
	d.lines.set(path, n.Line)
	if depth > MaxDepth {
		d.fail(n, path, "nested too deeply")
		return
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // an empty value leaves the default
	}
	if v.Type() == durationType {
		d.duration(n, v, path)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path, depth)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			d.fail(n, path, "want a mapping, got %s", kindName(n))
			return
		}
		fields, order := structFields(v.Type())
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				d.fail(k, path, "keys must be plain words, got %s", kindName(k))
				continue
			}
			name := k.Value
			fp := join(path, name)
			if seen[name] {
				d.errs.add(k.Line, fp, "duplicate key")
				continue
			}
			seen[name] = true
			f, ok := fields[name]
			if !ok {
				d.errs.add(k.Line, fp, "unknown field%s (known: %s)", hint(name), strings.Join(order, ", "))
				continue
			}
			d.lines.set(fp, k.Line)
			d.decode(val, v.FieldByIndex(f.index), fp, depth+1)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n, path, "want a list, got %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.decode(c, s.Index(i), index(path, i), depth+1)
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.fail(n, path, "want a mapping, got %s", kindName(n))
			return
		}
		if v.Type().Key().Kind() != reflect.String {
			d.fail(n, path, "unsupported map type")
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				d.fail(k, path, "keys must be plain words, got %s", kindName(k))
				continue
			}
			kp := join(path, k.Value)
			if m.MapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key())).IsValid() {
				d.errs.add(k.Line, kp, "duplicate key")
				continue
			}
			e := reflect.New(v.Type().Elem()).Elem()
			d.decode(val, e, kp, depth+1)
			m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), e)
		}
		v.Set(m)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.fail(n, path, "want a string, got %s", kindName(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Int, reflect.Int64, reflect.Int32:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			d.fail(n, path, "want a whole number, got %s", kindName(n))
			return
		}
		var i int64
		if err := n.Decode(&i); err != nil || v.OverflowInt(i) {
			d.fail(n, path, "number %s is out of range", clip(n.Value))
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") {
			d.fail(n, path, "want a number, got %s", kindName(n))
			return
		}
		var f float64
		if err := n.Decode(&f); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			d.fail(n, path, "want a finite number, got %s", clip(n.Value))
			return
		}
		v.SetFloat(f)
	case reflect.Bool:
		switch {
		case n.Kind == yaml.ScalarNode && n.Tag == "!!bool":
			var b bool
			if err := n.Decode(&b); err != nil {
				d.fail(n, path, "want true or false, got %s", kindName(n))
				return
			}
			v.SetBool(b)
		case n.Kind == yaml.ScalarNode && n.Tag == "!!int" && (n.Value == "0" || n.Value == "1"):
			v.SetBool(n.Value == "1") // the seed writes should_log: 1
		default:
			d.fail(n, path, "want true, false, 1 or 0, got %s", kindName(n))
		}
	default:
		d.fail(n, path, "unsupported field type %s", v.Type())
	}
}

// duration reads "90s", "2m", "1h30m" or a number of seconds.
func (d *decoder) duration(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "want a duration such as 30s or 5m, got %s", kindName(n))
		return
	}
	s := strings.TrimSpace(n.Value)
	var dur time.Duration
	if f, err := strconv.ParseFloat(s, 64); err == nil && (n.Tag == "!!int" || n.Tag == "!!float") {
		if math.IsNaN(f) || math.Abs(f) > float64(math.MaxInt64/int64(time.Second)) {
			d.fail(n, path, "duration %s is out of range", clip(s))
			return
		}
		dur = time.Duration(f * float64(time.Second))
	} else {
		x, err := time.ParseDuration(s)
		if err != nil {
			d.fail(n, path, "want a duration such as 30s or 5m, got %q", clip(s))
			return
		}
		dur = x
	}
	v.SetInt(int64(dur))
}

// hint explains a flat key met in the rich format.
func hint(name string) string {
	if _, ok := flatKeys[name]; ok {
		return " (a key of the flat format; a flat file must start with t_name)"
	}
	return ""
}

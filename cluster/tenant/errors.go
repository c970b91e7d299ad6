package tenant

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid is wrapped by every error Parse, Validate and CheckConflicts
// return for a bad tenant file; test with errors.Is(err, tenant.ErrInvalid).
var ErrInvalid = errors.New("invalid tenant file")

// ErrConflict is wrapped (together with ErrInvalid) by CheckConflicts when
// the spec collides with another tenant.
var ErrConflict = errors.New("conflicts with another tenant")

// FieldError is one problem at one place: "file:line: field: reason".
type FieldError struct {
	File     string
	Line     int    // 1-based; 0 when the field is absent from the file
	Field    string // e.g. "groups[0].scaling.min" or, in the flat format, "min_containers"
	Reason   string
	conflict bool
}

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteByte(':')
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:", e.Line)
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

// Is makes errors.Is(err, ErrInvalid) true, and ErrConflict for conflicts.
func (e *FieldError) Is(target error) bool {
	return target == ErrInvalid || (e.conflict && target == ErrConflict)
}

// FieldErrors is every problem found in one file, in file order. It is the
// error type Parse returns.
type FieldErrors []*FieldError

func (es FieldErrors) Error() string {
	switch len(es) {
	case 0:
		return ErrInvalid.Error()
	case 1:
		return es[0].Error()
	}
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap exposes the individual errors to errors.Is and errors.As.
func (es FieldErrors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Is makes errors.Is(err, ErrInvalid) true even for an empty list.
func (es FieldErrors) Is(target error) bool { return target == ErrInvalid }

// maxErrors bounds the errors collected from one file.
const maxErrors = 50

// errList collects errors while decoding and validating.
type errList struct {
	file string
	errs FieldErrors
}

func (l *errList) add(line int, field, format string, args ...any) {
	if len(l.errs) >= maxErrors {
		return
	}
	l.errs = append(l.errs, &FieldError{File: l.file, Line: line, Field: field, Reason: fmt.Sprintf(format, args...)})
}

func (l *errList) err() error {
	if len(l.errs) == 0 {
		return nil
	}
	sortErrs(l.errs)
	return l.errs
}

// sortErrs orders by line (stable, so errors on one line keep their order;
// errors without a line go last).
func sortErrs(es FieldErrors) {
	key := func(e *FieldError) int {
		if e.Line == 0 {
			return int(^uint(0) >> 1)
		}
		return e.Line
	}
	for i := 1; i < len(es); i++ {
		for j := i; j > 0 && key(es[j]) < key(es[j-1]); j-- {
			es[j], es[j-1] = es[j-1], es[j]
		}
	}
}

package tenant

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestBadCorpus parses every file in testdata/bad. Each starts with
// "# want: LINE FIELD" (FIELD "-" for a file-level error without a field);
// the file must be rejected and one of its errors must carry that line and
// field.
func TestBadCorpus(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 60 {
		t.Fatalf("only %d malformed files, want ≥ 60", len(files))
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yml"), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := bytes.Cut(data, []byte("\n"))
			fields := strings.Fields(strings.TrimPrefix(string(first), "# want:"))
			if !strings.HasPrefix(string(first), "# want:") || len(fields) != 2 {
				t.Fatalf("first line %q is not '# want: LINE FIELD'", first)
			}
			wantLine, err := strconv.Atoi(fields[0])
			if err != nil {
				t.Fatal(err)
			}
			wantField := fields[1]
			if wantField == "-" {
				wantField = ""
			}
			spec, err := Parse(data, f)
			if err == nil {
				t.Fatalf("accepted: %+v", spec)
			}
			if spec != nil {
				t.Error("a spec was returned with the error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			var fes FieldErrors
			if !errors.As(err, &fes) || len(fes) == 0 {
				t.Fatalf("error %T is not a FieldErrors", err)
			}
			for _, fe := range fes {
				if fe.Line == wantLine && fe.Field == wantField {
					if !strings.HasPrefix(fe.Error(), f+":") {
						t.Errorf("message %q does not start with the file name", fe.Error())
					}
					return
				}
			}
			t.Errorf("want an error at line %d field %q, got:\n%v", wantLine, wantField, err)
		})
	}
}

// TestBadCorpusMessages prints the messages with -v, for review.
func TestBadCorpusMessages(t *testing.T) {
	if !testing.Verbose() {
		t.Skip("run with -v to list the messages")
	}
	files, _ := filepath.Glob("testdata/bad/*.yml")
	for _, f := range files {
		data, _ := os.ReadFile(f)
		_, err := Parse(data, filepath.Base(f))
		sc := bufio.NewScanner(strings.NewReader(err.Error()))
		for sc.Scan() {
			t.Log(sc.Text())
		}
	}
}

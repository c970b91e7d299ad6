package tenant

// Secrets returns pointers to every secret value in the spec — template
// passwords and secrets — so that the caller can encrypt them in place
// (AES-GCM under the cluster key when settings.encrypt_passwords is set)
// before the spec goes into a Raft command. Empty values are left out.
func Secrets(s *Spec) []*string {
	var out []*string
	for i := range s.Groups {
		t := &s.Groups[i].Template
		if t.Password != "" {
			out = append(out, &t.Password)
		}
		for j := range t.Secrets {
			if t.Secrets[j].Value != "" {
				out = append(out, &t.Secrets[j].Value)
			}
		}
	}
	return out
}

// Redacted replaces a secret value in output.
const Redacted = "<redacted>"

// Redact returns a deep copy of s with every secret value replaced by
// Redacted, for API output, logs and diffs. s is not modified.
func Redact(s *Spec) *Spec {
	c := s.Clone()
	for _, p := range Secrets(c) {
		*p = Redacted
	}
	return c
}

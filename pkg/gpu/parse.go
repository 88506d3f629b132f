package gpu

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// maxListEntries bounds how many entries an annotation list may hold, so one malformed Pod cannot
// make every Filter call expensive.
const maxListEntries = 64

// ParseList splits an annotation value of names separated by '|' or ',' into lower-cased entries.
// Blank space around entries is ignored, and so is a repeated entry (it changes nothing: the openb
// trace has "V100M16|V100M32|V100M32"); an empty entry or one that is not a valid label value is an
// error naming the annotation and the entry.
func ParseList(annotation, value string) ([]string, error) {
	fields := strings.FieldsFunc(value, func(r rune) bool { return r == '|' || r == ',' })
	if strings.TrimSpace(value) == "" {
		return nil, fmt.Errorf("annotation %s: empty list", annotation)
	}
	if len(fields) > maxListEntries {
		return nil, fmt.Errorf("annotation %s: %d entries, at most %d allowed", annotation, len(fields), maxListEntries)
	}
	if n := strings.Count(value, "|") + strings.Count(value, ",") + 1; n != len(fields) {
		return nil, fmt.Errorf("annotation %s: %s has an empty entry", annotation, Echo(value))
	}
	out := make([]string, 0, len(fields))
	for _, f := range fields {
		f = strings.ToLower(strings.TrimSpace(f))
		if f == "" {
			return nil, fmt.Errorf("annotation %s: %s has an empty entry", annotation, Echo(value))
		}
		if errs := validation.IsValidLabelValue(f); len(errs) > 0 {
			return nil, fmt.Errorf("annotation %s: entry %s is not a valid label value: %s", annotation, Echo(f), strings.Join(errs, "; "))
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out, nil
}

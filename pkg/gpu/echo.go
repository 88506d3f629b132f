package gpu

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// maxEcho is how many bytes of a value from a Pod a message repeats: an event's note holds 1 KB.
const maxEcho = 64

// Echo quotes a value taken from a Pod (an annotation, a label) for a message, cut to 64 bytes with
// its length after it, so a 10 KB annotation cannot crowd the reasons out of the Pod's event.
func Echo(v string) string {
	if len(v) <= maxEcho {
		return strconv.Quote(v)
	}
	cut := v[:maxEcho]
	for len(cut) > 0 && !utf8.ValidString(cut) {
		cut = cut[:len(cut)-1] // not inside a character
	}
	return fmt.Sprintf("%s... (%d bytes)", strconv.Quote(cut), len(v))
}

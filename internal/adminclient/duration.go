package adminclient

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// maxDays bounds day counts so that the result fits a time.Duration.
const maxDays = 100_000

// ParseDuration parses the durations the admin API accepts: Go syntax
// ("90s", "720h", "1h30m") or a whole number of days ("30d"). The server,
// the CLI and the Terraform provider all use it, so they accept the same
// strings. Negative durations are refused.
func ParseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > maxDays || days != strconv.Itoa(n) {
			return 0, fmt.Errorf("duration %q: want a whole number of days (\"30d\") or a Go duration (\"720h\")", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("duration %q: want a Go duration (\"720h\", \"90s\") or whole days (\"30d\")", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("duration %q must not be negative", s)
	}
	return d, nil
}

package bedrocksim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// faultFields is Fault without its methods, so the JSON code below can reuse
// the struct tags without recursing.
type faultFields Fault

// MarshalJSON writes the delays as Go duration strings ("150ms"), which read
// better in the control API than nanosecond integers.
func (f Fault) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		faultFields
		FirstByteDelay string `json:"firstByteDelay,omitempty"`
		TokenDelay     string `json:"tokenDelay,omitempty"`
	}{faultFields(f), durString(f.FirstByteDelay), durString(f.TokenDelay)})
}

func durString(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

// UnmarshalJSON accepts delays as duration strings ("150ms") or as numbers of
// milliseconds, and rejects unknown fields so a typo in a control request is
// an error rather than a silently healthy region.
func (f *Fault) UnmarshalJSON(b []byte) error {
	var aux struct {
		*faultFields
		FirstByteDelay jsonDuration `json:"firstByteDelay"`
		TokenDelay     jsonDuration `json:"tokenDelay"`
	}
	var fields faultFields
	aux.faultFields = &fields
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&aux); err != nil {
		return err
	}
	*f = Fault(fields)
	f.FirstByteDelay = time.Duration(aux.FirstByteDelay)
	f.TokenDelay = time.Duration(aux.TokenDelay)
	return nil
}

type jsonDuration time.Duration

func (d *jsonDuration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = jsonDuration(v)
		return nil
	}
	var ms float64
	if err := json.Unmarshal(b, &ms); err != nil {
		return fmt.Errorf("duration: want a string like \"150ms\" or a number of milliseconds, got %s", b)
	}
	*d = jsonDuration(time.Duration(ms * float64(time.Millisecond)))
	return nil
}

// ParseFaultSpec parses the compact fault syntax of the --fault flag: a
// comma-separated list of items, each one of
//
//	NAME[:RATE]        inject exception NAME (full name or alias such as
//	                   throttle, unavailable, internal, timeout, notready,
//	                   validation, denied) at RATE (0..1, default 1)
//	rate=R             ErrorRate
//	exception=NAME     Exception
//	refuse             Outage "refuse" (connection refused)
//	503                Outage "503"
//	outage=refuse|503  the same
//	delay=DUR          FirstByteDelay (Go duration, e.g. 150ms)
//	token-delay=DUR    TokenDelay
//	cut=N              FailMidStreamAfter
//	cut-exception=EXC  MidStreamException (e.g. internalServerException)
//	none               no fault (may stand alone)
//
// Example: "throttle:0.5,delay=100ms". The result is validated.
func ParseFaultSpec(spec string) (Fault, error) {
	var f Fault
	var errs []error
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		key, val, hasVal := strings.Cut(item, "=")
		var err error
		switch {
		case item == "" || item == "none":
		case item == OutageRefuse || item == Outage503:
			f.Outage = item
		case hasVal && key == "outage":
			f.Outage = val
		case hasVal && key == "rate":
			f.ErrorRate, err = parseRate(val)
		case hasVal && key == "exception":
			f.Exception = val
		case hasVal && (key == "delay" || key == "first-byte-delay"):
			f.FirstByteDelay, err = time.ParseDuration(val)
		case hasVal && key == "token-delay":
			f.TokenDelay, err = time.ParseDuration(val)
		case hasVal && key == "cut":
			f.FailMidStreamAfter, err = strconv.Atoi(val)
		case hasVal && key == "cut-exception":
			f.MidStreamException = val
		case !hasVal:
			name, rate, hasRate := strings.Cut(item, ":")
			if _, ok := canonicalException(name); !ok {
				err = errors.New("unknown item or exception")
				break
			}
			f.Exception = name
			f.ErrorRate = 1
			if hasRate {
				f.ErrorRate, err = parseRate(rate)
			}
		default:
			err = errors.New("unknown item")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("fault item %q: %w", item, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Fault{}, err
	}
	return f.normalize()
}

func parseRate(s string) (float64, error) {
	r, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(r) || r < 0 || r > 1 {
		return 0, fmt.Errorf("rate %q: want a number in 0..1", s)
	}
	return r, nil
}

// faultGate decides deterministically which requests an ErrorRate fault
// fails: the n-th request fails iff floor(n*rate) grows, so after n requests
// exactly floor(n*rate) have failed. The small epsilon absorbs float error
// such as 0.29*100 = 28.999999999999996.
type faultGate struct {
	seen, failed int64
}

func (g *faultGate) next(rate float64) bool {
	if rate <= 0 {
		return false
	}
	g.seen++
	want := int64(math.Floor(float64(g.seen)*rate + 1e-9))
	if want > g.failed {
		g.failed++
		return true
	}
	return false
}

package ratelimit_test

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/tollgate-dev/tollgate/internal/rules"
	"github.com/tollgate-dev/tollgate/regional/apierror"
	"github.com/tollgate-dev/tollgate/regional/ratelimit"
)

// A customer limited to 60 requests a minute, on an instance that is alone
// in the only region: the bucket refills at 1/s and holds 3 (the default
// 3s burst). The first two calls pass, the third empties the bucket and is
// delayed by the full MaxWait, the fourth is refused.
func ExampleLimiter_Admit() {
	l, err := ratelimit.New(ratelimit.Config{Region: "us-east-1", InstanceID: "example"})
	if err != nil {
		panic(err)
	}
	now := time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)
	lim := rules.Limits{RequestsPerMinute: 60}
	for i := 1; i <= 4; i++ {
		d, err := l.Admit("acme", "", lim, 0, now)
		h := http.Header{}
		d.SetHeaders(h)
		var e *apierror.Error
		if errors.As(err, &e) {
			fmt.Printf("call %d: %s, Retry-After %d\n", i, e.Message, e.RetryAfter)
			continue
		}
		fmt.Printf("call %d: wait %v, remaining %s, reset %s\n", i, d.Wait,
			h.Get("x-ratelimit-remaining-requests"), h.Get("x-ratelimit-reset-requests"))
	}
	// Output:
	// call 1: wait 0s, remaining 2, reset 1s
	// call 2: wait 0s, remaining 1, reset 2s
	// call 3: wait 2s, remaining 0, reset 3s
	// call 4: customer acme exceeded 60 requests per minute; retry after 1 s or ask for a higher limit, Retry-After 1
}

// EstimateTokens reads the call's own maximum and sizes the input.
func ExampleEstimateTokens() {
	body := []byte(`{"messages":[{"role":"user","content":[{"text":"Hello"}]}],"inferenceConfig":{"maxTokens":256}}`)
	fmt.Println(ratelimit.EstimateTokens("Converse", body))
	// Output: 280
}

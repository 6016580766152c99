package metering_test

import (
	"fmt"
	"net/http"

	"github.com/tollgate-dev/tollgate/regional/metering"
)

func ExampleFromConverseBody() {
	body := []byte(`{"output":{"message":{"role":"assistant","content":[{"text":"Hi"}]}},"stopReason":"end_turn",` +
		`"usage":{"inputTokens":12,"outputTokens":3,"totalTokens":15,"cacheReadInputTokens":100},"metrics":{"latencyMs":420}}`)
	u, ok := metering.FromConverseBody(body)
	fmt.Printf("%v %+v\n", ok, u)
	// Output: true {InputTokens:12 OutputTokens:3 CacheReadTokens:100 CacheWriteTokens:0 LatencyMs:420}
}

func ExampleFromInvokeHeaders() {
	h := http.Header{}
	h.Set("X-Amzn-Bedrock-Input-Token-Count", "25")
	h.Set("X-Amzn-Bedrock-Output-Token-Count", "102")
	h.Set("X-Amzn-Bedrock-Invocation-Latency", "1520")
	u, ok := metering.FromInvokeHeaders(h)
	fmt.Printf("%v %+v\n", ok, u)
	// Output: true {InputTokens:25 OutputTokens:102 CacheReadTokens:0 CacheWriteTokens:0 LatencyMs:1520}
}

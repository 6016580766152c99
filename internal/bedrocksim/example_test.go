package bedrocksim_test

import (
	"fmt"

	"github.com/tollgate-dev/tollgate/internal/bedrocksim"
)

// A Converse request with a cached system prompt, sent twice: the first call
// writes the prefix to the cache, the second reads it.
func ExampleExpectedUsage() {
	p := bedrocksim.Prompt{
		Prefix:     []string{"You are a helpful assistant."}, // before the cachePoint
		Text:       []string{"What is the capital of France?"},
		CachePoint: true,
		MaxTokens:  100,
	}
	first := bedrocksim.ExpectedUsage(p)
	p.CacheHit = true
	second := bedrocksim.ExpectedUsage(p)
	fmt.Printf("%+v\n%+v\n%q\n", first, second, bedrocksim.ExpectedText(3))
	// Output:
	// {InputTokens:9 OutputTokens:11 CacheReadTokens:0 CacheWriteTokens:5 TotalTokens:25 CachePoint:true StopReason:end_turn}
	// {InputTokens:9 OutputTokens:11 CacheReadTokens:5 CacheWriteTokens:0 TotalTokens:25 CachePoint:true StopReason:end_turn}
	// "tok1 tok2 tok3"
}

// The sim:tokens=N word sets the answer length; maxTokens still caps it.
func ExampleExpectedUsage_directive() {
	u := bedrocksim.ExpectedUsage(bedrocksim.Prompt{Text: []string{"stream sim:tokens=500 please"}, MaxTokens: 200})
	fmt.Println(u.InputTokens, u.OutputTokens, u.StopReason)
	// Output: 6 200 max_tokens
}

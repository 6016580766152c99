// Package bedrocksim is an exact, deterministic simulator of the Amazon
// Bedrock Runtime API, used as the test double at the network edge: the
// official aws-sdk-go-v2 bedrockruntime client talks to it unchanged
// (BaseEndpoint = (*Sim).URL(region)).
//
// Each region gets its own listener (HTTP, or HTTPS with an in-memory
// self-signed certificate) serving Converse, ConverseStream, InvokeModel and
// InvokeModelWithResponseStream at their real paths, with SigV4 scope
// checks, Bedrock's error shapes and status codes, and event-stream frames
// encoded with smithy-go's encoder. Faults (error rates, outages, delays,
// mid-stream failures) are set per region at start, through SetFault, or
// through a JSON control API on its own listener.
//
// # Token rule
//
// Every number the simulator reports follows from the request (see
// ExpectedUsage, which the server itself uses):
//
//   - Only text counts: Converse text blocks of system and messages;
//     Anthropic system and message content (strings or text blocks);
//     Titan inputText; Llama prompt. W is the number of
//     whitespace-separated words in it.
//   - The cache prefix is the text before the last cache point: a Converse
//     {"cachePoint":{"type":"default"}} block, or the end of the last
//     Anthropic block with cache_control. P is its word count (0 without a
//     cache point).
//   - InputTokens = W - P + PromptOverhead (3).
//   - With a cache point, the prefix (keyed by model ID, text and message
//     structure) is written on the first request per region that reaches
//     generation (CacheWriteTokens = P) and read afterwards
//     (CacheReadTokens = P); both fields are reported, one of them 0.
//   - The natural answer has L = 8 + W mod 8 tokens, or N if the text holds
//     the word "sim:tokens=N" (1..100000, last wins).
//   - OutputTokens = min(L, maxTokens), stop reason "max_tokens" when cut,
//     else "end_turn". maxTokens is inferenceConfig.maxTokens (default
//     4096), Anthropic max_tokens (required), Titan maxTokenCount or Llama
//     max_gen_len (default 512).
//   - TotalTokens = InputTokens + OutputTokens + CacheReadTokens +
//     CacheWriteTokens.
//   - The answer text is "tok1 tok2 … tokN"; a stream sends one delta per
//     token ("tok1", " tok2", …).
//   - Latencies are modelled, not measured: FirstByteDelay +
//     OutputTokens*TokenDelay in ms, at least 1 (ExpectedLatency).
//
// docs/simulator.md describes the wire behaviour, the fault syntax and the
// control API in full.
package bedrocksim

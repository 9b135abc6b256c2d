/**
 * Loopback OpenAI-compatible server with controlled TTFT / inter-token delays and fault injection.
 * Code in openai-server.mjs (plain JS, shared with bench/metrics.mjs).
 */
export * from './openai-server.mjs'

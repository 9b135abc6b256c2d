/**
 * Loopback exporter with vLLM's and dcgm-exporter's real metric names and types. The code is in
 * vllm-exporter.mjs (plain JS, shared with bench/metrics.mjs); this module is its typed entry.
 */
export * from './vllm-exporter.mjs'

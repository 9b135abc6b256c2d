/**
 * Launcher for a real Prometheus on a free loopback port (temp config + data dir, 1s scrapes,
 * stops itself). Code in prometheus.mjs (plain JS, shared with bench/metrics.mjs).
 */
export * from './prometheus.mjs'

/** Safe model rollouts: canary beside the stable, gated weight steps, abort, promote (history.ts: the revision history). */
export * from './plan.js'
export * from './state.js'
export * from './run.js'
export * from './status.js'

/**
 * `aip model preload`: Hub -> S3 streaming (pipeline.ts), the S3 layout and marker that `model deploy`
 * reads (layout.ts), file selection (select.ts) and progress rendering (progress.ts).
 * The AWS SDK is imported lazily inside the functions that call S3.
 */
export * from './layout.js'
export * from './pipeline.js'
export * from './progress.js'
export * from './select.js'

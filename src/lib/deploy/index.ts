/** Deploy orchestration and model lifecycle (list, status, delete). Heavy clients are imported lazily. */
export * from './deploy.js'
export * from './fit-gate.js'
export * from './models.js'
export * from './progress.js'
export * from './resolve.js'
export * from './context.js'
export * from './prerequisites.js'

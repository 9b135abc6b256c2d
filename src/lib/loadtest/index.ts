export * from './bench.js'
export * from './request.js'
export * from './stats.js'

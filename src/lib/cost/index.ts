export * from './prices.js'
export * from './queries.js'
export * from './report.js'
export * from './window.js'

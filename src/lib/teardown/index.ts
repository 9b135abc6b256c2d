/** `aip teardown`: plan (ordered phases from what exists) and executor (idempotent, resumable). */
export * from './plan.js'
export * from './execute.js'
export {discoverKinds, isBookkeeping, isManaged, listManaged, listNamespaceContent} from './inventory.js'

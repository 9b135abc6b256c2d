/**
 * Hugging Face Hub access: model info (siblings with LFS sha256), revision resolution, JSON/text
 * files, byte streams with Range, and safetensors headers read with two Range requests.
 *
 * Light on purpose: `aip gpu-fit` loads this module, so it only uses the global fetch and Node
 * built-ins. Tokens are sent as `Authorization: Bearer`, never printed, and dropped when a redirect
 * leaves the Hub's origin (the CDN gets a signed URL instead).
 *
 * By concern: types.ts (shapes, config, repo ids), transport.ts (auth, retries, redirects, fetch and
 * node:http), errors.ts (answers -> typed errors), download.ts (file reads), client.ts (model info,
 * revisions), safetensors.ts (headers and shard listing).
 */
export {HubClient} from './client.js'
export {parseSafetensorsHeader} from './safetensors.js'
export * from './types.js'

/**
 * The gateway's wake hook (gateway/wake-hook.ts), the Python module LiteLLM loads from the
 * gateway's ConfigMap, run through the loopback's hook runner (test/support/litellm-failure-hook.py)
 * with the request data and mapped error LiteLLM's proxy passes it.
 */
import {spawnSync} from 'node:child_process'
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {describe, expect, it} from 'vitest'

import {litellmConfig, renderLitellm} from '../../../src/lib/gateway/render.js'
import {WAKE_HOOK_CALLBACK, WAKE_HOOK_FILE} from '../../../src/lib/gateway/wake-hook.js'

const runner = fileURLToPath(new URL('../../support/litellm-failure-hook.py', import.meta.url))
const cm = renderLitellm({namespace: 'g', exposure: {kind: 'loadbalancer', internal: true}}).find((o) => o.kind === 'ConfigMap') as any
const dir = mkdtempSync(join(process.env.TMPDIR ?? tmpdir(), 'wake-hook-'))
writeFileSync(join(dir, WAKE_HOOK_FILE), cm.data[WAKE_HOOK_FILE])

function hook(status: number, modelInfo: Record<string, unknown>, key = 'metadata'): any {
  const r = spawnSync('python3', [runner, dir, WAKE_HOOK_CALLBACK], {input: JSON.stringify({request_data: {model: 'm', [key]: {model_info: modelInfo}}, status_code: status}), encoding: 'utf8'})
  expect(r.status, r.stderr).toBe(0)
  return JSON.parse(r.stdout)
}

describe('gateway wake hook', () => {
  it('is in the ConfigMap next to config.yaml and named in litellm_settings.callbacks', () => {
    expect(Object.keys(cm.data)).toEqual(['config.yaml', WAKE_HOOK_FILE])
    expect((litellmConfig() as any).litellm_settings.callbacks).toEqual([WAKE_HOOK_CALLBACK])
  })

  it('an interceptor timeout (504, or 502 before add-on v0.14) on a wake-path model becomes 503 + Retry-After', () => {
    expect(hook(504, {aip_wake: true, aip_retry_after_seconds: 45, aip_hold_seconds: 300})).toMatchObject({status_code: 503, headers: {'Retry-After': '45'}, detail: expect.stringContaining('hold of 300s')})
    expect(hook(502, {aip_wake: true}, 'litellm_metadata')).toMatchObject({status_code: 503, headers: {'Retry-After': '30'}})
  })

  it('leaves other errors and other models alone', () => {
    expect(hook(504, {})).toBeNull()
    expect(hook(500, {aip_wake: true})).toBeNull()
    expect(hook(408, {aip_wake: true})).toBeNull()
  })
})

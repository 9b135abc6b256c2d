import {spawn} from 'node:child_process'

import {CreateBucketCommand, type S3Client} from '@aws-sdk/client-s3'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {BIN, isolatedEnv, ROOT, runCli} from '../support/cli.js'
import {HubServer, seededBytes} from '../support/hub-server.js'
import {bucketContents, S3rverHandle, s3rverClient, s3rverEnv} from '../support/s3rver.js'

const MiB = 1024 * 1024
const REPO = 'acme/e2e-llm'
const TOKEN = 'hf_e2etokenEEEEEEEEEEEEEE'
const FILES = {
  'config.json': JSON.stringify({model_type: 'llama'}),
  'model.safetensors': {size: 11 * MiB + 1, seed: 21},
  'tokenizer.json': '{"v":1}',
}

let hub: HubServer
let s3h: S3rverHandle
let s3: S3Client
let commit: string
let n = 0

beforeAll(async () => {
  hub = await HubServer.start()
  commit = hub.addRepo(REPO, {files: FILES}).commit
  hub.addRepo('acme/gated', {files: FILES, gated: true, allow: [TOKEN]})
  s3h = await S3rverHandle.start()
  s3 = await s3rverClient(s3h)
})
afterAll(async () => {
  await hub?.stop()
  await s3h?.stop()
})

async function bucket(): Promise<string> {
  const name = `e2e${++n}-${Date.now().toString(36)}`
  await s3.send(new CreateBucketCommand({Bucket: name}))
  return name
}
const env = (extra: NodeJS.ProcessEnv = {}) => isolatedEnv({HF_ENDPOINT: hub.url, ...s3rverEnv(), ...extra})
const args = (b: string, model = `hf:${REPO}`, extra: string[] = []) => ['model', 'preload', model, '--bucket', b, '--s3-endpoint', s3h.endpoint, '--part-size', '5MiB', ...extra]
const root = (b: string) => `models/acme--e2e-llm/${commit}/`

async function expectComplete(b: string) {
  const c = await bucketContents(s3, b)
  expect(c.get(root(b) + 'model.safetensors')!.equals(seededBytes(11 * MiB + 1, 21))).toBe(true)
  expect(c.get(root(b) + 'config.json')!.toString()).toBe(FILES['config.json'])
  const marker = JSON.parse(c.get(root(b) + '.aip-preload.json')!.toString())
  expect(marker.files.map((f: {path: string}) => f.path).sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json'])
}
async function expectNoMarker(b: string) {
  const c = await bucketContents(s3, b)
  expect([...c.keys()].filter((k) => k.endsWith('.aip-preload.json'))).toEqual([])
}
const lines = (s: string) => s.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Record<string, unknown>)

describe('aip model preload (built CLI)', () => {
  it('copies the repo and prints the weights URI; progress lines go to stderr', async () => {
    const b = await bucket()
    const r = await runCli(args(b), {env: env()})
    expect(r.stderr).toContain('preloaded acme/e2e-llm@')
    expect(r.code).toBe(0)
    expect(r.stdout.trim()).toBe(`s3://${b}/${root(b)}`)
    await expectComplete(b)
  })

  it('--json prints NDJSON events and a one-line result envelope', async () => {
    const b = await bucket()
    const r = await runCli(args(b, `hf:${REPO}`, ['--json']), {env: env()})
    expect(r.code).toBe(0)
    const ev = lines(r.stdout)
    expect(ev[0]).toMatchObject({event: 'plan', repo: REPO, commit, files: 3})
    expect(ev.filter((e) => e.event === 'file-done').map((e) => e.path).sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json'])
    expect(ev.some((e) => e.event === 'marker')).toBe(true)
    const last = ev.at(-1)!
    expect(last).toMatchObject({status: 'ok', command: 'model:preload', result: {commit, uri: `s3://${b}/${root(b)}`, totalBytes: 11 * MiB + 1 + FILES['config.json'].length + FILES['tokenizer.json'].length}})
    expect(r.stderr).toBe('')
    await expectComplete(b)
  })

  it('gated repo without HF_TOKEN: exit 6, one line naming HF_TOKEN, bucket untouched; the token is never printed', async () => {
    const b = await bucket()
    const r = await runCli(args(b, 'hf:acme/gated'), {env: env()})
    expect(r.code).toBe(6)
    expect(r.stderr).toMatch(/^Error: .*gated.*\n {2}Fix: set HF_TOKEN to a token with access to acme\/gated/)
    const wrong = 'hf_wrongtokenFFFFFFFFFFFF'
    const j = await runCli(args(b, 'hf:acme/gated', ['--json', '--verbose']), {env: env({HF_TOKEN: wrong})})
    expect(j.code).toBe(6)
    expect(lines(j.stdout).at(-1)).toMatchObject({status: 'error', error: {code: 'UNAUTHORIZED', exitCode: 6}})
    expect(j.stdout + j.stderr).not.toContain(wrong)
    expect((await bucketContents(s3, b)).size).toBe(0)
    const ok = await runCli(args(b, 'hf:acme/gated'), {env: env({HF_TOKEN: TOKEN})})
    expect(ok.code).toBe(0)
    expect(ok.stdout + ok.stderr).not.toContain(TOKEN)
  })

  it('unknown repo and unknown revision: exit 4', async () => {
    const b = await bucket()
    const r = await runCli(args(b, 'hf:acme/nope'), {env: env()})
    expect(r.code).toBe(4)
    expect(r.stderr).toContain('acme/nope')
    const v = await runCli(args(b, `hf:${REPO}`, ['--revision', 'v7', '--json']), {env: env()})
    expect(v.code).toBe(4)
    expect(lines(v.stdout).at(-1)).toMatchObject({status: 'error', error: {code: 'NOT_FOUND'}})
    expect((await bucketContents(s3, b)).size).toBe(0)
  })

  it('missing bucket: exit 4; no bucket configured: exit 2; bad flag values: exit 2', async () => {
    const r = await runCli(args('does-not-exist'), {env: env()})
    expect(r.code).toBe(4)
    expect(r.stderr).toContain('does-not-exist')
    const nob = await runCli(['model', 'preload', `hf:${REPO}`, '--s3-endpoint', s3h.endpoint], {env: env()})
    expect(nob.code).toBe(2)
    expect(nob.stderr).toContain('--bucket')
    const bad = await runCli(args('x', `hf:${REPO}`, ['--part-size', '1MiB']), {env: env()})
    expect(bad.code).toBe(2)
    const badRepo = await runCli(args('x', 'hf:not a repo'), {env: env()})
    expect(badRepo.code).toBe(2)
    const badConnections = await runCli(args('x', `hf:${REPO}`, ['--connections', '0']), {env: env()})
    expect(badConnections.code).toBe(2)
    expect(badConnections.stderr).toContain('--connections')
    const badRange = await runCli(args('x', `hf:${REPO}`, ['--range-size', '1KiB']), {env: env()})
    expect(badRange.code).toBe(2)
    expect(badRange.stderr).toContain('--range-size 1KiB is under 64KiB')
    expect(badRange.stderr).toContain('Fix: use a range size of 64KiB or more')
  })

  it('checksum mismatch: exit 1, no object for the file, no marker', async () => {
    const b = await bucket()
    hub.corruptFile('model.safetensors', 3)
    try {
      const r = await runCli(args(b), {env: env()})
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('checksum mismatch for acme/e2e-llm/model.safetensors')
    } finally {
      hub.clearFaults()
    }
    const c = await bucketContents(s3, b)
    expect([...c.keys()].some((k) => k.endsWith('model.safetensors') || k.endsWith('.aip-preload.json'))).toBe(false)
    expect(await s3h.pendingUploads(b)).toEqual([])
  })

  it('after kill -9 mid-upload no marker stands; a rerun resumes the unfinished upload and completes', async () => {
    const b = await bucket()
    hub.throttle(8 * MiB)
    const child = spawn(process.execPath, [BIN, ...args(b, `hf:${REPO}`, ['--json', '--concurrency', '1', '--file-concurrency', '1'])], {cwd: ROOT, env: env(), stdio: ['ignore', 'pipe', 'pipe']})
    let out = ''
    const closed = new Promise((r) => child.on('close', r))
    const killed = new Promise<void>((resolve) => {
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d
        if (/"event":"part","path":"model.safetensors","partNumber":1/.test(out) && !child.killed) {
          child.kill('SIGKILL')
          resolve()
        }
      })
      child.on('close', () => resolve())
    })
    await killed
    await closed
    hub.clearFaults()
    await expectNoMarker(b)
    const pending = await s3h.pendingUploads(b)
    expect(pending.map((p) => p.key)).toEqual([root(b) + 'model.safetensors'])
    expect(pending[0]!.parts).toBeGreaterThanOrEqual(1)
    const r = await runCli(args(b, `hf:${REPO}`, ['--json']), {env: env()})
    expect(r.code).toBe(0)
    const res = lines(r.stdout).at(-1) as {result: {files: Array<{path: string; status: string; resumedBytes: number}>}}
    const big = res.result.files.find((f) => f.path === 'model.safetensors')!
    expect(big.status).toBe('resumed')
    expect(big.resumedBytes).toBeGreaterThanOrEqual(5 * MiB)
    expect(await s3h.pendingUploads(b)).toEqual([])
    await expectComplete(b)
  })

  it('Ctrl-C stops cleanly with exit 130, says a rerun resumes, and leaves no marker', async () => {
    const b = await bucket()
    // 2 connections at 1 MiB/s each: the 11 MiB copy takes ~5 s, so the interrupt lands mid-copy
    // (with the default 32 ranged connections it would finish before the signal)
    hub.throttle(1 * MiB)
    try {
      const started = hub.contentRequests('model.safetensors').length
      const child = spawn(process.execPath, [BIN, ...args(b, `hf:${REPO}`, ['--connections', '2'])], {cwd: ROOT, env: env(), stdio: ['ignore', 'pipe', 'pipe']})
      let err = ''
      child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d))
      let exited = false
      const closed = new Promise<number | null>((r) => child.on('close', (c) => r(c)))
      void closed.then(() => (exited = true))
      // interrupt once the big file's bytes are flowing, not after a fixed sleep: on a loaded machine
      // Node's start-up alone can outlast one, and a SIGINT before the CLI runs is a plain kill
      while (!exited && hub.contentRequests('model.safetensors').length === started) await new Promise((r) => setTimeout(r, 20))
      child.kill('SIGINT')
      const code = await closed
      expect(code, err).toBe(130)
      // one error line that says a rerun resumes, and its Fix
      const lines = err.split('\n').filter((l) => /^\s*(Error|Fix):/.test(l))
      expect(lines).toHaveLength(2)
      expect(lines[0]).toMatch(/^Error: preload of acme\/e2e-llm interrupted(?: after \d of 3 files)?; no marker was written, the unfinished uploads are kept$/)
      expect(lines[1]).toBe('  Fix: rerun the same command to resume: complete files are skipped and the parts already uploaded are reused')
      expect(err).not.toMatch(/\n\s+at /) // no stack trace
    } finally {
      hub.clearFaults()
    }
    await expectNoMarker(b)
  })
})

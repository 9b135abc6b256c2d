// A loopback OpenAI-compatible server (the subset vLLM serves): /v1/models, /v1/chat/completions
// and /v1/completions, streaming (SSE `data: {...}` chunks then `data: [DONE]`) and not, with usage.
// Timing is controlled: the first content chunk is written `ttftMs` after the request arrived (a
// role-only chunk, as vLLM sends, goes out at once), then one token per chunk every `itlMs`.
// Faults are chosen per request by `plan(i, body)`: 'ok' | 500 | 429 | 'malformed' | 'truncated' | 'hang'.
// Every request's server-side timings are recorded (performance.now(), same clock as an in-process
// client) so tests compare measured values with what the server actually did.
//
// Plain JS (typed by openai-server.d.mts) so bench/metrics.mjs can use it too.
import {fork} from 'node:child_process'
import {createServer} from 'node:http'
import {performance} from 'node:perf_hooks'
import {fileURLToPath} from 'node:url'

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

export async function startOpenAIServer(opts = {}) {
  const cfg = {ttftMs: 50, itlMs: 10, tokens: 16, models: ['test-model'], usage: true, tokensPerChunk: 1, ...opts}
  const requests = []
  const sockets = new Set()

  function approxPromptTokens(body) {
    const text = body.messages ? body.messages.map((m) => m.content).join(' ') : String(body.prompt ?? '')
    return text.split(/\s+/).filter(Boolean).length
  }

  // noDelay: every SSE event goes out as its own segment at once (no Nagle coalescing with the next
  // write, no wait for the client's delayed ACK); Node's default, made explicit.
  const server = createServer({noDelay: true}, async (req, res) => {
    const recv = performance.now()
    const url = new URL(req.url ?? '/', 'http://x')
    if (cfg.apiKey && req.headers.authorization !== `Bearer ${cfg.apiKey}`) {
      res.writeHead(401, {'content-type': 'application/json'}).end(JSON.stringify({error: {message: 'invalid api key', type: 'invalid_request_error'}}))
      return
    }
    if (req.method === 'GET' && url.pathname === '/v1/models') {
      res.writeHead(200, {'content-type': 'application/json'})
      res.end(JSON.stringify({object: 'list', data: cfg.models.map((id) => ({id, object: 'model', created: 0, owned_by: 'aip-test'}))}))
      return
    }
    const chat = url.pathname === '/v1/chat/completions'
    if (req.method !== 'POST' || (!chat && url.pathname !== '/v1/completions')) {
      res.writeHead(404, {'content-type': 'application/json'}).end(JSON.stringify({error: {message: 'not found'}}))
      return
    }
    let raw = ''
    for await (const chunk of req) raw += chunk
    let body
    try {
      body = JSON.parse(raw)
    } catch {
      res.writeHead(400, {'content-type': 'application/json'}).end(JSON.stringify({error: {message: 'bad json'}}))
      return
    }
    const i = requests.length
    const rec = {i, path: url.pathname, body, auth: Boolean(req.headers.authorization), recv, firstWrite: undefined, lastWrite: undefined, outcome: 'ok', tokens: 0}
    requests.push(rec)
    if (!cfg.models.includes(body.model)) {
      rec.outcome = 404
      res.writeHead(404, {'content-type': 'application/json'}).end(JSON.stringify({error: {message: `The model \`${body.model}\` does not exist.`, type: 'NotFoundError', code: 404}}))
      return
    }
    const outcome = cfg.plan ? cfg.plan(i, body) : 'ok'
    rec.outcome = outcome
    if (typeof outcome === 'number') {
      await sleep(cfg.errorDelayMs ?? 0)
      res.writeHead(outcome, {'content-type': 'application/json', ...(outcome === 429 ? {'retry-after': '1'} : {})})
      res.end(JSON.stringify({error: {message: outcome === 429 ? 'rate limited' : 'internal error', code: outcome}}))
      return
    }
    if (outcome === 'hang') return // never answers; the client times out
    const n = Math.max(1, Math.min(cfg.tokens, body.max_tokens ?? cfg.tokens))
    rec.tokens = n
    const promptTokens = approxPromptTokens(body)
    const id = `cmpl-${i}`
    const created = Math.floor(Date.now() / 1000)
    const usage = {prompt_tokens: promptTokens, completion_tokens: n, total_tokens: promptTokens + n}
    const word = (k) => `t${k} `
    const chunk = (text, finish = null) =>
      chat
        ? {id, object: 'chat.completion.chunk', created, model: body.model, choices: [{index: 0, delta: {content: text}, finish_reason: finish}]}
        : {id, object: 'text_completion', created, model: body.model, choices: [{index: 0, text, finish_reason: finish}]}

    if (!body.stream) {
      await sleep(cfg.ttftMs + (n - 1) * cfg.itlMs)
      const text = Array.from({length: n}, (_, k) => word(k)).join('')
      rec.firstWrite = rec.lastWrite = performance.now()
      res.writeHead(200, {'content-type': 'application/json'})
      res.end(
        JSON.stringify(
          chat
            ? {id, object: 'chat.completion', created, model: body.model, choices: [{index: 0, message: {role: 'assistant', content: text}, finish_reason: 'length'}], ...(cfg.usage ? {usage} : {})}
            : {id, object: 'text_completion', created, model: body.model, choices: [{index: 0, text, finish_reason: 'length'}], ...(cfg.usage ? {usage} : {})},
        ),
      )
      return
    }

    res.writeHead(200, {'content-type': 'text/event-stream', 'cache-control': 'no-cache'})
    const send = (obj) => res.write(`data: ${JSON.stringify(obj)}\n\n`)
    if (chat) send({id, object: 'chat.completion.chunk', created, model: body.model, choices: [{index: 0, delta: {role: 'assistant', content: ''}, finish_reason: null}]})
    await sleep(cfg.ttftMs)
    const per = Math.max(1, cfg.tokensPerChunk)
    let k = 0
    let chunks = 0
    while (k < n) {
      if (chunks > 0) await sleep(cfg.itlMs)
      if (res.destroyed) return
      if (outcome === 'malformed' && chunks === 1) {
        res.write('data: {"id": "broken", "choices": [{"delta": {"content": \n\n')
        res.end()
        return
      }
      if (outcome === 'truncated' && chunks === 1) {
        res.destroy()
        return
      }
      const m = Math.min(per, n - k)
      send(chunk(Array.from({length: m}, (_, j) => word(k + j)).join('')))
      const now = performance.now()
      rec.firstWrite ??= now
      rec.lastWrite = now
      k += m
      chunks++
    }
    send(chunk('', 'length'))
    if (cfg.usage && body.stream_options?.include_usage) send({id, object: chat ? 'chat.completion.chunk' : 'text_completion', created, model: body.model, choices: [], usage})
    res.write('data: [DONE]\n\n')
    res.end()
  })
  server.keepAliveTimeout = 30_000
  let connectionCount = 0
  server.on('connection', (s) => {
    connectionCount++
    s.setNoDelay(true)
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address()
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    config: cfg,
    requests,
    /** Number of TCP connections opened so far (keep-alive check). */
    get connections() {
      return connectionCount
    },
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}

/**
 * The same server in a child process of its own (test/support/openai-serve.mjs), so a benchmark
 * measures the client and not the server's timers competing for the client's event loop. Options
 * must be plain JSON (no `plan` function). `requests()` fetches the server-side records with their
 * times converted to this process's performance.now() clock (via performance.timeOrigin, both
 * processes on the same host clock: comparable to within a fraction of a millisecond).
 */
export async function spawnOpenAIServer(opts = {}) {
  if (typeof opts.plan === 'function') throw new Error('spawnOpenAIServer: plan functions cannot cross processes')
  const child = fork(fileURLToPath(new URL('./openai-serve.mjs', import.meta.url)), [JSON.stringify(opts)], {stdio: ['ignore', 'inherit', 'inherit', 'ipc']})
  const pending = []
  let ready
  const readyP = new Promise((resolve, reject) => {
    ready = resolve
    child.once('error', reject)
    child.once('exit', (code) => reject(new Error(`openai-serve exited ${code} before listening`)))
  })
  child.on('message', (m) => {
    if (m.type === 'ready') ready(m)
    else if (m.type === 'requests') pending.shift()?.(m)
  })
  const info = await readyP
  const shift = info.timeOrigin - performance.timeOrigin
  return {
    port: info.port,
    url: info.url,
    pid: child.pid,
    config: info.config,
    async requests() {
      const m = await new Promise((resolve) => {
        pending.push(resolve)
        child.send({type: 'requests'})
      })
      const conv = (t) => (t === undefined ? undefined : t + shift)
      return m.requests.map((r) => ({...r, recv: conv(r.recv), firstWrite: conv(r.firstWrite), lastWrite: conv(r.lastWrite)}))
    },
    close: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve()
        child.once('exit', () => resolve())
        child.send({type: 'close'})
      }),
  }
}

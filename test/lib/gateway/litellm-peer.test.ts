// The loopback LiteLLM proxy answers as LiteLLM documents it (routes, bodies, ProxyException error
// shape), so the gateway code is tested against LiteLLM's contract and not against our stand-in's whims.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {startLiteLLM, type LiteLLMServer} from '../../support/litellm-server.mjs'
import {startOpenAIServer, type OpenAIServer} from '../../support/openai-server.mjs'

let lite: LiteLLMServer
let openai: OpenAIServer

beforeAll(async () => {
  openai = await startOpenAIServer({models: ['m1', 'm2'], ttftMs: 1, itlMs: 1, tokens: 2})
  lite = await startLiteLLM({syncIntervalMs: 60_000, resolveApiBase: () => `${openai.url}/v1`})
})
afterAll(async () => {
  await lite.close()
  await openai.close()
})

const call = (i: number, method: string, path: string, key: string | null, body?: unknown, header = 'authorization') =>
  fetch(lite.replicas[i]!.url + path, {method, headers: {...(key ? {[header]: `Bearer ${key}`} : {}), ...(body ? {'content-type': 'application/json'} : {})}, body: body ? JSON.stringify(body) : undefined})

describe('loopback LiteLLM', () => {
  it('errors have ProxyException shape: no key, invalid key, a virtual key on an admin route', async () => {
    const none = await call(0, 'GET', '/model/info', null)
    expect(none.status).toBe(401)
    expect(((await none.json()) as any).error).toMatchObject({type: 'auth_error', code: '401', param: 'None'})
    const bad = await call(0, 'GET', '/model/info', 'sk-nope')
    expect(((await bad.json()) as any).error.message).toMatch(/^Authentication Error, Invalid proxy server token passed/)
    const k = (await (await call(0, 'POST', '/key/generate', lite.masterKey, {models: ['m1']})).json()) as any
    expect(k.key).toMatch(/^sk-/)
    expect(k.token).toMatch(/^[0-9a-f]{64}$/) // sha256 of the key, as LiteLLM stores it
    const admin = await call(0, 'GET', '/key/list', k.key)
    expect(admin.status).toBe(401)
  })

  it('the key in x-litellm-api-key (Bearer or bare) works like Authorization', async () => {
    expect((await call(0, 'GET', '/model/info', lite.masterKey, undefined, 'x-litellm-api-key')).status).toBe(200)
    const bare = await fetch(lite.replicas[0]!.url + '/model/info', {headers: {'x-litellm-api-key': lite.masterKey}})
    expect(bare.status).toBe(200)
  })

  it('replicas share the database but answer /model/info from their own router until they sync', async () => {
    const add = await call(0, 'POST', '/model/new', lite.masterKey, {model_name: 'm1', litellm_params: {model: 'hosted_vllm/m1', api_base: 'http://m1.ns.svc:8000/v1'}, model_info: {id: 'x1'}})
    expect(add.status).toBe(200)
    const on = async (i: number) => ((await (await call(i, 'GET', '/v1/model/info', lite.masterKey)).json()) as any).data.map((d: any) => d.model_info.id)
    expect(await on(0)).toEqual(['x1'])
    expect(await on(1)).toEqual([])
    lite.replicas[1]!.syncNow()
    expect(await on(1)).toEqual(['x1'])
    const dup = await call(1, 'POST', '/model/new', lite.masterKey, {model_name: 'm1', litellm_params: {model: 'hosted_vllm/m1'}, model_info: {id: 'x1'}})
    expect(dup.status).toBe(400)
    const del = await call(1, 'POST', '/model/delete', lite.masterKey, {id: 'x1'})
    expect(del.status).toBe(200)
    const again = await call(1, 'POST', '/model/delete', lite.masterKey, {id: 'x1'})
    expect(((await again.json()) as any).error.message).toBe('Model with id=x1 not found in db')
    expect(await on(0)).toEqual(['x1']) // replica 0 has not synced: still serves the deleted model
    lite.replicas[0]!.syncNow()
    expect(await on(0)).toEqual([])
  })

  it('OpenAI routes: forwarded to api_base with the provider prefix stripped; key and team allow-lists', async () => {
    await call(0, 'POST', '/model/new', lite.masterKey, {model_name: 'm1', litellm_params: {model: 'hosted_vllm/m1', api_base: 'http://m1.ns.svc:8000/v1'}, model_info: {id: 'y1'}})
    await call(0, 'POST', '/model/new', lite.masterKey, {model_name: 'm2', litellm_params: {model: 'openai/m2', api_base: 'http://m2.ns.svc:8000/v1'}, model_info: {id: 'y2'}})
    await call(0, 'POST', '/team/new', lite.masterKey, {team_id: 't1', models: ['m1']})
    const teamKey = ((await (await call(0, 'POST', '/key/generate', lite.masterKey, {team_id: 't1'})).json()) as any).key
    const chat = (key: string, model: string) => call(0, 'POST', '/v1/chat/completions', key, {model, messages: [{role: 'user', content: 'x'}]})
    expect((await chat(teamKey, 'm1')).status).toBe(200)
    expect(openai.requests.at(-1)!.body.model).toBe('m1')
    const denied = await chat(teamKey, 'm2')
    expect(denied.status).toBe(401)
    expect(((await denied.json()) as any).error.type).toBe('team_model_access_denied')
    const models = ((await (await call(0, 'GET', '/v1/models', teamKey)).json()) as any).data.map((m: any) => m.id)
    expect(models).toEqual(['m1'])
    const unknown = await chat(lite.masterKey, 'nope')
    expect(unknown.status).toBe(400)
    expect(((await unknown.json()) as any).error.message).toContain('Invalid model name passed in model=nope')
  })
})

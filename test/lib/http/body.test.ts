import {describe, expect, it} from 'vitest'

import {errorMessageOf} from '../../../src/lib/http/body.js'
import {refuseUrlCredentials, withoutCredentials} from '../../../src/lib/http/url.js'

describe('errorMessageOf', () => {
  it.each([
    ['Prometheus', {status: 'error', errorType: 'bad_data', error: 'parse error at char 3'}, 'parse error at char 3'],
    ['Prometheus behind a proxy (object)', {status: 'error', error: {message: 'storage is read-only'}}, 'storage is read-only'],
    ['Hub', {error: 'Repository Not Found'}, 'Repository Not Found'],
    ['OpenAI / LiteLLM', {error: {message: 'Invalid API key', type: 'auth_error'}}, 'Invalid API key'],
    ['FastAPI', {detail: [{msg: 'field required'}, {msg: 'too long'}]}, 'field required; too long'],
    ['Kubernetes Status', {kind: 'Status', message: 'pods is forbidden', reason: 'Forbidden'}, 'pods is forbidden'],
    ['an unknown object', {code: 7}, '{"code":7}'],
  ])('%s', (_what, body, want) => {
    expect(errorMessageOf(JSON.stringify(body))).toBe(want)
    expect(errorMessageOf(body)).toBe(want)
  })

  it('plain text gives its first line; long messages are clipped', () => {
    expect(errorMessageOf('upstream connect error\nreset reason: overflow')).toBe('upstream connect error')
    expect(errorMessageOf('x'.repeat(1000))).toHaveLength(300)
    expect(errorMessageOf('{not json')).toBe('{not json')
    expect(errorMessageOf('')).toBe('')
  })
})

describe('URL credentials', () => {
  it('are refused without echoing them', () => {
    expect(() => refuseUrlCredentials(new URL('http://u:secret@h:9/'), '--url')).toThrow(/--url carries a user name or password in the URL \(before @h:9\)/)
    try {
      refuseUrlCredentials(new URL('http://u:secret@h:9/'), '--url')
    } catch (error) {
      expect(JSON.stringify(error)).not.toContain('secret')
      expect((error as Error).message).not.toContain('secret')
    }
    expect(() => refuseUrlCredentials(new URL('http://h:9/'), '--url')).not.toThrow()
    expect(withoutCredentials('http://u:secret@h:9/x')).toBe('http://h:9/x')
    expect(withoutCredentials('not a url //u:secret@h')).toBe('not a url //h')
  })
})

import {UsageError} from '../errors.js'

/**
 * Endpoint URLs (Prometheus, the Hub, S3, a model server, the gateway) never carry credentials:
 * `http://user:pass@host` would end up in config files, `aip config view`, error messages and
 * rendered manifests (HF_ENDPOINT goes into the preload Job), and fetch refuses such URLs anyway
 * (https://fetch.spec.whatwg.org/#dom-request: "Request cannot be constructed from a URL that
 * includes credentials"). Tokens and keys come from environment variables or Secrets instead.
 * The message names the host only: the URL itself is never echoed.
 */
export function refuseUrlCredentials(url: URL, what: string): void {
  if (url.username === '' && url.password === '') return
  throw new UsageError(`${what} carries a user name or password in the URL (before @${url.host}); aip does not accept credentials in endpoint URLs`, {
    fix: `remove the user:password@ part; pass tokens and keys through environment variables or Secrets (HF_TOKEN, AWS credentials, AIP_API_KEY)`,
  })
}

/** The URL with any credentials removed, for messages. */
export function withoutCredentials(url: string): string {
  try {
    const u = new URL(url)
    if (!u.username && !u.password) return url
    u.username = ''
    u.password = ''
    return u.toString()
  } catch {
    return url.replace(/\/\/[^/@\s]*@/, '//')
  }
}

/**
 * Hub answers -> typed errors with a Fix: RevisionNotFound/EntryNotFound/RepoNotFound (404, exit 4),
 * gated or private (401/403, exit 6), rate limits (429), refused ranges (416), the rest (exit 1).
 * The Hub's own code comes in the `X-Error-Code` header.
 */
import {AipError, NotFoundError, UnauthorizedError} from '../errors.js'
import {errorMessageOf} from '../http/body.js'
import type {Ctx, ErrorSource} from './types.js'

/** The error for a non-2xx answer of the Hub at `hub.endpoint` (`hub.token`: whether a token was sent). */
export async function hubErrorFor(res: ErrorSource, ctx: Ctx, hub: {endpoint: string; token?: string; retries: number}): Promise<AipError> {
  let message = ''
  try {
    // {"error": "..."} from the Hub, {"error": {"message": ...}} from proxies and mirrors
    message = errorMessageOf(await res.text())
  } catch {
    // ignore
  }
  if (message.startsWith('<')) {
    // an S3-style XML error from the file storage (CDN): <Code> and <Message>
    const tag = (name: string) => new RegExp(`<${name}>([^<]*)</${name}>`).exec(message)?.[1]
    message = [tag('Code'), tag('Message')].filter(Boolean).join(': ')
  }
  const code = res.headers.get('x-error-code') ?? ''
  const rev = ctx.revision ?? 'main'
  const where = `${ctx.repo}${ctx.path ? `/${ctx.path}` : ''}@${rev}`
  const repoUrl = `${hub.endpoint}/${ctx.repo}`
  const details = {status: res.status, hubErrorCode: code || undefined, repo: ctx.repo, revision: rev, ...(ctx.path ? {path: ctx.path} : {})}
  if (code === 'RevisionNotFound') {
    return new NotFoundError(`revision "${rev}" not found in ${ctx.repo}`, {fix: `check the branch, tag or commit sha at ${repoUrl}/tree/main`, details: {...details, kind: 'revision'}})
  }
  if (code === 'EntryNotFound') {
    return new NotFoundError(`${ctx.path ?? 'file'} not found in ${ctx.repo} at revision ${rev}`, {fix: `list the files at ${repoUrl}/tree/${rev}`, details: {...details, kind: 'entry'}})
  }
  if (code === 'RepoNotFound' || (res.status === 404 && !ctx.path)) {
    return new NotFoundError(`repository ${ctx.repo} not found on ${hub.endpoint}`, {
      fix: hub.token ? `check the repo id (ORG/NAME)` : `check the repo id (ORG/NAME); if it is private, set HF_TOKEN to a token with access to ${ctx.repo}`,
      details: {...details, kind: 'repo'},
    })
  }
  if (res.status === 404) {
    return new NotFoundError(`${where} not found`, {fix: `check the path and revision at ${repoUrl}`, details: {...details, kind: ctx.path ? 'entry' : 'repo'}})
  }
  if (ctx.storage && (res.status === 401 || res.status === 403)) {
    // The Hub accepted the request and redirected to its file storage, which refused the signed link.
    return new AipError('FAILED', `the Hub's file storage at ${ctx.storage} refused ${where} (${res.status}${message ? `: ${message}` : ''})`, {
      fix: `retry (the signed download link may have expired); if it keeps failing, check that a proxy or firewall lets ${ctx.storage} through and that the clock is right`,
      details: {...details, storage: ctx.storage},
    })
  }
  if (res.status === 401) {
    return new UnauthorizedError(
      hub.token ? `the Hub rejected HF_TOKEN for ${ctx.repo} (401${code ? ` ${code}` : ''})` : `${ctx.repo} is gated or private: the Hub answered 401${code ? ` ${code}` : ''}`,
      {fix: `set HF_TOKEN to a token with access to ${ctx.repo}${code === 'GatedRepo' ? ` (request access at ${repoUrl})` : ''}`, details},
    )
  }
  if (res.status === 403) {
    return new UnauthorizedError(`HF_TOKEN has no access to ${ctx.repo} (403${code ? ` ${code}` : ''})`, {
      fix: `request access at ${repoUrl}, then set HF_TOKEN to a token with access to ${ctx.repo}`,
      details,
    })
  }
  if (res.status === 429) {
    return new AipError('FAILED', `the Hub kept rate-limiting requests for ${where} (429 after ${hub.retries} attempts)`, {fix: 'wait a few minutes and retry; set HF_TOKEN for higher rate limits', details})
  }
  if (res.status === 416) {
    return new AipError('FAILED', `the Hub refused the byte range for ${where} (416)`, {fix: 'the file changed or is shorter than listed; retry', details})
  }
  return new AipError('FAILED', `the Hub answered ${res.status} for ${where}${message ? `: ${message}` : ''}`, {fix: 'retry later; check HF_ENDPOINT', details})
}

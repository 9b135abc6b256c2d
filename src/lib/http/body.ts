/**
 * The message inside an HTTP error body. Peers answer errors in several JSON shapes:
 * Prometheus `{"status":"error","errorType":"bad_data","error":"..."}`
 * (https://prometheus.io/docs/prometheus/latest/querying/api/#format-overview), the Hugging Face
 * Hub `{"error":"..."}`, OpenAI-compatible servers and LiteLLM `{"error":{"message":"..."}}`,
 * FastAPI `{"detail":"..."}` or `{"detail":[{"msg":"..."}]}`, Kubernetes `Status`
 * `{"kind":"Status","message":"..."}`, and proxies with an object where a string was expected.
 * Returns one line (at most 300 characters); plain text bodies give their first line.
 */
export function errorMessageOf(body: unknown): string {
  let value: unknown = body
  if (typeof body === 'string') {
    const text = body.trim()
    if (text.startsWith('{') || text.startsWith('[')) {
      try {
        value = JSON.parse(text)
      } catch {
        value = text
      }
    }
  }
  if (typeof value === 'string') return clip(value.trim().split('\n')[0] ?? '')
  const found = messageIn(value, 0)
  if (found) return clip(found)
  try {
    return clip(JSON.stringify(value) ?? '')
  } catch {
    return ''
  }
}

function messageIn(v: unknown, depth: number): string | undefined {
  if (depth > 4 || v === null || v === undefined) return undefined
  if (typeof v === 'string') return v.trim() || undefined
  if (typeof v === 'number' || typeof v === 'boolean') return String(v)
  if (Array.isArray(v)) {
    const parts = v.map((x) => messageIn(x, depth + 1)).filter((x): x is string => Boolean(x))
    return parts.length ? parts.join('; ') : undefined
  }
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>
    for (const k of ['message', 'error', 'msg', 'detail', 'error_description', 'errors', 'reason']) {
      const m = messageIn(o[k], depth + 1)
      if (m) return m
    }
    if (depth > 0) {
      try {
        return JSON.stringify(v)
      } catch {
        return undefined
      }
    }
  }
  return undefined
}

function clip(s: string): string {
  const line = s.replace(/\s+/g, ' ').trim()
  return line.length > 300 ? `${line.slice(0, 297)}...` : line
}

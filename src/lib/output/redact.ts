/**
 * Secrets are never printed, logged or written into manifests. Everything the output layer writes
 * passes through redact(): known token shapes are masked, and values of the secret environment
 * variables in use are masked wherever they appear.
 */
const PATTERNS: RegExp[] = [
  /\bhf_[A-Za-z0-9]{8,}\b/g, // Hugging Face tokens
  /\b(?:AKIA|ASIA)[A-Z0-9]{16}\b/g, // AWS access key ids
  /(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}/gi, // Authorization headers
  /(aws_secret_access_key\s*[=:]\s*)\S+/gi,
  /(x-amz-security-token[=:]\s*)[^&\s]+/gi,
  /(X-Amz-Signature=)[0-9a-f]+/gi,
]

const SECRET_ENV = ['HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_ACCESS_KEY_ID', 'AIP_API_KEY', 'OPENAI_API_KEY', 'AIP_GATEWAY_MASTER_KEY']

export function redact(text: string, env: NodeJS.ProcessEnv = process.env): string {
  let out = text
  for (const name of SECRET_ENV) {
    const v = env[name]
    if (v && v.length >= 6) out = out.split(v).join('***')
  }
  for (const re of PATTERNS) {
    out = out.replace(re, (_m, keep?: string) => (typeof keep === 'string' && keep ? `${keep}***` : '***'))
  }
  return out
}

// API errors as kube-apiserver writes them: the Status body (apimachinery/pkg/api/errors), and the
// field errors of validation (apimachinery/pkg/util/validation/field/errors.go) with their message
// form, aggregated into a 422 Invalid by errors.NewInvalid.

export class ApiError extends Error {
  constructor(code, reason, message, details) {
    super(message)
    this.code = code
    this.reason = reason
    this.details = details
  }
  toStatus() {
    return {kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: this.message, reason: this.reason, ...(this.details ? {details: this.details} : {}), code: this.code}
  }
}

// field.ErrorType: the text that starts an error body, and the StatusCause reason (CauseType).
const TYPES = {
  Required: ['Required value', 'FieldValueRequired'],
  Invalid: ['Invalid value', 'FieldValueInvalid'],
  TypeInvalid: ['Invalid value', 'FieldValueTypeInvalid'],
  NotSupported: ['Unsupported value', 'FieldValueNotSupported'],
  Duplicate: ['Duplicate value', 'FieldValueDuplicate'],
  Forbidden: ['Forbidden', 'FieldValueForbidden'],
  TooLong: ['Too long', 'FieldValueTooLong'],
  TooMany: ['Too many', 'FieldValueTooMany'],
  NotFound: ['Not found', 'FieldValueNotFound'],
}

/**
 * A bad value as a field error prints it (field.Error.ErrorBody): numbers and booleans plain,
 * strings quoted, anything else as JSON (the form of kube-apiserver 1.33+, e.g.
 * `spec.selector: Invalid value: {"matchLabels":{"app":"x"}}: field is immutable`; older servers
 * printed Go's %#v there).
 */
export function goValue(v) {
  if (v === undefined || v === null) return 'null'
  if (typeof v === 'number' || typeof v === 'boolean') return String(v)
  return JSON.stringify(v)
}

/**
 * A field error (field.Error). `value` is printed as Go does (ErrorBody): Required, Forbidden,
 * TooLong and TooMany print no value; strings are quoted; `detail` follows after ": ".
 */
export function fieldError(type, field, value, detail) {
  const [text, reason] = TYPES[type]
  let body = text
  if (!['Required', 'Forbidden', 'TooLong', 'TooMany'].includes(type) && value !== OMIT) body += `: ${goValue(value)}`
  if (detail) body += `: ${detail}`
  return {type, reason, field, body}
}
export const OMIT = Symbol('omit value')

export const required = (field, detail = '') => fieldError('Required', field, OMIT, detail)
export const invalid = (field, value, detail) => fieldError('Invalid', field, value, detail)
export const notSupported = (field, value, allowed) => fieldError('NotSupported', field, value, allowed?.length ? `supported values: ${allowed.map((a) => JSON.stringify(a)).join(', ')}` : '')
export const duplicate = (field, value) => fieldError('Duplicate', field, value, '')
export const forbidden = (field, detail) => fieldError('Forbidden', field, OMIT, detail)
export const tooLong = (field, max) => fieldError('TooLong', field, OMIT, `must have at most ${max} bytes`)
export const notFound = (field, value) => fieldError('NotFound', field, value)

/** `deployments.apps` -> the GroupKind string errors name: `Deployment.apps`, core kinds bare. */
export const groupKind = (r) => (r.group ? `${r.kind}.${r.group}` : r.kind)

/**
 * errors.NewInvalid: 422 Invalid, message `Kind.group "name" is invalid: <aggregate>` where one
 * error prints alone and several print as `[e1, e2]` (utilerrors.NewAggregate), and one
 * StatusCause per field error {reason, message: ErrorBody, field}.
 */
export function invalidError(r, name, errs) {
  const text = errs.map((e) => `${e.field}: ${e.body}`)
  const agg = text.length === 1 ? text[0] : `[${text.join(', ')}]`
  return new ApiError(422, 'Invalid', `${groupKind(r)} ${JSON.stringify(name ?? '')} is invalid: ${agg}`, {
    name: name ?? '',
    group: r.group,
    kind: r.kind,
    causes: errs.map((e) => ({reason: e.reason, message: e.body, field: e.field})),
  })
}

/**
 * A path (['spec', 'ports', 0, 'port'], map keys as {key}) as field.Path prints it:
 * spec.ports[0].port, metadata.labels[app.kubernetes.io/name]
 */
export function fieldPath(parts) {
  let s = ''
  for (const p of parts) {
    if (typeof p === 'number') s += `[${p}]`
    else if (p && typeof p === 'object') s += `[${p.key}]`
    else if (/^[A-Za-z_][\w$]*$/.test(p)) s += s ? `.${p}` : p
    else s += `[${p}]`
  }
  return s
}

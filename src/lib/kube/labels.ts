/**
 * Labels and the field manager every object aip creates carries. No imports here: commands that
 * only need the constants (and `--help`) must not load the Kubernetes client.
 */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by'
export const MANAGED_BY_VALUE = 'aip'
export const NAME_LABEL = 'app.kubernetes.io/name'
export const MODEL_LABEL = 'aip.dev/model'
export const COMPONENT_LABEL = 'app.kubernetes.io/component'
export const PART_OF_LABEL = 'app.kubernetes.io/part-of'
/** Field manager for server-side apply (`kubectl apply --server-side --field-manager aip`). */
export const FIELD_MANAGER = 'aip'

/** The labels of an object that belongs to a model: managed-by, name and model. */
export function modelLabels(model: string, extra: Record<string, string> = {}): Record<string, string> {
  return {[MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [NAME_LABEL]: model, [MODEL_LABEL]: model, ...extra}
}

/** Selector for everything aip manages, or everything of one model. */
export function aipSelector(model?: string): string {
  // undefined selects every aip object; "" selects the label's empty value (nothing), never all
  return formatSelector(model !== undefined ? {[MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [MODEL_LABEL]: model} : {[MANAGED_BY_LABEL]: MANAGED_BY_VALUE})
}

/** `{a: 'b', c: 'd'}` -> `a=b,c=d` (equality-based label selector). */
export function formatSelector(labels: Record<string, string> | string): string {
  if (typeof labels === 'string') return labels
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',')
}

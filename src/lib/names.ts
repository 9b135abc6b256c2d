/**
 * Kubernetes object names that must be DNS-1123 labels (namespaces among them): lower-case letters,
 * digits and "-", starting and ending alphanumeric, at most 63 characters
 * (k8s.io/apimachinery/pkg/util/validation IsDNS1123Label).
 */
export const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/

export function isDns1123Label(s: string): boolean {
  return DNS1123_LABEL.test(s)
}

/** DNS-1123 subdomains (most object names: Secrets, StorageClasses, GatewayClasses): dot-separated labels, at most 253 characters (IsDNS1123Subdomain). */
export function isDns1123Subdomain(s: string): boolean {
  return s.length <= 253 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(s)
}

/**
 * Model names (catalog entry names, `model deploy --name`, the NAME of every `aip model` command):
 * lower-case letters, digits, "-" and ".", starting with a letter and ending alphanumeric
 * (e.g. llama-3.1-8b-instruct), at most 40 characters: they prefix object names (the Deployment,
 * Service, preload Job) and fill the aip.dev/model label.
 */
export const MODEL_NAME = /^[a-z]([-a-z0-9.]*[a-z0-9])?$/
export const MODEL_NAME_MAX = 40

/** Why `name` cannot be a model name, or undefined when it can. */
export function modelNameProblem(name: string): string | undefined {
  if (name === '') return 'is empty'
  if (name.length > MODEL_NAME_MAX) return `is ${name.length} characters long; model names are at most ${MODEL_NAME_MAX} (they prefix object names)`
  if (!MODEL_NAME.test(name)) return 'is not a model name: lower-case letters, digits, "-" and ".", starting with a letter and ending with a letter or digit'
  return undefined
}

/**
 * A Service as NAMESPACE/NAME:PORT (config prometheus-service): the namespace optional, the port a
 * number or a port name. Groups: 1 namespace, 3 name, 5 port.
 */
export const SERVICE_REF = /^(?:([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/)?([a-z0-9]([-a-z0-9]*[a-z0-9])?)(?::([A-Za-z0-9-]+))?$/

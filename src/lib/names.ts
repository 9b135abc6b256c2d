/**
 * Kubernetes object names that must be DNS-1123 labels (namespaces among them): lower-case letters,
 * digits and "-", starting and ending alphanumeric, at most 63 characters
 * (k8s.io/apimachinery/pkg/util/validation IsDNS1123Label).
 */
export const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/

export function isDns1123Label(s: string): boolean {
  return DNS1123_LABEL.test(s)
}

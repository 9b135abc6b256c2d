/**
 * Options for every YAML aip prints or writes. The yaml library turns an object that appears twice
 * in a tree (one labels map shared by metadata and a selector) into an anchor and aliases
 * (`&a1` / `*a1`) by default; kubectl and helm print plain YAML, and many readers (kustomize
 * patches, grep, people) do not expect aliases, so each occurrence is written out in full.
 * A constant rather than a wrapper, so modules that print YAML keep importing `yaml` lazily.
 */
export const YAML_OUTPUT = {lineWidth: 0, aliasDuplicateObjects: false} as const

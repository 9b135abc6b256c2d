/** Types of the scheduler's pure helpers (scheduler.mjs). */
/** A resource.Quantity in base units (cores, bytes, devices); NaN when malformed. */
export function quantity(q: string | number | undefined | null): number
/** The pod's effective requests as kube-scheduler computes them (containers, sidecars, init containers, overhead). */
export function podRequests(pod: {spec?: any}): Record<string, number>
export function tolerates(tol: {key?: string; operator?: string; value?: string; effect?: string}, taint: {key: string; value?: string; effect: string}): boolean
/** NodeAffinity filter: nodeSelector and required node affinity. */
export function nodeAffinityMatches(pod: {spec?: any}, node: {metadata: {name: string; labels?: Record<string, string>}}): boolean
export class Scheduler {}

/**
 * The rerun rule every command that installs something shares (`aip cluster bootstrap`'s GPU pool
 * and tenants, `aip gateway install`): a flag that is given sets its field; an omitted one keeps
 * what the cluster already holds; only where nothing is there yet does the default apply.
 * Infrastructure CLIs read an omitted flag on an update the same way (eksctl, `helm upgrade
 * --reuse-values`; `kubectl apply` manages only the fields it is given).
 */

/**
 * kept (flag omitted, the cluster's value stays), changed (flag given, differs: previous -> value),
 * unchanged (flag given, same value), default (flag omitted, nothing there yet), set (flag given,
 * nothing there yet).
 */
export type SettingAction = 'kept' | 'changed' | 'unchanged' | 'default' | 'set'

/** `given`/`live` undefined = omitted / not there; any other value (null too) is a value. */
export function decide<T>(given: T | undefined, live: T | undefined, fallback: T, same: (a: T, b: T) => boolean = (a, b) => a === b): {value: T; previous?: T; action: SettingAction} {
  if (given === undefined) return live === undefined ? {value: fallback, action: 'default'} : {value: live, previous: live, action: 'kept'}
  if (live === undefined) return {value: given, action: 'set'}
  return {value: given, previous: live, action: same(given, live) ? 'unchanged' : 'changed'}
}

/** The human name of an action, as the settings tables print it. */
export const SETTING_ACTION_TEXT: Record<SettingAction, string> = {kept: 'kept (flag omitted)', changed: 'changed', unchanged: 'unchanged', default: 'default', set: 'set'}

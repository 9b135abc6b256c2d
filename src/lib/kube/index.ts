/**
 * The Kubernetes layer of aip. This module imports nothing heavy: @kubernetes/client-node, yaml and
 * p-retry are loaded inside the functions that need them.
 */
export * from './labels.js'
export * from './types.js'
export {createKubeClient, crdExists, getObject, hasApiResource, KubeApiError} from './client.js'
export type {KubeClient, KubeClientOptions, RequestInfo, RequestOptions, RetryOptions, WatchStream} from './client.js'
export {applyObjects, diffObjects, normalizeForDiff, unifiedDiff} from './apply.js'
export type {ApplyOptions, ApplyResult, DiffResult, ObjectDiff} from './apply.js'
export {deleteObjects, listByLabels, patchObject, readPodLogs} from './objects.js'
export type {DeleteOptions, DeleteResult, ListOptions, PatchType, PropagationPolicy} from './objects.js'
export {fixFor, rolloutStatus, waitForDeleted, waitForJob, waitForRollout, watchObjectUntil} from './wait.js'
export type {DeleteProgress, JobProgress, JobResult, RolloutProgress, RolloutResult, RolloutWaitOptions, WaitOptions} from './wait.js'
export {diagnoseWorkload} from './diagnose.js'
export type {DiagnoseOptions, Diagnosis, KubeEventInfo, StallReason} from './diagnose.js'

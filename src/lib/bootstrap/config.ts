import {delimiter} from 'node:path'

import type {AipConfig} from '../config/index.js'

/**
 * The kubeconfig file from configuration, or undefined to let the kube client resolve it.
 * Config "kubeconfig" may come from $KUBECONFIG, which is a path list: the client handles lists.
 */
export function kubeconfigFile(cfg: AipConfig): string | undefined {
  const kc = cfg.string('kubeconfig')
  return kc && !kc.includes(delimiter) ? kc : undefined
}

/** $AIP_EKS_ENDPOINT: an EKS endpoint other than AWS's (tests, VPC interface endpoints). */
export function eksEndpoint(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.AIP_EKS_ENDPOINT || undefined
}

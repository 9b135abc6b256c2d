/**
 * A cheap answer to "has this user configured AWS credentials at all?", without loading the SDK or
 * running its provider chain. The SDK's default chain (@aws-sdk/credential-provider-node: env, SSO /
 * shared ini files, credential_process, web identity, container credentials, then EC2 instance
 * metadata) ends by asking the instance metadata service at 169.254.169.254, which off EC2 costs a
 * connect timeout per attempt (1 s each, unless AWS_EC2_METADATA_DISABLED=true). `aip cost` asks AWS
 * for prices by default only when one of the earlier sources is configured (and then with instance
 * metadata disabled: a ~/.aws/config holding only a region must not cost a timeout), so a laptop or
 * CI runner without AWS stays offline and fast; `--prices aws` runs the full chain (instance metadata
 * included, unless AWS_EC2_METADATA_DISABLED is set).
 */
import {existsSync} from 'node:fs'
import {homedir} from 'node:os'
import {join} from 'node:path'

export interface CredentialHint {
  configured: boolean
  /** Which source (never its value), or what was looked for. */
  via: string
}

export function awsCredentialHint(env: NodeJS.ProcessEnv = process.env, profile?: string, home = env.HOME || homedir()): CredentialHint {
  if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) return {configured: true, via: 'AWS_ACCESS_KEY_ID in the environment'}
  if (profile) return {configured: true, via: `profile ${profile}`}
  if (env.AWS_PROFILE) return {configured: true, via: `profile ${env.AWS_PROFILE}`}
  if (env.AWS_WEB_IDENTITY_TOKEN_FILE && env.AWS_ROLE_ARN) return {configured: true, via: 'web identity (IRSA)'}
  if (env.AWS_CONTAINER_CREDENTIALS_FULL_URI || env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI) return {configured: true, via: 'container credentials (EKS Pod Identity / ECS)'}
  const files = [env.AWS_SHARED_CREDENTIALS_FILE || join(home, '.aws', 'credentials'), env.AWS_CONFIG_FILE || join(home, '.aws', 'config')]
  const found = files.find((f) => existsSync(f))
  if (found) return {configured: true, via: `shared config ${found}`}
  return {configured: false, via: 'no AWS_ACCESS_KEY_ID, AWS_PROFILE, web identity, container credentials or ~/.aws/{credentials,config}'}
}

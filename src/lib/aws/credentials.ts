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
import {existsSync, readFileSync} from 'node:fs'
import {homedir} from 'node:os'
import {join} from 'node:path'

import {UsageError} from '../errors.js'

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

/**
 * A named profile (--profile, AWS_PROFILE) that neither shared file defines: the SDK only says
 * "Could not load credentials from any providers", which does not name the typo. Profiles are
 * `[profile NAME]` (or `[default]`) sections of ~/.aws/config and `[NAME]` sections of
 * ~/.aws/credentials (AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE move them), as the AWS CLI and
 * SDKs read them (https://docs.aws.amazon.com/sdkref/latest/guide/file-format.html).
 */
export function checkAwsProfile(profile: string | undefined, env: NodeJS.ProcessEnv = process.env, home = env.HOME || homedir()): void {
  if (!profile) return
  // credentials from the environment, web identity (IRSA) or the container serve whatever the profile says
  if ((env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) || env.AWS_WEB_IDENTITY_TOKEN_FILE || env.AWS_CONTAINER_CREDENTIALS_FULL_URI || env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI) return
  const config = env.AWS_CONFIG_FILE || join(home, '.aws', 'config')
  const credentials = env.AWS_SHARED_CREDENTIALS_FILE || join(home, '.aws', 'credentials')
  const sections = (file: string, prefixed: boolean): string[] => {
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch {
      return []
    }
    const out: string[] = []
    for (const m of text.matchAll(/^\s*\[\s*([^\]]+?)\s*\]\s*$/gm)) {
      const name = m[1]!
      if (!prefixed) out.push(name)
      else if (name === 'default') out.push(name)
      else if (/^profile\s+/.test(name)) out.push(name.replace(/^profile\s+/, ''))
    }
    return out
  }
  const known = [...new Set([...sections(config, true), ...sections(credentials, false)])]
  if (known.includes(profile)) return
  throw new UsageError(`AWS profile "${profile}" is not defined in ${config} or ${credentials}`, {
    fix: known.length ? `use one of: ${known.join(', ')} (--profile or AWS_PROFILE), or create it with \`aws configure --profile ${profile}\`` : `create it with \`aws configure --profile ${profile}\` (or \`aws configure sso\`), or unset AWS_PROFILE / drop --profile`,
  })
}

import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'

import {AipCommand} from '../../base-command.js'
import {kubeFlags} from '../../flags.js'
import {AipError, UsageError} from '../../lib/errors.js'
import type {SetSecretResult} from '../../lib/secrets/index.js'

export default class SecretSet extends AipCommand {
  static override summary = 'Store a secret the model workloads reference (hf-token: Secret aip-hf-token)'
  static override description = `hf-token: the Hugging Face token the preload Job of a gated model (Llama, Gemma...) uses; written as Secret aip-hf-token (key "token") in the model namespace (-n for a tenant namespace).
The value comes from $HF_TOKEN, else --stdin, else a hidden prompt on a terminal; it is never echoed, printed or logged. Rerunning replaces it.`
  static override enableJsonFlag = true
  static override args = {
    name: Args.string({description: 'which secret', options: ['hf-token'], required: true}),
  }
  static override flags = {
    ...kubeFlags,
    stdin: Flags.boolean({description: 'read the value from standard input (first line)', default: false}),
  }
  static override examples = [
    'HF_TOKEN=hf_... <%= config.bin %> secret set hf-token',
    '<%= config.bin %> secret set hf-token -n team-a',
    'pass show hf | <%= config.bin %> secret set hf-token --stdin',
  ]

  async run(): Promise<SetSecretResult> {
    const {args, flags} = await this.parse(SecretSet)
    const cfg = this.config_(flags)
    const name = args.name as 'hf-token'
    const {KNOWN_SECRETS, setSecret} = await import('../../lib/secrets/index.js')
    const def = KNOWN_SECRETS[name]
    const value = await this.readValue(def.env, def.what, flags.stdin)
    const {kubeClientFromConfig} = await import('../../lib/deploy/index.js')
    const client = await kubeClientFromConfig(cfg)
    const namespace = cfg.string('namespace') ?? 'aip-models'
    const r = await setSecret({client, name, namespace, value, signal: this.signal})
    this.print(`Secret ${r.namespace}/${r.secret} (key ${r.key}) ${r.action}`)
    return r
  }

  private async readValue(env: string, what: string, stdin: boolean): Promise<string> {
    const fromEnv = process.env[env]
    if (fromEnv && !stdin) return fromEnv
    if (stdin) {
      const chunks: Buffer[] = []
      for await (const c of process.stdin) chunks.push(c as Buffer)
      return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? ''
    }
    if (!this.interactive || !process.stdin.isTTY) {
      throw new UsageError(`no ${what} given (no $${env} and no terminal to ask on)`, {fix: `export ${env}=hf_... and rerun, or pipe it with --stdin`})
    }
    const {password} = await import('@inquirer/prompts')
    return password({message: `${what} (input hidden):`}, {signal: this.signal}).catch((error: unknown) => {
      if ((error as Error).name === 'AbortPromptError' || (error as Error).name === 'ExitPromptError') throw new AipError('INTERRUPTED', 'cancelled; nothing written', {fix: 'rerun when ready'})
      throw error
    })
  }
}

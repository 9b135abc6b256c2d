/** A fake `aws` CLI printing an ExecCredential (exec-credential.mjs). */
export function writeFakeAws(o?: {token?: string; expiration?: string; exitCode?: number; stderr?: string}): {dir: string; token: string; calls: () => string[]; cleanup: () => void}

/**
 * vitest setupFiles: each test file works in its own temporary directory (TMPDIR, read by
 * os.tmpdir() in the tests and the peers they start, and passed to the CLI by isolatedEnv), removed
 * with everything in it after the file's last hook (hooks run in stack order, this one last). Before
 * this, every run left ~180 aip-* folders in /tmp (HOME folders, kubeconfigs, peer data).
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll} from 'vitest'

const before = process.env.TMPDIR
const dir = mkdtempSync(join(tmpdir(), 'aip-test-file-'))
process.env.TMPDIR = dir

afterAll(() => {
  if (before === undefined) delete process.env.TMPDIR
  else process.env.TMPDIR = before
  rmSync(dir, {recursive: true, force: true, maxRetries: 3})
})

/**
 * vitest globalSetup: the whole run gets one private temporary directory (TMPDIR, which os.tmpdir()
 * reads, inherited by the test workers and every process they start), and test/support/tmp-setup.ts
 * gives each test file its own directory inside it, removed when the file ends. At the end of the
 * run the private directory must be empty: a leftover is something written outside a test file's
 * life (a peer or a CLI still running after its test), reported as a failure. Other users' runs on
 * the same machine write elsewhere, so the check sees only this run.
 */
import {mkdtempSync, readdirSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

export default function setup(): () => void {
  const before = process.env.TMPDIR
  const dir = mkdtempSync(join(tmpdir(), 'aip-test-run-'))
  process.env.TMPDIR = dir
  process.env.AIP_TEST_TMP_RUN = dir
  // one module compile cache for every CLI the tests start (isolatedEnv): warm after the first
  process.env.AIP_TEST_COMPILE_CACHE = join(dir, 'compile-cache')
  return () => {
    if (before === undefined) delete process.env.TMPDIR
    else process.env.TMPDIR = before
    let left: string[] = []
    try {
      left = readdirSync(dir).filter((f) => f !== 'compile-cache')
    } finally {
      rmSync(dir, {recursive: true, force: true, maxRetries: 3})
    }
    if (left.length > 0) throw new Error(`tests left temporary files behind (now removed): ${left.map((f) => join(dir, f)).join(', ')}`)
  }
}

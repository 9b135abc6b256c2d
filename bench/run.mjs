// `npm run bench [-- NAME...]`: runs bench/<NAME>.mjs (all of them by default), one after another.
import {spawnSync} from 'node:child_process'
import {readdirSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

const dir = dirname(fileURLToPath(import.meta.url))
const all = readdirSync(dir).filter((f) => f.endsWith('.mjs') && f !== 'run.mjs').map((f) => f.replace(/\.mjs$/, '')).sort()
const wanted = process.argv.slice(2).length > 0 ? process.argv.slice(2) : all
let failed = 0
for (const name of wanted) {
  if (!all.includes(name)) {
    console.error(`no benchmark "${name}"; have: ${all.join(', ')}`)
    process.exitCode = 2
    continue
  }
  console.log(`\n== ${name}`)
  const r = spawnSync(process.execPath, [join(dir, `${name}.mjs`)], {stdio: 'inherit'})
  if (r.status !== 0) failed++
}
if (failed) process.exitCode = 1

// Launches a real Prometheus (Debian's /usr/bin/prometheus, or $PROMETHEUS_BIN) on a free loopback
// port with a temporary config and data directory, scraping the given targets every second.
// It stops itself: close() terminates it and removes the data directory, and a small shell
// watchdog kills it when the parent (the test worker) dies without calling close().
//
// Plain JS (typed by prometheus.d.mts) so bench/metrics.mjs can use it too.
import {spawn, spawnSync} from 'node:child_process'
import {accessSync, constants, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'

export function prometheusBinary() {
  const candidates = [process.env.PROMETHEUS_BIN, '/usr/bin/prometheus', '/usr/local/bin/prometheus'].filter(Boolean)
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK)
      return c
    } catch {
      // next
    }
  }
  return undefined
}

/**
 * Why Prometheus tests must be skipped, or undefined when the binary is there. In CI (CI=true,
 * where .ci/run installs it) they are never skipped: a missing binary fails them instead.
 */
export function prometheusMissingReason() {
  if (prometheusBinary()) return undefined
  if (process.env.CI === 'true' || process.env.AIP_REQUIRE_PROMETHEUS === '1') {
    throw new Error('prometheus binary not found, and CI requires the metrics tests: apt-get install prometheus (or set PROMETHEUS_BIN)')
  }
  return 'prometheus binary not found (apt-get install prometheus, or set PROMETHEUS_BIN)'
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.on('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const {port} = s.address()
      s.close(() => resolve(port))
    })
  })
}

const WATCHDOG = `p=$1; shift
"$@" & c=$!
trap 'kill $c 2>/dev/null; wait $c; exit 0' TERM INT
while kill -0 $p 2>/dev/null && kill -0 $c 2>/dev/null; do sleep 1 & wait $!; done
kill $c 2>/dev/null; wait $c`

/**
 * @param {{targets: string[], scrapeInterval?: string, startupTimeoutMs?: number, backfill?: string, retention?: string}} opts
 * backfill: OpenMetrics text (ending in "# EOF") written into the TSDB with
 * `promtool tsdb create-blocks-from openmetrics` before Prometheus starts (series with known values
 * at known times); give a retention that covers its oldest sample.
 */
export async function startPrometheus(opts) {
  const bin = prometheusBinary()
  if (!bin) throw new Error(prometheusMissingReason())
  const dir = mkdtempSync(join(tmpdir(), 'aip-prom-'))
  if (opts.backfill !== undefined) {
    const file = join(dir, 'backfill.om')
    writeFileSync(file, opts.backfill)
    const promtool = join(dirname(bin), 'promtool')
    const r = spawnSync(promtool, ['tsdb', 'create-blocks-from', 'openmetrics', file, join(dir, 'data')], {encoding: 'utf8'})
    if (r.status !== 0) {
      rmSync(dir, {recursive: true, force: true})
      throw new Error(`promtool backfill failed: ${(r.stderr || r.stdout || String(r.error)).trim().split('\n').slice(-3).join(' | ')}`)
    }
  }
  const interval = opts.scrapeInterval ?? '1s'
  const config = [
    'global:',
    `  scrape_interval: ${interval}`,
    `  evaluation_interval: ${interval}`,
    'scrape_configs:',
    '  - job_name: vllm',
    `    scrape_interval: ${interval}`,
    `    scrape_timeout: ${interval}`,
    '    static_configs:',
    `      - targets: [${opts.targets.map((t) => JSON.stringify(t)).join(', ')}]`,
    '',
  ].join('\n')
  writeFileSync(join(dir, 'prometheus.yml'), config)

  let lastErr = ''
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort()
    const args = [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      `--storage.tsdb.retention.time=${opts.retention ?? '1h'}`,
      '--log.level=warn',
      // Debian's console templates paths; irrelevant for the API.
      `--web.console.templates=${dir}`,
      `--web.console.libraries=${dir}`,
    ]
    const child = spawn('sh', ['-c', WATCHDOG, 'sh', String(process.pid), bin, ...args], {stdio: ['ignore', 'ignore', 'pipe']})
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr = (stderr + d).slice(-4000)))
    let exited = false
    child.on('exit', () => (exited = true))
    const url = `http://127.0.0.1:${port}`
    const deadline = Date.now() + (opts.startupTimeoutMs ?? 30_000)
    let ready = false
    while (!exited && Date.now() < deadline) {
      try {
        const r = await fetch(`${url}/-/ready`)
        if (r.ok) {
          ready = true
          break
        }
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100))
    }
    if (!ready) {
      child.kill('SIGTERM')
      lastErr = stderr
      continue
    }
    const stop = () => {
      try {
        child.kill('SIGTERM')
      } catch {
        // gone
      }
    }
    process.once('exit', stop)
    return {
      url,
      port,
      dir,
      /** Instant query straight to the API (for test oracles). */
      async query(expr) {
        const r = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`)
        const j = await r.json()
        if (j.status !== 'success') throw new Error(`${j.errorType}: ${j.error}`)
        return j.data.result.map((x) => ({labels: x.metric, value: Number(x.value[1])}))
      },
      /** Waits until every scrape target reports up == 1. */
      async waitForTargetsUp(timeoutMs = 30_000) {
        const end = Date.now() + timeoutMs
        while (Date.now() < end) {
          const up = await this.query('up').catch(() => [])
          if (up.length === opts.targets.length && up.every((s) => s.value === 1)) return
          await new Promise((r) => setTimeout(r, 200))
        }
        throw new Error('scrape targets not up')
      },
      async close() {
        process.off('exit', stop)
        if (!exited) {
          await new Promise((resolve) => {
            child.once('exit', resolve)
            stop()
            setTimeout(resolve, 10_000).unref()
          })
        }
        rmSync(dir, {recursive: true, force: true})
      },
    }
  }
  rmSync(dir, {recursive: true, force: true})
  throw new Error(`prometheus did not become ready: ${lastErr.trim().split('\n').slice(-3).join(' | ')}`)
}

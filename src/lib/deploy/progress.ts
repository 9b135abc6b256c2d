/**
 * Progress of a deploy/delete: steps that start, update and end. Two renderers: plain lines (no
 * TTY, CI; one line per state change) and listr2 (TTY; imported lazily).
 */
export interface StepHandle {
  update(message: string): void
  succeed(message?: string): void
  fail(message?: string): void
  skip(message?: string): void
}

export interface Progress {
  step(title: string): StepHandle
  /** Wait until every renderer finished drawing (listr2). */
  close(): Promise<void>
}

export const silentProgress: Progress = {
  step: () => ({update() {}, succeed() {}, fail() {}, skip() {}}),
  close: async () => {},
}

/** One line per change, to a writer (stderr in commands). */
export function lineProgress(write: (line: string) => void): Progress {
  return {
    step(title) {
      write(`${title} ...`)
      let last = ''
      return {
        update(message) {
          if (message !== last) write(`  ${message}`)
          last = message
        },
        succeed: (message) => write(`✔ ${message ?? title}`),
        fail: (message) => write(`✖ ${message ?? title}`),
        skip: (message) => write(`↓ ${message ?? title} (skipped)`),
      }
    },
    close: async () => {},
  }
}

interface Deferred {
  promise: Promise<void>
  resolve: () => void
  reject: (e: Error) => void
}

function deferred(): Deferred {
  let resolve!: () => void
  let reject!: (e: Error) => void
  const promise = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  return {promise, resolve, reject}
}

/** listr2 on a TTY: each step is a task whose spinner runs until the step ends. */
export async function listrProgress(stream: NodeJS.WriteStream = process.stderr): Promise<Progress> {
  const {Listr} = await import('listr2')
  const runs: Array<Promise<unknown>> = []
  let chain: Promise<unknown> = Promise.resolve()
  return {
    step(title) {
      const d = deferred()
      d.promise.catch(() => undefined) // a step may fail before listr2 reaches it
      let setOutput: ((m: string) => void) | undefined
      let setTitle: ((t: string) => void) | undefined
      let skipped: string | undefined
      let pendingOutput: string | undefined
      const list = new Listr(
        [
          {
            title,
            task: async (_ctx, task) => {
              setOutput = (m) => (task.output = m)
              setTitle = (t) => (task.title = t)
              if (pendingOutput) task.output = pendingOutput
              await d.promise
              if (skipped !== undefined) task.skip(skipped)
            },
          },
        ],
        {exitOnError: false, rendererOptions: {collapseErrors: false}, registerSignalListeners: false, renderer: 'default', fallbackRenderer: 'simple', rendererFallback: () => !stream.isTTY} as never,
      )
      // Steps render one after another (listr2 renders one list at a time).
      chain = chain.then(() => list.run().catch(() => undefined))
      runs.push(chain)
      return {
        update(message) {
          if (setOutput) setOutput(message)
          else pendingOutput = message
        },
        succeed(message) {
          if (message) setTitle?.(message)
          d.resolve()
        },
        fail(message) {
          d.reject(new Error(message ?? title))
        },
        skip(message) {
          skipped = message ?? title
          d.resolve()
        },
      }
    },
    async close() {
      await Promise.allSettled(runs)
    },
  }
}

/**
 * S3 request bodies: part bodies are Readables over the socket's own chunks, each
 * SDK attempt gets a fresh body, and part payloads go unsigned (integrity rests on the sha256).
 */
import {createHash} from 'node:crypto'
import {Readable} from 'node:stream'

/** A Readable over a list of Buffers (a part body sent without concatenating it). */
export function listBody(chunks: Buffer[]): Readable {
  let i = 0
  return new Readable({
    read() {
      while (i < chunks.length) if (!this.push(chunks[i++])) return
      this.push(null)
    },
  })
}

/**
 * Gives every SDK attempt of a command a fresh body from `make`. The SDK does not retry a request
 * whose body is a stream (it cannot rewind it; it only prints "An error was encountered in a
 * non-retryable streaming request." with console.warn): this middleware sits inside the SDK's retry
 * loop (right after the retry middleware), takes the spent stream off the request
 * after each attempt, and hands the next attempt a new one, so transient S3 errors (500, 503
 * SlowDown, resets) get the SDK's usual retries with backoff.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function freshBodyPerAttempt<C extends {middlewareStack: any}>(cmd: C, make: () => Readable): C {
  let attempts = 0
  cmd.middlewareStack.addRelativeTo(
    (next: (a: {request: {body?: unknown}}) => Promise<unknown>) => async (args: {request: {body?: unknown}}) => {
      if (attempts++ > 0) args.request.body = make()
      try {
        return await next(args)
      } finally {
        // spent (or abandoned by a failed attempt): release it, and its Hub connection with it
        const spent = args.request.body
        args.request.body = undefined
        if (spent instanceof Readable) spent.destroy()
      }
    },
    // right after the retry middleware, on the request object it checks (signing works on a copy)
    {relation: 'after', toMiddleware: 'retryMiddleware', name: 'aipFreshBody'},
  )
  return cmd
}

/**
 * UploadPart without SigV4 payload signing (`x-amz-content-sha256: UNSIGNED-PAYLOAD`, what the AWS
 * CLI sends over HTTPS): the SDK otherwise hashes every part body with sha256 once more on the main
 * thread just to sign it, a third pass over every byte (about 7% of the CLI's CPU in bench/preload).
 * Content integrity does not rest on it: the whole file's sha256 is verified against the Hub's LFS
 * oid before CompleteMultipartUpload, and the transport (TLS on real S3) protects the bytes in flight.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function unsignedPayload<C extends {middlewareStack: any}>(cmd: C): C {
  cmd.middlewareStack.add(
    (next: (a: {request: {headers: Record<string, string>}}) => Promise<unknown>) => async (args: {request: {headers: Record<string, string>}}) => {
      args.request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD'
      return next(args)
    },
    {step: 'build', name: 'aipUnsignedPayload'},
  )
  return cmd
}

export function md5(chunks: Buffer[]): string {
  const h = createHash('md5')
  for (const c of chunks) h.update(c)
  return h.digest('hex')
}

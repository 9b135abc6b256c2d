import {HeadBucketCommand} from '@aws-sdk/client-s3'
import {createServer} from 'node:net'
import type {AddressInfo} from 'node:net'
import {afterEach, describe, expect, it} from 'vitest'

import {createS3Client, toS3Error} from '../../../src/lib/aws/s3.js'
import {setHttpTimeout} from '../../../src/lib/http/timeouts.js'

afterEach(() => setHttpTimeout(undefined))

describe('S3 under the HTTP timeout policy', () => {
  it('an endpoint that accepts and never answers: exit 5 "timed out after" within the bound, not 5 minutes', async () => {
    // a TCP peer that accepts and stays silent
    const sockets: import('node:net').Socket[] = []
    const server = createServer((s) => void sockets.push(s))
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    setHttpTimeout(500)
    try {
      const s3 = await createS3Client({endpoint, maxAttempts: 1, credentials: {accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'x'}})
      const t0 = Date.now()
      const err = await s3.send(new HeadBucketCommand({Bucket: 'weights'})).catch((e: unknown) => e)
      // only tells the policy's 500 ms timer from the SDK's own minutes-long wait (the message says
      // which timer fired): generous, so a loaded machine's slow start does not trip it
      expect(Date.now() - t0).toBeLessThan(30_000)
      const e = toS3Error(err, {bucket: 'weights', endpoint})
      expect(e.exitCode).toBe(5)
      expect(e.message).toBe(`S3 at ${endpoint} did not answer: timed out after 500ms (bucket weights)`)
      s3.destroy()
    } finally {
      for (const s of sockets) s.destroy()
      await new Promise((r) => server.close(r))
    }
  })
})

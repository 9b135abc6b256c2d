// Child-process entry for spawnOpenAIServer (openai-server.mjs): runs the loopback OpenAI server
// with the JSON options in argv[2], reports {type: 'ready', url, port, timeOrigin, config} over IPC,
// answers {type: 'requests'} with the server-side records, and exits on {type: 'close'} or when the
// parent goes away.
import {performance} from 'node:perf_hooks'

import {startOpenAIServer} from './openai-server.mjs'

const opts = JSON.parse(process.argv[2] ?? '{}')
const server = await startOpenAIServer(opts)
process.on('message', async (m) => {
  if (m?.type === 'requests') process.send({type: 'requests', requests: server.requests})
  else if (m?.type === 'close') {
    await server.close()
    process.disconnect()
    process.exit(0)
  }
})
process.on('disconnect', () => process.exit(0))
process.send({type: 'ready', url: server.url, port: server.port, timeOrigin: performance.timeOrigin, config: server.config})

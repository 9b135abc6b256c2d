// One loopback peer in its own process for bench/preload.mjs: the Hub and S3 are other machines in
// real use, so each gets its own event loop here too (in one process they would share a thread,
// and a copy that overlaps download and upload could not show it). Started with fork(); answers
// one IPC message and serves until the parent disconnects.
//   {peer: 'hub', repos: [{id, totalBytes, seed} | {id, shards: {count, size}, seed}], bytesPerSecondPerConnection?}
//                                                  -> {url, repos: {id: [{path, size}]}}
//   {peer: 's3', buckets: [...]}                   -> {endpoint}
import {HubServer} from '../../test/support/hub-server.mjs'
import {S3rverHandle} from '../../test/support/s3rver.mjs'
import {repoFiles, shardFiles} from './repo.mjs'

process.once('message', async (m) => {
  if (m.peer === 'hub') {
    const hub = await HubServer.start({bytesPerSecondPerConnection: m.bytesPerSecondPerConnection ?? 0})
    const repos = {}
    for (const r of m.repos) {
      const a = hub.addRepo(r.id, {files: r.shards ? shardFiles(r.shards.count, r.shards.size, r.seed) : repoFiles(r.totalBytes, r.seed)})
      // seed / data: what a local client needs to produce the same bytes without the network
      repos[r.id] = [...a.files.values()].map((f) => ({path: f.path, size: f.size, ...(f.buffer ? {data: f.buffer.toString('base64')} : {seed: f.seed})}))
    }
    process.send({url: hub.url, repos})
    process.once('disconnect', () => hub.stop().then(() => process.exit(0)))
  } else {
    const s3 = await S3rverHandle.start({buckets: m.buckets, ...(m.directory ? {directory: m.directory} : {})})
    process.send({endpoint: s3.endpoint})
    process.once('disconnect', () => s3.stop().then(() => process.exit(0)))
  }
})

// The generated repo of bench/preload.mjs: a config, a tokenizer, 40 small shards (10% of the bytes)
// and 4 large ones (the rest), with seeded content.
export function repoFiles(totalBytes, seed) {
  const files = {'config.json': JSON.stringify({model_type: 'llama', hidden_size: 4096}), 'tokenizer.json': JSON.stringify({v: 1, pad: 'x'.repeat(200_000)})}
  const small = Math.floor(totalBytes * 0.1)
  const nSmall = 40
  for (let i = 0; i < nSmall; i++) files[`extra/shard-${String(i).padStart(3, '0')}.safetensors`] = {size: Math.floor(small / nSmall), seed: seed + 100 + i}
  const nLarge = 4
  for (let i = 0; i < nLarge; i++) files[`model-0000${i + 1}-of-0000${nLarge}.safetensors`] = {size: Math.floor((totalBytes - small) / nLarge), seed: seed + i}
  return files
}

/** A config and `count` shards of `size` bytes each (the throttled scenario: only large files). */
export function shardFiles(count, size, seed) {
  const files = {'config.json': JSON.stringify({model_type: 'llama', hidden_size: 4096})}
  for (let i = 0; i < count; i++) files[`model-${String(i + 1).padStart(5, '0')}-of-${String(count).padStart(5, '0')}.safetensors`] = {size, seed: seed + i}
  return files
}

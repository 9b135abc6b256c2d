/** Bytes per element of the dtypes that appear in config.json and safetensors headers. */
const DTYPE_BYTES: Record<string, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, F8_E4M3: 1, F8_E5M2: 1, F8_E8M0: 1, F4: 0.5,
  I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, U16: 2, U32: 4, U64: 8, BOOL: 1,
}

const ALIASES: Record<string, string> = {
  float32: 'F32', float: 'F32', fp32: 'F32',
  float16: 'F16', half: 'F16', fp16: 'F16',
  bfloat16: 'BF16', bf16: 'BF16',
  float8_e4m3fn: 'F8_E4M3', float8_e4m3: 'F8_E4M3', fp8: 'F8_E4M3', fp8_e4m3: 'F8_E4M3',
  float8_e5m2: 'F8_E5M2', fp8_e5m2: 'F8_E5M2',
  int8: 'I8', uint8: 'U8', int32: 'I32', int64: 'I64',
}

/** Canonical safetensors dtype name ("BF16") for a config or safetensors dtype string. */
export function canonicalDtype(d: string): string | undefined {
  const up = d.toUpperCase()
  if (up in DTYPE_BYTES) return up
  return ALIASES[d.toLowerCase().replace(/^torch\./, '')]
}

export function dtypeBytes(d: string): number | undefined {
  const c = canonicalDtype(d)
  return c ? DTYPE_BYTES[c] : undefined
}

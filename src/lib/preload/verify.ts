/**
 * Verification of a file's bytes against the Hub's listing: size, sha256 against the LFS oid, and
 * for small non-LFS files the git blob sha1 (sha1 of "blob <size>\0" + bytes, the Hub's blobId).
 * Runs before CompleteMultipartUpload / before the last byte of a PutObject is sent.
 */
import {AipError} from '../errors.js'
import type {Planned} from './types.js'

export class ChecksumMismatchError extends AipError {
  constructor(message: string, details: Record<string, unknown>) {
    super('FAILED', message, {fix: 'retry the preload; if it persists, the Hub (or the mirror in HF_ENDPOINT) serves corrupt data', details})
    this.name = 'ChecksumMismatchError'
  }
}

/** Throws ChecksumMismatchError when what was read is not the file the Hub listed (`where`: repo/path@commit). */
export function verifyFile(p: Planned, got: {sha256: string; size: number; blob?: string}, where: string): void {
  const {sha256, size, blob} = got
  if (size !== p.sib.size) throw new ChecksumMismatchError(`size mismatch for ${where}: expected ${p.sib.size} bytes, got ${size}`, {path: p.sib.rfilename, expectedSize: p.sib.size, size})
  if (p.sib.lfs && p.sib.lfs.sha256 !== sha256) {
    throw new ChecksumMismatchError(`checksum mismatch for ${where}: expected sha256 ${p.sib.lfs.sha256}, got ${sha256}`, {path: p.sib.rfilename, expected: p.sib.lfs.sha256, actual: sha256})
  }
  if (!p.sib.lfs && p.sib.blobId && blob && p.sib.blobId !== blob) {
    throw new ChecksumMismatchError(`checksum mismatch for ${where}: expected git blob ${p.sib.blobId}, got ${blob}`, {path: p.sib.rfilename, expected: p.sib.blobId, actual: blob})
  }
}

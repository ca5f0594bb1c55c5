/**
 * Hashes the swarm agrees on: sha256 hex of bytes, of editable content, of a
 * project's fixed harness, and of a message (its id).
 */
import { createHash } from 'node:crypto'
import { compareCodeUnits, encode, encodeUnsigned } from './canonical.ts'
import { MAX_PROJECT_FILES, PROTOCOL_VERSION } from './constants.ts'
import { describe, fail } from './errors.ts'
import { checkHash, checkRecord, checkRelativePath, isPlainObject } from './schema.ts'

/** sha256 of bytes (or of a string's UTF-8), as 64 lowercase hex characters. */
export function sha256Hex (data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex')
}

/**
 * Hash of editable content `{ path: text }`: sha256 of its canonical encoding,
 * so insertion order never matters. Paths must be safe relative paths.
 */
export function contentHash (files: Record<string, string>): string {
  if (!isPlainObject(files)) fail('bad-field', 'files', `must be an object of path -> text, got ${describe(files)}`)
  for (const [path, text] of Object.entries(files)) {
    checkRelativePath(path, `files[${JSON.stringify(path)}]`)
    if (typeof text !== 'string') fail('bad-field', `files[${JSON.stringify(path)}]`, `must be a string, got ${describe(text)}`)
  }
  return sha256Hex(encode(files))
}

export interface ProjectFile { path: string, sha256: string }

/**
 * Project id: sha256 of the canonical `{ v, manifest, files }` with files sorted
 * by path. Two nodes get the same id exactly when they run the same harness
 * (same normalised swarm.json, same bytes in every non-editable file).
 */
export function projectId (input: { manifest: Record<string, unknown>, files: readonly ProjectFile[] }): string {
  const { manifest, files } = input
  if (!isPlainObject(manifest)) fail('bad-field', 'manifest', `must be a JSON object, got ${describe(manifest)}`)
  if (!Array.isArray(files)) fail('bad-field', 'files', `must be an array, got ${describe(files)}`)
  if (files.length > MAX_PROJECT_FILES) fail('bad-field', 'files', `at most ${MAX_PROJECT_FILES} files, got ${files.length}`)
  const seen = new Set<string>()
  const normalised = files.map((entry, i) => {
    const field = `files[${i}]`
    const obj = checkRecord(entry, field, ['path', 'sha256'])
    const path = checkRelativePath(obj.path, `${field}.path`)
    const sha256 = checkHash(obj.sha256, `${field}.sha256`)
    if (seen.has(path)) fail('bad-path', `${field}.path`, `duplicate path ${JSON.stringify(path)}`)
    seen.add(path)
    return { path, sha256 }
  })
  normalised.sort((a, b) => compareCodeUnits(a.path, b.path))
  return sha256Hex(encode({ v: PROTOCOL_VERSION, manifest, files: normalised }))
}

/**
 * Message id: sha256 of the canonical encoding without `sig`. The signature is
 * left out so one message has one id however it was signed; use it for dedup,
 * for attestations (`attestation.result`) and as the final ranking tie-break.
 */
export function messageId (message: { readonly kind: string, readonly sig?: string }): string {
  return sha256Hex(encodeUnsigned(message))
}

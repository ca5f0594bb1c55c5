/**
 * The best-baseline record held in the DHT: its schema and the rules that tie
 * its parts together (keep result of this project and track, content that
 * hashes to the result's child, attestations of exactly that result by other
 * peers). Sync and signature-free; dht-record.ts adds keys and signatures.
 */
import { assertCanonical, encode, parseJson } from './canonical.ts'
import { MAX_ATTESTATIONS, MAX_BEST_RECORD_BYTES, MAX_CONTENT_FILES, MAX_RESULT_BYTES } from './constants.ts'
import { describe, fail } from './errors.ts'
import { contentHash, messageId } from './hash.ts'
import { checkAttestation, checkHeader, checkResult } from './messages.ts'
import {
  checkArray, checkHash, checkPeerId, checkRecord, checkRelativePath, checkSignature, checkTime, checkTrack, isPlainObject
} from './schema.ts'
import type { BestRecord, Content } from './types.ts'

const BEST_KEYS = ['v', 'kind', 'author', 'sig', 'project', 'track', 'result', 'content', 'attestations', 'time']

/** Schema and internal consistency of a best record held as a JS value. */
export function checkBestRecord (value: unknown, field = 'best'): BestRecord {
  checkHeader(value, field, 'best')
  const m = checkRecord(value, field, BEST_KEYS)
  const project = checkHash(m.project, `${field}.project`)
  const track = checkTrack(m.track, `${field}.track`)
  const result = checkResult(m.result, `${field}.result`)
  const resultBytes = encode(result).byteLength
  if (resultBytes > MAX_RESULT_BYTES) fail('too-large', `${field}.result`, `encodes to ${resultBytes} bytes, over ${MAX_RESULT_BYTES}`)
  const content = checkContent(m.content, `${field}.content`)
  const attestations = checkArray(m.attestations, `${field}.attestations`, MAX_ATTESTATIONS)
    .map((a, i) => checkAttestation(a, `${field}.attestations[${i}]`))
  checkTime(m.time, `${field}.time`)
  checkPeerId(m.author, `${field}.author`)
  checkSignature(m.sig, `${field}.sig`)

  if (result.status !== 'keep') fail('bad-record', `${field}.result.status`, `must be keep, got ${describe(result.status)}`)
  if (result.project !== project) fail('bad-record', `${field}.result.project`, `must equal the record's project ${project}`)
  if (result.track !== track) fail('bad-record', `${field}.result.track`, `must equal the record's track ${track}`)
  const hash = contentHash(content.files)
  if (hash !== result.child) fail('bad-record', `${field}.content`, `hashes to ${hash}, not the result's child ${result.child}`)

  const resultId = messageId(result)
  const attesters = new Set<string>()
  attestations.forEach((a, i) => {
    const at = `${field}.attestations[${i}]`
    if (a.result !== resultId) fail('bad-record', `${at}.result`, `must be the result's id ${resultId}, got ${a.result}`)
    if (a.child !== result.child) fail('bad-record', `${at}.child`, `must equal the result's child ${result.child}`)
    if (a.project !== project) fail('bad-record', `${at}.project`, `must equal the record's project ${project}`)
    if (a.track !== track) fail('bad-record', `${at}.track`, `must equal the record's track ${track}`)
    // Attesting your own result proves nothing; counting it would let one key vouch for itself.
    if (a.author === result.author) fail('bad-record', `${at}.author`, 'is the result\'s own author: self-attestation')
    if (attesters.has(a.author)) fail('bad-record', `${at}.author`, `attests twice: one attestation per attester`)
    attesters.add(a.author)
  })
  return m as unknown as BestRecord
}

function checkContent (value: unknown, field: string): Content {
  const content = checkRecord(value, field, ['files'])
  const files = content.files
  if (!isPlainObject(files)) fail('bad-field', `${field}.files`, `must be an object of path -> text, got ${describe(files)}`)
  const paths = Object.keys(files)
  if (paths.length === 0 || paths.length > MAX_CONTENT_FILES) {
    fail('bad-field', `${field}.files`, `must hold 1 to ${MAX_CONTENT_FILES} files, got ${paths.length}`)
  }
  for (const path of paths) {
    const at = `${field}.files[${JSON.stringify(path)}]`
    checkRelativePath(path, at)
    if (typeof files[path] !== 'string') fail('bad-field', at, `must be a string, got ${describe(files[path])}`)
  }
  return content as unknown as Content
}

/** Bytes -> best record without signatures: size cap, UTF-8, JSON, schema, consistency, canonical form. */
export function parseBestRecord (bytes: Uint8Array): BestRecord {
  const value = parseJson(bytes, MAX_BEST_RECORD_BYTES, 'best')
  const record = checkBestRecord(value)
  assertCanonical(record, bytes, 'best')
  return record
}

/** Best record -> canonical bytes, refusing anything the validator would refuse (bar signatures). */
export function encodeBestRecord (record: BestRecord): Uint8Array {
  const bytes = encode(checkBestRecord(record))
  if (bytes.byteLength > MAX_BEST_RECORD_BYTES) {
    fail('too-large', 'best', `encodes to ${bytes.byteLength} bytes, over the limit of ${MAX_BEST_RECORD_BYTES}`)
  }
  return bytes
}

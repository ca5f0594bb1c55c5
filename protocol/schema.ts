/**
 * Field checkers: each takes an unknown value and the dotted field name used in
 * errors, and returns the value typed or throws a ProtocolError that says which
 * field and what was wrong. Message schemas are built from these.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { utf8Length } from './canonical.ts'
import {
  HASH_PATTERN, MAX_BPB, MAX_CORES, MAX_CPU_CHARS, MAX_GPU_CHARS, MAX_GPU_MEM_GB, MAX_METRICS,
  MAX_PATH_CHARS, MAX_PEER_ID_CHARS, MAX_RAM_GB, MAX_TIME_MS, METRIC_KEY_PATTERN, MIN_TIME_MS, TRACK_PATTERN
} from './constants.ts'
import { describe, fail } from './errors.ts'
import type { Hardware } from './types.ts'

export type Obj = Record<string, unknown>

/**
 * A plain object with exactly `keys`, plus any of `optional`: an extra key is
 * `unknown-field`, a missing one (not optional) `bad-field`.
 */
export function checkRecord (value: unknown, field: string, keys: readonly string[], optional: readonly string[] = []): Obj {
  if (!isPlainObject(value)) fail('bad-field', field, `must be an object, got ${describe(value)}`)
  for (const key of Object.keys(value)) {
    if (!keys.includes(key) && !optional.includes(key)) fail('unknown-field', `${field}.${key}`, 'is not a known field')
  }
  for (const key of keys) {
    if (!Object.hasOwn(value, key)) fail('bad-field', `${field}.${key}`, 'is missing')
  }
  return value as Obj
}

export function checkHash (value: unknown, field: string): string {
  if (typeof value !== 'string' || !HASH_PATTERN.test(value)) {
    fail('bad-hash', field, `must be 64 lowercase hex characters, got ${describe(value)}`)
  }
  return value
}

export function checkTrack (value: unknown, field: string): string {
  if (typeof value !== 'string' || !TRACK_PATTERN.test(value)) {
    fail('bad-field', field, `must match ${TRACK_PATTERN.source}, got ${describe(value)}`)
  }
  return value
}

// C0/C1 controls, line/paragraph separators and bidi overrides: a single-line
// string shown in a terminal or dashboard must not be able to rewrite the screen.
const NOT_SINGLE_LINE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/

/** A string of at most `maxChars` code points; single-line unless told otherwise. */
export function checkText (value: unknown, field: string, maxChars: number, singleLine = true): string {
  if (typeof value !== 'string') fail('bad-field', field, `must be a string, got ${describe(value)}`)
  const chars = codePointCount(value)
  if (chars > maxChars) fail('bad-field', field, `must be at most ${maxChars} characters, got ${chars}`)
  if (singleLine && NOT_SINGLE_LINE.test(value)) fail('bad-field', field, 'must be a single line without control characters')
  return value
}

/** A (possibly multi-line) string of at most `maxBytes` UTF-8 bytes. */
export function checkBytesText (value: unknown, field: string, maxBytes: number): string {
  if (typeof value !== 'string') fail('bad-field', field, `must be a string, got ${describe(value)}`)
  const bytes = utf8Length(value)
  if (bytes > maxBytes) fail('bad-field', field, `must be at most ${maxBytes} UTF-8 bytes, got ${bytes}`)
  return value
}

export function checkBoolean (value: unknown, field: string): boolean {
  if (typeof value !== 'boolean') fail('bad-field', field, `must be a boolean, got ${describe(value)}`)
  return value
}

export function checkOneOf<T extends string> (value: unknown, field: string, options: readonly T[]): T {
  if (typeof value !== 'string' || !(options as readonly string[]).includes(value)) {
    fail('bad-field', field, `must be one of ${options.join(', ')}, got ${describe(value)}`)
  }
  return value as T
}

/** A finite number in [min, max]. */
export function checkNumber (value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    fail('bad-field', field, `must be a finite number in [${min}, ${max}], got ${describe(value)}`)
  }
  return value
}

/** A safe integer in [min, max]. */
export function checkInteger (value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    fail('bad-field', field, `must be an integer in [${min}, ${max}], got ${describe(value)}`)
  }
  return value
}

/** Integer ms since the epoch, after 2020-01-01 and before 2200-01-01. */
export function checkTime (value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= MIN_TIME_MS || value >= MAX_TIME_MS) {
    fail('bad-field', field, `must be integer ms since the epoch between 2020 and 2200, got ${describe(value)}`)
  }
  return value
}

/** Bits per byte: a finite number in (0, MAX_BPB], or null where `nullable`. */
export function checkBpb (value: unknown, field: string, nullable: true): number | null
export function checkBpb (value: unknown, field: string, nullable: false): number
export function checkBpb (value: unknown, field: string, nullable: boolean): number | null {
  if (value === null && nullable) return null
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > MAX_BPB) {
    fail('bad-metric', field, `must be a finite number in (0, ${MAX_BPB}]${nullable ? ' or null' : ''}, got ${describe(value)}`)
  }
  return value
}

export function checkArray (value: unknown, field: string, maxItems: number): unknown[] {
  if (!Array.isArray(value)) fail('bad-field', field, `must be an array, got ${describe(value)}`)
  if (value.length > maxItems) fail('bad-field', field, `must hold at most ${maxItems} items, got ${value.length}`)
  return value
}

/** Metric name -> finite number, at most MAX_METRICS entries. */
export function checkMetrics (value: unknown, field: string): Record<string, number> {
  if (!isPlainObject(value)) fail('bad-field', field, `must be an object of name -> number, got ${describe(value)}`)
  const keys = Object.keys(value)
  if (keys.length > MAX_METRICS) fail('bad-field', field, `must hold at most ${MAX_METRICS} metrics, got ${keys.length}`)
  for (const key of keys) {
    if (!METRIC_KEY_PATTERN.test(key)) fail('bad-field', `${field}.${key}`, `metric name must match ${METRIC_KEY_PATTERN.source}`)
    const metric = (value as Obj)[key]
    if (typeof metric !== 'number' || !Number.isFinite(metric)) {
      fail('bad-metric', `${field}.${key}`, `must be a finite number, got ${describe(metric)}`)
    }
  }
  return value as Record<string, number>
}

export function checkHardware (value: unknown, field: string): Hardware {
  const hw = checkRecord(value, field, ['cpu', 'cores', 'ram_gb', 'gpu', 'gpu_mem_gb'])
  checkText(hw.cpu, `${field}.cpu`, MAX_CPU_CHARS)
  checkInteger(hw.cores, `${field}.cores`, 1, MAX_CORES)
  checkNumber(hw.ram_gb, `${field}.ram_gb`, 0, MAX_RAM_GB)
  if (hw.gpu !== null) checkText(hw.gpu, `${field}.gpu`, MAX_GPU_CHARS)
  if (hw.gpu_mem_gb !== null) checkNumber(hw.gpu_mem_gb, `${field}.gpu_mem_gb`, 0, MAX_GPU_MEM_GB)
  return hw as unknown as Hardware
}

/**
 * A libp2p peer id string of an Ed25519 key, in its canonical (base58btc)
 * spelling, so one key has exactly one author string.
 */
export function checkPeerId (value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_PEER_ID_CHARS) {
    fail('bad-peer-id', field, `must be a peer id string, got ${describe(value)}`)
  }
  let type: string
  let canonical: string
  try {
    const peer = peerIdFromString(value)
    type = peer.type
    canonical = peer.toString()
  } catch {
    fail('bad-peer-id', field, `is not a valid peer id, got ${describe(value)}`)
  }
  if (type !== 'Ed25519') fail('bad-peer-id', field, `must be an Ed25519 peer id, got a ${type} one`)
  if (canonical !== value) fail('bad-peer-id', field, `must be written as ${canonical}`)
  return value
}

// 64 bytes = 86 base64 digits + "==", the last digit carrying 2 bits (low 4 bits zero).
const SIGNATURE_PATTERN = /^[A-Za-z0-9+/]{85}[AQgw]==$/

/** Padded standard base64 of a 64-byte Ed25519 signature, in its one canonical spelling. */
export function checkSignature (value: unknown, field: string): string {
  if (typeof value !== 'string' || !SIGNATURE_PATTERN.test(value)) {
    fail('bad-signature', field, `must be padded base64 of 64 bytes, got ${describe(value)}`)
  }
  return value
}

/**
 * A relative path inside a project: `/`-separated, no leading `/`, no empty,
 * `.` or `..` segment, no backslash, colon or control character.
 */
export function checkRelativePath (value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0) fail('bad-path', field, `must be a non-empty string, got ${describe(value)}`)
  if (value.length > MAX_PATH_CHARS) fail('bad-path', field, `must be at most ${MAX_PATH_CHARS} characters`)
  if (value.startsWith('/')) fail('bad-path', field, `must be relative, got ${describe(value)}`)
  if (/[\\:\u0000-\u001f\u007f]/.test(value)) fail('bad-path', field, `must not hold a backslash, colon or control character, got ${describe(value)}`)
  for (const segment of value.split('/')) {
    if (segment === '' || segment === '.' || segment === '..') {
      fail('bad-path', field, `must not hold empty, "." or ".." segments, got ${describe(value)}`)
    }
  }
  return value
}

export function isPlainObject (value: unknown): value is Obj {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

function codePointCount (text: string): number {
  let count = 0
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i)
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1)
      if (next >= 0xdc00 && next <= 0xdfff) i++
    }
    count++
  }
  return count
}

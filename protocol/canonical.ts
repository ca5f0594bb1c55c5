/**
 * Canonical JSON: the one byte form of a value that every peer signs, hashes and
 * compares. UTF-8; object keys sorted by UTF-16 code units; no whitespace;
 * numbers in JavaScript's shortest round-trip form (-0 written as 0); strings
 * escaped exactly as JSON.stringify does. Non-finite numbers, lone surrogates
 * and non-JSON values are refused, so a decoder can demand that re-encoding the
 * parsed value gives back the input bytes exactly.
 */
import { Buffer } from 'node:buffer'
import { MAX_JSON_DEPTH } from './constants.ts'
import { describe, fail } from './errors.ts'

const utf8Encoder = new TextEncoder()
// fatal: invalid sequences throw; ignoreBOM: a BOM stays in the text so JSON.parse refuses it.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

const LONE_SURROGATE = /\p{Cs}/u

/** Canonical bytes of a JSON value. Throws ProtocolError('bad-encoding') on values JSON cannot carry. */
export function encode (value: unknown): Uint8Array {
  return utf8Encoder.encode(encodeToString(value))
}

/** Canonical bytes of a message without its `sig`: what is signed and what its id hashes. */
export function encodeUnsigned (message: object): Uint8Array {
  const { sig: _sig, ...unsigned } = message as Record<string, unknown>
  return encode(unsigned)
}

/** Canonical text of a JSON value (what `encode` turns into UTF-8). */
export function encodeToString (value: unknown): string {
  const parts: string[] = []
  write(value, '$', 0, parts)
  return parts.join('')
}

/** Length of a string in UTF-8 bytes, without allocating. */
export function utf8Length (text: string): number {
  let bytes = 0
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i)
    if (unit < 0x80) bytes += 1
    else if (unit < 0x800) bytes += 2
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1)
      if (next >= 0xdc00 && next <= 0xdfff) { bytes += 4; i++ } else bytes += 3
    } else bytes += 3
  }
  return bytes
}

/** Compare strings by UTF-16 code units: the key order of canonical objects. */
export function compareCodeUnits (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/**
 * Bytes -> JSON value, with the size cap applied before any parsing.
 * Does not check canonical form: call `assertCanonical` once the schema passed.
 */
export function parseJson (bytes: Uint8Array, maxBytes: number, what: string): unknown {
  if (!(bytes instanceof Uint8Array)) fail('bad-encoding', what, `expected bytes, got ${describe(bytes)}`)
  if (bytes.byteLength > maxBytes) fail('too-large', what, `${bytes.byteLength} bytes exceeds the limit of ${maxBytes}`)
  let text: string
  try {
    text = utf8Decoder.decode(bytes)
  } catch {
    fail('bad-encoding', what, 'invalid UTF-8')
  }
  try {
    return JSON.parse(text)
  } catch (err) {
    fail('bad-encoding', what, `invalid JSON (${(err as Error).message})`)
  }
}

/** Require `bytes` to be exactly the canonical encoding of `value`. */
export function assertCanonical (value: unknown, bytes: Uint8Array, what: string): void {
  const again = encode(value)
  if (!bytesEqual(again, bytes)) {
    fail('not-canonical', what, 'bytes are not the canonical encoding (key order, whitespace, duplicate keys, escapes or number form)')
  }
}

/** Byte-wise order (memcmp); 0 when equal. */
export function compareBytes (a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(asBuffer(a), asBuffer(b))
}

export function bytesEqual (a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && compareBytes(a, b) === 0
}

const asBuffer = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

function write (value: unknown, path: string, depth: number, out: string[]): void {
  if (value === null) { out.push('null'); return }
  switch (typeof value) {
    case 'boolean':
      out.push(value ? 'true' : 'false')
      return
    case 'number':
      if (!Number.isFinite(value)) fail('bad-encoding', path, `non-finite number ${describe(value)}`)
      // JSON.stringify writes the shortest round-trip form and turns -0 into 0.
      out.push(JSON.stringify(value))
      return
    case 'string':
      if (LONE_SURROGATE.test(value)) fail('bad-encoding', path, 'string holds a lone UTF-16 surrogate')
      out.push(JSON.stringify(value))
      return
    case 'object':
      break
    default:
      fail('bad-encoding', path, `${describe(value)} has no JSON form`)
  }
  if (depth >= MAX_JSON_DEPTH) fail('bad-encoding', path, `nested deeper than ${MAX_JSON_DEPTH}`)
  if (Array.isArray(value)) {
    out.push('[')
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out.push(',')
      write(value[i], `${path}[${i}]`, depth + 1, out)
    }
    out.push(']')
    return
  }
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) fail('bad-encoding', path, 'only plain objects have a JSON form')
  const keys = Object.keys(value).sort(compareCodeUnits)
  out.push('{')
  keys.forEach((key, i) => {
    if (i > 0) out.push(',')
    if (LONE_SURROGATE.test(key)) fail('bad-encoding', path, 'key holds a lone UTF-16 surrogate')
    out.push(JSON.stringify(key), ':')
    write((value as Record<string, unknown>)[key], `${path}.${key}`, depth + 1, out)
  })
  out.push('}')
}

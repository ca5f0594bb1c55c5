/**
 * The one error type of the protocol module. `code` is stable and meant for
 * programs (peer scoring, tests); `message` names the field and what was wrong.
 */

export type ProtocolErrorCode =
  | 'too-large' // over a size cap (checked on raw bytes before parsing)
  | 'bad-encoding' // not UTF-8, not JSON, or a value JSON cannot carry
  | 'not-canonical' // valid JSON but not the one canonical form (order, spacing, duplicates, escapes)
  | 'unsupported-version' // `v` is not PROTOCOL_VERSION
  | 'bad-kind' // unknown `kind`
  | 'bad-field' // a field has the wrong type, range, shape or is missing
  | 'unknown-field' // a key the schema does not know
  | 'bad-hash' // not exactly 64 lowercase hex characters
  | 'bad-metric' // val_bpb & co out of (0, 64], or a non-finite metric
  | 'bad-signature' // malformed or not verifying
  | 'bad-peer-id' // author is not a canonical Ed25519 peer id, or the key is not Ed25519
  | 'bad-path' // a content or project path that is absolute, escapes, or repeats
  | 'bad-key' // a malformed DHT key or topic
  | 'wrong-project' // a message for another project than expected
  | 'wrong-key' // a best record stored under another project/track key
  | 'bad-record' // a best record whose parts do not agree (result, content, attestations)

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError'
  readonly code: ProtocolErrorCode
  readonly field?: string

  constructor (code: ProtocolErrorCode, message: string, field?: string) {
    super(field == null ? message : `${field}: ${message}`)
    this.code = code
    if (field != null) this.field = field
  }
}

/** Throw a ProtocolError; typed `never` so checkers read as guards. */
export function fail (code: ProtocolErrorCode, field: string | undefined, problem: string): never {
  throw new ProtocolError(code, problem, field)
}

/** A short, safe rendering of an offending value for error messages. */
export function describe (value: unknown): string {
  if (value === undefined) return 'undefined'
  if (value === null) return 'null'
  if (typeof value === 'number') return Object.is(value, -0) ? '-0' : String(value)
  if (typeof value === 'string') {
    const shown = value.length > 40 ? `${value.slice(0, 40)}...` : value
    return `string ${JSON.stringify(shown)}`
  }
  if (typeof value === 'boolean' || typeof value === 'bigint') return `${typeof value} ${String(value)}`
  if (Array.isArray(value)) return `array of ${value.length}`
  return typeof value
}

/**
 * Gossip messages: one schema check per kind, and the sync byte <-> message
 * functions. Checks run in the order a reader would: size, UTF-8, JSON,
 * version, kind, fields, cross-field rules, then canonical form. Signatures
 * are async and live in sign.ts (`decodeMessage` does everything).
 */
import { assertCanonical, encode, parseJson } from './canonical.ts'
import {
  MAX_AGENT_CHARS, MAX_CLAIM_DURATION_MS, MAX_COUNTER, MAX_DESCRIPTION_CHARS, MAX_DIFF_BYTES,
  MAX_EXPERIMENT_CHARS, MAX_MESSAGE_BYTES, MAX_REASON_CHARS, PROTOCOL_VERSION
} from './constants.ts'
import { describe, fail } from './errors.ts'
import {
  checkBoolean, checkBpb, checkBytesText, checkHardware, checkHash, checkInteger, checkMetrics, checkOneOf,
  checkPeerId, checkRecord, checkSignature, checkText, checkTime, checkTrack, isPlainObject
} from './schema.ts'
import type { Obj } from './schema.ts'
import { MESSAGE_KINDS, RESULT_STATUSES } from './types.ts'
import type { AttestationMsg, ClaimMsg, Message, ResultMsg, Signed, StatusMsg } from './types.ts'

const ENVELOPE_KEYS = ['v', 'kind', 'author', 'sig'] as const
const RESULT_KEYS = [...ENVELOPE_KEYS, 'project', 'track', 'parent', 'child', 'diff', 'val_bpb', 'verified_bpb',
  'status', 'reason', 'metrics', 'hardware', 'agent', 'description', 'time']
/** Members added after version 1 first shipped: absent is valid (older nodes send none of them). */
const RESULT_OPTIONAL = ['merged']
const ATTESTATION_KEYS = [...ENVELOPE_KEYS, 'project', 'track', 'result', 'child', 'ok', 'val_bpb', 'verified_bpb',
  'hardware', 'time']
const CLAIM_KEYS = [...ENVELOPE_KEYS, 'project', 'track', 'parent', 'description', 'time', 'expires']
const CLAIM_OPTIONAL = ['child']
const STATUS_KEYS = [...ENVELOPE_KEYS, 'project', 'track', 'experiment', 'best_bpb', 'experiments', 'kept', 'peers', 'time']

/**
 * Version first (so a future version fails as `unsupported-version`, not as
 * some field error), then kind. Returns the kind; `field` names the object.
 */
export function checkHeader (value: unknown, field: string, expectKind?: Signed['kind']): string {
  if (!isPlainObject(value)) fail('bad-field', field, `must be an object, got ${describe(value)}`)
  if (value.v !== PROTOCOL_VERSION) {
    fail('unsupported-version', `${field}.v`, `must be ${PROTOCOL_VERSION}, got ${describe(value.v)}`)
  }
  const kind = value.kind
  if (expectKind != null && kind !== expectKind) fail('bad-kind', `${field}.kind`, `must be ${expectKind}, got ${describe(kind)}`)
  if (typeof kind !== 'string') fail('bad-kind', `${field}.kind`, `must be a string, got ${describe(kind)}`)
  return kind
}

/** The four envelope fields, after checkRecord has vetted the key set. */
function checkEnvelope (m: Obj, field: string): void {
  checkPeerId(m.author, `${field}.author`)
  checkSignature(m.sig, `${field}.sig`)
}

export function checkResult (value: unknown, field = 'result'): ResultMsg {
  checkHeader(value, field, 'result')
  const m = checkRecord(value, field, RESULT_KEYS, RESULT_OPTIONAL)
  checkHash(m.project, `${field}.project`)
  checkTrack(m.track, `${field}.track`)
  checkHash(m.parent, `${field}.parent`)
  checkHash(m.child, `${field}.child`)
  if (Object.hasOwn(m, 'merged')) checkHash(m.merged, `${field}.merged`)
  checkBytesText(m.diff, `${field}.diff`, MAX_DIFF_BYTES)
  const valBpb = checkBpb(m.val_bpb, `${field}.val_bpb`, true)
  const verifiedBpb = checkBpb(m.verified_bpb, `${field}.verified_bpb`, true)
  const status = checkOneOf(m.status, `${field}.status`, RESULT_STATUSES)
  checkText(m.reason, `${field}.reason`, MAX_REASON_CHARS)
  checkMetrics(m.metrics, `${field}.metrics`)
  checkHardware(m.hardware, `${field}.hardware`)
  checkText(m.agent, `${field}.agent`, MAX_AGENT_CHARS)
  checkText(m.description, `${field}.description`, MAX_DESCRIPTION_CHARS)
  checkTime(m.time, `${field}.time`)
  checkEnvelope(m, field)
  if ((status === 'keep' || status === 'discard') && valBpb === null) {
    fail('bad-field', `${field}.val_bpb`, `must be a number when status is ${status}, got null`)
  }
  if (status === 'crash' && (valBpb !== null || verifiedBpb !== null)) {
    fail('bad-field', `${field}.${valBpb !== null ? 'val_bpb' : 'verified_bpb'}`, 'must be null when status is crash')
  }
  return m as unknown as ResultMsg
}

export function checkAttestation (value: unknown, field = 'attestation'): AttestationMsg {
  checkHeader(value, field, 'attestation')
  const m = checkRecord(value, field, ATTESTATION_KEYS)
  checkHash(m.project, `${field}.project`)
  checkTrack(m.track, `${field}.track`)
  checkHash(m.result, `${field}.result`)
  checkHash(m.child, `${field}.child`)
  const ok = checkBoolean(m.ok, `${field}.ok`)
  const valBpb = checkBpb(m.val_bpb, `${field}.val_bpb`, true)
  checkBpb(m.verified_bpb, `${field}.verified_bpb`, true)
  checkHardware(m.hardware, `${field}.hardware`)
  checkTime(m.time, `${field}.time`)
  checkEnvelope(m, field)
  // "Reproduced" means the attester measured something; the ranking takes the median of these.
  if (ok && valBpb === null) fail('bad-field', `${field}.val_bpb`, 'must be a number when ok is true, got null')
  return m as unknown as AttestationMsg
}

export function checkClaim (value: unknown, field = 'claim'): ClaimMsg {
  checkHeader(value, field, 'claim')
  const m = checkRecord(value, field, CLAIM_KEYS, CLAIM_OPTIONAL)
  checkHash(m.project, `${field}.project`)
  checkTrack(m.track, `${field}.track`)
  checkHash(m.parent, `${field}.parent`)
  if (Object.hasOwn(m, 'child')) checkHash(m.child, `${field}.child`)
  checkText(m.description, `${field}.description`, MAX_DESCRIPTION_CHARS)
  const time = checkTime(m.time, `${field}.time`)
  const expires = checkTime(m.expires, `${field}.expires`)
  checkEnvelope(m, field)
  if (expires <= time) fail('bad-field', `${field}.expires`, `must be after time (${time}), got ${expires}`)
  if (expires - time > MAX_CLAIM_DURATION_MS) {
    fail('bad-field', `${field}.expires`, `must be at most ${MAX_CLAIM_DURATION_MS} ms after time, got ${expires - time}`)
  }
  return m as unknown as ClaimMsg
}

export function checkStatus (value: unknown, field = 'status'): StatusMsg {
  checkHeader(value, field, 'status')
  const m = checkRecord(value, field, STATUS_KEYS)
  checkHash(m.project, `${field}.project`)
  checkTrack(m.track, `${field}.track`)
  if (m.experiment !== null) checkText(m.experiment, `${field}.experiment`, MAX_EXPERIMENT_CHARS)
  checkBpb(m.best_bpb, `${field}.best_bpb`, true)
  const experiments = checkInteger(m.experiments, `${field}.experiments`, 0, MAX_COUNTER)
  const kept = checkInteger(m.kept, `${field}.kept`, 0, MAX_COUNTER)
  checkInteger(m.peers, `${field}.peers`, 0, MAX_COUNTER)
  checkTime(m.time, `${field}.time`)
  checkEnvelope(m, field)
  if (kept > experiments) fail('bad-field', `${field}.kept`, `must not exceed experiments (${experiments}), got ${kept}`)
  return m as unknown as StatusMsg
}

/** Schema check of a gossip message held as a JS value (no size, no signature). */
export function validateMessage (value: unknown): Message {
  const kind = checkHeader(value, 'message')
  switch (kind) {
    case 'result': return checkResult(value)
    case 'attestation': return checkAttestation(value)
    case 'claim': return checkClaim(value)
    case 'status': return checkStatus(value)
    default: return fail('bad-kind', 'message.kind', `must be one of ${MESSAGE_KINDS.join(', ')}, got ${describe(kind)}`)
  }
}

/**
 * Bytes -> message, without checking the signature: size cap, strict UTF-8,
 * JSON, schema, canonical form. Use `decodeMessage` for anything from a peer.
 */
export function parseMessage (bytes: Uint8Array): Message {
  const value = parseJson(bytes, MAX_MESSAGE_BYTES, 'message')
  const message = validateMessage(value)
  assertCanonical(message, bytes, message.kind)
  return message
}

/** Message -> canonical bytes, refusing anything a peer would refuse (bar the signature). */
export function encodeMessage (message: Message): Uint8Array {
  const checked = validateMessage(message)
  const bytes = encode(checked)
  if (bytes.byteLength > MAX_MESSAGE_BYTES) {
    fail('too-large', checked.kind, `encodes to ${bytes.byteLength} bytes, over the limit of ${MAX_MESSAGE_BYTES}`)
  }
  return bytes
}

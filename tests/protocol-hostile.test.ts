/**
 * Malformed and hostile inputs, each refused with its specific error code (and
 * field where one is to blame). Gossip bytes go through decodeMessage, DHT
 * values through validateBestRecord, exactly as a node receives them.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { fromString as fromBase64 } from 'uint8arrays/from-string'
import { toString as toBase64 } from 'uint8arrays/to-string'
import { describe, expect, it } from 'vitest'
import {
  MAX_MESSAGE_BYTES, ProtocolError, bestKey, decodeMessage, encode, encodeMessage, encodeToString, sha256Hex,
  signMessage, validateBestRecord, validateMessage
} from '../protocol/index.ts'
import type { BestRecord, ProtocolErrorCode } from '../protocol/index.ts'
import {
  KEY, OTHER_PROJECT, PROJECT, T0, TRACK, attestationBody, claimBody, forceSign, makeBest, makeKeys, peerOf,
  resultBody, statusBody
} from './protocol-fixtures.ts'

const keys = await makeKeys()
const R = await signMessage(resultBody(), keys.a)
const A = await signMessage(attestationBody(R), keys.b)
const C = await signMessage(claimBody(), keys.b)
const S = await signMessage(statusBody(), keys.b)
const BR = await makeBest(keys, { attesters: [{ key: keys.b }, { key: keys.c }] })

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text)
const RT = encodeToString(R)
/** The canonical text of R with one substring replaced (must occur). */
function rText (from: string, to: string): Uint8Array {
  if (!RT.includes(from)) throw new Error(`fixture text lacks ${from}`)
  return utf8(RT.replace(from, to))
}
const without = (obj: object, key: string): object => Object.fromEntries(Object.entries(obj).filter(([k]) => k !== key))
const spliceBytes = (bytes: Uint8Array, at: number, insert: number[]): Uint8Array =>
  new Uint8Array([...bytes.subarray(0, at), ...insert, ...bytes.subarray(at)])
const withR = (patch: Record<string, unknown>): Uint8Array => encode({ ...R, ...patch })
const withHw = (patch: Record<string, unknown>): Uint8Array => withR({ hardware: { ...R.hardware, ...patch } })

// A result whose encoding is exactly `total` bytes, with a diff within its own 48 KiB cap
// (newlines cost two encoded bytes for one raw byte).
async function resultOfSize (total: number): Promise<Uint8Array> {
  const base = encode(await signMessage(resultBody({ diff: '' }), keys.a)).byteLength
  const encoded = total - base
  const newlines = encoded - 40_000
  const diff = '\n'.repeat(newlines) + 'a'.repeat(encoded - 2 * newlines)
  return encode(await forceSign(resultBody({ diff }), keys.a))
}
const justOver = await resultOfSize(MAX_MESSAGE_BYTES + 1)

async function flippedSig<T extends { sig: string }> (msg: T): Promise<T> {
  const raw = fromBase64(msg.sig, 'base64pad')
  raw[10] = raw[10]! ^ 0x01
  return { ...msg, sig: toBase64(raw, 'base64pad') }
}

// Best records broken in one way each, correctly signed so only the broken rule can fail.
const reBest = async (patch: Partial<BestRecord>): Promise<Uint8Array> => encode(await forceSign({ ...BR, ...patch }, keys.a))
const attBy = async (key: typeof keys.a, patch: Record<string, unknown> = {}) => forceSign({ ...attestationBody(BR.result), ...patch }, key)
const tamperedResult = await forceSign({ ...BR.result, val_bpb: 1.1 }, keys.d)

interface Case { name: string, code: ProtocolErrorCode, field?: string, run: () => Promise<unknown> }
const gossip = (name: string, bytes: Uint8Array, code: ProtocolErrorCode, field?: string, expectProject?: string): Case =>
  ({ name, code, field, run: async () => decodeMessage(bytes, { expectProject }) })
const dht = (name: string, bytes: Uint8Array | Promise<Uint8Array>, code: ProtocolErrorCode, field?: string, key = KEY): Case =>
  ({ name, code, field, run: async () => validateBestRecord(key, await bytes) })

const cases: Case[] = [
  // bytes and encoding
  gossip('empty input', new Uint8Array(0), 'bad-encoding'),
  gossip('truncated bytes', utf8(RT).slice(0, RT.length - 7), 'bad-encoding'),
  gossip('invalid UTF-8 byte', (() => { const b = utf8(RT); b[RT.indexOf('double')] = 0xff; return b })(), 'bad-encoding'),
  gossip('overlong UTF-8 for "/"', spliceBytes(utf8(RT), RT.indexOf('mutation'), [0xc0, 0xaf]), 'bad-encoding'),
  gossip('UTF-8-encoded surrogate (CESU-8)', spliceBytes(utf8(RT), RT.indexOf('mutation'), [0xed, 0xa0, 0x80]), 'bad-encoding'),
  gossip('byte order mark', new Uint8Array([0xef, 0xbb, 0xbf, ...utf8(RT)]), 'bad-encoding'),
  gossip('lone surrogate escape', rText('"double the learning rate"', '"double \\ud800"'), 'bad-encoding'),
  gossip('garbage just over the cap, refused before parsing', new Uint8Array(MAX_MESSAGE_BYTES + 1).fill(0x7b), 'too-large'),
  gossip('whole result just over 64 KiB (diff within its cap)', justOver, 'too-large'),
  // canonical form
  gossip('keys in insertion order', utf8(JSON.stringify(R)), 'not-canonical'),
  gossip('pretty-printed', utf8(JSON.stringify(JSON.parse(RT), null, 2)), 'not-canonical'),
  gossip('trailing newline', utf8(RT + '\n'), 'not-canonical'),
  gossip('duplicate key', rText('{', '{"agent":"mutation",'), 'not-canonical'),
  gossip('needless escape', rText('"mutation"', '"mut\\u0061tion"'), 'not-canonical'),
  gossip('exponent number form', rText(`"time":${T0}`, `"time":${T0 / 1000}e3`), 'not-canonical'),
  gossip('-0 metric', rText('"peak_vram_mb":0', '"peak_vram_mb":-0'), 'not-canonical'),
  // envelope
  gossip('top-level array', utf8('[1,2]'), 'bad-field', 'message'),
  gossip('top-level null', utf8('null'), 'bad-field', 'message'),
  gossip('v: 2', withR({ v: 2 }), 'unsupported-version', 'message.v'),
  gossip('v missing', encode(without(R, 'v')), 'unsupported-version', 'message.v'),
  gossip('v: 2 with a kind we do not know yet', withR({ v: 2, kind: 'vote' }), 'unsupported-version', 'message.v'),
  gossip('v as a string', withR({ v: '1' }), 'unsupported-version', 'message.v'),
  gossip('unknown kind', withR({ kind: 'results' }), 'bad-kind', 'message.kind'),
  gossip('best record kind on gossip', withR({ kind: 'best' }), 'bad-kind', 'message.kind'),
  gossip('unknown top-level field', withR({ extra: 1 }), 'unknown-field', 'result.extra'),
  gossip('__proto__ field', rText('{', '{"__proto__":{},'), 'unknown-field', 'result.__proto__'),
  gossip('unknown hardware field', withHw({ tpu: 'v5e' }), 'unknown-field', 'result.hardware.tpu'),
  gossip('missing field', encode(without(R, 'description')), 'bad-field', 'result.description'),
  // hashes and names
  gossip('project as a number', withR({ project: 42 }), 'bad-hash', 'result.project'),
  gossip('project in uppercase', withR({ project: PROJECT.toUpperCase() }), 'bad-hash', 'result.project'),
  gossip('project of 63 chars', withR({ project: PROJECT.slice(1) }), 'bad-hash', 'result.project'),
  gossip('project with a Cyrillic look-alike', withR({ project: PROJECT.slice(1) + '\u0430' }), 'bad-hash', 'result.project'),
  gossip('parent with a fullwidth digit', withR({ parent: R.parent.slice(1) + '\uff10' }), 'bad-hash', 'result.parent'),
  gossip('child of 65 chars', withR({ child: R.child + '0' }), 'bad-hash', 'result.child'),
  gossip('track in uppercase', withR({ track: 'GPU-H100' }), 'bad-field', 'result.track'),
  gossip('track with a slash', withR({ track: 'cpu/../x' }), 'bad-field', 'result.track'),
  gossip('unknown status', withR({ status: 'kept' }), 'bad-field', 'result.status'),
  // metrics
  gossip('val_bpb NaN (raw text)', rText('"val_bpb":2.3', '"val_bpb":NaN'), 'bad-encoding'),
  gossip('val_bpb 1e999 (parses to Infinity)', rText('"val_bpb":2.3', '"val_bpb":1e999'), 'bad-metric', 'result.val_bpb'),
  gossip('val_bpb 0', withR({ val_bpb: 0 }), 'bad-metric', 'result.val_bpb'),
  gossip('val_bpb -0 (raw text)', rText('"val_bpb":2.3', '"val_bpb":-0'), 'bad-metric', 'result.val_bpb'),
  gossip('val_bpb negative', withR({ val_bpb: -2.3 }), 'bad-metric', 'result.val_bpb'),
  gossip('val_bpb 1e9', withR({ val_bpb: 1e9 }), 'bad-metric', 'result.val_bpb'),
  gossip('val_bpb as a string', withR({ val_bpb: '2.3' }), 'bad-metric', 'result.val_bpb'),
  gossip('verified_bpb over 64', withR({ verified_bpb: 64.5 }), 'bad-metric', 'result.verified_bpb'),
  gossip('metric 1e999', rText('"peak_vram_mb":0', '"peak_vram_mb":1e999'), 'bad-metric', 'result.metrics.peak_vram_mb'),
  gossip('metric as a string', withR({ metrics: { loss: '1.2' } }), 'bad-metric', 'result.metrics.loss'),
  gossip('33 metrics', withR({ metrics: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`m${i}`, i])) }), 'bad-field', 'result.metrics'),
  gossip('metric name in uppercase', withR({ metrics: { Loss: 1 } }), 'bad-field', 'result.metrics.Loss'),
  gossip('keep without val_bpb', withR({ val_bpb: null }), 'bad-field', 'result.val_bpb'),
  gossip('crash with a val_bpb', withR({ status: 'crash' }), 'bad-field', 'result.val_bpb'),
  // other fields
  gossip('cores 0', withHw({ cores: 0 }), 'bad-field', 'result.hardware.cores'),
  gossip('cores 1.5', withHw({ cores: 1.5 }), 'bad-field', 'result.hardware.cores'),
  gossip('ram_gb negative', withHw({ ram_gb: -1 }), 'bad-field', 'result.hardware.ram_gb'),
  gossip('time before 2020', withR({ time: Date.UTC(2019, 11, 31) }), 'bad-field', 'result.time'),
  gossip('time fractional', withR({ time: T0 + 0.5 }), 'bad-field', 'result.time'),
  gossip('description with a newline', withR({ description: 'one\ntwo' }), 'bad-field', 'result.description'),
  gossip('description with an escape sequence', withR({ description: 'x\u001b[2J' }), 'bad-field', 'result.description'),
  gossip('description with a bidi override', withR({ description: 'abc\u202edcba' }), 'bad-field', 'result.description'),
  gossip('description of 301 chars', withR({ description: 'x'.repeat(301) }), 'bad-field', 'result.description'),
  gossip('reason of 201 chars', withR({ reason: 'r'.repeat(201) }), 'bad-field', 'result.reason'),
  gossip('agent of 101 chars', withR({ agent: 'a'.repeat(101) }), 'bad-field', 'result.agent'),
  gossip('diff over 48 KiB', withR({ diff: 'd'.repeat(48 * 1024 + 1) }), 'bad-field', 'result.diff'),
  // authors and signatures
  gossip('author not a peer id', withR({ author: 'not-a-peer-id' }), 'bad-peer-id', 'result.author'),
  gossip('author an RSA peer id', withR({ author: 'QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N' }), 'bad-peer-id', 'result.author'),
  gossip('author a secp256k1 peer id', withR({ author: '16Uiu2HAm8NyEXQRmGchAAW2zqEysSqbwTCEJcCgxerVTN38PhKKz' }), 'bad-peer-id', 'result.author'),
  gossip('author spelled as a CID', withR({ author: peerIdFromString(R.author).toCID().toString() }), 'bad-peer-id', 'result.author'),
  gossip('sig not base64 of 64 bytes', withR({ sig: 'AAAA' }), 'bad-signature', 'result.sig'),
  gossip('sig in a non-canonical base64 spelling', withR({ sig: R.sig.slice(0, 85) + (R.sig[85] === 'B' ? 'C' : 'B') + '==' }), 'bad-signature', 'result.sig'),
  gossip('author of key A, signed with key B', encode({ ...(await signMessage(resultBody(), keys.b)), author: peerOf(keys.a) }), 'bad-signature', 'result.sig'),
  gossip('flipped signature byte', encode(await flippedSig(R)), 'bad-signature', 'result.sig'),
  gossip('body changed after signing', withR({ val_bpb: 2.2 }), 'bad-signature', 'result.sig'),
  gossip('message for another project', encode(await signMessage(resultBody({ project: OTHER_PROJECT }), keys.a)), 'wrong-project', 'result.project', PROJECT),
  // other kinds
  gossip('attestation ok without a measurement', encode({ ...A, val_bpb: null }), 'bad-field', 'attestation.val_bpb'),
  gossip('attestation ok as a string', encode({ ...A, ok: 'true' }), 'bad-field', 'attestation.ok'),
  gossip('claim expiring before it starts', encode({ ...C, expires: T0 - 1 }), 'bad-field', 'claim.expires'),
  gossip('claim expiring when it starts', encode({ ...C, expires: T0 }), 'bad-field', 'claim.expires'),
  gossip('claim lasting over 2 h', encode({ ...C, expires: T0 + 2 * 3600_000 + 1 }), 'bad-field', 'claim.expires'),
  // optional members: checked when present
  gossip('claim naming a child that is no hash', encode({ ...C, child: 'x'.repeat(64) }), 'bad-hash', 'claim.child'),
  gossip('claim naming a null child', encode({ ...C, child: null }), 'bad-hash', 'claim.child'),
  gossip('result merging a content that is no hash', withR({ merged: R.child.toUpperCase() }), 'bad-hash', 'result.merged'),
  gossip('status kept > experiments', encode({ ...S, kept: 11 }), 'bad-field', 'status.kept'),
  gossip('status experiments negative', encode({ ...S, experiments: -1, kept: 0 }), 'bad-field', 'status.experiments'),
  gossip('status peers fractional', encode({ ...S, peers: 1.5 }), 'bad-field', 'status.peers'),
  gossip('status best_bpb 0', encode({ ...S, best_bpb: 0 }), 'bad-metric', 'status.best_bpb'),
  // best records in the DHT
  dht('garbage over 512 KiB', new Uint8Array(512 * 1024 + 1), 'too-large'),
  dht('malformed key', encode(BR), 'bad-key', 'key', new TextEncoder().encode('/swarm-best/nope')),
  dht('replayed under another project', encode(BR), 'wrong-key', 'best.project', bestKey(OTHER_PROJECT, TRACK)),
  dht('replayed under another track', encode(BR), 'wrong-key', 'best.track', bestKey(PROJECT, 'gpu-h100')),
  dht('content not matching the child hash', reBest({ content: { files: { 'train.py': 'print("evil")\n' } } }), 'bad-record', 'best.content'),
  dht('self-attestation', (async () => reBest({ attestations: [await attBy(keys.a)] }))(), 'bad-record', 'best.attestations[0].author'),
  dht('attestation for another result id', (async () => reBest({ attestations: [await attBy(keys.b, { result: sha256Hex('other') })] }))(), 'bad-record', 'best.attestations[0].result'),
  dht('attestation from another track', (async () => reBest({ attestations: [await attBy(keys.b, { track: 'gpu-h100' })] }))(), 'bad-record', 'best.attestations[0].track'),
  dht('two attestations by one attester', (async () => reBest({ attestations: [await attBy(keys.b), await attBy(keys.b, { time: T0 + 1 })] }))(), 'bad-record', 'best.attestations[1].author'),
  dht('33 attestations', reBest({ attestations: Array.from({ length: 33 }, () => BR.attestations[0]!) }), 'bad-field', 'best.attestations'),
  dht('result that is a discard', (async () => reBest({ result: await forceSign({ ...BR.result, status: 'discard' as const }, keys.a), attestations: [] }))(), 'bad-record', 'best.result.status'),
  dht('result of another project', (async () => reBest({ result: await forceSign({ ...BR.result, project: OTHER_PROJECT }, keys.a), attestations: [] }))(), 'bad-record', 'best.result.project'),
  dht('path traversal in content', reBest({ content: { files: { '../evil.py': 'x' } } }), 'bad-path', 'best.content.files["../evil.py"]'),
  dht('absolute path in content', reBest({ content: { files: { '/etc/passwd': 'x' } } }), 'bad-path', 'best.content.files["/etc/passwd"]'),
  dht('backslash path in content', reBest({ content: { files: { 'a\\..\\b.py': 'x' } } }), 'bad-path'),
  dht('17 files', reBest({ content: { files: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`f${i}.py`, ''])) } }), 'bad-field', 'best.content.files'),
  dht('inner result tampered', reBest({ result: { ...tamperedResult, author: BR.result.author }, attestations: [] }), 'bad-signature', 'best.result.sig'),
  dht('attestation tampered', (async () => reBest({ attestations: [{ ...BR.attestations[0]!, time: T0 + 7 }] }))(), 'bad-signature', 'best.attestations[0].sig'),
  dht('outer signature by another key', (async () => encode({ ...(await forceSign(BR, keys.e)), author: BR.author }))(), 'bad-signature', 'best.sig'),
  dht('outer signature flipped', (async () => encode(await flippedSig(BR)))(), 'bad-signature', 'best.sig')
]

describe('hostile inputs', () => {
  it('the table is large enough and the fixtures themselves are valid', async () => {
    expect(cases.length).toBeGreaterThanOrEqual(40)
    expect(justOver.byteLength).toBe(MAX_MESSAGE_BYTES + 1)
    await expect(decodeMessage(encode(R), { expectProject: PROJECT })).resolves.toEqual(R)
    for (const m of [A, C, S]) await expect(decodeMessage(encode(m))).resolves.toEqual(m)
    await expect(validateBestRecord(KEY, encode(BR))).resolves.toEqual(BR)
    // The largest legal result: exactly at the cap, signed properly.
    const atCap = await resultOfSize(MAX_MESSAGE_BYTES)
    const signed = encode(await signMessage(JSON.parse(new TextDecoder().decode(atCap)), keys.a))
    expect(signed.byteLength).toBe(MAX_MESSAGE_BYTES)
    await expect(decodeMessage(signed)).resolves.toBeTruthy()
  })

  it.each(cases)('$name -> $code', async ({ run, code, field }) => {
    const err = await run().then(() => undefined, (e: unknown) => e)
    expect(err).toBeInstanceOf(ProtocolError)
    const pe = err as ProtocolError
    expect({ code: pe.code, message: pe.message }).toMatchObject({ code })
    if (field != null) {
      expect(pe.field).toBe(field)
      expect(pe.message.startsWith(`${field}: `)).toBe(true)
    }
  })
})

describe('JS values the encoder refuses', () => {
  const table: Array<{ name: string, run: () => unknown, code: ProtocolErrorCode, field?: string }> = [
    { name: 'val_bpb NaN', run: () => encodeMessage({ ...R, val_bpb: NaN }), code: 'bad-metric', field: 'result.val_bpb' },
    { name: 'val_bpb Infinity', run: () => validateMessage({ ...R, val_bpb: Infinity }), code: 'bad-metric', field: 'result.val_bpb' },
    { name: 'metric NaN', run: () => encodeMessage({ ...R, metrics: { loss: NaN } }), code: 'bad-metric', field: 'result.metrics.loss' },
    { name: 'raw NaN', run: () => encode({ x: NaN }), code: 'bad-encoding', field: '$.x' },
    { name: 'raw undefined', run: () => encode({ x: undefined }), code: 'bad-encoding', field: '$.x' },
    { name: 'raw Date', run: () => encode({ when: new Date(0) }), code: 'bad-encoding', field: '$.when' },
    { name: 'raw bigint', run: () => encode([1n]), code: 'bad-encoding', field: '$[0]' },
    { name: 'raw lone surrogate', run: () => encode({ s: 'a\udc00' }), code: 'bad-encoding', field: '$.s' },
    { name: 'raw deep nesting', run: () => encode(JSON.parse('['.repeat(100) + ']'.repeat(100))), code: 'bad-encoding' },
  ]
  it.each(table)('$name -> $code', ({ run, code, field }) => {
    let err: unknown
    try { run() } catch (e) { err = e }
    expect(err).toBeInstanceOf(ProtocolError)
    expect((err as ProtocolError).code).toBe(code)
    if (field != null) expect((err as ProtocolError).field).toBe(field)
  })

  it('signMessage refuses to sign what peers would refuse', async () => {
    await expect(signMessage(resultBody({ val_bpb: NaN }), keys.a)).rejects.toMatchObject({ code: 'bad-metric', field: 'result.val_bpb' })
    await expect(signMessage(claimBody({ expires: T0 + 3 * 3600_000 }), keys.a)).rejects.toMatchObject({ code: 'bad-field', field: 'claim.expires' })
  })

  it('accepts the optional members signed, and the same messages without them', async () => {
    const claim = await signMessage({ ...claimBody(), child: R.child } as any, keys.b)
    expect(await decodeMessage(encode(claim))).toMatchObject({ kind: 'claim', child: R.child })
    const stacked = await signMessage({ ...resultBody(), merged: R.parent } as any, keys.a)
    expect(await decodeMessage(encode(stacked))).toMatchObject({ kind: 'result', merged: R.parent })
    expect((await decodeMessage(encode(C))).kind).toBe('claim')
  })

  it('-0 is written as 0, so a decoder never meets it from an honest peer', () => {
    expect(encodeToString({ a: -0 })).toBe('{"a":0}')
  })

  it('deeply nested JSON in a field is refused without blowing the stack', async () => {
    const nested = '['.repeat(30_000) + ']'.repeat(30_000)
    const err = await decodeMessage(rText('"diff":', `"diff":${nested},"x":`)).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'unknown-field', field: 'result.x' })
    const err2 = await decodeMessage(rText(`"diff":${JSON.stringify(R.diff)}`, `"diff":${nested}`)).catch((e: unknown) => e)
    expect(err2).toMatchObject({ code: 'bad-field', field: 'result.diff' })
  })
})

/**
 * Signing, verification, message ids and the full decode path, including
 * properties over randomly generated valid results.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  MAX_BPB, MESSAGE_KINDS, decodeMessage, encode, encodeMessage, messageId, parseMessage, signMessage, verifyMessage
} from '../protocol/index.ts'
import type { ResultMsg, Unsigned } from '../protocol/index.ts'
import {
  PROJECT, T0, attestationBody, claimBody, makeKeys, peerOf, resultBody, statusBody
} from './protocol-fixtures.ts'

const keys = await makeKeys()

describe('sign and verify', () => {
  it('signs every gossip kind; decodeMessage gives back the same message', async () => {
    const result = await signMessage(resultBody(), keys.a)
    const messages = [result, await signMessage(attestationBody(result), keys.b), await signMessage(claimBody(), keys.c), await signMessage(statusBody(), keys.d)]
    expect(messages.map((m) => m.kind)).toEqual([...MESSAGE_KINDS])
    for (const m of messages) {
      await verifyMessage(m)
      await expect(decodeMessage(encodeMessage(m), { expectProject: PROJECT })).resolves.toEqual(m)
    }
  })

  it('sets the author from the key, whatever the body said', async () => {
    const body = { ...resultBody(), author: peerOf(keys.b) } as Unsigned<ResultMsg>
    const signed = await signMessage(body, keys.a)
    expect(signed.author).toBe(peerOf(keys.a))
    await verifyMessage(signed)
  })

  it('refuses keys that are not Ed25519', async () => {
    const secp = await generateKeyPair('secp256k1')
    await expect(signMessage(resultBody(), secp)).rejects.toMatchObject({ code: 'bad-peer-id' })
  })

  it('verifyMessage rejects a tampered message', async () => {
    const signed = await signMessage(resultBody(), keys.a)
    await expect(verifyMessage({ ...signed, description: 'something else' })).rejects.toMatchObject({ code: 'bad-signature', field: 'result.sig' })
    await expect(verifyMessage({ ...signed, author: peerOf(keys.b) })).rejects.toMatchObject({ code: 'bad-signature' })
  })
})

describe('message id', () => {
  it('is the sha256 of the encoding without sig, so it does not depend on the signature', async () => {
    const body = resultBody()
    const byA = await signMessage(body, keys.a)
    const { sig: _sig, ...unsigned } = byA
    expect(messageId(byA)).toMatch(/^[0-9a-f]{64}$/)
    expect(messageId(unsigned)).toBe(messageId(byA))
    expect(messageId(parseMessage(encode(byA)))).toBe(messageId(byA))
    // Same body by another author is another message.
    expect(messageId(await signMessage(body, keys.b))).not.toBe(messageId(byA))
    expect(messageId(await signMessage(resultBody({ time: T0 + 1 }), keys.a))).not.toBe(messageId(byA))
  })
})

// Valid result bodies with every field drawn at random within its limits.
const line = (maxLength: number) => fc.string({ unit: 'grapheme', maxLength })
  .filter((s) => !/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/.test(s))
const bpb = fc.double({ min: 0, minExcluded: true, max: MAX_BPB, noNaN: true })
const hash = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'))
const resultArb: fc.Arbitrary<Unsigned<ResultMsg>> = fc.record({
  status: fc.constantFrom('keep', 'discard', 'crash', 'invalid' as const),
  val: bpb,
  verified: fc.option(bpb),
  project: hash,
  track: fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,47}$/),
  parent: hash,
  child: hash,
  diff: fc.string({ unit: 'binary', maxLength: 2000 }),
  reason: line(200),
  metrics: fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9_]{0,47}$/), fc.double({ noNaN: true, noDefaultInfinity: true }), { maxKeys: 32 }),
  cores: fc.integer({ min: 1, max: 4096 }),
  ram: fc.double({ min: 0, max: 65536, noNaN: true }),
  gpu: fc.option(line(128)),
  agent: line(100),
  description: line(300),
  time: fc.integer({ min: Date.UTC(2020, 0, 1) + 1, max: Date.UTC(2199, 11, 31) })
}).map((r) => resultBody({
  project: r.project,
  track: r.track,
  parent: r.parent,
  child: r.child,
  diff: r.diff,
  status: r.status,
  val_bpb: r.status === 'crash' ? null : r.val,
  verified_bpb: r.status === 'crash' ? null : r.verified,
  reason: r.reason,
  metrics: r.metrics,
  hardware: { cpu: 'x', cores: r.cores, ram_gb: r.ram, gpu: r.gpu, gpu_mem_gb: r.gpu == null ? null : 24 },
  agent: r.agent,
  description: r.description,
  time: r.time
}))

describe('properties over random valid results', () => {
  it('sign, encode, decode, verify: same message, same bytes', async () => {
    await fc.assert(fc.asyncProperty(resultArb, async (body) => {
      const signed = await signMessage(body, keys.a)
      const bytes = encodeMessage(signed)
      const decoded = await decodeMessage(bytes, { expectProject: body.project })
      expect(encode(decoded)).toEqual(bytes)
      expect(messageId(decoded)).toBe(messageId(signed))
    }), { numRuns: 150 })
  })

  it('changing any one field after signing breaks the signature', async () => {
    const signed = await signMessage(resultBody(), keys.a)
    const edits: Array<Partial<ResultMsg>> = [
      { val_bpb: 2.31 }, { verified_bpb: 2.3 }, { track: 'gpu' }, { diff: '' }, { reason: 'x' }, { metrics: {} },
      { agent: 'llm:x' }, { description: 'd' }, { time: T0 + 1 }, { status: 'discard' }, { hardware: { ...signed.hardware, cores: 3 } }
    ]
    for (const edit of edits) {
      await expect(decodeMessage(encode({ ...signed, ...edit }))).rejects.toMatchObject({ code: 'bad-signature' })
    }
  })
})

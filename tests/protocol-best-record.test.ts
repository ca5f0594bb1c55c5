/**
 * The DHT best record: validator, ranking and selector, against liars.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  compareBestRecords, contentHash, encode, encodeBestRecord, parseBestRecord, rankBestRecord, recordEvidence, selectBestRecord,
  validateBestRecord
} from '../protocol/index.ts'
import type { BestRecord } from '../protocol/index.ts'
import { KEY, T0, attestationBody, forceSign, makeBest, makeKeys } from './protocol-fixtures.ts'

const keys = await makeKeys()
const filesFor = (tag: string): Record<string, string> => ({ 'train.py': `# ${tag}\nprint("train")\n` })

// An honest record at 2.3 reproduced by one peer, and a liar's unattested claim of 0.5.
const honest = await makeBest(keys, { files: filesFor('honest'), result: { val_bpb: 2.3 }, attesters: [{ key: keys.b, val_bpb: 2.31 }] })
const liar = await makeBest(keys, { files: filesFor('liar'), resultKey: keys.e, publisher: keys.e, result: { val_bpb: 0.5, verified_bpb: 0.5 } })

describe('validateBestRecord', () => {
  it('accepts a fully signed record, with and without attestations', async () => {
    const bare = await makeBest(keys)
    const attested = await makeBest(keys, { attesters: [{ key: keys.b }, { key: keys.c, ok: false, val_bpb: 2.9 }], publisher: keys.d })
    for (const record of [bare, attested]) {
      await expect(validateBestRecord(KEY, encodeBestRecord(record))).resolves.toEqual(record)
      expect(parseBestRecord(encode(record))).toEqual(record)
    }
    expect(attested.author).not.toBe(attested.result.author)
  })

  it('accepts content with several files in subfolders', async () => {
    const files = { 'train.py': 'a', 'model/gpt.py': 'b', 'configs/small.json': '{}' }
    const record = await makeBest(keys, { files })
    expect(record.result.child).toBe(contentHash(files))
    await expect(validateBestRecord(KEY, encode(record))).resolves.toBeTruthy()
  })
})

describe('rankBestRecord', () => {
  it('ignores self-attestations even when a record carries one', async () => {
    const record = await makeBest(keys)
    const self = await forceSign(attestationBody(record.result, { val_bpb: 0.1 }), keys.a)
    const withSelf: BestRecord = { ...record, attestations: [self] }
    expect(rankBestRecord(withSelf).slice(0, 3)).toEqual(rankBestRecord(record).slice(0, 3))
    expect(recordEvidence(withSelf)).toMatchObject({ kind: 'claimed', reproducers: 0 })
    expect(rankBestRecord(withSelf)[0]).toBe(1) // the claimed tier
  })

  it('takes the median of what ok attesters measured (their val_bpb, the figure rule) and counts failures', async () => {
    const record = await makeBest(keys, {
      attesters: [{ key: keys.b, val_bpb: 2.0 }, { key: keys.c, val_bpb: 2.4 }, { key: keys.d, ok: false, val_bpb: 3 }]
    })
    const [tier, bpb, failed] = rankBestRecord(record)
    expect(tier).toBe(0) // two ok attesters, capped: reproduced is a tier
    expect(recordEvidence(record)).toMatchObject({ kind: 'reproduced', reproducers: 1 })
    expect(bpb).toBeCloseTo(2.2, 12)
    expect(failed).toBe(1)
    // On the wire val_bpb is the attester's decision figure; verified_bpb only says it was verified.
    const verified = await forceSign(attestationBody(record.result, { val_bpb: 2.6, verified_bpb: 2.6 }), keys.e)
    expect(rankBestRecord({ ...record, attestations: [...record.attestations, verified] })[1]).toBe(2.4)
  })
})

describe('selectBestRecord', () => {

  it("a liar's unattested 0.5 loses to an honestly attested 2.3", () => {
    expect(selectBestRecord(KEY, [encode(liar), encode(honest)])).toBe(1)
    expect(selectBestRecord(KEY, [encode(honest), encode(liar)])).toBe(0)
    expect(compareBestRecords(honest, liar)).toBeLessThan(0)
    expect(compareBestRecords(liar, honest)).toBeGreaterThan(0)
  })

  it('between attested records the lower median wins, whatever they claim', async () => {
    // x claims 2.0, three attesters say 2.1 / 2.2 / 2.9 (median 2.2).
    const x = await makeBest(keys, { files: filesFor('x'), result: { val_bpb: 2.0 }, attesters: [{ key: keys.b, val_bpb: 2.1 }, { key: keys.c, val_bpb: 2.2 }, { key: keys.d, val_bpb: 2.9 }] })
    // Same attester count: the lower median wins (y3 claims 1.9, attesters say 2.25).
    const y3 = await makeBest(keys, { files: filesFor('y'), result: { val_bpb: 1.9 }, attesters: [{ key: keys.b, val_bpb: 2.25 }, { key: keys.c, val_bpb: 2.25 }, { key: keys.d, val_bpb: 2.26 }] })
    expect(selectBestRecord(KEY, [encode(y3), encode(x)])).toBe(1)
    // Reproduced is a tier, not a count: a newer result reproduced by one peer at 2.15
    // beats one reproduced by three at 2.2, so a small swarm's baseline can still move...
    const y = await makeBest(keys, { files: filesFor('y2'), result: { val_bpb: 1.9 }, attesters: [{ key: keys.b, val_bpb: 2.15 }] })
    expect(selectBestRecord(KEY, [encode(y), encode(x)])).toBe(0)
    // ...and a pile of attestations does not beat a better figure: four at 2.4 lose to three at 2.2.
    const many = await makeBest(keys, {
      files: filesFor('many'),
      result: { val_bpb: 2.4 },
      attesters: [keys.b, keys.c, keys.d, keys.e].map((key) => ({ key, val_bpb: 2.4 }))
    })
    expect(selectBestRecord(KEY, [encode(many), encode(x)])).toBe(1)
  })

  it('then fewer failed attestations, then the earlier result wins', async () => {
    const clean = await makeBest(keys, { files: filesFor('c'), attesters: [{ key: keys.b }] })
    const disputed = await makeBest(keys, { files: filesFor('d'), attesters: [{ key: keys.b }, { key: keys.c, ok: false, val_bpb: 3 }] })
    expect(selectBestRecord(KEY, [encode(disputed), encode(clean)])).toBe(1)
    const early = await makeBest(keys, { files: filesFor('e'), result: { time: T0 - 1000 } })
    const late = await makeBest(keys, { files: filesFor('l'), result: { time: T0 } })
    expect(selectBestRecord(KEY, [encode(late), encode(early)])).toBe(1)
  })

  it('never selects garbage, invalid records or records for another key', async () => {
    const broken = await forceSign({ ...liar, content: { files: filesFor('not what the hash says') } }, keys.e)
    const otherTrack = await makeBest(keys, { files: filesFor('gpu'), result: { track: 'gpu-h100', val_bpb: 0.1 } })
    const invalid = [encode(broken), encode(otherTrack), new Uint8Array([1, 2, 3]), new Uint8Array(0), new TextEncoder().encode('{}')]
    fc.assert(fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 5 }), fc.nat(), (garbage, at) => {
      const records = [...garbage, ...invalid]
      const pos = at % (records.length + 1)
      records.splice(pos, 0, encode(honest))
      expect(selectBestRecord(KEY, records)).toBe(pos)
    }), { numRuns: 50 })
  })

  it('is total: all-garbage input picks some index without throwing; [] gives -1', () => {
    const garbage = [new Uint8Array([0xff]), 'not bytes' as unknown as Uint8Array, new Uint8Array(600 * 1024)]
    const index = selectBestRecord(KEY, garbage)
    expect(index).toBeGreaterThanOrEqual(0)
    expect(index).toBeLessThan(garbage.length)
    expect(selectBestRecord(new Uint8Array([1]), [encode(honest)])).toBe(0)
    expect(selectBestRecord(KEY, [])).toBe(-1)
  })

  it('picks the same record under any permutation of the input', async () => {
    const tie1 = await makeBest(keys, { files: filesFor('t1'), attesters: [{ key: keys.b }] })
    const tie2 = await makeBest(keys, { files: filesFor('t2'), attesters: [{ key: keys.c }] })
    // Same result, published twice by different publishers: only the record bytes differ.
    const republished = await makeBest(keys, { files: filesFor('t1'), attesters: [{ key: keys.b }], publisher: keys.d })
    const pool = [honest, liar, tie1, tie2, republished].map((r) => encode(r))
      .concat([new Uint8Array([9]), new Uint8Array([8]), new TextEncoder().encode('null')])
    const expected = pool[selectBestRecord(KEY, pool)]
    fc.assert(fc.property(fc.shuffledSubarray(pool, { minLength: pool.length }), (shuffled) => {
      expect(shuffled[selectBestRecord(KEY, shuffled)]).toBe(expected)
    }), { numRuns: 100 })
    // Among invalid records too, the choice depends on the bytes, not the order.
    const junk = [new Uint8Array([9]), new Uint8Array([8]), new Uint8Array([7]), new TextEncoder().encode('{}')]
    const junkPick = junk[selectBestRecord(KEY, junk)]
    fc.assert(fc.property(fc.shuffledSubarray(junk, { minLength: junk.length }), (shuffled) => {
      expect(shuffled[selectBestRecord(KEY, shuffled)]).toBe(junkPick)
    }), { numRuns: 30 })
  })
})

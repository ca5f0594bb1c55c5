/** Adoption, trust and the leaderboard: the swarm's pure policy, without a network. */
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { beforeAll, describe, expect, it } from 'vitest'
import { contentHash, messageId, signMessage, type AttestationMsg, type ResultMsg } from '../protocol/index.ts'
import { considerResult, reproduced, reproductionTolerance } from '../node/swarm/adoption.ts'
import { computeLeaderboard } from '../node/swarm/leaderboard.ts'
import { TrustBook } from '../node/swarm/trust.ts'

const PROJECT = 'a'.repeat(64)
const HW = { cpu: 'test cpu', cores: 2, ram_gb: 8, gpu: null, gpu_mem_gb: null }
let keys: PrivateKey[]
const T = Date.UTC(2026, 10, 1)

async function result (key: PrivateKey, over: Partial<ResultMsg> = {}): Promise<ResultMsg> {
  return await signMessage({
    v: 1, kind: 'result', project: PROJECT, track: 'cpu', parent: contentHash({ 'train.py': 'a' }), child: contentHash({ 'train.py': over.description ?? 'b' }),
    diff: '', val_bpb: 2.0, verified_bpb: null, status: 'keep', reason: '', metrics: { baseline_bpb: 2.5 }, hardware: HW, agent: 'mutation',
    description: 'b', time: T, ...over
  } as any, key) as ResultMsg
}

async function attest (key: PrivateKey, r: ResultMsg, ok: boolean, val: number | null): Promise<AttestationMsg> {
  return await signMessage({ v: 1, kind: 'attestation', project: PROJECT, track: r.track, result: messageId(r), child: r.child, ok, val_bpb: val, verified_bpb: null, hardware: HW, time: T + 1000 }, key) as AttestationMsg
}

beforeAll(async () => { keys = await Promise.all([0, 1, 2, 3, 4].map(async () => await generateKeyPair('Ed25519'))) })

describe('adoption policy', () => {
  const me = (baseline: number | null) => ({ project: PROJECT, track: 'cpu', peerId: 'me', baseline, margin: 0.02 })

  it('reproduces a better keep on my track, and only that', async () => {
    const r = await result(keys[0]!, { val_bpb: 2.0 })
    expect(considerResult(r, me(2.5), { distrusted: false, tried: false }).action).toBe('reproduce')
    expect(considerResult(r, me(2.01), { distrusted: false, tried: false }).action).toBe('ignore')
    expect(considerResult(r, me(null), { distrusted: false, tried: false }).action).toBe('ignore')
    expect(considerResult(r, me(2.5), { distrusted: true, tried: false }).action).toBe('ignore')
    expect(considerResult(r, me(2.5), { distrusted: false, tried: true }).action).toBe('ignore')
    expect(considerResult(await result(keys[0]!, { status: 'discard' }), me(2.5), { distrusted: false, tried: false }).action).toBe('ignore')
    expect(considerResult(await result(keys[0]!, { track: 'gpu-h100' }), me(2.5), { distrusted: false, tried: false }).action).toBe('idea')
    expect(considerResult(r, { ...me(2.5), project: 'b'.repeat(64) }, { distrusted: false, tried: false }).action).toBe('ignore')
  })

  it('judges a reproduction: kept here and near the claim', () => {
    expect(reproductionTolerance(2.0, 0.02)).toBeCloseTo(0.1)
    expect(reproduced(2.0, 2.05, true, 0.02).ok).toBe(true)
    expect(reproduced(0.5, 1.2, true, 0.02)).toMatchObject({ ok: false })
    expect(reproduced(2.0, 2.0, false, 0.02).reason).toMatch(/not better than our baseline/)
    expect(reproduced(2.0, null, false, 0.02).ok).toBe(false)
  })
})

describe('trust', () => {
  it('a failed reproduction far from the claim makes the author distrusted; honest near-misses cost nothing', async () => {
    const me = keys[4]!
    const book = new TrustBook(String((await import('@libp2p/peer-id')).peerIdFromPrivateKey(me)), 0.02)
    const liar = await result(keys[0]!, { val_bpb: 0.5 })
    book.record(await attest(me, liar, false, 1.2), liar)
    expect(book.distrusted(liar.author)).toBe(true)

    const honest = await result(keys[1]!, { val_bpb: 2.0 })
    book.record(await attest(me, honest, false, 2.01), honest)
    expect(book.score(honest.author)).toBe(0)
    book.record(await attest(keys[3]!, honest, true, 2.0), honest)
    expect(book.score(honest.author)).toBeGreaterThan(0)
    // The same attestation counts once.
    const a = await attest(keys[2]!, honest, true, 2.0)
    book.record(a, honest)
    const s = book.score(honest.author)
    book.record(a, honest)
    expect(book.score(honest.author)).toBe(s)
  })
})

describe('leaderboard', () => {
  it('ranks reproduced results first, by the attesters\' median, one row per content', async () => {
    const liar = await result(keys[0]!, { val_bpb: 0.5, description: 'lie' })
    const honest = await result(keys[1]!, { val_bpb: 2.0, description: 'honest' })
    const copy = await result(keys[2]!, { val_bpb: 2.01, description: 'honest', time: T + 5000 })
    const rows = computeLeaderboard([liar, honest, copy], [await attest(keys[2]!, honest, true, 2.1), await attest(keys[3]!, honest, true, 2.3), await attest(keys[2]!, liar, false, 1.2)])
    expect(rows.map(r => r.description)).toEqual(['honest', 'lie'])
    expect(rows[0]).toMatchObject({ rank: 1, attestations: 2, val_bpb: 2.2, author: honest.author })
    expect(rows[0]!.delta).toBeCloseTo(2.2 - 2.5)
    expect(rows[1]).toMatchObject({ rank: 2, attestations: 0, failed: 1, val_bpb: 0.5 })
    expect(computeLeaderboard([liar, honest], [], { limit: 1 })).toHaveLength(1)
    expect(computeLeaderboard([liar, honest], [], { track: 'gpu-h100' })).toEqual([])
  })
})

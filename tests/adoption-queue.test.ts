/**
 * The adoption inbox's queue under a flood of claims from free keys: a claim
 * with evidence behind it is never crowded out, one far beyond anything
 * verified here goes first, and one key holds a few places. Real store, real
 * trust book and tried view; the inbox is not started, so nothing is fetched.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Ed25519PrivateKey } from '@libp2p/interface'
import { defaultLogger } from '@libp2p/logger'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { contentHash, signMessage, type ResultMsg } from '../protocol/index.ts'
import type { SwarmComponents } from '../node/swarm/components.ts'
import { ADOPTION_MAX_FAITH_PER_AUTHOR, ADOPTION_MAX_PENDING } from '../node/swarm/constants.ts'
import { SwarmInbox, fetchFailure } from '../node/swarm/adoption-inbox.ts'
import { SwarmStore } from '../node/swarm/store.ts'
import { TriedView } from '../node/swarm/tried-view.ts'
import { TrustBook } from '../node/swarm/trust.ts'
import { cleanupFixtures, tempDir } from './helpers/fixtures.ts'
import { PROJECT, TRACK, T0, attestationBody, peerOf, resultBody } from './protocol-fixtures.ts'

afterAll(cleanupFixtures)

const BASE = { 'train.py': 'base' }
const MARGIN = 0.02
let me: Ed25519PrivateKey
let keys: Ed25519PrivateKey[]

beforeAll(async () => {
  me = await generateKeyPair('Ed25519')
  keys = await Promise.all(Array.from({ length: 2 * ADOPTION_MAX_PENDING + 4 }, async () => await generateKeyPair('Ed25519')))
})

async function claim (key: Ed25519PrivateKey, figure: number, tag: string, time = T0): Promise<ResultMsg> {
  return await signMessage(resultBody({ parent: contentHash(BASE), child: contentHash({ 'train.py': tag }), val_bpb: figure, metrics: { baseline_bpb: 2.5 }, description: tag, time }), key) as ResultMsg
}

async function makeInbox (): Promise<{ inbox: SwarmInbox, trust: TrustBook }> {
  const store = await SwarmStore.open(await tempDir('queue'), { self: peerOf(me) })
  const trust = new TrustBook({ self: peerOf(me), margin: MARGIN })
  const tried = new TriedView({ self: peerOf(me), trust, claims: () => [] })
  // No connections: the queue's policy is all this exercises.
  const components = { logger: defaultLogger(), connectionManager: { getConnections: () => [] } } as unknown as SwarmComponents
  const inbox = new SwarmInbox(components, {
    project: PROJECT, track: TRACK, self: peerOf(me), editable: ['train.py'], store, trust, tried, onEvent: () => {},
    // This node verified a gain of 0.05: a claimed gain over 0.15 is far.
    initial: { baseline: { content: contentHash(BASE), value: 2.5, files: BASE }, tried: new Set(), experiments: 10, largestGain: 0.05, margin: MARGIN, lineage: new Set([contentHash(BASE)]), stacked: new Set() }
  })
  return { inbox, trust }
}

describe('adoption queue under a flood of free keys', () => {
  it('gives up far claims first, then the least promising claim on faith; a few places per key', async () => {
    const { inbox } = await makeInbox()
    for (let i = 0; i < ADOPTION_MAX_PENDING; i++) expect(inbox.offer(await claim(keys[i]!, 0.01, `far ${i}`))).toBeNull()
    expect(inbox.size).toBe(ADOPTION_MAX_PENDING)
    // A plausible claim from a fresh key takes a far one's place.
    const honest = keys[ADOPTION_MAX_PENDING]!
    expect(inbox.offer(await claim(honest, 2.4, 'honest'))).toBeNull()
    expect(inbox.size).toBe(ADOPTION_MAX_PENDING)
    // Another far claim cannot push anything out while far ones remain... it takes the oldest far one's place at most.
    expect(inbox.offer(await claim(keys[ADOPTION_MAX_PENDING + 1]!, 0.02, 'far again'))).toBeNull()
    // One key holds at most ADOPTION_MAX_FAITH_PER_AUTHOR places, its newest claims: an older one is refused, a newer one replaces its oldest.
    for (let i = 1; i < ADOPTION_MAX_FAITH_PER_AUTHOR; i++) expect(inbox.offer(await claim(honest, 2.4 - i * 0.001, `honest ${i}`, T0 + i))).toBeNull()
    expect(inbox.offer(await claim(honest, 2.35, 'honest older', T0 - 1))).toMatchObject({ action: 'ignore', reason: expect.stringMatching(/newer claims of its author/) })
    expect(inbox.offer(await claim(honest, 2.35, 'honest newer', T0 + 100))).toBeNull()
    expect(inbox.size).toBe(ADOPTION_MAX_PENDING)

    // Now a queue full of plausible claims on faith: a worse one is refused, a better one displaces the worst.
    const plain = await makeInbox()
    for (let i = 0; i < ADOPTION_MAX_PENDING; i++) expect(plain.inbox.offer(await claim(keys[i]!, 2.4 - i * 1e-4, `p ${i}`))).toBeNull()
    expect(plain.inbox.offer(await claim(keys[ADOPTION_MAX_PENDING]!, 2.45, 'worse'))).toMatchObject({ action: 'ignore', reason: expect.stringMatching(/queue is full/) })
    expect(plain.inbox.offer(await claim(keys[ADOPTION_MAX_PENDING + 2]!, 2.36, 'better'))).toBeNull()
    expect(plain.inbox.size).toBe(ADOPTION_MAX_PENDING)
  })

  it('never turns away a claim with evidence for claims on faith, however promising they say they are', async () => {
    const { inbox, trust } = await makeInbox()
    for (let i = 0; i < ADOPTION_MAX_PENDING; i++) expect(inbox.offer(await claim(keys[i]!, 2.2, `faith ${i}`))).toBeNull()
    // An author this node verified: it reproduced and kept one of its claims.
    const known = keys[keys.length - 1]!
    const earlier = await claim(known, 2.45, 'earlier', T0 - 10_000)
    trust.add(earlier)
    trust.add(await signMessage(resultBody({ child: earlier.child, val_bpb: 2.45, metrics: { baseline_bpb: 2.5 }, description: 'mine', time: T0 - 5000 }), me) as ResultMsg)
    trust.add(await signMessage(attestationBody(earlier, { ok: true, val_bpb: 2.45 }), me) as any)
    expect(trust.standing(peerOf(known))).toBe('verified')
    // Its claim is worse than every claim on faith in the queue, and still goes in.
    expect(inbox.offer(await claim(known, 2.45, 'known'))).toBeNull()
    expect(inbox.size).toBe(ADOPTION_MAX_PENDING)
  })
})

describe('a failed fetch, as the trust book sees it', () => {
  it('blames the author for a held stream or a refusal, never for the network cutting the ask off', () => {
    expect(fetchFailure('timeout', true)).toBe('held')
    for (const code of ['not-found', 'rate-limited', 'protocol', 'too-large', 'internal', undefined]) expect(fetchFailure(code, true)).toBe('refused')
    // A relayed link that dropped mid-ask, a peer nobody can dial, a deadline that passed after the connection went: a blip.
    for (const code of ['closed', 'dial', 'aborted']) expect(fetchFailure(code, true)).toBe('cut')
    expect(fetchFailure('timeout', false)).toBe('cut')
  })
})

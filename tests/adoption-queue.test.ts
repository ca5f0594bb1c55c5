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
import type { AdoptionSnapshot } from '../trainer/loop.ts'
import { ADOPTION_MAX_FAITH_PER_AUTHOR, ADOPTION_MAX_PENDING } from '../node/swarm/constants.ts'
import { SwarmInbox } from '../node/swarm/adoption-inbox.ts'
import { fetchFailure } from '../node/swarm/result-content.ts'
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
    project: PROJECT, track: TRACK, self: peerOf(me), editable: ['train.py'], noiseMargin: MARGIN, store, trust, tried, onEvent: () => {},
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

/** The parent a keep below is made on, its child, and git's diff between them. */
const HELD = { 'train.py': 'A = 1\nB = 2\nC = 3\n' }
const CHILD = { 'train.py': 'A = 1\nB = 20\nC = 3\n' }
const DIFF = 'diff --git a/train.py b/train.py\nindex 1111111..2222222 100644\n--- a/train.py\n+++ b/train.py\n@@ -1,3 +1,3 @@\n A = 1\n-B = 2\n+B = 20\n C = 3\n'

/** A started inbox whose store holds HELD, its baseline, and no peer to fetch from; runs `body`, then stops. */
async function withHeldParent (privateSwarm: boolean, body: (i: { inbox: SwarmInbox, store: SwarmStore, snapshot: AdoptionSnapshot }) => Promise<void>): Promise<void> {
  const store = await SwarmStore.open(await tempDir('held'), { self: peerOf(me) })
  await store.putContent(HELD)
  const trust = new TrustBook({ self: peerOf(me), margin: MARGIN, privateSwarm })
  const tried = new TriedView({ self: peerOf(me), trust, claims: () => [] })
  const components = { logger: defaultLogger(), connectionManager: { getConnections: () => [] } } as unknown as SwarmComponents
  const snapshot = { baseline: { content: contentHash(HELD), value: 2.5, files: HELD }, tried: new Set<string>(), experiments: 10, largestGain: 0.05, margin: MARGIN, lineage: new Set([contentHash(HELD)]), stacked: new Set<string>() }
  const inbox = new SwarmInbox(components, { project: PROJECT, track: TRACK, self: peerOf(me), editable: ['train.py'], noiseMargin: MARGIN, store, trust, tried, onEvent: () => {}, initial: snapshot })
  inbox.start()
  try {
    await body({ inbox, store, snapshot })
  } finally {
    inbox.stop()
    store.close()
  }
}

describe('a keep made on content this node holds', () => {
  it('is rebuilt from the diff it carries, with no peer to fetch from, and only when that hashes to the content it names', async () => {
    // A private swarm: a member's confirmed keep is adopted with no run, so its content is wanted at once.
    await withHeldParent(true, async ({ inbox, store, snapshot }) => {
      const keep = (over: Partial<ResultMsg>): Promise<ResultMsg> => signMessage(resultBody({ parent: contentHash(HELD), child: contentHash(CHILD), diff: DIFF, val_bpb: 2.0, metrics: { baseline_bpb: 2.5, first_run: 2.0, confirm_run: 2.0 }, description: 'B 2 -> 20', time: T0, ...over }), keys[0]!) as Promise<ResultMsg>
      // The same diff under a result naming other content: the hash, not the diff, says what it is.
      const lying = await keep({ child: contentHash({ 'train.py': 'A = 1\nB = 99\nC = 3\n' }), description: 'lies', time: T0 + 1 })
      expect(inbox.offer(lying)).toBeNull()
      const honest = await keep({})
      expect(inbox.offer(honest)).toBeNull()
      const deadline = Date.now() + 5000
      while (await store.getContent(honest.child) == null && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
      expect(await store.getContent(honest.child)).toEqual(CHILD)
      expect(await store.getContent(lying.child)).toBeNull()
      expect(await inbox.next(snapshot, new AbortController().signal)).toMatchObject({ kind: 'adopt', files: CHILD, figure: 2.0 })
    })
  })

  it('is not rebuilt from its diff for a free key: a claim on faith is fetched like any other, so a flood of them cannot fill the store at gossip speed', async () => {
    // A public swarm: nobody is trusted yet.
    await withHeldParent(false, async ({ inbox, store }) => {
      // A plausible gain: worth a run on faith, so the inbox wants its content.
      const claim = await signMessage(resultBody({ parent: contentHash(HELD), child: contentHash(CHILD), diff: DIFF, val_bpb: 2.45, metrics: { baseline_bpb: 2.5 }, description: 'B 2 -> 20', time: T0 }), keys[1]!) as ResultMsg
      expect(inbox.offer(claim)).toBeNull()
      await new Promise(resolve => setTimeout(resolve, 500))
      expect(await store.getContent(claim.child)).toBeNull()
    })
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

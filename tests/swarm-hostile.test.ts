/**
 * Hostile gossip against a real `swarm-node start` process: raw peers publish
 * garbage, an oversized message, a result whose author is not its publisher,
 * a result with a broken signature and a result for another project on the
 * honest node's project topic. Each is rejected with its reason, the node
 * keeps running, and a valid result published afterwards is still accepted.
 *
 * GossipSub's peer score squares invalid deliveries: a third rejected message
 * graylists its sender (node/constants.ts), after which nothing it sends is
 * even looked at. So no raw peer here sends more than two bad messages.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { randomBytes } from 'node:crypto'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { contentHash, encodeMessage, messageId, sha256Hex, signMessage, type ResultMsg } from '../protocol/index.ts'
import { cleanupFixtures } from './helpers/fixtures.ts'
import {
  fixtureTrain, rawPublish, rawPublishMessage, rawSign, resultFor, startRawPeer, startTrainer, stopAll, untilSubscribed,
  type Ev, type RawPeer, type Trainer
} from './helpers/swarm-procs.ts'

afterEach(stopAll)
afterAll(cleanupFixtures)

describe('hostile gossip', () => {
  it('rejects each bad message with its reason, keeps running, and still accepts a valid result', async () => {
    const h = await startTrainer('H', { proposer: 'none' })
    const near = { project: h.project, bootstrap: [h.addr!] }
    const [r1, r2, r3] = await Promise.all([startRawPeer('R1', near), startRawPeer('R2', near), startRawPeer('R3', near)])
    await Promise.all([r1, r2, r3].map(async r => await untilSubscribed(r, [h.peerId])))

    const parent = contentHash({ 'train.py': await fixtureTrain() })
    const body = (o: Partial<Parameters<typeof resultFor>[0]> = {}): ReturnType<typeof resultFor> =>
      resultFor({ project: h.project, track: h.track, parent, child: parent, val_bpb: 1.3, status: 'discard', ...o })

    /** Publishes `bytes` from `r` directly to H and returns H's rejection of it. */
    const rejectedBy = async (r: RawPeer, bytes: Uint8Array, what: string): Promise<Ev> => {
      const from = h.proc.events.length
      expect(await rawPublish(r, bytes)).toBeGreaterThan(0)
      return await h.proc.waitFor(e => e.type === 'swarm:rejected' && e.from === r.peerId, 10_000, `H rejects ${what}`, from)
    }

    // R1: bytes that are no message at all, then a message far over the size limit.
    expect((await rejectedBy(r1, randomBytes(512), 'garbage')).reason).toMatch(/^bad-encoding: /)
    expect((await rejectedBy(r1, new TextEncoder().encode(`{"v":1,"pad":"${'x'.repeat(200 * 1024)}"}`), '200 KB')).reason).toMatch(/^too-large: .*exceeds the limit of 65536/)

    // R2: someone else's words replayed, then its own words with a broken signature.
    const stranger = await generateKeyPair('Ed25519')
    const replayed: ResultMsg = await signMessage(body({ description: 'signed by a stranger' }), stranger)
    expect((await rejectedBy(r2, encodeMessage(replayed), 'a result by another author')).reason).toMatch(new RegExp(`^author ${replayed.author} is not the publisher ${r2.peerId}$`))
    const signed = await rawSign<ResultMsg>(r2, body({ description: 'about to be tampered with' }))
    const tampered = { ...signed, sig: (signed.sig[0] === 'A' ? 'B' : 'A') + signed.sig.slice(1) }
    expect((await rejectedBy(r2, encodeMessage(tampered), 'a broken signature')).reason).toMatch(/^bad-signature: /)

    // R3: a well-signed result for another project, on this project's topic.
    const elsewhere = await rawSign<ResultMsg>(r3, body({ project: sha256Hex('another project') }))
    expect((await rejectedBy(r3, encodeMessage(elsewhere), 'another project\'s result')).reason).toMatch(/^wrong-project: /)

    // None of it was stored or acted on, and H is still up and listening.
    expect(h.proc.filter(e => e.type === 'swarm:received' || e.type === 'swarm:adoption-queued')).toEqual([])
    expect(h.proc.alive).toBe(true)

    // A valid result after all that still goes through (from a peer with one strike).
    const from = h.proc.events.length
    const valid = await rawSign<ResultMsg>(r3, body({ description: 'an honest discard' }))
    expect(await rawPublishMessage(r3, valid)).toBeGreaterThan(0)
    const got = await h.proc.waitFor(e => e.type === 'swarm:received' && e.kind === 'result', 10_000, 'H accepts the valid result', from)
    expect(got).toMatchObject({ id: messageId(valid), author: r3.peerId })
    expect(h.proc.filter(e => e.type === 'swarm:rejected')).toHaveLength(5)
    expect(h.proc.alive).toBe(true)
    await stopsCleanly(h)
  }, 80_000)
})

/** A node that survived the barrage still stops cleanly. */
async function stopsCleanly (h: Trainer): Promise<void> {
  expect(await h.proc.stop()).toBe(0)
  expect(h.proc.events.some(e => e.type === 'stopped')).toBe(true)
}

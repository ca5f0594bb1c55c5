/**
 * The sync scheduler's memory of peers is bounded: peer ids are free, so a
 * stream of fresh ids must not grow it. The least recently tried peer is the
 * one forgotten, and a forgotten peer is simply synced with again.
 */
import '../node/polyfills.js'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { describe, expect, it } from 'vitest'
import { createSwarmLibp2p } from '../node/libp2p.ts'
import { swarmComponents } from '../node/swarm/components.ts'
import { SyncMemory, syncScheduler, type SyncEvent } from '../node/swarm/sync-scheduler.ts'
import { handleRequests } from '../node/streams.ts'
import { SYNC_PROTOCOL } from '../protocol/index.ts'

const freshPeer = async (): Promise<string> => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()

describe('SyncMemory', () => {
  it('keeps at most max peers, forgetting the least recently set', () => {
    const m = new SyncMemory(3)
    for (const p of ['a', 'b', 'c']) m.set(p, { tried: 1 })
    m.set('a', { tried: 2, synced: 2 }) // a is now the most recent: b is the oldest
    m.set('d', { tried: 3 })
    expect(m.size).toBe(3)
    expect(m.get('b')).toBeUndefined()
    expect(m.get('a')).toEqual({ tried: 2, synced: 2 })
    expect(m.get('c')).toEqual({ tried: 1 })
    for (let i = 0; i < 1000; i++) m.set(`x${i}`, { tried: i })
    expect(m.size).toBe(3)
    expect([m.get('x997'), m.get('x998'), m.get('x999')].every(e => e != null)).toBe(true)
    expect(() => new SyncMemory(0)).toThrow(RangeError)
  })
})

describe('SyncScheduler', () => {
  it('remembers a bounded number of peers; a remembered peer waits, a forgotten one is tried again', async () => {
    const node = await createSwarmLibp2p({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], local: true, mdns: false })
    try {
      const events: SyncEvent[] = []
      const sync = syncScheduler({ project: 'c'.repeat(64), accept: async () => true, onEvent: e => events.push(e), maxPeers: 4 })(swarmComponents(node))
      sync.start()
      // Peers whose one address refuses at once (nothing listens on 127.0.0.1:1): each try ends in a note, which counts the tries.
      const peers = await Promise.all(Array.from({ length: 6 }, freshPeer))
      for (const p of peers) await node.peerStore.merge(peerIdFromString(p), { multiaddrs: [multiaddr('/ip4/127.0.0.1/tcp/1')] })
      const tries = (peer: string): number => events.filter(e => e.type === 'note' && e.message.includes(peer.slice(-8))).length
      for (const p of peers) await sync.syncWith(p)
      expect(peers.map(tries)).toEqual([1, 1, 1, 1, 1, 1])
      expect(sync.remembered).toBe(4)

      await sync.syncWith(peers[5]!) // remembered, tried moments ago: not again
      await sync.syncWith(peers[0]!) // forgotten: tried again
      expect(tries(peers[5]!)).toBe(1)
      expect(tries(peers[0]!)).toBe(2)
      expect(sync.remembered).toBe(4)
      sync.stop()
    } finally {
      await node.stop()
    }
  }, 60_000)

  it('asks a connected peer again every round, so what gossip missed still arrives', async () => {
    const opts = { listen: ['/ip4/127.0.0.1/tcp/0'], local: true, mdns: false }
    const [a, b] = await Promise.all([0, 1].map(async () => await createSwarmLibp2p({ privateKey: await generateKeyPair('Ed25519'), ...opts })))
    try {
      // A answers every sync request with an empty last page, and counts them.
      let asked = 0
      await handleRequests(a!, SYNC_PROTOCOL, { maxRequestBytes: 1024, timeoutMs: 5000 }, async () => { asked++; return [new TextEncoder().encode(JSON.stringify({ more: false }))] })
      const sync = syncScheduler({ project: 'c'.repeat(64), accept: async () => true, onEvent: () => {}, againAfterMs: 100, roundMs: 250 })(swarmComponents(b!))
      sync.start()
      await b!.dial(a!.getMultiaddrs()[0]!)
      await new Promise(resolve => setTimeout(resolve, 2000))
      sync.stop()
      const after = asked
      // Once when identified, then about once a round; none after stop.
      expect(after).toBeGreaterThanOrEqual(4)
      await new Promise(resolve => setTimeout(resolve, 600))
      expect(asked).toBe(after)
    } finally {
      await Promise.all([a!.stop(), b!.stop()])
    }
  }, 60_000)
})

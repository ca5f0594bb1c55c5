import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { Message as GossipMessage } from '@libp2p/gossipsub'
import { describe, expect, it } from 'vitest'
import { encodeMessage, signMessage } from '../protocol/index.ts'
import { parseLimits } from '../node/limits-file.ts'
import { TokenBuckets } from '../node/rate-limit.ts'
import { GossipGate } from '../node/swarm/gossip-check.ts'
import { PROJECT, T0, resultBody } from './protocol-fixtures.ts'

describe('token buckets', () => {
  it('allow a burst, then refill evenly over the minute', () => {
    const b = new TokenBuckets({ burst: 3, perMinute: 60 })
    const t = 1_000_000
    expect([b.take('p', t), b.take('p', t), b.take('p', t), b.take('p', t)]).toEqual([true, true, true, false])
    expect(b.take('other', t)).toBe(true) // buckets are per key
    expect(b.take('p', t + 500)).toBe(false) // half a token
    expect(b.take('p', t + 1000)).toBe(true) // one a second
    expect(b.level('p', t + 60_000)).toBe(3) // never above the burst
    expect(b.has('p', t + 1000)).toBe(false)
    expect(b.take('p', t + 3000, 2)).toBe(true)
  })

  it('remember at most maxKeys keys, forgetting the least recently used', () => {
    const b = new TokenBuckets({ burst: 1, perMinute: 0 }, 100)
    for (let i = 0; i < 10_000; i++) b.take(`k${i}`, 0)
    expect(b.size).toBe(100)
    expect(b.take('k9999', 0)).toBe(false) // recent: remembered, empty
    expect(b.take('k0', 0)).toBe(true) // forgotten: a full bucket again
  })

  it('refuse nonsense rates', () => {
    expect(() => new TokenBuckets({ burst: 0, perMinute: 1 })).toThrow(RangeError)
    expect(() => new TokenBuckets({ burst: 1, perMinute: -1 })).toThrow(RangeError)
  })
})

async function gossip (key: Awaited<ReturnType<typeof generateKeyPair>>, over: Parameters<typeof resultBody>[0] = {}): Promise<GossipMessage> {
  const m = await signMessage(resultBody({ time: T0, ...over }), key)
  return { type: 'signed', from: peerIdFromPrivateKey(key), data: encodeMessage(m), topic: 't', sequenceNumber: 1n, signature: new Uint8Array(64), key: key.publicKey } as unknown as GossipMessage
}

describe('gossip gate', () => {
  it('limits per forwarding peer, per author and new authors together, cheapest first, and ignores rather than rejects', async () => {
    const notes: string[] = []
    const known = new Set<string>()
    const gate = new GossipGate({
      project: PROJECT,
      limits: { perPeer: { burst: 8, perMinute: 0 }, perAuthor: { burst: 2, perMinute: 0 }, newAuthors: { burst: 3, perMinute: 0 } },
      known: a => known.has(a),
      onNote: n => notes.push(n)
    })
    const keys = await Promise.all(Array.from({ length: 5 }, async () => await generateKeyPair('Ed25519')))
    const now = Date.now()
    const verdicts = []
    // Five fresh authors through one relay: three get in, two wait for the new-author budget.
    for (const [i, k] of keys.entries()) verdicts.push(await gate.check('relay', await gossip(k, { description: `a${i}` }), now))
    expect(verdicts.map(v => v.ok ? 'ok' : v.reason)).toEqual(['ok', 'ok', 'ok', 'new-author-rate', 'new-author-rate'])
    expect(verdicts.every(v => v.ok || !v.reject)).toBe(true)
    // An author this node already knows does not draw on the new-author budget.
    known.add(peerIdFromPrivateKey(keys[4]!).toString())
    expect((await gate.check('relay', await gossip(keys[4]!, { description: 'known' }), now)).ok).toBe(true)
    // Per author: its second message passes, its third does not.
    expect((await gate.check('relay', await gossip(keys[0]!, { description: 'again' }), now)).ok).toBe(true)
    expect(await gate.check('relay', await gossip(keys[0]!, { description: 'third' }), now)).toMatchObject({ ok: false, reject: false, reason: 'author-rate' })
    // Per peer: the relay has spent its eight.
    expect(await gate.check('relay', await gossip(keys[1]!, { description: 'b' }), now)).toMatchObject({ ok: false, reject: false, reason: 'peer-rate' })
    expect((await gate.check('another', await gossip(keys[1]!, { description: 'b' }), now)).ok).toBe(true)
    // Limits come before the protocol checks; a bad message within them is still rejected.
    const forged = await gossip(keys[2]!, { description: 'x' })
    expect(await gate.check('another', { ...forged, data: new TextEncoder().encode('garbage') } as GossipMessage, now)).toMatchObject({ ok: false, reject: true })
    expect(gate.stats()).toEqual({ 'peer-rate': 1, 'peer-flood': 0, 'author-rate': 1, 'new-author-rate': 2 })
    expect(notes).toHaveLength(1)
    // The first refusal is told at once, later ones summed up once a minute.
    expect(notes[0]).toBe('rate limits: turned away 1 over the new-author rate; none stored or forwarded')
  })

  it('rejects a peer that keeps sending at over twice its allowance (GossipSub graylists it) and hangs up on it', async () => {
    const hungUp: string[] = []
    const gate = new GossipGate({ project: PROJECT, limits: { perPeer: { burst: 3, perMinute: 0 }, newAuthors: { burst: 100, perMinute: 0 } }, onFlood: p => hungUp.push(p) })
    const keys = await Promise.all(Array.from({ length: 8 }, async () => await generateKeyPair('Ed25519')))
    const verdicts = []
    const now = Date.now()
    for (const k of keys) verdicts.push(await gate.check('flooder', await gossip(k), now))
    expect(verdicts.map(v => v.ok ? 'ok' : `${v.reason}${v.reject ? ' (reject)' : ''}`)).toEqual(['ok', 'ok', 'ok', 'peer-rate', 'peer-rate', 'peer-rate', 'peer-flood (reject)', 'peer-flood (reject)'])
    // And the node hangs up on it, once.
    expect(hungUp).toEqual(['flooder'])
  })

  it('applies the author limits to synced messages too', async () => {
    const gate = new GossipGate({ project: PROJECT, limits: { perAuthor: { burst: 1, perMinute: 0 }, newAuthors: { burst: 2, perMinute: 0 } } })
    const keys = await Promise.all(Array.from({ length: 3 }, async () => await generateKeyPair('Ed25519')))
    const msgs = await Promise.all(keys.map(async k => await signMessage(resultBody(), k)))
    expect(msgs.map(m => gate.admitSynced(m))).toEqual([{ ok: true }, { ok: true }, { ok: false, reason: 'new-author-rate' }])
    expect(gate.admitSynced(msgs[0]!)).toEqual({ ok: false, reason: 'author-rate' })
  })
})

describe('limits.json', () => {
  it('overrides what it names and refuses what it does not know, saying where', () => {
    expect(parseLimits({ store: { maxBytes: 1 << 20, authorMaxBytes: 1 << 16 }, gossip: { perPeer: { burst: 5 } } })).toEqual({
      store: { maxBytes: 1 << 20, authorMaxBytes: 1 << 16 },
      gossip: { perPeer: { burst: 5, perMinute: 600 } }
    })
    expect(parseLimits({})).toEqual({ store: {}, gossip: {} })
    expect(() => parseLimits({ store: { maxBytes: -1 } }, 'f')).toThrow('f: store.maxBytes must be a positive integer, got -1')
    expect(() => parseLimits({ store: { maxByte: 1 } }, 'f')).toThrow(/f: store\.maxByte is not a limit/)
    expect(() => parseLimits({ gossip: { perPeer: { burst: 'many' } } }, 'f')).toThrow(/gossip\.perPeer\.burst must be a positive integer/)
    expect(() => parseLimits({ store: { maxBytes: 10, authorMaxBytes: 100 } }, 'f')).toThrow(/authorMaxBytes .* is over maxBytes/)
    expect(() => parseLimits([], 'f')).toThrow('f: the file must be an object')
  })
})

describe('stream request limits', () => {
  it('limit each peer, and all peers together, so fresh peer ids do not buy more work', async () => {
    const { createLibp2p } = await import('libp2p')
    const { tcp } = await import('@libp2p/tcp')
    const { noise } = await import('@libp2p/noise')
    const { yamux } = await import('@libp2p/yamux')
    const { handleRequests, request } = await import('../node/streams.ts')
    const bare = async (listen: string[] = []): Promise<import('@libp2p/interface').Libp2p> =>
      await createLibp2p({ addresses: { listen }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] })
    const server = await bare(['/ip4/127.0.0.1/tcp/0'])
    const clients = await Promise.all([bare(), bare(), bare()])
    try {
      await handleRequests(server, '/swarm-node-test/busy/1.0.0', { maxRequestBytes: 64, timeoutMs: 5000, rateLimit: { perPeerPerMinute: 2, totalPerMinute: 4 } }, async req => req)
      const ask = async (c: typeof server): Promise<string> =>
        await request(c, server.getMultiaddrs()[0]!, '/swarm-node-test/busy/1.0.0', Uint8Array.of(1), { maxResponseBytes: 64, timeoutMs: 5000 }).then(() => 'ok', (err: any) => `${err.code}: ${err.message}`)
      const got = []
      for (const c of [clients[0]!, clients[0]!, clients[0]!, clients[1]!, clients[1]!, clients[2]!]) got.push(await ask(c))
      expect(got).toEqual([
        'ok', 'ok', 'rate-limited: peer: too many requests, slow down', // one peer's two
        'ok', 'ok', 'rate-limited: peer: too many requests from everyone, try again later' // four in all
      ])
    } finally {
      await Promise.all([server, ...clients].map(async n => { await n.stop() }))
    }
  })
})

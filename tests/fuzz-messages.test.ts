/**
 * In-process fuzz of what every gossiped (or synced) message goes through:
 * the gossip gate (limits, size, encoding, schema, canonical form, signature,
 * author = publisher, project) and then the store's admission. 10,000 inputs:
 * valid random messages, valid ones broken after signing, schema-breaking
 * values signed anyway, replays under another publisher, random bytes and
 * random JSON. Nothing throws, nothing invalid is stored, the store stays
 * under its quota and the heap stays bounded.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Message as GossipMessage } from '@libp2p/gossipsub'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { Ed25519PrivateKey } from '@libp2p/interface'
import { afterAll, describe, expect, it } from 'vitest'
import { decodeMessage, encode, encodeMessage, signMessage, type Message } from '../protocol/index.ts'
import { GossipGate } from '../node/swarm/gossip-check.ts'
import { SwarmStore } from '../node/swarm/store.ts'
import { cleanupFixtures, tempDir } from './helpers/fixtures.ts'
import { Rng, mutateBytes, mutateValue, randomBody, randomJson } from './helpers/fuzz.ts'
import { PROJECT } from './protocol-fixtures.ts'
import { forceSign } from './protocol-fixtures.ts'

afterAll(cleanupFixtures)

const COUNT = 10_000
const MAX_BYTES = 256 * 1024

describe('message fuzz', () => {
  it(`${COUNT} random and mutated messages through the gossip gate and the store`, async () => {
    const r = new Rng(20261202)
    const keys = await Promise.all(Array.from({ length: 40 }, async () => await generateKeyPair('Ed25519') as Ed25519PrivateKey))
    const store = await SwarmStore.open(await tempDir('fuzz-store'), { limits: { maxBytes: MAX_BYTES, authorMaxBytes: 32 * 1024, authorMaxDiscards: 10 } })
    // Limits wide open: every input reaches the protocol checks.
    const gate = new GossipGate({ project: PROJECT, limits: { perPeer: { burst: 1e9, perMinute: 1e9 }, perAuthor: { burst: 1e9, perMinute: 1e9 }, newAuthors: { burst: 1e9, perMinute: 1e9 } } })
    const gossip = (key: Ed25519PrivateKey, data: Uint8Array): GossipMessage =>
      ({ type: 'signed', from: peerIdFromPrivateKey(key), data, topic: 't', sequenceNumber: 1n, signature: new Uint8Array(64), key: key.publicKey }) as unknown as GossipMessage
    const tally: Record<string, number> = {}
    const heapBefore = process.memoryUsage().heapUsed
    for (let i = 0; i < COUNT; i++) {
      const key = r.pick(keys)
      const signed = await signMessage(randomBody(r, PROJECT, Date.now()) as any, key) as Message
      let data: Uint8Array
      let publisher = key
      let kind: string
      switch (r.int(6)) {
        case 0: kind = 'valid'; data = encodeMessage(signed); break
        case 1: kind = 'bytes-mutated'; data = mutateBytes(r, encodeMessage(signed)); break
        case 2: {
          kind = 'value-mutated-signed'
          // Signed anyway where the canonical encoder can write it; plain JSON where it cannot.
          const mutated = mutateValue(r, signed as unknown as Record<string, unknown>)
          try { data = encode(await forceSign(mutated, key)) } catch { data = new TextEncoder().encode(JSON.stringify(mutated)) }
          break
        }
        case 3: kind = 'replayed'; data = encodeMessage(signed); publisher = r.pick(keys.filter(k => k !== key)); break
        case 4: kind = 'random-json'; data = new TextEncoder().encode(JSON.stringify(randomJson(r, 5))); break
        default: kind = 'random-bytes'; data = r.bytes(r.int(2048))
      }
      const v = await gate.check('fuzzer', gossip(publisher, data))
      const outcome = v.ok ? await store.admit(v.message) : v.reject ? 'rejected' : 'ignored'
      tally[`${kind}:${outcome}`] = (tally[`${kind}:${outcome}`] ?? 0) + 1
      // Only untouched, correctly published messages get past the gate.
      if (v.ok) expect(kind, `input ${i} (${kind}) was accepted`).toMatch(/^valid$|^bytes-mutated$|^value-mutated-signed$/)
    }
    console.log(`fuzz tally: ${JSON.stringify(tally)}`)
    expect(Object.entries(tally).filter(([k]) => /^(replayed|random-json|random-bytes):/.test(k) && !k.endsWith(':rejected'))).toEqual([])
    expect(tally['valid:stored'] ?? 0).toBeGreaterThan(100)

    // Whatever the store holds is a message that decodes and verifies, byte for byte.
    const held = [...store.results(), ...store.attestations()]
    expect(held.length).toBeGreaterThan(0)
    for (const m of held) await decodeMessage(encodeMessage(m), { expectProject: PROJECT })
    expect(store.stats().bytes).toBeLessThanOrEqual(MAX_BYTES)
    expect(store.claims().length + store.statuses().length).toBeLessThanOrEqual(2 * keys.length)
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(200 * 1024 * 1024)
    store.close()
  }, 180_000)
})

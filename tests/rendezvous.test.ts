/**
 * Rendezvous on the Amino DHT: the CID recipe (every node must derive the
 * same one), and the service on loopback, in one process: stand-in DHT nodes
 * on `/ipfs/kad/1.0.0`, two swarm nodes that know only the stand-ins and meet
 * by provider records, and a third in a named swarm that must not meet them.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p, type Libp2p } from 'libp2p'
import { afterAll, describe, expect, it } from 'vitest'
import { createSwarmLibp2p, type SwarmLibp2p } from '../node/libp2p.ts'
import { AMINO_PROTOCOL } from '../node/rendezvous/index.ts'
import { checkSwarmName, rendezvousCid, rendezvousNamespace } from '../protocol/index.ts'

const PROJECT = 'ab'.repeat(32)
const stop: Array<{ stop: () => Promise<void> | void }> = []
afterAll(async () => { await Promise.all(stop.map(async n => { await n.stop() })) })

async function until (check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

describe('the rendezvous key', () => {
  it('is CIDv1, raw, sha256 of a namespace built from the project id and the swarm name', async () => {
    expect(rendezvousNamespace(PROJECT)).toBe(`/swarm-node/1/${PROJECT}/rendezvous`)
    expect(rendezvousNamespace(PROJECT, 'team-a')).toBe(`/swarm-node/1/${PROJECT}/rendezvous/team-a`)
    const cid = await rendezvousCid(rendezvousNamespace(PROJECT))
    expect(cid.version).toBe(1)
    expect(cid.code).toBe(0x55) // raw
    expect(cid.multihash.code).toBe(0x12) // sha2-256
    // Pinned: nodes of every version must meet at the same key.
    expect(cid.toString()).toBe((await rendezvousCid(`/swarm-node/1/${PROJECT}/rendezvous`)).toString())
    expect(Buffer.from(cid.multihash.digest).toString('hex')).toBe(
      (await import('node:crypto')).createHash('sha256').update(`/swarm-node/1/${PROJECT}/rendezvous`).digest('hex'))
    expect((await rendezvousCid(rendezvousNamespace(PROJECT, 'team-a'))).equals(cid)).toBe(false)
    expect((await rendezvousCid(rendezvousNamespace('cd'.repeat(32)))).equals(cid)).toBe(false)
  })
  it('refuses bad project ids and swarm names', () => {
    expect(() => rendezvousNamespace('nope')).toThrow(/project/)
    for (const bad of ['', ' x', 'a/b', 'x'.repeat(65), '.hidden']) expect(() => checkSwarmName(bad), bad).toThrow(/swarm/)
    expect(checkSwarmName('Team_1.b-2')).toBe('Team_1.b-2')
  })
})

async function standin (): Promise<Libp2p> {
  const node = await createLibp2p({
    privateKey: await generateKeyPair('Ed25519'),
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { inboundConnectionThreshold: 1000 },
    services: { identify: identify(), ping: ping(), dht: kadDHT({ protocol: AMINO_PROTOCOL, clientMode: false, peerInfoMapper: passthroughMapper }) }
  })
  stop.push(node)
  return node
}

async function member (amino: string[], swarm?: string): Promise<SwarmLibp2p> {
  const node = await createSwarmLibp2p({
    privateKey: await generateKeyPair('Ed25519'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    local: true,
    mdns: false,
    amino: { bootstrap: amino, namespaces: [rendezvousNamespace(PROJECT, swarm)] }
  })
  stop.push(node)
  return node
}

describe('rendezvous service on loopback', () => {
  it('two nodes that know only the DHT stand-ins meet by provider records; a named swarm stays apart', async () => {
    const standins = await Promise.all([standin(), standin(), standin()])
    for (const a of standins) for (const b of standins) if (a !== b) await a.dial(b.getMultiaddrs()[0]!)
    const amino = standins.map(s => s.getMultiaddrs()[0]!.toString())

    const t0 = Date.now()
    const [a, b, other] = await Promise.all([member(amino), member(amino), member(amino, 'elsewhere')])
    const id = (n: SwarmLibp2p): string => n.peerId.toString()
    await until(() => a.services.peerExchange.connectedPeers().has(id(b)) && b.services.peerExchange.connectedPeers().has(id(a)), 20_000, 'A and B linked')
    console.log(`rendezvous on loopback: A and B linked ${Date.now() - t0} ms after start`)
    for (const n of [a, b]) {
      const [ns] = n.services.rendezvous!.status()
      expect(ns!.providedAt).not.toBeNull()
      expect(ns!.providedTo).toBeGreaterThan(0)
    }
    // The named swarm announced and looked too, but under its own key: it meets nobody.
    await until(() => other.services.rendezvous!.status()[0]!.lookedUpAt != null, 10_000, 'the named swarm\'s lookup')
    expect(other.services.rendezvous!.status()[0]!.providers).toBe(0)
    expect(other.services.peerExchange.connectedPeers().size).toBe(0)
    expect(other.getPeers().map(String)).not.toContain(id(a))
    // Amino peers are not members: A's member count is B alone.
    expect([...a.services.peerExchange.connectedPeers()]).toEqual([id(b)])
  }, 40_000)
})

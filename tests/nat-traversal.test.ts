/**
 * A public swarm across simulated hosts (network namespaces): three stand-ins
 * for the public Amino DHT and one reachable swarm node R (`swarm-node
 * bootstrap`) on "the internet", and two trainers, A and B, each behind its
 * own home router that masquerades (B's strictly: a random port per
 * connection). A and B are given no address of each other, nor R's: only the
 * stand-ins'. They find R at the hubs' rendezvous on the DHT, reserve a slot
 * on it (it relays), announce their relay addresses at their project's
 * rendezvous, find each other there, link through the relay (DCUtR tries to
 * make the link direct), and B adopts A's keep: the result by gossip through
 * R, the content fetched from A over the link. The test prints whether the
 * A-B link ended direct or relayed.
 *
 * Needs root, iproute2 and nftables; skips with the reason otherwise.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HUBS_NAMESPACE } from '../protocol/index.ts'
import { cleanupFixtures } from './helpers/fixtures.ts'
import { INTERNET_PREFIX, Netns, netnsUnavailable } from '../scripts/netns.ts'
import { nsPeers, nsStatus, startAminoStandins, startNsBootstrap, startNsTrainer, SWARM_PORT } from './helpers/netns-swarm.ts'
import { adopted, stopAll, type Ev } from './helpers/swarm-procs.ts'

const unavailable = await netnsUnavailable()
if (unavailable != null) console.log(`nat-traversal: skipped: ${unavailable}`)

const net = new Netns('snpn')
const ip = (n: number): string => `${INTERNET_PREFIX}.${n}`
// With seed 12, A's first candidate is kept (see swarm-adoption.test.ts).
const SEED = 12

afterAll(async () => {
  await stopAll()
  await net.destroy()
  await cleanupFixtures()
})

describe.skipIf(unavailable != null)('public swarm across NATs', () => {
  beforeAll(async () => { await net.clear() })

  it('two NATed nodes find each other by rendezvous, link through a relay, and one adopts the other\'s keep', async () => {
    const t0 = Date.now()
    const mark = (what: string): string => `${what} at ${((Date.now() - t0) / 1000).toFixed(1)} s`
    const timeline: string[] = []

    await net.internet()
    const dht = await net.publicHost('dht', ip(2))
    const rHost = await net.publicHost('r', ip(3))
    const aHome = await net.behindNat('a', ip(11), 1)
    const bHome = await net.behindNat('b', ip(12), 2, { symmetric: true })
    timeline.push(mark('hosts up'))

    const amino = await startAminoStandins(dht.ns, dht.ip, 3)
    const r = await startNsBootstrap('R', rHost.ns, { amino: amino.addrs })
    const [a, b] = await Promise.all([
      startNsTrainer('A', aHome.ns, { amino: amino.addrs, seed: SEED, confirm: false }),
      startNsTrainer('B', bHome.ns, { amino: amino.addrs, proposer: 'none' })
    ])
    timeline.push(mark('nodes listening'))
    // Nobody was told where another swarm node is: the only addresses given are the stand-ins'.
    for (const t of [r, a, b]) {
      expect(t.args.filter(x => x.includes('/p2p/')).every(x => amino.addrs.includes(x))).toBe(true)
      expect(t.args).not.toContain('--bootstrap')
    }

    // R relays from the start and learns from AutoNAT that it is public; A and B learn they are behind NATs.
    await r.proc.waitFor(e => e.type === 'reachability' && e.reachability === 'public' && e.relaying === true, 30_000, 'R public and relaying')
    timeline.push(mark('R public'))
    // A and B found R at the hubs' rendezvous (they were never told of it).
    for (const t of [a, b]) await t.proc.waitFor(e => e.type === 'rendezvous' && e.op === 'lookup' && e.namespace === HUBS_NAMESPACE && e.providers >= 1, 45_000, `${t.name} finds R as a hub`)
    const viaR = async (t: typeof a): Promise<Ev> => await t.proc.waitFor(e => e.type === 'reachability' && e.reachability === 'private' && e.relays.includes(r.peerId), 45_000, `${t.name} reachable through R`)
    await Promise.all([viaR(a), viaR(b)])
    timeline.push(mark('A and B hold reservations on R'))

    // A and B link with each other, found by rendezvous alone: first through the relay.
    const linked = (t: typeof a, other: string) => (e: Ev): boolean => e.type === 'swarm:peer' && e.peer === other
    const [ab, ba] = await Promise.all([
      a.proc.waitFor(linked(a, b.peerId), 60_000, 'A linked with B'),
      b.proc.waitFor(linked(b, a.peerId), 60_000, 'B linked with A')
    ])
    timeline.push(mark('A and B linked'))
    for (const e of [ab, ba]) {
      // Never the other's home address: through the relay, or its router's public address after a hole punch.
      expect(e.addr).not.toMatch(/\/ip4\/10\.0\./)
    }
    const firstLinks = [...a.proc.filter(linked(a, b.peerId)), ...b.proc.filter(linked(b, a.peerId))]
    expect(firstLinks.some(e => e.addr.includes('/p2p-circuit')), 'the first link went through the relay').toBe(true)

    // A's keep travels (gossip through R, which follows the project now; the content fetched from A over the link) and B adopts it.
    await a.proc.waitFor(e => e.type === 'experiment-end' && e.record.status === 'keep', 60_000, 'a keep on A')
    const end = await b.proc.waitFor(adopted(a.peerId, 'keep'), 120_000, 'B adopts A\'s keep')
    timeline.push(mark('B adopted A\'s keep'))
    const aKeeps = a.proc.filter(e => e.type === 'experiment-end' && e.record.status === 'keep').map(e => e.record.child)
    expect(aKeeps).toContain(end.record.child)
    expect(end.record.origin.author).toBe(a.peerId)

    // How the A-B link ended, and what status says of reachability and links.
    const [sa, sb] = await Promise.all([nsStatus(a), nsStatus(b)])
    for (const s of [sa, sb]) {
      expect(s.network.reachability).toBe('private')
      expect(s.network.relays).toContain(r.peerId)
      expect(s.network.amino).not.toBeNull()
    }
    const linkAB = sa.network.links.find((l: any) => l.peer === b.peerId) ?? null
    const linkBA = sb.network.links.find((l: any) => l.peer === a.peerId) ?? null
    expect(sa.network.links.find((l: any) => l.peer === r.peerId)).toMatchObject({ kind: 'direct', transport: 'tcp' })
    // `peers` shows the same link kinds.
    expect((await nsPeers(a)).find(p => p.peer === r.peerId)?.link).toMatchObject({ kind: 'direct', transport: 'tcp' })
    const ended = linkAB?.kind ?? linkBA?.kind ?? 'closed'
    console.log(`nat-traversal: the A-B link ended ${ended}${linkAB != null ? ` (${linkAB.transport}${linkAB.relay != null ? ` via R` : ''})` : ''}; ${timeline.join(', ')}; B's NAT is symmetric, R at ${rHost.ip}:${SWARM_PORT}`)
  }, 300_000)
})

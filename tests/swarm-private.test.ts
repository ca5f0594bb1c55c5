/**
 * A private swarm on loopback: a bootstrap node and two trainers holding key
 * K. Two outsiders run the same project and try to join through the same
 * addresses: X with another key, Y with none. The members work together
 * (a member's improvement is taken by the other with no run: a member's
 * keep is evidence in a private swarm); the outsiders never get a
 * connection, never receive anything, and nothing of theirs reaches a
 * member; every peer a member ever linked with is a member.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { cleanupFixtures } from './helpers/fixtures.ts'
import { adopted, keygen, startBootstrap, startTrainer, stopAll, type Ev } from './helpers/swarm-procs.ts'
import { storedMessages } from './helpers/store-read.ts'

afterEach(stopAll)
afterAll(cleanupFixtures)

const results = (e: Ev): boolean => e.type === 'experiment-end' && e.record.status !== 'baseline'

describe('private swarm', () => {
  it('keeps outsiders out and talks only to members', async () => {
    const [key, otherKey] = await Promise.all([keygen('K'), keygen('K2')])
    const pb = await startBootstrap({ name: 'PB', swarmKey: key })
    const [p1, p2] = await Promise.all([
      startTrainer('P1', { bootstrap: [pb.addr], swarmKey: key, seed: 12, confirm: false }),
      startTrainer('P2', { bootstrap: [pb.addr], swarmKey: key, proposer: 'none', statusInterval: 1 })
    ])
    // The outsiders know the members' addresses and run the same project (same seed: they would publish the same finds).
    const door = [pb.addr, p1.addr!, p2.addr!]
    const [x, y] = await Promise.all([
      startTrainer('X', { bootstrap: door, swarmKey: otherKey, seed: 12, confirm: false }),
      startTrainer('Y', { bootstrap: door, seed: 12, confirm: false })
    ])
    const members = new Set([pb.peerId, p1.peerId, p2.peerId])

    // Inside: P1's improvement (decisive: kept on one run) is P2's baseline with no run of P2's own, and P1 hears P2.
    const end = await p2.proc.waitFor(adopted(p1.peerId, 'adopted'), 30_000, 'P2 adopts P1\'s keep')
    expect(end.record.origin).toMatchObject({ how: 'adopt', evidence: expect.stringMatching(/member's confirmed keep/) })
    await p1.proc.waitFor(e => e.type === 'swarm:received' && e.kind === 'status' && e.author === p2.peerId, 10_000, 'P1 hears P2')
    // Outside, meanwhile, X and Y researched and published, dialling the members all along.
    for (const o of [x, y]) await o.proc.waitFor(e => e.type === 'swarm:published' && e.kind === 'result', 20_000, `${o.name} publishes`)
    await stopAll()

    for (const m of [p1, p2]) {
      const linked = m.proc.filter(e => e.type === 'swarm:peer')
      expect(linked.length, `${m.name} linked with someone`).toBeGreaterThan(0)
      expect(linked.map(e => e.peer).filter(p => !members.has(p)), `${m.name} linked only with members`).toEqual([])
      expect(linked.map(e => e.addr).filter(a => !/^\/ip4\/127\.0\.0\.1\/tcp\/\d+/.test(a))).toEqual([])
      const heard = m.proc.filter(e => e.type === 'swarm:received').map(e => e.author)
      expect(heard.filter(a => !members.has(a)), `${m.name} heard only members`).toEqual([])
      expect(m.proc.filter(e => e.type === 'swarm:synced').map(e => e.peer).filter(p => !members.has(p))).toEqual([])
      expect(m.proc.filter(e => e.type === 'swarm:rejected')).toEqual([])
    }
    expect(p1.proc.filter(e => e.type === 'swarm:peer').map(e => e.peer)).toContain(pb.peerId)

    for (const o of [x, y]) {
      expect(o.proc.filter(results).length, `${o.name} ran experiments`).toBeGreaterThan(0)
      expect(o.proc.filter(e => e.type === 'swarm:peer'), `${o.name} never got a connection`).toEqual([])
      expect(o.proc.filter(e => e.type === 'swarm:received' || e.type === 'swarm:synced' || e.type === 'swarm:adoption-queued')).toEqual([])
      expect(o.proc.filter(e => e.type === 'swarm:published').map(e => e.recipients ?? 0).filter(n => n > 0)).toEqual([])
    }

    // The private bootstrap node stored and relayed only members' words.
    const stored = storedMessages(pb.home, p1.project)
    expect(stored.length).toBeGreaterThan(0)
    expect(stored.map(m => m.author).filter(a => !members.has(a))).toEqual([])
  }, 85_000)
})

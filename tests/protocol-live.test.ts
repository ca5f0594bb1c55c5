/**
 * Live gossip from a real `swarm-node start` process, read by a subscriber
 * that knows only PROTOCOL.md: a libp2p node assembled from the libp2p
 * packages (tests/helpers/independent-subscriber.ts) joins the topic named by
 * the spec's rule, and a decoder written from the spec alone
 * (tests/helpers/independent-decoder.ts, nothing from `protocol/`) checks
 * every message: canonical bytes, members, the topic's project, the Ed25519
 * signature, the publisher, and the message id the node itself reports.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cleanupFixtures } from './helpers/fixtures.ts'
import { decodeGossip, type Decoded } from './helpers/independent-decoder.ts'
import { killAll, spawnTs, type TestProcess } from './helpers/processes.ts'
import { startTrainer, stopAll, type Trainer } from './helpers/swarm-procs.ts'

let A: Trainer
let sub: TestProcess
let topic: string

beforeAll(async () => {
  A = await startTrainer('A', { seed: 3, confirm: false, statusInterval: 1 })
  // PROTOCOL.md §4: the topic of a project.
  topic = `/swarm-node/1/${A.project}/results`
  sub = spawnTs('subscriber', 'tests/helpers/independent-subscriber.ts', [JSON.stringify({ dial: A.addr, topic })])
  await sub.waitFor(l => l.type === 'ready', 30_000, { what: 'the subscriber ready' })
}, 90_000)

afterAll(async () => {
  await killAll(500)
  await stopAll()
  await cleanupFixtures()
})

describe('live gossip, read with PROTOCOL.md alone', () => {
  it('decodes and verifies every message the node publishes, and computes the ids the node reports', async () => {
    // Results, claims and heartbeats: wait until each kind has arrived.
    const kinds = new Set<string>()
    const decoded: Decoded[] = []
    let seen = 0
    const deadline = Date.now() + 40_000
    while (!(kinds.has('result') && kinds.has('claim') && kinds.has('status') && decoded.length >= 6)) {
      if (Date.now() > deadline) throw new Error(`only ${[...kinds].join(', ')} arrived (${decoded.length} messages)`)
      const line = await sub.waitFor(l => l.type === 'message', Math.max(1, deadline - Date.now()), { from: seen, what: 'a gossip message' })
      seen = sub.lines.indexOf(line) + 1
      expect(line.topic).toBe(topic)
      expect(line.signed).toBe(true)
      const bytes = Buffer.from(line.data, 'base64')
      // §7: the payload is the canonical bytes themselves; §5, §7: signed by the author, who is the publisher.
      const d = await decodeGossip(bytes, { topic, from: line.from })
      expect(d.message.author).toBe(A.peerId)
      expect(d.message.project).toBe(A.project)
      kinds.add(d.message.kind)
      decoded.push(d)
    }
    // §4: the id is SHA-256 of the canonical bytes without sig; the node reports the same ids for what it published.
    // The node says so once its publish returns, which may be after the subscriber has the message.
    for (const d of decoded) await A.proc.waitFor(e => e.type === 'swarm:published' && e.id === d.id, 10_000, `A reports publishing ${d.message.kind} ${d.id}`)
    // A result of a real experiment: figures in range, a diff, the hardware.
    const result = decoded.find(d => d.message.kind === 'result')!.message
    expect(['keep', 'discard', 'crash', 'invalid']).toContain(result.status)
    expect(result.parent).toMatch(/^[0-9a-f]{64}$/)
    expect(result.hardware.cores).toBeGreaterThan(0)
  }, 60_000)
})

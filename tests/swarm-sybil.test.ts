/**
 * A liar with three free keys against an honest swarm (bootstrap, two
 * `--proposer none` verifiers H1 and H2, later an honest researcher A), as OS
 * processes on loopback. One raw peer holds the three keys: each key claims a
 * keep far better than the fixture's baseline for content that scores like it,
 * the other two attest each claim reproduced, sync serves all of it and the
 * DHT gets the best lie's record with both attestations.
 *
 * Each honest node spends one run on the ring (its most promising claim),
 * finds it a lie, and distrusts all three keys (two vouched for it). Then A
 * finds a real improvement and the verifiers reproduce it. In no honest node's
 * leaderboard, `status`, dashboard API or DHT view does a claim of the ring
 * rank above A's reproduced or verified result.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { findNode } from '../node/control/client.ts'
import type { NodeState } from '../node/control/view.ts'
import type { LeaderboardRow } from '../node/swarm/leaderboard.ts'
import { contentHash, messageId, type AttestationMsg, type BestRecord, type ResultMsg } from '../protocol/index.ts'
import { runCli } from './helpers/cli-run.ts'
import { cleanupFixtures } from './helpers/fixtures.ts'
import {
  adopted, attestationFor, baselineDone, fixtureTrain, rawDial, rawPublishMessage, rawPutBest, rawServe, rawSign, rawStore, resultFor,
  startBootstrap, startRawPeer, startTrainer, stopAll, untilSubscribed, type Ev, type Trainer
} from './helpers/swarm-procs.ts'

const FIXTURE_BASELINE = 1.2128
const CLAIMS = [0.5, 0.45, 0.4]

afterEach(stopAll)
afterAll(cleanupFixtures)

const ringRun = (ring: Set<string>) => (e: Ev): boolean => e.type === 'experiment-end' && ring.has(e.record.origin?.author)

describe('three free keys attesting each other', () => {
  it('cost each honest node at most one run and never rank above an honest reproduced result', async () => {
    const boot = await startBootstrap()
    const [h1, h2] = await Promise.all(['H1', 'H2'].map(async n => await startTrainer(n, { bootstrap: [boot.addr], proposer: 'none', bestInterval: 2 }))) as [Trainer, Trainer]
    await Promise.all([h1, h2].map(async h => await h.proc.waitFor(baselineDone, 20_000, `${h.name} baseline`)))

    // The ring: three keys, three lies, each vouched for by the other two. Nobody knows it yet.
    const ringPeer = await startRawPeer('ring', { project: h1.project, bootstrap: [], extraKeys: 2 })
    const ring = new Set(ringPeer.keys)
    const parent = contentHash({ 'train.py': await fixtureTrain() })
    const lies: ResultMsg[] = []
    const vouches: AttestationMsg[][] = []
    for (const [i, claim] of CLAIMS.entries()) {
      const text = await fixtureTrain(`ring ${i}: tuned (trust us)`)
      const child = await rawServe(ringPeer, { 'train.py': text })
      lies.push(await rawSign<ResultMsg>(ringPeer, resultFor({ project: h1.project, track: h1.track, parent, child, val_bpb: claim, description: `ring lie ${i}` }), i))
    }
    for (const [i, lie] of lies.entries()) {
      vouches.push(await Promise.all([0, 1, 2].filter(j => j !== i).map(async j => await rawSign<AttestationMsg>(ringPeer, attestationFor(lie, true, CLAIMS[i]!), j))))
    }
    for (const m of [...lies, ...vouches.flat()]) await rawStore(ringPeer, m)
    const lieIds = new Set(lies.map(l => messageId(l)))

    // It joins: sync brings every lie and vouch, gossip the first key's own lie, the DHT the best lie's record.
    for (const addr of [boot.addr, h1.addr!, h2.addr!]) await rawDial(ringPeer, addr)
    await untilSubscribed(ringPeer, [h1.peerId, h2.peerId])
    const best = lies[2]!
    const record: BestRecord = await rawSign<BestRecord>(ringPeer, { v: 1, kind: 'best', project: best.project, track: best.track, result: best, content: { files: { 'train.py': await fixtureTrain('ring 2: tuned (trust us)') } }, attestations: vouches[2]!, time: Date.now() }, 2)
    await rawPutBest(ringPeer, record)
    expect(await rawPublishMessage(ringPeer, lies[0]!)).toBeGreaterThan(0)

    // One run each, on the most promising lie; then every key of the ring is distrusted.
    for (const h of [h1, h2]) {
      const end = await h.proc.waitFor(ringRun(ring), 45_000, `${h.name} runs one of the ring's claims`)
      expect(end.record).toMatchObject({ status: 'discard', val_bpb: FIXTURE_BASELINE })
      await h.proc.waitFor(e => e.type === 'swarm:attested' && lieIds.has(e.result) && e.ok === false, 10_000, `${h.name} attests the lie`)
      for (const k of ring) await h.proc.waitFor(e => e.type === 'swarm:trust' && e.peer === k && e.distrusted === true, 10_000, `${h.name} distrusts ${k.slice(-6)}`)
    }

    // An honest improvement: A finds it, the verifiers reproduce it (A is new to them: one run on faith each).
    const a = await startTrainer('A', { bootstrap: [boot.addr], seed: 12, confirm: false })
    await a.proc.waitFor(e => e.type === 'experiment-end' && e.record.status === 'keep' && e.record.origin == null, 40_000, 'a keep of A\'s own')
    for (const h of [h1, h2]) await h.proc.waitFor(adopted(a.peerId, 'keep'), 40_000, `${h.name} reproduces A`)
    // Their best record is A's result now.
    for (const h of [h1, h2]) await h.proc.waitFor(e => e.type === 'swarm:best' && e.val_bpb < FIXTURE_BASELINE - 0.01, 15_000, `${h.name} keeps A's result as its best`)

    const figures: string[] = []
    for (const t of [h1, h2, a]) {
      const node = (await findNode(t.home))!
      // status: the best is A's, backed by evidence.
      const state = await node.get<NodeState>('/api/status')
      expect(state.best, `${t.name} status best`).toMatchObject({ author: a.peerId })
      expect(['verified', 'reproduced']).toContain(state.best!.evidence)
      // The leaderboard (CLI) and the dashboard's API: A first; the ring hidden, or below with --all.
      const cli = await runCli(['--home', t.home, '--json', 'leaderboard'])
      expect(cli.code, cli.stderr).toBe(0)
      const rows = cli.json.rows as LeaderboardRow[]
      expect(rows[0]).toMatchObject({ rank: 1, author: a.peerId })
      for (const api of [rows, (await node.get<{ rows: LeaderboardRow[] }>('/api/leaderboard', { all: 1 })).rows]) {
        const aRank = api.find(r => r.author === a.peerId)!.rank
        for (const r of api.filter(x => ring.has(x.author))) {
          expect(r.rank, `${t.name}: ring row ${r.val_bpb} vs A`).toBeGreaterThan(aRank)
          expect(['claimed', 'distrusted']).toContain(r.evidence)
        }
      }
      figures.push(`${t.name}: A ${rows[0]!.val_bpb} (${rows[0]!.evidence}); ring rows shown ${rows.filter(r => ring.has(r.author)).length}, with --all ${(await node.get<{ rows: LeaderboardRow[] }>('/api/leaderboard', { all: 1 })).rows.filter(r => ring.has(r.author)).map(r => r.evidence).join('/') || 0}`)
    }
    console.log(`views after the ring: ${figures.join('; ')}`)

    await stopAll()
    for (const t of [h1, h2, a]) {
      const runs = t.proc.filter(ringRun(ring))
      expect(runs.length, `${t.name} runs on the ring`).toBeLessThanOrEqual(1)
      // The DHT view: a record of the ring is at most a claim held while nothing better was known, never after.
      const bests = t.proc.filter(e => e.type === 'swarm:best')
      const firstBacked = bests.findIndex(e => e.evidence === 'verified' || e.evidence === 'reproduced')
      expect(firstBacked, `${t.name} keeps a backed best`).toBeGreaterThanOrEqual(0)
      expect(bests.slice(firstBacked).filter(e => lieIds.has(e.result))).toEqual([])
      for (const e of bests.filter(x => lieIds.has(x.result))) expect(e.evidence).toBe('claimed')
      expect(t.proc.filter(e => e.type === 'experiment-end' && e.record.status === 'keep' && ring.has(e.record.origin?.author))).toEqual([])
    }
    const aKept = a.proc.filter(e => e.type === 'experiment-end' && e.record.status === 'keep' && e.record.origin == null).map(e => e.record.val_bpb)
    for (const h of [h1, h2]) {
      const last = h.proc.filter(e => e.type === 'swarm:best').at(-1)
      expect(aKept, `${h.name}'s best record is one of A's keeps`).toContain(last?.val_bpb)
      expect(lieIds.has(last?.result)).toBe(false)
    }
    console.log(`ring runs: ${[h1, h2, a].map(t => `${t.name} ${t.proc.filter(ringRun(ring)).length}`).join(', ')}`)
  }, 150_000)
})

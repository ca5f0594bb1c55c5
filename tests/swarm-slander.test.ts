/**
 * Free keys against an honest author, and a peer that forges leaderboard
 * answers, as OS processes on loopback: A researches, H (a verifier)
 * reproduces A's keeps. Then a raw peer holding three keys files failed
 * attestations ("measured 9.0") against every result of A's that H shows,
 * over sync and gossip; H's standing of A does not move. The same peer then
 * answers the leaderboard protocol with forgeries (rows in the old format, a
 * result in A's name, another project's result, a tampered attestation,
 * garbage); a `leaderboard` asked with H's home shows none of them.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { findNode } from '../node/control/client.ts'
import type { NodeState } from '../node/control/view.ts'
import type { LeaderboardRow } from '../node/swarm/leaderboard.ts'
import { contentHash, encode, encodeMessage, sha256Hex, type AttestationMsg, type ResultMsg } from '../protocol/index.ts'
import { runCli } from './helpers/cli-run.ts'
import { cleanupFixtures } from './helpers/fixtures.ts'
import {
  HARDWARE, LOOPBACK, adopted, baselineDone, attestationFor, fixtureTrain, rawBoardAnswer, rawDial, rawPublishMessage, rawServe, rawSign, rawStore,
  resultFor, sleep, startRawPeer, startTrainer, stopAll, untilSubscribed
} from './helpers/swarm-procs.ts'

afterEach(stopAll)
afterAll(cleanupFixtures)

describe('free keys against an honest author', () => {
  it('cannot move its standing where it was reproduced, and forged leaderboard answers are never shown', async () => {
    // A researches a few experiments and leaves; H, already there, reproduces what it kept.
    const h = await startTrainer('H', { proposer: 'none' })
    await h.proc.waitFor(baselineDone, 20_000, 'H baseline')
    const a = await startTrainer('A', { bootstrap: [h.addr!], seed: 12, confirm: false, maxExperiments: 4 })
    await h.proc.waitFor(adopted(a.peerId, 'keep'), 40_000, 'H reproduces A')
    expect(await a.proc.exited).toBe(0)
    const aKeeps = a.proc.filter(e => e.type === 'swarm:published' && e.kind === 'result').length
    expect(aKeeps).toBeGreaterThan(0)
    const verified = await h.proc.waitFor(e => e.type === 'swarm:trust' && e.peer === a.peerId, 10_000, 'H verifies A')
    expect(verified).toMatchObject({ distrusted: false })
    expect(verified.score).toBeGreaterThan(0)
    // Until H is idle again: every claim of A's it will run has run.
    await h.proc.waitFor(e => e.type === 'idle', 20_000, 'H idle', h.proc.events.indexOf(verified)).catch(() => {})

    const node = (await findNode(h.home))!
    // H reports every change of its score of a peer; the last report is the score now.
    const trustOfA = (): number | undefined => h.proc.filter(e => e.type === 'swarm:trust' && e.peer === a.peerId).at(-1)?.score
    const rowsOfA = async (): Promise<LeaderboardRow[]> => (await node.get<{ rows: LeaderboardRow[] }>('/api/leaderboard', { all: 1 })).rows.filter(r => r.author === a.peerId)
    const before = { trust: trustOfA(), rows: await rowsOfA() }
    // A keeps researching: what H reproduced is verified here, newer keeps are claims until H runs them.
    expect(before.rows.filter(r => r.evidence === 'verified').length).toBeGreaterThan(0)
    expect(before.rows.every(r => r.failed === 0)).toBe(true)

    // Three free keys: six failed attestations by each against every row of A's H shows (the issue saw 18 move an author from +1 to -1.5).
    const raw = await startRawPeer('slanderer', { project: h.project, bootstrap: [], extraKeys: 2 })
    const slander: AttestationMsg[] = []
    for (const row of before.rows) {
      const target = { project: h.project, track: row.track, child: row.child } as ResultMsg
      for (const key of [0, 1, 2]) {
        for (let i = 0; i < 6; i++) {
          const body = { ...attestationFor(target, false, 9.0 + i), result: row.result, time: Date.now() - i * 1000 }
          slander.push(await rawSign<AttestationMsg>(raw, body, key))
        }
      }
    }
    for (const m of slander) await rawStore(raw, m)
    const from = h.proc.events.length
    await rawDial(raw, h.addr!)
    const synced = await h.proc.waitFor(e => e.type === 'swarm:synced' && e.peer === raw.peerId, 20_000, 'H syncs the slander', from)
    expect(synced.added).toBe(slander.length)
    // And on gossip, as its publisher: a message H already has is dropped quietly.
    await untilSubscribed(raw, [h.peerId])
    const fresh = await rawSign<AttestationMsg>(raw, { ...attestationFor({ project: h.project, track: before.rows[0]!.track, child: before.rows[0]!.child } as ResultMsg, false, 7.0), result: before.rows[0]!.result })
    expect(await rawPublishMessage(raw, fresh)).toBeGreaterThan(0)
    await h.proc.waitFor(e => e.type === 'swarm:received' && e.kind === 'attestation' && e.author === raw.peerId, 10_000, 'H receives the gossiped slander', from)
    await sleep(1000)

    // Nothing moved: no trust event, the same score, the same rows (still verified, not disputed), still the best.
    expect(h.proc.filter(e => e.type === 'swarm:trust' && e.peer === a.peerId && h.proc.events.indexOf(e) >= from)).toEqual([])
    expect(trustOfA()).toBe(before.trust)
    const after = await rowsOfA()
    for (const b of before.rows) {
      const now = after.find(r => r.result === b.result)
      expect(now, `A's row ${b.val_bpb} is still shown`).toBeDefined()
      // Still what it was, or better backed (H reproduced it meanwhile); never disputed.
      expect(b.evidence === 'verified' ? ['verified'] : ['claimed', 'verified']).toContain(now!.evidence)
      expect(now!.failed).toBe(0)
    }
    expect((await node.get<NodeState>('/api/status')).best).toMatchObject({ author: a.peerId, evidence: 'verified' })
    console.log(`slander: ${slander.length} failed attestations from 3 keys; A's trust at H ${before.trust} -> ${trustOfA()}, rows ${after.map(r => `${r.val_bpb} ${r.evidence}`).join(', ')}`)

    // Forged leaderboard answers.
    const top = before.rows[0]!
    const forgedRow = { rank: 1, project: h.project, track: h.track, result: 'f'.repeat(64), child: 'e'.repeat(64), val_bpb: 0.0001, claimed_bpb: 0.0001, evidence: 'verified', reproducers: 999999, attestations: 999999, failed: 0, delta: -1.2, author: raw.peerId, hardware: { ...HARDWARE, gpu: 'NVIDIA H100', gpu_mem_gb: 80 }, description: 'FORGED ROW', time: Date.now() - 86_400_000 }
    const parent = contentHash({ 'train.py': await fixtureTrain() })
    const child = await rawServe(raw, { 'train.py': await fixtureTrain('forged') })
    // A keep in A's name (a backdated copy of its best), signed by the forger.
    const inAsName = { ...(await rawSign<ResultMsg>(raw, resultFor({ project: h.project, track: h.track, parent, child: top.child, val_bpb: 0.0001, description: 'FORGED COPY' }))), author: a.peerId, time: Date.now() - 86_400_000 }
    const otherProject = await rawSign<ResultMsg>(raw, resultFor({ project: sha256Hex('another project'), track: h.track, parent, child, val_bpb: 0.0001, description: 'FORGED ELSEWHERE' }))
    const tampered = { ...(await rawSign<AttestationMsg>(raw, { ...attestationFor({ project: h.project, track: h.track, child: top.child } as ResultMsg, true, 0.0001), result: top.result }, 1)), val_bpb: 0.00001 }
    // And a claim of its own, validly signed and vouched for by its other two keys: a claim, nothing more.
    const own = await rawSign<ResultMsg>(raw, resultFor({ project: h.project, track: h.track, parent, child, val_bpb: 0.0001, description: 'ITS OWN CLAIM' }))
    const vouches = await Promise.all([1, 2].map(async k => await rawSign<AttestationMsg>(raw, attestationFor(own, true, 0.0001), k)))
    const forged = [
      encode({ rows: [forgedRow] }),
      encode(inAsName),
      encodeMessage(otherProject),
      encode(tampered),
      new TextEncoder().encode('\u0000not even json'),
      encodeMessage(own), ...vouches.map(v => encodeMessage(v))
    ]
    await rawBoardAnswer(raw, forged)

    // Asked with H's home while no node runs there: its store says whom to believe.
    expect(await h.proc.stop()).toBe(0)
    const res = await runCli(['--home', h.home, '--json', 'leaderboard', '--project', h.project, '--all', '--bootstrap', raw.addr, '--bootstrap', a.addr!, '--listen', LOOPBACK, '--no-mdns', '--timeout', '10'], 40_000)
    expect(res.code, res.stderr).toBe(0)
    const rows = res.json.rows as LeaderboardRow[]
    console.log(`forged answers: ${res.json.answered} of ${res.json.asked} peers answered, ${res.json.refused} frames refused; rows ${rows.map(r => `${r.rank}:${r.val_bpb}/${r.evidence}/${r.description}`).join(', ')}`)
    expect(res.json.refused).toBeGreaterThanOrEqual(5)
    for (const r of rows) expect(['FORGED ROW', 'FORGED COPY', 'FORGED ELSEWHERE']).not.toContain(r.description)
    expect(rows.filter(r => r.author === a.peerId).every(r => r.val_bpb > 0.5)).toBe(true)
    expect(rows.some(r => r.reproducers > 10 || r.attestations > 10)).toBe(false)
    expect(rows[0]).toMatchObject({ rank: 1, author: a.peerId, evidence: 'verified' })
    const itsOwn = rows.find(r => r.description === 'ITS OWN CLAIM')
    expect(itsOwn, 'the forger\'s signed claim is shown as what it is').toMatchObject({ evidence: 'claimed', reproducers: 0 })
    expect(itsOwn!.rank).toBeGreaterThan(rows.filter(r => r.author === a.peerId).length)
  }, 150_000)
})

/**
 * The hostile-candidate suite, adopted half: peers' kept results whose
 * train.py attacks the node that reproduces them (read ~/.ssh, the API key,
 * the node's identity and control file; call a listener on 127.0.0.1; write
 * outside the workspace, into data/ and .git/; plant a git hook; leave a
 * setsid child; set its own budget; overrun; fork in a loop; eat memory).
 * A real `swarm-node start` process reproduces each as its next experiment in
 * its sandbox; the project's policy is off, so the cage alone stops them.
 *
 * Every result comes from a different key (served by one raw peer through
 * sync), so no author's lost trust keeps the next attack from running. For
 * every case: the listener hears nothing, every canary and protected file is
 * unchanged, no process is left, the experiment is recorded with the reason,
 * the node keeps running, and an honest result after them all measures
 * exactly what it should.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { contentHash, signMessage, type ResultMsg } from '../protocol/index.ts'
import { detectHardware, trackFor } from '../trainer/hardware.ts'
import { loadProject } from '../trainer/project.ts'
import { cleanupFixtures } from './helpers/fixtures.ts'
import { CASES, cagedTrain, expectRecorded, honestFigure, hostileWorld, leftovers, withPayload, type World } from './helpers/hostile-cases.ts'
import { resultFor, startRawPeer, startTrainer, stopAll, type Ev } from './helpers/swarm-procs.ts'

afterEach(stopAll)
afterAll(cleanupFixtures)

let world: World | undefined
afterEach(async () => { await world?.close() })

describe('hostile peers\' results, reproduced in the sandbox', () => {
  it('stops every attack, records each with its reason, and the next honest reproduction measures honestly', async () => {
    const w = world = await hostileWorld('adopt')
    const project = (await loadProject(w.dir)).id
    const track = trackFor(await detectHardware())
    const base = await cagedTrain()
    const parent = contentHash({ 'train.py': base })

    // One raw peer serves every result (each signed by its own key) and its content.
    const raw = await startRawPeer('R', { project, bootstrap: [] })
    const authors = new Map<string, string>()
    const offer = async (name: string, train: string, claim: number): Promise<void> => {
      const key = await generateKeyPair('Ed25519')
      const files = { 'train.py': train }
      await raw.proc.ask({ cmd: 'serve', files }, 10_000)
      const body = resultFor({ project, track, parent, child: contentHash(files), val_bpb: claim, description: `hostile ${name}` })
      const signed: ResultMsg = await signMessage(body, key)
      authors.set(signed.author, name)
      expect((await raw.proc.ask({ cmd: 'store', message: signed }, 10_000)).added).toBe(true)
    }
    // Best claims are reproduced first: the attacks, then the honest improvement (LEARNING_RATE 0.02).
    for (const [i, c] of CASES.entries()) await offer(c.name, withPayload(base, c.payload(w)), 0.5 + i * 0.01)
    const honest = base.replace('LEARNING_RATE = 0.04', 'LEARNING_RATE = 0.02')
    await offer('honest', honest, honestFigure({ lr: 0.02 }))

    const v = await startTrainer('V', { dir: w.dir, home: w.home, bootstrap: [raw.addr], proposer: 'none', confirm: false, env: w.env })
    expect(v.project).toBe(project)
    await v.proc.waitFor(e => e.type === 'experiment-end' && e.record.status === 'baseline', 30_000, 'baseline')
    const before = await w.snapshot()

    const ends = new Map<string, Ev>()
    const end = await v.proc.waitFor(e => {
      if (e.type !== 'experiment-end' || e.record.origin == null) return false
      ends.set(authors.get(e.record.origin.author) ?? '?', e)
      return authors.get(e.record.origin.author) === 'honest'
    }, 240_000, 'the honest reproduction after every attack')

    for (const c of CASES) {
      const e = ends.get(c.name)
      expect(e, `${c.name} was reproduced`).toBeDefined()
      expectRecorded(c, e!.record)
    }
    // The honest result after all of it: kept, at exactly the fixture's figure.
    expect(end.record).toMatchObject({ status: 'keep', val_bpb: honestFigure({ lr: 0.02 }) })
    expect(end.record.reason).toBe('')

    expect(w.heard).toEqual({ connections: 0, bytes: 0 })
    expect(await w.snapshot()).toEqual(before)
    expect(await leftovers(w.mark)).toEqual([])
    expect(v.proc.alive).toBe(true)
    expect(await v.proc.stop()).toBe(0)
  }, 300_000)
})

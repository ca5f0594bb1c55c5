/**
 * One figure rule (protocol/figure.ts): decision, else verified, else
 * reported, the same in the loop, after a restart, on the wire and in claims.
 * Guarded by a fixture whose val_bpb varies from run to run, so the mean of a
 * keep's two confirming runs differs from either run.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { claimedFigure, figureOf, messageId, signMessage, wireFigures, type AttestationMsg, type ResultMsg } from '../protocol/index.ts'
import { attestationBody, resultBody } from '../node/swarm/outgoing.ts'
import { runLoop, type LoopEvent } from '../trainer/loop.ts'
import type { Proposal, Proposer } from '../trainer/proposers/types.ts'
import type { ExperimentRecord } from '../trainer/results-log.ts'
import { openSession } from '../trainer/session.ts'
import { cleanupFixtures, fixtureCopy, pathWithFakeUv, tempDir } from './helpers/fixtures.ts'

const HW = { cpu: 'x', cores: 2, ram_gb: 8, gpu: null, gpu_mem_gb: null }

describe('the figure rule', () => {
  it('takes the decision, else the verified, else the reported figure; the wire carries it as val_bpb', () => {
    expect(figureOf({ decision_bpb: 1.05, verified_bpb: 1.07, val_bpb: 1.08 })).toBe(1.05)
    expect(figureOf({ decision_bpb: null, verified_bpb: 1.07, val_bpb: 1.08 })).toBe(1.07)
    expect(figureOf({ val_bpb: 1.08 })).toBe(1.08)
    expect(figureOf({ val_bpb: null })).toBeNull()
    expect(figureOf({ decision_bpb: Number.NaN, val_bpb: 1.08 })).toBe(1.08)
    expect(wireFigures({ decision_bpb: 1.05, verified_bpb: 1.07, val_bpb: 1.08 })).toEqual({ val_bpb: 1.05, verified_bpb: 1.05 })
    expect(wireFigures({ decision_bpb: 1.05, verified_bpb: null, val_bpb: 1.08 })).toEqual({ val_bpb: 1.05, verified_bpb: null })
    // A message from before the rule: val_bpb was already the decision, verified_bpb the first run.
    expect(claimedFigure({ val_bpb: 1.05, verified_bpb: 1.07 })).toBe(1.05)
  })
})

/** One keep, then nothing: the fixture's DEPTH 4 -> 6 is worth 0.1, far beyond the noise. */
class OneKeep implements Proposer {
  readonly name = 'scripted'
  private done = false
  async propose (ctx: { files: Record<string, string> }): Promise<Proposal | null> {
    if (this.done) return null
    this.done = true
    return { description: 'deeper: DEPTH 4 -> 6', files: { 'train.py': ctx.files['train.py']!.replace('DEPTH = 4', 'DEPTH = 6') } }
  }
}

describe('a baseline figure across a restart, with val_bpb varying from run to run', () => {
  let dir: string
  let home: string
  beforeAll(async () => {
    process.env.PATH = pathWithFakeUv()
    dir = await fixtureCopy('autoresearch')
    home = await tempDir('figure')
    // Seeded from the OS: every run lands somewhere else within ±0.004.
    const train = await readFile(join(dir, 'train.py'), 'utf8')
    const noisy = train.replace('if loss != loss', 'import random\nloss += random.uniform(-0.004, 0.004)\nif loss != loss')
    expect(noisy).not.toBe(train)
    await writeFile(join(dir, 'train.py'), noisy)
  })
  afterAll(cleanupFixtures)

  it('is the mean of the confirming runs in the loop, after a restart, on the wire and in a reproduction\'s claim', async () => {
    const session = await openSession({ projectDir: dir, home, runTag: 'fig' })
    const ends: ExperimentRecord[] = []
    // Always confirm: the decision figure is the mean of the two runs.
    await runLoop({ session, proposer: new OneKeep(), signal: new AbortController().signal, decisive: 0, onEvent: (e: LoopEvent) => { if (e.type === 'experiment-end') ends.push(e.record) } })
    const keep = ends.find(r => r.status === 'keep')!
    expect(keep, `a keep among ${ends.map(r => r.status).join(', ')}`).toBeDefined()
    const first = keep.metrics.first_run as number
    const second = keep.metrics.confirm_run as number
    // The fixture really varies: the two runs differ, and the decision is their mean.
    expect(first).not.toBe(second)
    expect(keep.decision_bpb).toBe((first + second) / 2)
    expect(keep.decision_bpb).not.toBe(keep.val_bpb)
    const inProcess = session.baseline.value
    expect(inProcess).toBe(keep.decision_bpb)

    // A restart resumes from exactly that figure, not the first run's.
    const again = await openSession({ projectDir: dir, home, runTag: 'fig' })
    expect(again.baseline.value).toBe(inProcess)
    expect(again.baseline.value).toBe(figureOf(keep))

    // On the wire, as a peer's claim, and as what a reproducer attests: the same figure.
    const key = await generateKeyPair('Ed25519')
    const result = await signMessage(resultBody(keep, { project: session.project.id, track: session.track, hardware: HW, diff: '' })!, key) as ResultMsg
    expect(result.val_bpb).toBe(inProcess)
    expect(claimedFigure(result)).toBe(inProcess)
    const att = await signMessage(attestationBody(keep, { result: messageId(result) }, true, { project: session.project.id, track: session.track, hardware: HW }), key) as AttestationMsg
    expect(claimedFigure(att)).toBe(inProcess)
  }, 60_000)
})

/**
 * The noise margin in force: the pure estimate, and the loop measuring it at the
 * first baseline, deciding with it, keeping it in the records and deriving the
 * same margin after a restart. The project's runs print a scripted sequence of
 * figures that differ from run to run (real Python, real git).
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runLoop, type LoopEvent } from '../trainer/loop.ts'
import { NOISE_RUNS, describeMargin, estimateSigma, marginFor, marginInForce, measurement, noiseInForce } from '../trainer/noise.ts'
import type { Proposal, Proposer } from '../trainer/proposers/types.ts'
import type { ExperimentRecord } from '../trainer/results-log.ts'
import { openSession } from '../trainer/session.ts'
import { cleanupFixtures, tempDir } from './helpers/fixtures.ts'

describe('noise estimate', () => {
  it('is the sample standard deviation, and needs two runs', () => {
    expect(estimateSigma([])).toBeNull()
    expect(estimateSigma([1.2])).toBeNull()
    expect(estimateSigma([1, 1, 1])).toBe(0)
    expect(estimateSigma([1.0, 1.04, 0.96])).toBeCloseTo(0.04, 12)
    expect(estimateSigma([1, Number.NaN, 3])).toBeCloseTo(Math.SQRT2, 12)
  })
  it('sets the margin to max(noise_margin, 2σ)', () => {
    expect(marginFor(0.01, null)).toBe(0.01)
    expect(marginFor(0.01, 0.002)).toBe(0.01)
    expect(marginFor(0.01, 0.006)).toBeCloseTo(0.012, 12)
    expect(measurement([1.0, 1.04, 0.96], 0.01)).toEqual({ runs: [1.0, 1.04, 0.96], sigma: expect.closeTo(0.04, 12), margin: expect.closeTo(0.08, 12) })
    expect(measurement([1.0], 0.01)).toBeNull()
  })
  it('is derived from the latest measurement in the records', () => {
    const rec = (seq: number, noise?: unknown): ExperimentRecord => ({
      id: `t-${seq}`, seq, commit: 'c', parent: 'c', status: seq === 1 ? 'baseline' : 'discard', val_bpb: 1, verified_bpb: null,
      memory_gb: 0, description: '', reason: '', proposer: 'x', metrics: {}, track: 'cpu', started_at: 0, finished_at: 0, ...(noise != null ? { noise: noise as ExperimentRecord["noise"] } : {})
    })
    expect(noiseInForce([], 0.02)).toEqual({ margin: 0.02, sigma: null, runs: 0, source: 'manifest' })
    const measured = [rec(1, { runs: [1, 1.01, 0.99], sigma: 0.01, margin: 0.02 }), rec(2)]
    expect(noiseInForce(measured, 0.01)).toEqual({ margin: 0.02, sigma: 0.01, runs: 3, source: 'measured' })
    // A later measurement wins; a malformed one (a hand-edited log) is passed over.
    expect(noiseInForce([...measured, rec(3, { runs: [1, 1.1], sigma: 0.05, margin: 0.1 })], 0.01).margin).toBeCloseTo(0.1, 12)
    expect(noiseInForce([...measured, rec(3, { runs: 'x', sigma: -1 })], 0.01).margin).toBe(0.02)
    expect(describeMargin(noiseInForce(measured, 0.01))).toBe('0.0200 (2σ; σ 0.0100 over 3 runs)')
    expect(describeMargin(noiseInForce(measured, 0.05))).toBe('0.0500 (noise_margin; σ 0.0100 over 3 runs)')
    expect(describeMargin(noiseInForce([], 0.05))).toBe('0.0500 (noise_margin)')
  })
})

// X = 1 is the baseline; each run prints the next figure of its script (a counter in an output file).
const TRAIN = `import json, os
X = 1
SCRIPT = {1: [1.00, 1.04, 0.96, 1.02, 0.98, 1.00], 2: [0.95, 0.95], 3: [0.85, 0.87]}
# The sandbox creates a declared output file empty before the first run.
n = json.load(open("count.json")) if os.path.exists("count.json") and os.path.getsize("count.json") > 0 else {}
i = n.get(str(X), 0)
n[str(X)] = i + 1
json.dump(n, open("count.json", "w"))
print("---")
print(f"val_bpb: {SCRIPT[X][i % len(SCRIPT[X])]:.6f}")
`

class Scripted implements Proposer {
  readonly name = 'scripted'
  constructor (private readonly values: number[]) {}
  async propose (ctx: { files: Record<string, string> }): Promise<Proposal | null> {
    const x = this.values.shift()
    return x == null ? null : { description: `X -> ${x}`, files: { 'train.py': ctx.files['train.py']!.replace(/^X = \d+$/m, `X = ${x}`) } }
  }
}

describe('the loop measures the noise at the first baseline', () => {
  let dir: string
  let home: string
  beforeAll(async () => {
    dir = join(await tempDir('noise'), 'project')
    home = await tempDir('noise-home')
    await mkdir(dir)
    await writeFile(join(dir, 'train.py'), TRAIN)
    await writeFile(join(dir, 'swarm.json'), JSON.stringify({ name: 'noisy', run: 'python3 train.py', budget_s: 1, timeout_s: 20, noise_margin: 0.01, outputs: ['count.json'] }))
  })
  afterAll(cleanupFixtures)

  const loop = async (values: number[], opts: { measureNoise?: boolean } = {}): Promise<{ ends: ExperimentRecord[], logs: string[], session: Awaited<ReturnType<typeof openSession>> }> => {
    const session = await openSession({ projectDir: dir, home, runTag: 't' })
    const events: LoopEvent[] = []
    await runLoop({ session, proposer: new Scripted(values), signal: new AbortController().signal, onEvent: e => events.push(e), ...opts })
    return {
      session,
      ends: events.flatMap(e => e.type === 'experiment-end' ? [e.record] : []),
      logs: events.flatMap(e => e.type === 'log' ? [e.message] : []),
    }
  }

  it('runs the baseline several times, keeps the mean as its figure and decides with max(noise_margin, 2σ)', async () => {
    const { ends, logs, session } = await loop([2, 3])
    expect(NOISE_RUNS).toBe(3)
    const [base, small, big] = ends
    expect(base!.status).toBe('baseline')
    expect(base!.noise).toEqual({ runs: [1.0, 1.04, 0.96], sigma: expect.closeTo(0.04, 9), margin: expect.closeTo(0.08, 9) })
    expect(base!.val_bpb).toBeCloseTo(1.0, 9)
    expect(base!.decision_bpb).toBeCloseTo(1.0, 9)
    expect(base!.margin).toBeCloseTo(0.08, 9)
    expect(logs.some(l => /margin 0\.0800 \(2σ/.test(l))).toBe(true)
    // 0.95 beats the baseline by 0.05: more than noise_margin, less than 2σ.
    expect(small!.status).toBe('discard')
    expect(small!.margin).toBeCloseTo(0.08, 9)
    expect(big!.status).toBe('keep')
    expect(big!.decision_bpb).toBeCloseTo(0.86, 9)
    expect(marginInForce(session)).toEqual({ margin: expect.closeTo(0.08, 9), sigma: expect.closeTo(0.04, 9), runs: 3, source: 'measured' })
  })

  it('derives the same margin after a restart, without measuring again', async () => {
    const { ends, session } = await loop([])
    expect(ends).toEqual([])
    expect(marginInForce(session).margin).toBeCloseTo(0.08, 9)
  })

  it('measures again on request (--measure-noise), and the new spread is the margin in force', async () => {
    // X = 3 is the baseline now; its script has two more figures, 0.85 and 0.87, then repeats.
    const { ends, session } = await loop([], { measureNoise: true })
    expect(ends.map(r => r.status)).toEqual(['baseline'])
    expect(ends[0]!.noise!.runs).toEqual([0.85, 0.87, 0.85])
    expect(session.baseline.value).toBeCloseTo((0.85 + 0.87 + 0.85) / 3, 9)
    const sigma = estimateSigma([0.85, 0.87, 0.85])!
    expect(marginInForce(session).margin).toBeCloseTo(Math.max(0.01, 2 * sigma), 9)
  })
})

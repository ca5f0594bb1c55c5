/**
 * The default project through the real loop: real prepare, real (seconds-long)
 * PyTorch training, ONNX re-measurement in Node. A train.py that misreports
 * its val_bpb is caught by the exported model and marked invalid.
 */
import { cp, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { runLoop, type LoopEvent } from '../trainer/loop.ts'
import type { Proposal, Proposer } from '../trainer/proposers/types.ts'
import { openSession } from '../trainer/session.ts'
import { TEMPLATE_DIR } from '../trainer/template.ts'
import { cleanupFixtures, tempDir } from './helpers/fixtures.ts'

afterAll(cleanupFixtures)

class OneShot implements Proposer {
  readonly name = 'scripted'
  private done = false
  constructor (private readonly edit: (text: string) => Proposal) {}
  async propose (ctx: { files: Record<string, string> }): Promise<Proposal | null> {
    if (this.done) return null
    this.done = true
    return this.edit(ctx.files['train.py']!)
  }
}

describe('default project in the loop', () => {
  it('verifies the baseline from model.onnx and marks a lying run invalid', async () => {
    const dir = join(await tempDir('template'), 'project')
    await mkdir(dir)
    await cp(TEMPLATE_DIR, dir, { recursive: true })
    const session = await openSession({ projectDir: dir, home: await tempDir('home'), runTag: 't', budgetS: 3 })
    expect(session.project.manifest.onnx).not.toBeNull()
    const lie = (text: string): Proposal => {
      const line = 'print(f"val_bpb: {val_bpb:.6f}")'
      if (!text.includes(line)) throw new Error('template drifted: no val_bpb print line')
      return { description: 'report 0.3 less than measured', files: { 'train.py': text.replace(line, 'print(f"val_bpb: {val_bpb - 0.3:.6f}")') } }
    }
    const events: LoopEvent[] = []
    // One baseline run: this is about verification, not the noise (tests/noise.test.ts).
    await runLoop({ session, proposer: new OneShot(lie), noiseRuns: 1, signal: new AbortController().signal, onEvent: e => events.push(e) })
    const [baseline, liar] = events.filter(e => e.type === 'experiment-end').map(e => (e as any).record)
    expect(baseline.status).toBe('baseline')
    expect(baseline.verified_bpb).toBeGreaterThan(1)
    expect(Math.abs(baseline.verified_bpb - baseline.val_bpb)).toBeLessThan(1e-3)
    expect(liar.status).toBe('invalid')
    expect(liar.reason).toMatch(/reported val_bpb .* but the exported model measures/)
    expect(liar.val_bpb).toBeLessThan(liar.verified_bpb - 0.29)
    // The lie never became the baseline.
    expect(session.baseline.commit).toBe(baseline.commit)
  }, 120_000)
})

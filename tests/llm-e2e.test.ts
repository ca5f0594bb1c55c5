/**
 * End to end: the default project (real prepare, real PyTorch training for a
 * 3 s budget, ONNX re-measurement) driven by the LLM proposer through the real
 * `openai` client and a scripted server on 127.0.0.1.
 *
 * At 3 s the template's baseline barely trains (its 50-step warmup is longer
 * than the run); the scripted idea (1 layer of width 64, a 5-step warmup) runs
 * 2-4x the steps and wins clearly when both runs get the same share of the CPU
 * (e.g. 4.26 -> 3.55, 3.83 -> 3.49, 3.69 -> 3.50 measured on 2 shared cores).
 * But a 3 s run's step count swings 3x with the machine's load, and when the
 * load shifts between the two runs the baseline can win (3.57 at 70 steps vs
 * 3.62 at 85). So the keep itself is asserted only when the candidate got at
 * least twice the baseline's steps; always, that the model's edit ran to a
 * verified figure and was recorded as the LLM's, with its description.
 */
import { cp, mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { runLoop, type LoopEvent } from '../trainer/loop.ts'
import { createProposer } from '../trainer/proposers/index.ts'
import type { ExperimentRecord } from '../trainer/results-log.ts'
import { openSession } from '../trainer/session.ts'
import { TEMPLATE_DIR } from '../trainer/template.ts'
import { startFakeOpenAI } from './helpers/fake-openai.ts'
import { searchReplace } from './helpers/llm-replies.ts'
import { cleanupFixtures, tempDir } from './helpers/fixtures.ts'

afterAll(cleanupFixtures)

const REPLY = [
  'DESCRIPTION: smaller model (1 layer, width 64) and a 5-step warmup: more steps in a short budget',
  '',
  searchReplace('N_LAYER = 2\nN_EMBD = 128', 'N_LAYER = 1\nN_EMBD = 64'),
  searchReplace('WARMUP_STEPS = 50', 'WARMUP_STEPS = 5')
].join('\n')

describe('LLM proposer on the default project', () => {
  it('runs the model\'s edit through real training, verified, and decides on it', async () => {
    const server = await startFakeOpenAI([{ reply: REPLY, usage: { prompt_tokens: 4321, completion_tokens: 87 } }])
    try {
      const dir = join(await tempDir('template'), 'project')
      await mkdir(dir)
      await cp(TEMPLATE_DIR, dir, { recursive: true })
      const session = await openSession({ projectDir: dir, home: await tempDir('home'), runTag: 't', budgetS: 3 })
      const { proposer, maxRepairs } = createProposer({ llmBaseUrl: server.url, model: 'fake-coder', env: {} }, { requestTimeoutMs: 10_000, backoffMs: 50 })
      const events: LoopEvent[] = []
      // One baseline run: this is about the LLM's edit, not the noise (tests/noise.test.ts).
      await runLoop({ session, proposer, maxRepairs, confirm: false, maxExperiments: 1, noiseRuns: 1, signal: new AbortController().signal, onEvent: e => events.push(e) })
      const [baseline, candidate] = events.filter(e => e.type === 'experiment-end').map(e => (e as { record: ExperimentRecord }).record)

      // What the node asked: the template's brief and its train.py, the 3 s budget.
      const user = server.chats()[0]!.body.messages[1].content as string
      expect(user).toContain((await readFile(join(TEMPLATE_DIR, 'program.md'), 'utf8')).trim())
      expect(user).toContain(await readFile(join(TEMPLATE_DIR, 'train.py'), 'utf8'))
      expect(user).toContain('training budget: 3 s')

      expect(baseline!.status).toBe('baseline')
      expect(candidate).toMatchObject({
        proposer: 'llm:fake-coder',
        description: 'smaller model (1 layer, width 64) and a 5-step warmup: more steps in a short budget'
      })
      expect((candidate!.detail as any).stats).toMatchObject({ tokens_in: 4321, tokens_out: 87, requests: 1, attempts: 1 })
      // Ran to a figure verified from model.onnx, and was decided on it.
      expect(candidate!.verified_bpb).toBeGreaterThan(0)
      expect(['keep', 'discard']).toContain(candidate!.status)
      const steps = (r: ExperimentRecord): number => Number(r.metrics.num_steps)
      console.log(`llm e2e: baseline ${baseline!.verified_bpb} (${steps(baseline!)} steps) -> candidate ${candidate!.verified_bpb} (${steps(candidate!)} steps): ${candidate!.status}`)
      if (steps(candidate!) >= 2 * steps(baseline!)) {
        expect(candidate!.status).toBe('keep')
        expect(candidate!.verified_bpb!).toBeLessThan(baseline!.verified_bpb! - 0.05)
      }
      const kept = candidate!.status === 'keep'
      expect(session.baseline.commit).toBe(kept ? candidate!.commit : baseline!.commit)
      expect(await readFile(join(dir, 'train.py'), 'utf8')).toMatch(kept ? /^N_LAYER = 1$/m : /^N_LAYER = 2$/m)
    } finally {
      await server.close()
    }
  }, 120_000)
})

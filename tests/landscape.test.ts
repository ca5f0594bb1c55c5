/**
 * The synthetic landscape project (projects/landscape) that `bench:swarm`
 * searches: real Python runs print autoresearch's summary with noise that
 * varies run to run and write nothing; the mutation proposer sees exactly its
 * eight constants; and one-constant steps reach the target only after many keeps.
 */
import { execFile } from 'node:child_process'
import { cp, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { applyMutation, findConstants, neighbours } from '../trainer/proposers/mutation.ts'
import { metricOf, parseSummary } from '../trainer/summary.ts'
import { cleanupFixtures, tempDir } from './helpers/fixtures.ts'
import { REPO_ROOT } from './helpers/processes.ts'

const run = promisify(execFile)
const LANDSCAPE = join(REPO_ROOT, 'projects', 'landscape')
const NAMES = ['N_LAYER', 'N_EMBD', 'N_HEAD', 'BATCH_SIZE', 'LEARNING_RATE', 'WARMUP_STEPS', 'WEIGHT_DECAY', 'DROPOUT']
const TUNED = ['ADAM_BETA1', 'ADAM_BETA2', 'GRAD_CLIP', 'INIT_STD', 'WARMDOWN_FRAC', 'LABEL_SMOOTHING', 'ROPE_BASE', 'MLP_RATIO', 'ADAM_EPS', 'LOGIT_SOFTCAP', 'Z_LOSS', 'QK_NORM', 'EMBED_LR_MULT']

async function python (code: string, env: Record<string, string> = {}): Promise<string> {
  const { stdout } = await run('python3', ['-c', code], { cwd: LANDSCAPE, env: { ...process.env, ...env } })
  return stdout.trim()
}

/** Noiseless val_bpb of each train.py text (null: the constants crash), by the harness itself. */
async function score (dir: string, texts: string[]): Promise<Array<number | null>> {
  const files = await Promise.all(texts.map(async (t, i) => { const f = join(dir, `c${i}.py`); await writeFile(f, t); return f }))
  const { stdout } = await run('python3', [join(LANDSCAPE, 'landscape.py'), ...files])
  return stdout.trim().split('\n').map(l => l.startsWith('crash') ? null : Number(l.split('\t')[0]))
}

afterAll(cleanupFixtures)

describe('landscape project', () => {
  it('prints the summary after waiting out the budget, with noise that varies run to run, and writes nothing', async () => {
    const dir = join(await tempDir('landscape'), 'p')
    await cp(LANDSCAPE, dir, { recursive: true })
    const before = (await readdir(dir)).sort()
    const env: NodeJS.ProcessEnv = { ...process.env, SWARM_TIME_BUDGET: '1', LANDSCAPE_SEED: '' }
    const runs = await Promise.all([1, 2, 3].map(async () => (await run('python3', ['train.py'], { cwd: dir, env })).stdout))
    const [start] = await score(await tempDir('score'), [await readFile(join(dir, 'train.py'), 'utf8')])
    const figures = runs.map(out => {
      const summary = parseSummary(out)
      expect(Number(summary?.training_seconds)).toBeGreaterThanOrEqual(1)
      return metricOf(summary, 'val_bpb')!
    })
    expect(new Set(figures).size).toBe(3)
    for (const f of figures) expect(Math.abs(f - start!)).toBeLessThan(6 * 0.006)
    expect((await readdir(dir)).sort()).toEqual(before)
  })

  it('has a known optimum below the target, and a fixed seed makes the noise a function of the constants', async () => {
    const facts = JSON.parse(await python(`
import json, statistics, landscape as L
c = dict(L.BEST)
draws = [L.noise(dict(c, N_LAYER=i)) for i in range(1, 2001)]
print(json.dumps({"at_optimum": L.true_bpb(c), "optimum": L.OPTIMUM_BPB, "target": L.TARGET_BPB,
  "sd": statistics.stdev(draws), "same": L.noise(c) == L.noise(c)}))`, { LANDSCAPE_SEED: '7' }))
    expect(facts.at_optimum).toBe(facts.optimum)
    expect(facts.target).toBeGreaterThan(facts.optimum)
    expect(facts.same).toBe(true)
    expect(facts.sd).toBeGreaterThan(0.0055)
    expect(facts.sd).toBeLessThan(0.0065)
    expect(await python('import landscape as L; c = dict(L.BEST); print(L.noise(c) == L.noise(c))')).toBe('False')
    await expect(python('import landscape as L; L.true_bpb(dict(L.BEST, N_HEAD=3))')).rejects.toThrow(/divisible by N_HEAD/)
  })

  it('gives the mutation proposer its constants; the well-set ones only get worse; one-constant steps need many keeps to reach the target', async () => {
    let text = await readFile(join(LANDSCAPE, 'train.py'), 'utf8')
    expect(findConstants('train.py', text).map(c => c.name).sort()).toEqual([...NAMES, ...TUNED].sort())
    // Most ideas fail: every one-step change of a well-set constant is no better (many are clearly worse).
    const tunedMoves = findConstants('train.py', text).filter(c => TUNED.includes(c.name)).flatMap(c => neighbours(c).map(to => applyMutation(text, c, to)))
    const [start0] = await score(await tempDir('tuned'), [text])
    const tunedValues = await score(await tempDir('tuned'), tunedMoves)
    expect(tunedMoves.length).toBeGreaterThanOrEqual(30)
    for (const v of tunedValues) if (v != null) expect(v).toBeGreaterThanOrEqual(start0!)
    expect(tunedValues.filter(v => v == null || v > start0! + 0.012).length).toBeGreaterThanOrEqual(5)
    const target = Number(await python('import landscape as L; print(L.TARGET_BPB)'))
    const dir = await tempDir('walk')
    // The steepest one-step descent, noiseless: the shortest walk the mutation proposer's steps allow.
    let [value] = await score(dir, [text])
    let steps = 0
    while (value! > target && steps < 40) {
      const options = findConstants('train.py', text).flatMap(c => neighbours(c).map(to => applyMutation(text, c, to)))
      const values = await score(dir, options)
      const best = values.reduce<number>((b, v, i) => v != null && v < (values[b] ?? Infinity) ? i : b, 0)
      if (!(values[best]! < value!)) break
      text = options[best]!
      value = values[best]!
      steps++
    }
    expect(value).toBeLessThanOrEqual(target)
    expect(steps).toBeGreaterThanOrEqual(4) // the steepest path: 4 keeps with the proposer's steps today; a random walk keeps about 9 times
  })
})

/**
 * The research loop's own overhead per experiment: everything except the
 * training command and the proposer (git commit/reset, results log, summary
 * parse, bookkeeping). Runs N experiments of a trivial training command and
 * subtracts the command's own time, measured alone.
 *
 *   node --import tsx scripts/bench-loop.ts [--experiments 30] [--json-out bench-results/loop.json]
 */
import '../node/polyfills.js'
import { spawnSync } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import { runLoop } from '../trainer/loop.ts'
import { MutationProposer } from '../trainer/proposers/mutation.ts'
import { openSession } from '../trainer/session.ts'

const { values } = parseArgs({ options: { experiments: { type: 'string', default: '30' }, 'json-out': { type: 'string', default: 'bench-results/loop.json' } } })
const N = Number(values.experiments)

const TRAIN = `import random
LEARNING_RATE = 0.04
DEPTH = 4
WIDTH = 128
WARMUP = 10
print("---")
print(f"val_bpb: {1.0 + abs(LEARNING_RATE - 0.02) + 0.01 * abs(DEPTH - 6) + random.random() * 0.001:.6f}")
`

const root = await mkdtemp(join(tmpdir(), 'swarm-bench-loop-'))
const dir = join(root, 'project')
await mkdir(dir)
await writeFile(join(dir, 'train.py'), TRAIN)
await writeFile(join(dir, 'swarm.json'), JSON.stringify({ name: 'bench', run: 'python3 train.py', budget_s: 1, timeout_s: 30, noise_margin: 0 }))

// The training command alone, the same number of times.
const t0 = performance.now()
for (let i = 0; i < N; i++) spawnSync('sh', ['-c', 'python3 train.py'], { cwd: dir, stdio: 'ignore' })
const commandMs = (performance.now() - t0) / N

const session = await openSession({ projectDir: dir, home: join(root, 'home'), runTag: 'bench' })
let proposeMs = 0
const proposer = new MutationProposer(1)
const timed = { name: 'mutation', propose: async (ctx: any) => { const s = performance.now(); const p = await proposer.propose(ctx); proposeMs += performance.now() - s; return p } }
const t1 = performance.now()
await runLoop({ session, proposer: timed, signal: new AbortController().signal, onEvent: () => {}, confirm: false, maxExperiments: N })
const loopMs = performance.now() - t1
const experiments = session.history.length - 1 // baseline included in the loop's time
const perExperiment = loopMs / (experiments + 1)
const overheadMs = perExperiment - commandMs - proposeMs / Math.max(experiments, 1)

const result = {
  experiments,
  command_ms: +commandMs.toFixed(1),
  per_experiment_ms: +perExperiment.toFixed(1),
  proposer_ms: +(proposeMs / Math.max(experiments, 1)).toFixed(2),
  overhead_ms: +overheadMs.toFixed(1),
  overhead_fraction_of_300s_budget: +(overheadMs / 300_000).toExponential(2),
  overhead_fraction_of_60s_budget: +(overheadMs / 60_000).toExponential(2)
}
console.log(`loop overhead per experiment: ${result.overhead_ms} ms (experiment ${result.per_experiment_ms} ms - command ${result.command_ms} ms - proposer ${result.proposer_ms} ms) over ${experiments} experiments`)
console.log(`= ${(overheadMs / 3000).toFixed(3)}% of a 300 s budget, ${(overheadMs / 600).toFixed(3)}% of a 60 s budget`)
await mkdir(dirname(values['json-out']!), { recursive: true })
await writeFile(values['json-out']!, JSON.stringify(result, null, 2) + '\n')
await rm(root, { recursive: true, force: true })

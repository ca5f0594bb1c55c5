/**
 * The research loop's own overhead per experiment: everything except the
 * training command and the proposer (git commit/reset, results log, summary
 * parse, bookkeeping), and beside it the sandbox's cost per run (building the
 * cage, bubblewrap's start, the run's cgroup, waiting for the whole sandbox to
 * end). Runs N experiments of a trivial training command and subtracts the
 * command's own time, measured alone, plain and caged.
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
import { pythonRoots, shellQuote } from '../trainer/python.ts'
import { runCommand } from '../trainer/runner.ts'
import { sandboxLine } from '../trainer/sandbox/index.ts'
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
// The interpreter itself, past any shim (pyenv), so plain and caged runs start the same program.
const python = (await pythonRoots('python3', dir))?.executable ?? 'python3'
const command = `${shellQuote(python)} train.py`
await writeFile(join(dir, 'swarm.json'), JSON.stringify({ name: 'bench', run: command, budget_s: 1, timeout_s: 30, noise_margin: 0 }))

// The training command alone, the same number of times.
const t0 = performance.now()
for (let i = 0; i < N; i++) spawnSync('sh', ['-c', command], { cwd: dir, stdio: 'ignore' })
const commandMs = (performance.now() - t0) / N

const session = await openSession({ projectDir: dir, home: join(root, 'home'), runTag: 'bench' })
console.log(sandboxLine(session.sandbox.status()))

// The same command through the runner, plain and in the sandbox: the difference is the cage's cost.
async function runnerMs (caged: boolean): Promise<number> {
  const t = performance.now()
  for (let i = 0; i < N; i++) {
    const launch = caged ? await session.sandbox.launch({ profile: 'run', command, cwd: dir }) : undefined
    await runCommand({ command, cwd: dir, timeoutS: 30, logPath: join(root, 'bench.log'), launch })
  }
  return (performance.now() - t) / N
}
const plainMs = await runnerMs(false)
const cagedMs = await runnerMs(true)
const sandboxMs = cagedMs - plainMs

let proposeMs = 0
const proposer = new MutationProposer(1)
const timed = { name: 'mutation', propose: async (ctx: any) => { const s = performance.now(); const p = await proposer.propose(ctx); proposeMs += performance.now() - s; return p } }
const t1 = performance.now()
await runLoop({ session, proposer: timed, signal: new AbortController().signal, onEvent: () => {}, confirm: false, maxExperiments: N })
const loopMs = performance.now() - t1
const experiments = session.history.length - 1 // baseline included in the loop's time
const perExperiment = loopMs / (experiments + 1)
// The loop's runs are caged: its own overhead is what is left after the caged command and the proposer.
const overheadMs = perExperiment - commandMs - sandboxMs - proposeMs / Math.max(experiments, 1)

const result = {
  experiments,
  sandbox: session.sandbox.status().confined ? `bubblewrap, limits: ${session.sandbox.status().limits}` : 'none',
  command_ms: +commandMs.toFixed(1),
  runner_plain_ms: +plainMs.toFixed(1),
  runner_caged_ms: +cagedMs.toFixed(1),
  sandbox_ms: +sandboxMs.toFixed(1),
  per_experiment_ms: +perExperiment.toFixed(1),
  proposer_ms: +(proposeMs / Math.max(experiments, 1)).toFixed(2),
  overhead_ms: +overheadMs.toFixed(1),
  overhead_fraction_of_300s_budget: +(overheadMs / 300_000).toExponential(2),
  overhead_fraction_of_60s_budget: +(overheadMs / 60_000).toExponential(2),
  sandbox_fraction_of_60s_budget: +(sandboxMs / 60_000).toExponential(2)
}
const pct = (ms: number, budgetS: number): string => `${(ms / (budgetS * 10)).toFixed(3)}%`
console.log(`per experiment, over ${experiments} experiments:`)
console.log(`  ${'loop overhead'.padEnd(16)} ${String(result.overhead_ms).padStart(8)} ms   ${pct(overheadMs, 60)} of a 60 s budget, ${pct(overheadMs, 300)} of 300 s`)
console.log(`  ${'sandbox'.padEnd(16)} ${String(result.sandbox_ms).padStart(8)} ms   ${pct(sandboxMs, 60)} of a 60 s budget, ${pct(sandboxMs, 300)} of 300 s (runner caged ${result.runner_caged_ms} ms - plain ${result.runner_plain_ms} ms)`)
console.log(`  ${'proposer'.padEnd(16)} ${String(result.proposer_ms).padStart(8)} ms`)
console.log(`  ${'command alone'.padEnd(16)} ${String(result.command_ms).padStart(8)} ms   (experiment ${result.per_experiment_ms} ms in all)`)
await mkdir(dirname(values['json-out']!), { recursive: true })
await writeFile(values['json-out']!, JSON.stringify(result, null, 2) + '\n')
await rm(root, { recursive: true, force: true })

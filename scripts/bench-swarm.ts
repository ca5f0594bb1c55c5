/**
 * Does a swarm find better models sooner than the same nodes alone? Real
 * `swarm-node start` processes (mutation proposer) search the landscape project
 * (projects/landscape: 1 s runs, eight interacting constants, a known optimum)
 * on 127.0.0.1. Per seed, three arms of eight nodes each, so the machine carries
 * the same number of nodes in every arm:
 *
 *   isolated      8 nodes --offline: one node alone, and the best of 2, 4, 8 by subsets
 *   swarm-8       one private swarm of 8
 *   swarm-4-2-2   private swarms of 4, 2 and 2
 *
 * Each arm gets the same wall time from its first node's first baseline and
 * ends sooner when every group in it has reached the target. Progress is the
 * landscape's noiseless value of each node's baseline. Prints a table, writes
 * the figures to JSON and every node's event lines to the logs directory.
 *
 * With --real, the default CPU project instead (trainer/template: a byte-level
 * GPT, --budget 60): 2 isolated nodes against a private swarm of 2, 30 minutes
 * an arm; progress is each node's own baseline figure (there is no noiseless
 * value), and time to target is measured only when --target is given.
 *
 * Seeds are numbered from --first-seed (1): node i of seed s draws its proposals
 * from the same proposer seed in every run, so two runs of one code are not
 * independent samples; another --first-seed gives fresh ones.
 *
 *   npm run bench:swarm [-- --seeds 3 --first-seed 1 --seconds 120 --arms isolated,swarm-8,swarm-4-2-2
 *                          --target 1.10 --json-out bench-results/swarm.json --logs bench-results/swarm-logs]
 *   npm run bench:swarm -- --real [--seconds 1800 --budget 60 --seeds 1 --target 2.1]
 *   npm run bench:swarm -- --from bench-results/swarm.json    # the table of an earlier run again
 *   npm run bench:swarm -- --from a.json,b.json               # runs of other seeds, pooled in one table
 */
import '../node/polyfills.js'
import { rmSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import { runArm, type ArmRun, type ArmSpec } from './bench-swarm/arm.ts'
import { FigureScorer, landscapeFacts, Scorer } from './bench-swarm/landscape.ts'
import { REPO_ROOT } from './bench-swarm/node-process.ts'
import { measureArm, summarise, table, type Measured } from './bench-swarm/summary.ts'

const LANDSCAPE_ARMS: ArmSpec[] = [
  { name: 'isolated', groups: [1, 1, 1, 1, 1, 1, 1, 1], swarm: false },
  { name: 'swarm-8', groups: [8], swarm: true },
  { name: 'swarm-4-2-2', groups: [4, 2, 2], swarm: true }
]
/** The real project: two nodes on the machine in either arm. */
const REAL_ARMS: ArmSpec[] = [
  { name: 'isolated-2', groups: [1, 1], swarm: false },
  { name: 'swarm-2', groups: [2], swarm: true }
]

const { values: args } = parseArgs({
  options: {
    real: { type: 'boolean', default: false },
    seeds: { type: 'string' },
    'first-seed': { type: 'string', default: '1' },
    seconds: { type: 'string' },
    arms: { type: 'string' },
    target: { type: 'string' },
    // --real only: the training budget of each experiment.
    budget: { type: 'string', default: '60' },
    'json-out': { type: 'string' },
    logs: { type: 'string' },
    // Print the table of an earlier run's JSON again (after a change to the summary), running nothing;
    // several runs (comma-separated) of different seeds and the same arm length pool into one table.
    from: { type: 'string' }
  }
})
if (args.from != null) {
  const runs = await Promise.all(args.from.split(',').map(async f => JSON.parse(await readFile(f, 'utf8'))))
  const seconds = runs[0].seconds
  const seeds: number[] = runs.flatMap(r => r.seeds)
  if (runs.some(r => r.seconds !== seconds)) throw new Error(`--from: the runs' arms differ in length (${runs.map(r => r.seconds).join(', ')} s)`)
  if (new Set(seeds).size !== seeds.length) throw new Error(`--from: a seed appears in more than one run (${seeds.join(', ')}); runs of the same seeds are not independent samples`)
  const cps = [seconds / 4, seconds / 2, seconds].map(Math.round)
  console.log(table(summarise(runs.flatMap(r => r.groups), seeds, cps, seconds), seconds, cps))
  process.exit(0)
}
const real = args.real === true
args['json-out'] ??= real ? 'bench-results/swarm-real.json' : 'bench-results/swarm.json'
args.logs ??= real ? 'bench-results/swarm-real-logs' : 'bench-results/swarm-logs'
const ARMS = real ? REAL_ARMS : LANDSCAPE_ARMS
const seedCount = Number(args.seeds ?? (real ? 1 : 3))
const firstSeed = Number(args['first-seed'])
if (!Number.isInteger(seedCount) || seedCount < 1) throw new Error(`--seeds must be a positive integer, got ${JSON.stringify(args.seeds)}`)
if (!Number.isInteger(firstSeed) || firstSeed < 1) throw new Error(`--first-seed must be a positive integer, got ${JSON.stringify(args['first-seed'])}`)
const seeds = Array.from({ length: seedCount }, (_, i) => i + firstSeed)
const seconds = Number(args.seconds ?? (real ? 1800 : 120))
const arms = (args.arms ?? ARMS.map(a => a.name).join(',')).split(',').map(name => {
  const a = ARMS.find(x => x.name === name)
  if (a == null) throw new Error(`unknown arm ${name} (known: ${ARMS.map(x => x.name).join(', ')})`)
  return a
})
const project = join(REPO_ROOT, ...(real ? ['trainer', 'template'] : ['projects', 'landscape']))
const facts = real ? null : await landscapeFacts(project)
const target = args.target != null ? Number(args.target) : facts?.target ?? null
const extraArgs = real ? ['--budget', String(Number(args.budget))] : []
const checkpoints = [seconds / 4, seconds / 2, seconds].map(Math.round)

const root = await mkdtemp(join(tmpdir(), 'swarm-bench-swarm-'))
process.once('exit', () => { rmSync(root, { recursive: true, force: true }) })
const scratch = join(root, 'scores')
await mkdir(scratch)
const scorer = real ? new FigureScorer() : new Scorer(join(project, 'landscape.py'), scratch)
const say = (line: string): void => { console.log(line) }
const began = Date.now()
say(facts != null
  ? `landscape: start ${facts.start.toFixed(3)}, target ${target}, optimum ${facts.optimum}, noise σ ${facts.sigma}; ${seeds.length} seeds x ${arms.map(a => a.name).join(', ')}, ${seconds} s each`
  : `the default project (trainer/template), budget ${args.budget} s, target ${target ?? 'none'}; ${seeds.length} seeds x ${arms.map(a => a.name).join(', ')}, ${seconds} s each; values are the nodes' own figures`)

const measured: Measured[] = []
const armLog: Array<{ arm: string, seed: number, ended: ArmRun['ended'], seconds: number, load: [number, number], meanLoad: number }> = []

/** Samples the load average every 2 s while an arm runs: its mean goes beside every figure of the arm. */
function loadSampler (): () => number {
  const xs = [loadavg()[0]!]
  const t = setInterval(() => xs.push(loadavg()[0]!), 2000)
  return () => { clearInterval(t); xs.push(loadavg()[0]!); return xs.reduce((a, b) => a + b, 0) / xs.length }
}
try {
  for (const seed of seeds) {
    // Rotate the order of arms per seed, so a drift in the machine's load falls on every arm alike.
    const order = arms.map((_, i) => arms[(i + seed - 1) % arms.length]!)
    for (const spec of order) {
      const load0 = loadavg()[0]!
      const t = Date.now()
      say(`${spec.name} seed ${seed}: starting ${spec.groups.reduce((a, b) => a + b, 0)} nodes (load ${load0.toFixed(1)})`)
      const sampled = loadSampler()
      // The real project's baseline is 3 runs of the budget (the noise) plus preparing the data and evaluating each run.
      const startTimeoutMs = real ? (5 * (Number(args.budget) + 60) + 120) * 1000 : undefined
      const arm = await runArm({ spec, seed, seconds, target, project, root, logs: args.logs!, scorer, extraArgs, say, startTimeoutMs })
      const meanLoad = sampled()
      // Score every baseline and keep the arm recorded (most already are).
      for (const n of arm.nodes) {
        for (const e of n.events) {
          if (e.type === 'experiment-end' && ['keep', 'baseline', 'adopted', 'restored'].includes(e.record.status)) await scorer.score(n.dir, e.record.commit, e.record.child, e.record)
        }
      }
      const load1 = loadavg()[0]!
      armLog.push({ arm: spec.name, seed, ended: arm.ended, seconds: (arm.endedAt - t) / 1000, load: [load0, load1], meanLoad })
      say(`${spec.name} seed ${seed}: ended (${arm.ended}) after ${((arm.endedAt - t) / 1000).toFixed(0)} s; load ${load1.toFixed(1)} (mean ${meanLoad.toFixed(1)})`)
      measured.push(...measureArm(arm, scorer.values, target ?? -Infinity, checkpoints, meanLoad))
    }
  }
} finally {
  await rm(root, { recursive: true, force: true })
}

const rows = summarise(measured, seeds, checkpoints, seconds)
const loads = armLog.map(a => a.meanLoad)
say('')
say(table(rows, seconds, checkpoints))
say(`\nload average (1 min, sampled every 2 s) over the arms: mean ${(loads.reduce((a, b) => a + b, 0) / loads.length).toFixed(1)}, per arm ${armLog.map(a => `${a.arm}/${a.seed} ${a.meanLoad.toFixed(1)}`).join(', ')} (2 cores); whole benchmark ${((Date.now() - began) / 60000).toFixed(1)} min`)
await mkdir(dirname(args['json-out']!), { recursive: true })
await writeFile(args['json-out']!, JSON.stringify({ ...(facts != null ? { landscape: { ...facts, target } } : { project: 'trainer/template', budget: Number(args.budget), target }), seconds, seeds, arms: armLog, rows, groups: measured }, null, 2) + '\n')
say(`figures: ${args['json-out']}; node event logs: ${args.logs}/`)

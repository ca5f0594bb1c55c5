/**
 * The swarm benchmark's paper model: what a policy of the keep rule and the
 * adoption inbox does to the speedup, in minutes instead of bench:swarm's
 * quarter hour and over many more seeds, with the real mutation proposer and
 * keep rule on the landscape's surface (scripts/model-swarm/simulate.ts says
 * what it keeps of a node and what it leaves out). Time is in training runs.
 * Per seed, as in bench:swarm: eight isolated nodes (one node = their median,
 * the best of 4 = the median of two runs of four), a swarm of 4 and a swarm
 * of 8; speedups are medians over seeds of per-seed ratios. One row per
 * variant of the node's policy (the first row); use it to choose, then measure
 * the choice with `npm run bench:swarm`, the judge.
 *
 *   npm run model:swarm [-- --seeds 60 --first-seed 1 --variants node,no-step-back,stack-every,no-stack,decisive-3,cut,no-overhead
 *                          --json-out bench-results/model-swarm.json]
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { readFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { parseArgs } from 'node:util'
import { STACK_MIN_MARGINS } from '../node/swarm/constants.ts'
import { median } from '../protocol/index.ts'
import { DECISIVE_MARGINS } from '../trainer/decide.ts'
import { STEP_BACK_BASELINES } from '../trainer/step-back.ts'
import { runGroup, type Policy } from './model-swarm/simulate.ts'
import { TARGET_BPB } from './model-swarm/surface.ts'

/**
 * The node's policy: the keep rule's DECISIVE_MARGINS, the adoption policy's STACK_MIN_MARGINS, the
 * proposer's STEP_BACK_BASELINES, the landscape's noise margin, and the loop's costs as bench:swarm
 * measured them (in runs of about 1.2 s).
 */
const NODE: Policy = { decisive: DECISIVE_MARGINS, margin: 0.01, latency: 0.25, gap: 0.15, stack: true, stackMinMargins: STACK_MIN_MARGINS, cut: false, stepBack: STEP_BACK_BASELINES }
const VARIANTS: Record<string, { words: string, policy: Policy }> = {
  node: { words: 'the node\'s policy', policy: NODE },
  'decisive-3': { words: 'kept on one run 3 margins better (not 4)', policy: { ...NODE, decisive: 3 } },
  'decisive-2': { words: 'kept on one run 2 margins better', policy: { ...NODE, decisive: 2 } },
  'always-confirm': { words: 'every keep confirmed by a second run', policy: { ...NODE, decisive: 0 } },
  'no-stack': { words: 'no stacked candidates', policy: { ...NODE, stack: false } },
  'stack-every': { words: 'every keep a margin better stacked', policy: { ...NODE, stackMinMargins: 1 } },
  'stack-from-2': { words: 'keeps 2 margins better stacked', policy: { ...NODE, stackMinMargins: 2 } },
  'stack-from-4': { words: 'keeps 4 margins better stacked', policy: { ...NODE, stackMinMargins: 4 } },
  'stack-own': { words: 'only a node\'s own keeps stacked', policy: { ...NODE, stackOwnOnly: true } },
  'no-step-back': { words: 'the proposer hears nothing of earlier baselines', policy: { ...NODE, stepBack: 0 } },
  'step-back-1': { words: 'the proposer hears of one baseline back', policy: { ...NODE, stepBack: 1 } },
  'step-back-6': { words: 'the proposer hears of six baselines back', policy: { ...NODE, stepBack: 6 } },
  cut: { words: 'a run in flight stopped when a peer\'s keep beats its baseline', policy: { ...NODE, cut: true } },
  'no-overhead': { words: 'no latency, no time between runs', policy: { ...NODE, latency: 0, gap: 0 } }
}

const { values: args } = parseArgs({
  options: {
    seeds: { type: 'string', default: '60' },
    'first-seed': { type: 'string', default: '1' },
    variants: { type: 'string', default: 'node,no-step-back,stack-every,no-stack,decisive-3,cut,no-overhead' },
    horizon: { type: 'string', default: '200' },
    'json-out': { type: 'string', default: 'bench-results/model-swarm.json' }
  }
})
const seeds = Number(args.seeds)
const firstSeed = Number(args['first-seed'])
const horizon = Number(args.horizon)
if (!Number.isInteger(seeds) || seeds < 1) throw new Error(`--seeds must be a positive integer, got ${JSON.stringify(args.seeds)}`)
if (!Number.isInteger(firstSeed) || firstSeed < 1) throw new Error(`--first-seed must be a positive integer, got ${JSON.stringify(args['first-seed'])}`)
if (!(horizon > 0)) throw new Error(`--horizon must be a positive number of runs, got ${JSON.stringify(args.horizon)}`)
const variants = args.variants!.split(',').map(name => {
  const v = VARIANTS[name]
  if (v == null) throw new Error(`unknown variant ${name} (known: ${Object.keys(VARIANTS).join(', ')})`)
  return { name, ...v }
})
const start = readFileSync(new URL('../projects/landscape/train.py', import.meta.url), 'utf8')

interface Row { variant: string, words: string, policy: Policy, one: number, bestOf4: number, swarm4: number, swarm8: number, k4VsOne: number, k4VsBest: number, k8VsOne: number, stackShare: number, stacksKept: number }
const rows: Row[] = []
for (const v of variants) {
  const t = { one: [] as number[], best: [] as number[], s4: [] as number[], s8: [] as number[], r4: [] as number[], r4b: [] as number[], r8: [] as number[] }
  let runs = 0
  let stacks = 0
  let kept = 0
  for (let seed = firstSeed; seed < firstSeed + seeds; seed++) {
    const group = (size: number, swarm: boolean, s: number): number => {
      const g = runGroup({ size, swarm, seed: s, start, target: TARGET_BPB, horizon, policy: v.policy })
      if (swarm) { runs += g.runs; stacks += g.stacks; kept += g.stacksKept }
      return g.time
    }
    const isolated = Array.from({ length: 8 }, (_, i) => group(1, false, seed * 100 + i))
    const one = median(isolated)
    const best = median([Math.min(...isolated.slice(0, 4)), Math.min(...isolated.slice(4))])
    const s4 = group(4, true, seed)
    const s8 = group(8, true, seed)
    t.one.push(one); t.best.push(best); t.s4.push(s4); t.s8.push(s8)
    t.r4.push(one / s4); t.r4b.push(best / s4); t.r8.push(one / s8)
  }
  rows.push({
    variant: v.name, words: v.words, policy: v.policy, one: median(t.one), bestOf4: median(t.best), swarm4: median(t.s4), swarm8: median(t.s8),
    k4VsOne: median(t.r4), k4VsBest: median(t.r4b), k8VsOne: median(t.r8), stackShare: runs > 0 ? stacks / runs : 0, stacksKept: stacks > 0 ? kept / stacks : 0
  })
  process.stderr.write(`${v.name} done\n`)
}

const head = ['variant', 'one node', 'best of 4', 'swarm 4', 'swarm 8', 'K4 vs one', 'K4 vs best of 4', 'K8 vs one', 'stacks (kept)']
const body = rows.map(r => [r.variant, r.one.toFixed(1), r.bestOf4.toFixed(1), r.swarm4.toFixed(1), r.swarm8.toFixed(1),
  `${r.k4VsOne.toFixed(2)}x`, `${r.k4VsBest.toFixed(2)}x`, `${r.k8VsOne.toFixed(2)}x`, `${(100 * r.stackShare).toFixed(1)} % (${(100 * r.stacksKept).toFixed(0)} %)`])
const widths = head.map((h, i) => Math.max(h.length, ...body.map(b => b[i]!.length)))
for (const line of [head, ...body]) console.log(line.map((c, i) => i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)).join('  '))
console.log(`\ntimes: training runs from the group's first baseline until a node's baseline is truly <= ${TARGET_BPB}, medians over ${seeds} seeds (${firstSeed} to ${firstSeed + seeds - 1});`)
console.log('ratios: medians of per-seed ratios; stacks: stacked candidates, of the swarms\' runs (and the share of them kept)')
for (const r of rows) console.log(`  ${r.variant}: ${r.words}`)
await mkdir(dirname(args['json-out']!), { recursive: true })
await writeFile(args['json-out']!, JSON.stringify({ seeds, firstSeed, horizon, target: TARGET_BPB, rows }, null, 2) + '\n')
console.log(`figures: ${args['json-out']}`)

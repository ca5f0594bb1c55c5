/**
 * From arms to the benchmark's figures: each group of nodes measured
 * (figures.ts), grouped by kind and size (one isolated node; the best of K
 * isolated nodes; a swarm of K), then medians over seeds and the speedups.
 * A time is null when the target was not reached before the arm ended.
 */
import { adoptionLatency, bestAt, costs, cpuPerNodeMinute, duplicates, experimentsPerHour, groupStart, timeToTarget, type Costs, type Group, type Values } from './figures.ts'
import type { ArmRun } from './arm.ts'

export const SIZES = [1, 2, 4, 8]

export interface Measured {
  kind: 'isolated' | 'swarm'
  size: number
  seed: number
  /** Seconds to the target; null if not reached within `available`. */
  time: number | null
  available: number
  best: Record<string, number | null>
  expPerHour: number
  dup: ReturnType<typeof duplicates>
  latency: ReturnType<typeof adoptionLatency>
  costs: Costs
  cpu: ReturnType<typeof cpuPerNodeMinute>
  /** The machine's load average (1 min) over the arm it ran in. */
  load: number | null
}

function measure (g: Group, kind: Measured['kind'], size: number, seed: number, values: Values, target: number, checkpoints: number[], load: number | null): Measured {
  const t0 = groupStart(g) ?? g.endedAt
  return {
    kind,
    size,
    seed,
    time: timeToTarget(g, values, target),
    available: (g.endedAt - t0) / 1000,
    best: Object.fromEntries(checkpoints.map(s => [String(s), bestAt(g, values, s)])),
    expPerHour: experimentsPerHour(g),
    dup: duplicates(g),
    latency: kind === 'swarm' ? adoptionLatency(g, values) : [],
    costs: costs(g),
    cpu: cpuPerNodeMinute(g),
    load
  }
}

/** Every group an arm yields: each swarm; and from an isolated arm each node alone and each run of K consecutive nodes. */
export function measureArm (arm: ArmRun, values: Values, target: number, checkpoints: number[], load: number | null = null): Measured[] {
  const group = (nodes: ArmRun['nodes']): Group => ({ nodes, endedAt: arm.endedAt })
  if (arm.spec.swarm) {
    return arm.spec.groups.map((size, i) => measure(group(arm.nodes.filter(n => n.group === i)), 'swarm', size, arm.seed, values, target, checkpoints, load))
  }
  return SIZES.flatMap(k => Array.from({ length: Math.floor(arm.nodes.length / k) }, (_, i) =>
    measure(group(arm.nodes.slice(i * k, (i + 1) * k)), 'isolated', k, arm.seed, values, target, checkpoints, load)))
}

/** Median with "not reached" as +Infinity. */
export function median (xs: Array<number | null>): number | null {
  if (xs.length === 0) return null
  const s = xs.map(x => x ?? Infinity).sort((a, b) => a - b)
  const m = s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
  return m
}

export interface Row {
  kind: Measured['kind']
  size: number
  /** Per seed: the median time to target of this kind of group (Infinity: most did not reach it). */
  perSeed: Array<number | null>
  time: number | null
  /** Median over seeds of (one isolated node's time) / (this group's time), and of (best of K isolated) / (this). */
  vsOne: Speedup | null
  vsBestOfK: Speedup | null
  /** CPU seconds per node-minute: the node process, and its training runs and git (median over groups). */
  cpu: { self: number, children: number } | null
  best: Record<string, number | null>
  expPerHour: number | null
  dupShare: number | null
  candidateDupShare: number | null
  reproductionShare: number | null
  latency: { bests: number, allRunning: number | null, allBaseline: number | null, neverAllRunning: number, neverAllBaseline: number } | null
  costs: Costs
  /** What the adoption policy did, summed over the groups: adoptions with no run, reproductions, stacks (kept), re-measures (failed). */
  policy: { adopted: number, reproductions: number, stacks: number, stackKeeps: number, remeasures: number, restored: number }
  /** Mean load average (1 min) of the arms behind this row. */
  load: number | null
  groups: number
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0)

/** A time ratio; where one side did not reach the target in `cap` seconds it is only a bound. */
export interface Speedup { value: number, bound: 'exact' | 'at-least' | 'at-most' }

export function ratio (a: number | null, b: number | null, cap: number): Speedup | null {
  if (a == null || b == null || b <= 0) return null
  const fa = Number.isFinite(a); const fb = Number.isFinite(b)
  if (fa && fb) return { value: a / b, bound: 'exact' }
  if (!fa && fb) return { value: cap / b, bound: 'at-least' }
  if (fa && !fb) return { value: a / cap, bound: 'at-most' }
  return null
}

/** The middle speedup over seeds (the lower middle of an even count), bound and all. */
export function medianSpeedup (xs: Array<Speedup | null>): Speedup | null {
  const s = xs.filter((x): x is Speedup => x != null).sort((a, b) => a.value - b.value)
  return s.length === 0 ? null : s[Math.floor((s.length - 1) / 2)]!
}

export function summarise (all: Measured[], seeds: number[], checkpoints: number[], cap: number): Row[] {
  const perSeed = (kind: Measured['kind'], size: number, seed: number): number | null =>
    median(all.filter(m => m.kind === kind && m.size === size && m.seed === seed).map(m => m.time))
  const rows: Row[] = []
  for (const kind of ['isolated', 'swarm'] as const) {
    for (const size of SIZES) {
      const ms = all.filter(m => m.kind === kind && m.size === size)
      if (ms.length === 0) continue
      const times = seeds.map(s => perSeed(kind, size, s))
      const dup = ms.map(m => m.dup)
      const latency = ms.flatMap(m => m.latency)
      const c = ms.map(m => m.costs)
      rows.push({
        kind,
        size,
        perSeed: times,
        time: median(times),
        vsOne: medianSpeedup(seeds.map((s, i) => ratio(perSeed('isolated', 1, s), times[i]!, cap))),
        vsBestOfK: kind === 'swarm' ? medianSpeedup(seeds.map((s, i) => ratio(perSeed('isolated', size, s), times[i]!, cap))) : null,
        best: Object.fromEntries(checkpoints.map(cp => [String(cp), median(seeds.map(s => median(ms.filter(m => m.seed === s).map(m => m.best[String(cp)] ?? null))))])),
        expPerHour: median(ms.map(m => m.expPerHour)),
        dupShare: sum(dup.map(d => d.runs)) > 0 ? sum(dup.map(d => d.duplicates)) / sum(dup.map(d => d.runs)) : null,
        candidateDupShare: sum(dup.map(d => d.candidates)) > 0 ? sum(dup.map(d => d.candidateDuplicates)) / sum(dup.map(d => d.candidates)) : null,
        reproductionShare: sum(dup.map(d => d.runs)) > 0 ? sum(dup.map(d => d.reproductions)) / sum(dup.map(d => d.runs)) : null,
        latency: kind === 'swarm'
          ? {
              bests: latency.length,
              allRunning: median(latency.filter(l => l.allRunning != null).map(l => l.allRunning)),
              allBaseline: median(latency.filter(l => l.allBaseline != null).map(l => l.allBaseline)),
              neverAllRunning: latency.filter(l => l.allRunning == null).length,
              neverAllBaseline: latency.filter(l => l.allBaseline == null).length
            }
          : null,
        cpu: ms.some(m => m.cpu != null) ? { self: median(ms.map(m => m.cpu?.self ?? null))!, children: median(ms.map(m => m.cpu?.children ?? null))! } : null,
        costs: Object.fromEntries(Object.keys(c[0]!).map(k => [k, sum(c.map(x => x[k as keyof Costs] ?? 0))])) as unknown as Costs,
        policy: {
          adopted: sum(dup.map(d => d.adoptedWithoutRun ?? 0)),
          reproductions: sum(dup.map(d => d.reproductions)),
          stacks: sum(dup.map(d => d.stacks ?? 0)),
          stackKeeps: sum(dup.map(d => d.stackKeeps ?? 0)),
          remeasures: sum(dup.map(d => d.remeasures ?? 0)),
          restored: sum(dup.map(d => d.restored ?? 0))
        },
        load: ms.some(m => m.load != null) ? sum(ms.map(m => m.load ?? 0)) / ms.filter(m => m.load != null).length : null,
        groups: ms.length
      })
    }
  }
  return rows
}

// --- the table -------------------------------------------------------------------

const secs = (x: number | null, cap: number): string => x == null ? '-' : Number.isFinite(x) ? x.toFixed(0) : `>${cap}`
const times = (x: Speedup | null): string => x == null ? '-' : `${x.bound === 'at-least' ? '>=' : x.bound === 'at-most' ? '<=' : ''}${x.value.toFixed(2)}x`
const pct = (x: number | null): string => x == null ? '-' : `${(100 * x).toFixed(1)}%`
const bpb = (x: number | null): string => x == null ? '-' : x.toFixed(3)

function pad (cells: string[], widths: number[]): string {
  return cells.map((c, i) => i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)).join('  ')
}

export function table (rows: Row[], cap: number, checkpoints: number[]): string {
  const head = ['K', 'arm', 'time to target per seed (s)', 'median', 'vs 1 node', 'vs best of K', ...checkpoints.map(c => `best@${c}s`), 'exp/h/node', 'cpu s/node-min', 'dup', 'dup cand.', 'repro', 'load']
  const body = rows.map(r => [
    String(r.size),
    r.kind === 'swarm' ? 'swarm' : r.size === 1 ? 'isolated' : 'best of K isolated',
    r.perSeed.map(t => secs(t, cap)).join(' / '),
    secs(r.time, cap),
    times(r.vsOne),
    times(r.vsBestOfK),
    ...checkpoints.map(c => bpb(r.best[String(c)] ?? null)),
    r.expPerHour == null ? '-' : r.expPerHour.toFixed(0),
    r.cpu == null ? '-' : `${r.cpu.self.toFixed(1)} + ${r.cpu.children.toFixed(1)}`,
    pct(r.dupShare),
    pct(r.candidateDupShare),
    pct(r.reproductionShare),
    r.load == null ? '-' : r.load.toFixed(1)
  ])
  const widths = head.map((h, i) => Math.max(h.length, ...body.map(b => b[i]!.length)))
  const lines = [pad(head, widths), ...body.map(b => pad(b, widths))]
  lines.push(
    `time: seconds from the group's first baseline until one node's baseline is truly <= the target (>${cap}: not reached); vs: median over seeds of`,
    'time ratios (>= / <=: one side not reached, a bound); best@: the best true baseline by then; cpu: the node process + its runs and git;',
    'dup: runs of a change on a parent content that another node had already run, of all runs; dup cand.: of own proposals; repro: reproductions, of all runs;',
    'load: the machine\'s load average (1 min, 2 cores) over the arms behind the row')

  const swarm = rows.filter(r => r.kind === 'swarm')
  lines.push('', 'adoption latency (s, median over new bests): publication -> every other node running it -> every node\'s baseline it or better')
  for (const r of swarm) {
    const l = r.latency!
    lines.push(`  K=${r.size}: ${l.bests} new bests; all running ${secs(l.allRunning, cap)} (never for ${l.neverAllRunning}); all baselines ${secs(l.allBaseline, cap)} (never for ${l.neverAllBaseline})`)
  }
  lines.push('', 'what the adoption policy did (sums over groups and seeds): peers\' keeps taken with no run; reproductions; stacked candidates (kept); adopted baselines re-measured (failed, went back)')
  for (const r of swarm) {
    const p = r.policy
    lines.push(`  K=${r.size}: ${p.adopted} adopted with no run; ${p.reproductions} reproductions; ${p.stacks} stacks (${p.stackKeeps} kept); ${p.remeasures} re-measures (${p.restored} failed)`)
  }
  lines.push('', 'where node-time went (% of node-seconds): start-up, baseline+noise, own search runs, confirming runs, stacked candidates, reproductions and re-measures, crashes, the run cut off at the end, between runs')
  for (const r of rows.filter(r => r.size === 1 || r.kind === 'swarm')) {
    const c = r.costs
    const p = (x: number | undefined): string => `${(100 * (x ?? 0) / c.total).toFixed(0)}%`
    lines.push(`  ${r.kind === 'swarm' ? `swarm K=${r.size}` : 'isolated'}: start-up ${p(c.startup)}, baseline ${p(c.baseline)}, search ${p(c.search)}, confirm ${p(c.confirm)}, stack ${p(c.stack)}, reproduce ${p(c.reproduce)}, crash ${p(c.crash)}, in flight at the end ${p(c.unfinished)}, between ${p(c.between)}`)
  }
  return lines.join('\n')
}

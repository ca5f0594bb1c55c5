/**
 * What one group of nodes did, read from their `--json` event lines alone
 * (pure: no processes, no files). A group is one private swarm, or a set of
 * isolated nodes taken together ("the best of K"). Its clock starts when its
 * first node began to research (its first baseline measured), so process
 * start-up is reported as a cost, not charged to the search.
 *
 * `values` gives the landscape's noiseless val_bpb of each content hash: a
 * node's progress is the true value of its baseline, never a lucky figure.
 */
import type { Ev } from './node-process.ts'

export type Values = ReadonlyMap<string, number | null>

export interface GroupNode { name: string, spawnedAt: number, events: Ev[], cpu?: { self: number, children: number } | null }

export interface Group {
  nodes: GroupNode[]
  /** When the arm stopped its nodes: events after it do not count. */
  endedAt: number
}

/** The fields of an experiment record the benchmark reads. */
export interface Rec {
  seq: number
  status: string
  proposer: string
  child: string
  parent_content?: string
  started_at: number
  finished_at: number
  metrics?: Record<string, unknown>
  origin?: { author: string, result: string }
}

export function records (n: GroupNode, endedAt: number): Rec[] {
  return n.events.filter(e => e.type === 'experiment-end' && e.record.finished_at <= endedAt).map(e => e.record as Rec)
}

/** The statuses where a node's baseline moved: measured, kept, adopted with no run, or gone back to. */
const MOVED = new Set(['baseline', 'keep', 'adopted', 'restored'])

/** A record of a run (the first baseline measurement aside); an adoption with no run, or a return to an earlier baseline, is none. */
export function isRun (r: Rec): boolean {
  return r.status !== 'adopted' && r.status !== 'restored' && !(r.status === 'baseline' && r.proposer === 'none')
}

/** What a run was for: the node's own search, a stacked candidate, a peer's result reproduced, or an adopted baseline re-measured. */
export function runKind (r: Rec): 'search' | 'stack' | 'reproduce' | 'remeasure' {
  return r.proposer === 'stack' ? 'stack' : r.proposer === 'adopt' ? 'reproduce' : r.proposer === 'verify' ? 'remeasure' : 'search'
}

/** When the node had measured its first baseline; null if it never did. */
export function researchStart (n: GroupNode): number | null {
  return n.events.find(e => e.type === 'experiment-end' && e.record.status === 'baseline')?.record.finished_at ?? null
}

/** The group's clock: its first node's research start. */
export function groupStart (g: Group): number | null {
  const starts = g.nodes.map(researchStart).filter((t): t is number => t != null)
  return starts.length === 0 ? null : Math.min(...starts)
}

/** The true value of the node's baseline over time: wherever it moved. */
export function timeline (n: GroupNode, g: Group, values: Values): Array<{ at: number, value: number }> {
  return records(n, g.endedAt)
    .filter(r => MOVED.has(r.status))
    .flatMap(r => { const v = values.get(r.child); return v == null ? [] : [{ at: r.finished_at, value: v }] })
}

/** Seconds from the group's start until one of its nodes' baselines reached `target`; null if none did. */
export function timeToTarget (g: Group, values: Values, target: number): number | null {
  const t0 = groupStart(g)
  if (t0 == null) return null
  const hits = g.nodes.flatMap(n => timeline(n, g, values).filter(p => p.value <= target).slice(0, 1).map(p => p.at))
  return hits.length === 0 ? null : (Math.min(...hits) - t0) / 1000
}

/** The group's best true baseline value `seconds` after its start (the arm's last value if it ended sooner). */
export function bestAt (g: Group, values: Values, seconds: number): number | null {
  const t0 = groupStart(g)
  if (t0 == null) return null
  const at = t0 + seconds * 1000
  const seen = g.nodes.flatMap(n => timeline(n, g, values).filter(p => p.at <= at).map(p => p.value))
  return seen.length === 0 ? null : Math.min(...seen)
}

/** Experiments (baseline measurements aside) per node-hour of research. */
export function experimentsPerHour (g: Group): number {
  let count = 0
  let ms = 0
  for (const n of g.nodes) {
    const from = researchStart(n)
    if (from == null) continue
    count += records(n, g.endedAt).filter(isRun).length
    ms += g.endedAt - from
  }
  return ms > 0 ? count / (ms / 3_600_000) : 0
}

export interface Duplicates {
  /** Runs of the group (first baseline measurements aside). */
  runs: number
  /** Of them, the same change on the same parent content as one another node had started before. */
  duplicates: number
  /** Own proposals (not reproductions, stacks or re-measures) and, of them, the duplicates. */
  candidates: number
  candidateDuplicates: number
  reproductions: number
  /** Stacked candidates run, and how many were kept. */
  stacks: number
  stackKeeps: number
  /** Adopted baselines re-measured after their first use landed far off, and of them those that failed (the node went back). */
  remeasures: number
  restored: number
  /** Peers' results taken as the baseline with no run. */
  adoptedWithoutRun: number
}

export function duplicates (g: Group): Duplicates {
  const recs = g.nodes.flatMap(n => records(n, g.endedAt).map(r => ({ node: n.name, r })))
  const all = recs.filter(x => isRun(x.r))
  all.sort((a, b) => a.r.started_at - b.r.started_at)
  const firstBy = new Map<string, string>()
  const out: Duplicates = {
    runs: all.length, duplicates: 0, candidates: 0, candidateDuplicates: 0, reproductions: 0, stacks: 0, stackKeeps: 0, remeasures: 0,
    restored: recs.filter(x => x.r.status === 'restored').length,
    adoptedWithoutRun: recs.filter(x => x.r.status === 'adopted').length
  }
  for (const { node, r } of all) {
    const key = `${r.parent_content ?? '?'}>${r.child}`
    const first = firstBy.get(key)
    const dup = first != null && first !== node
    if (first == null) firstBy.set(key, node)
    if (dup) out.duplicates++
    const kind = runKind(r)
    if (kind === 'reproduce') out.reproductions++
    else if (kind === 'remeasure') out.remeasures++
    else if (kind === 'stack') {
      out.stacks++
      if (r.status === 'keep') out.stackKeeps++
    } else {
      out.candidates++
      if (dup) out.candidateDuplicates++
    }
  }
  return out
}

export interface NewBest {
  node: string
  at: number
  value: number
  /** Seconds until every other node had started running it; null if one never did before the arm ended. */
  allRunning: number | null
  /** Seconds until every other node's baseline was it or better; null if one never was. */
  allBaseline: number | null
}

/** Each keep that lowered the group's best true value, and how long the others took to follow it. */
export function adoptionLatency (g: Group, values: Values): NewBest[] {
  const keeps = g.nodes.flatMap(n => records(n, g.endedAt).filter(r => r.status === 'keep').map(r => ({ node: n, r, value: values.get(r.child) ?? null })))
    .filter(k => k.value != null).sort((a, b) => a.r.finished_at - b.r.finished_at)
  const starts = g.nodes.flatMap(n => timeline(n, g, values).slice(0, 1).map(p => p.value))
  let best = starts.length > 0 ? Math.min(...starts) : Infinity
  const out: NewBest[] = []
  for (const k of keeps) {
    if (!(k.value! < best)) continue
    best = k.value!
    const at = k.r.finished_at
    const others = g.nodes.filter(n => n !== k.node)
    const running = others.map(n => records(n, g.endedAt).find(r => r.child === k.r.child && r.started_at >= at)?.started_at ?? null)
    const based = others.map(n => {
      const line = timeline(n, g, values)
      const before = line.filter(p => p.at <= at).at(-1)
      if (before != null && before.value <= k.value!) return at
      return line.find(p => p.at > at && p.value <= k.value!)?.at ?? null
    })
    const latest = (ts: Array<number | null>): number | null => ts.some(t => t == null) ? null : (Math.max(at, ...(ts as number[])) - at) / 1000
    out.push({ node: k.node.name, at, value: k.value!, allRunning: latest(running), allBaseline: latest(based) })
  }
  return out
}

/** Where the group's node-time went, in seconds summed over its nodes. */
export interface Costs {
  /** Spawn to the first baseline run: process start, project set-up, joining the swarm. */
  startup: number
  /** The baseline and its noise runs. */
  baseline: number
  /** First runs of the node's own candidates (crashes apart). */
  search: number
  /** Confirming runs of its own candidates. */
  confirm: number
  /** Runs of peers' results (first and confirming), and re-measures of baselines adopted with no run. */
  reproduce: number
  /** Stacked candidates (first and confirming runs). */
  stack: number
  crash: number
  /** The experiment in flight when the arm ended. */
  unfinished: number
  /** Everything between runs: proposing, git, the results log, fetching, waiting. */
  between: number
  total: number
}

export function costs (g: Group): Costs {
  const c: Costs = { startup: 0, baseline: 0, search: 0, confirm: 0, reproduce: 0, stack: 0, crash: 0, unfinished: 0, between: 0, total: 0 }
  for (const n of g.nodes) {
    const end = g.endedAt
    const firstStart = n.events.find(e => e.type === 'experiment-start')
    const startup = (firstStart != null ? Date.parse(firstStart.time) : end) - n.spawnedAt
    c.startup += startup / 1000
    let inRuns = 0
    const recs = records(n, end)
    const open = n.events.filter(e => e.type === 'experiment-start' && Date.parse(e.time) <= end && !recs.some(r => r.seq === e.seq)).at(-1)
    if (open != null) {
      const s = (end - Date.parse(open.time)) / 1000
      c.unfinished += s
      inRuns += s
    }
    for (const r of recs) {
      const s = (r.finished_at - r.started_at) / 1000
      inRuns += s
      const confirmed = typeof r.metrics?.confirm_run === 'number'
      const kind = runKind(r)
      if (!isRun(r)) c.baseline += s
      else if (kind === 'reproduce' || kind === 'remeasure') c.reproduce += s
      else if (kind === 'stack') c.stack += s
      else if (r.status === 'crash' || r.status === 'invalid') c.crash += s
      else {
        c.search += confirmed ? s / 2 : s
        c.confirm += confirmed ? s / 2 : 0
      }
    }
    const total = (end - n.spawnedAt) / 1000
    c.total += total
    c.between += Math.max(0, total - startup / 1000 - inRuns)
  }
  return c
}

/** CPU seconds per minute of research (first baseline's end to the arm's end): the node process, and its runs and git. */
export function cpuPerNodeMinute (g: Group): { self: number, children: number } | null {
  const known = g.nodes.filter(n => n.cpu != null && researchStart(n) != null)
  if (known.length === 0) return null
  const minutes = known.reduce((s, n) => s + (g.endedAt - researchStart(n)!) / 60_000, 0)
  return {
    self: known.reduce((s, n) => s + n.cpu!.self, 0) / minutes,
    children: known.reduce((s, n) => s + n.cpu!.children, 0) / minutes
  }
}

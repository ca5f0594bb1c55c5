/** Figures and the table of `bench:gossip`. */
import type { RunResult } from './run.ts'

export function utilization (a: { active: number, idle: number }, b: { active: number, idle: number }): number {
  const active = b.active - a.active
  const idle = b.idle - a.idle
  return active + idle > 0 ? active / (active + idle) : 0
}

export interface Stats { min: number, median: number, max: number }
export function spread (xs: number[]): Stats {
  const s = [...xs].sort((a, b) => a - b)
  return { min: s[0] ?? NaN, median: percentile(s, 50), max: s.at(-1) ?? NaN }
}
/** Nearest rank on a sorted array. */
export function percentile (sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100 * sorted.length) - 1))] as number
}

const MB = 1024 * 1024
export function table (results: RunResult[]): string {
  const f = (x: number | null, d = 0): string => x == null || Number.isNaN(x) ? '-' : x.toFixed(d)
  const stats = (s: Stats): string => `${s.min}/${s.median}/${s.max}`
  const rows = [[
    'N', 'procs', 'hosts', 'start ms', 'formation ms', 'CPU s', 'settle ms', 'ELU', 'tta p50', 'tta p99', 'tta max', 'rcv p50', 'rcv p99',
    'delivery', 'RSS/node MB', 'ΔRSS/node MB', 'RSS/worker MB', 'conns min/med/max', 'mesh min/med/max'
  ]]
  for (const r of results) {
    rows.push([
      String(r.nodes), String(r.processes), r.hosts.length === 0 ? 'loopback' : `${r.hosts.length} (RTT ${2 * Math.min(...r.hosts.map(h => h.delayMs))}-${2 * Math.max(...r.hosts.map(h => h.delayMs))})`, f(r.startMs),
      `${r.formed ? f(r.formationMs) : `>${r.formationTimeoutMs}!`}${r.rescue != null ? ` r${r.rescue.ok.length}/${r.rescue.tried.length}` : ''}`,
      f(r.cpuSeconds.startAndFormation, 1),
      `${f(r.settleMs)}${r.settled ? '' : '!'}`, r.publishElu.map(x => x.toFixed(2)).join('/'),
      f(r.timeToAllMs.p50, 1), f(r.timeToAllMs.p99, 1), f(r.timeToAllMs.max, 1),
      f(r.receiverLatencyMs.p50, 1), f(r.receiverLatencyMs.p99, 1),
      `${r.delivered}/${r.expected} (${(r.deliveryRatio * 100).toFixed(1)}%)`,
      f(r.rss.perNodeBytes / MB, 1), f(r.rss.perNodeDeltaBytes / MB, 1),
      r.rss.workers.map(w => `${f(w.rssBytes / MB)}(${w.nodes}n)`).join(' '),
      stats(r.atFormation.connections), stats(r.atFormation.mesh)
    ])
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map(r => r[c]!.length)))
  return rows.map(r => r.map((cell, c) => cell.padStart(widths[c]!)).join('  ')).join('\n')
}

/**
 * Leaderboards from more than one place (pure): rows a peer sent (untrusted
 * JSON, checked and cleaned here), rows computed from signed DHT best records
 * (verified, so they win over a peer's word for the same result), and an
 * offline node's own history. Ranking follows `computeLeaderboard`:
 * reproduced first, then val_bpb, fewer failed reproductions, the earlier one.
 */
import type { BestRecord } from '../../protocol/index.ts'
import type { ExperimentRecord } from '../../trainer/results-log.ts'
import { computeLeaderboard, type LeaderboardQuery, type LeaderboardRow } from '../swarm/leaderboard.ts'
import { oneLine } from '../swarm/outgoing.ts'
import { recordFigure } from './records.ts'

const HASH_RE = /^[0-9a-f]{64}$/
const TRACK_RE = /^[a-z0-9][a-z0-9-]{0,47}$/
const PEER_RE = /^[1-9A-HJ-NP-Za-km-z]{20,100}$/

const num = (x: unknown): number | null => typeof x === 'number' && Number.isFinite(x) ? x : null
const count = (x: unknown): number => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x < 1e6 ? x : 0
const text = (x: unknown, max: number): string => typeof x === 'string' ? oneLine(x, max) : ''

/** A row as a peer sent it, or null when it is not one. Strings lose control characters (no terminal escapes from strangers). */
export function cleanRow (x: unknown, project: string): LeaderboardRow | null {
  if (typeof x !== 'object' || x === null) return null
  const r = x as Record<string, unknown>
  const val = num(r.val_bpb)
  if (r.project !== project || typeof r.track !== 'string' || !TRACK_RE.test(r.track) || typeof r.result !== 'string' || !HASH_RE.test(r.result) ||
    val == null || val <= 0 || typeof r.author !== 'string' || !PEER_RE.test(r.author)) return null
  const hw = (typeof r.hardware === 'object' && r.hardware !== null ? r.hardware : {}) as Record<string, unknown>
  return {
    rank: 0,
    project,
    track: r.track,
    result: r.result,
    val_bpb: val,
    claimed_bpb: num(r.claimed_bpb),
    attestations: count(r.attestations),
    failed: count(r.failed),
    delta: num(r.delta),
    author: r.author,
    hardware: { cpu: text(hw.cpu, 128), cores: count(hw.cores), ram_gb: num(hw.ram_gb) ?? 0, gpu: typeof hw.gpu === 'string' ? text(hw.gpu, 128) : null, gpu_mem_gb: num(hw.gpu_mem_gb) },
    description: text(r.description, 200),
    time: num(r.time) ?? 0
  }
}

function order (a: LeaderboardRow, b: LeaderboardRow): number {
  return a.project.localeCompare(b.project) || a.track.localeCompare(b.track) ||
    Number(b.attestations > 0) - Number(a.attestations > 0) ||
    a.val_bpb - b.val_bpb || a.failed - b.failed || a.time - b.time || a.result.localeCompare(b.result)
}

/** Sorts, numbers per project and track, and cuts each track at `limit`. */
export function rankRows (rows: LeaderboardRow[], limit?: number): LeaderboardRow[] {
  const out: LeaderboardRow[] = []
  const n = new Map<string, number>()
  for (const row of [...rows].sort(order)) {
    const k = `${row.project}/${row.track}`
    const rank = (n.get(k) ?? 0) + 1
    n.set(k, rank)
    if (limit == null || rank <= limit) out.push({ ...row, rank })
  }
  return out
}

/**
 * One board from what peers said and what the DHT holds. Per result the DHT's
 * verified row wins, with the most attestations any source saw; deltas keep
 * the peers' first baseline of the track where one is known.
 */
export function mergeBoards (peerLists: unknown[][], records: BestRecord[], project: string, q: LeaderboardQuery = {}): LeaderboardRow[] {
  const byResult = new Map<string, LeaderboardRow>()
  const base = new Map<string, number>()
  for (const list of peerLists) {
    for (const raw of list) {
      const row = cleanRow(raw, project)
      if (row == null || (q.track != null && row.track !== q.track)) continue
      if (row.delta != null && !base.has(row.track)) base.set(row.track, row.val_bpb - row.delta)
      const prev = byResult.get(row.result)
      if (prev == null || row.attestations > prev.attestations) byResult.set(row.result, row)
    }
  }
  for (const rec of records) {
    if (rec.project !== project || (q.track != null && rec.track !== q.track)) continue
    const [row] = computeLeaderboard([rec.result], rec.attestations, { project })
    if (row == null) continue
    const prev = byResult.get(row.result)
    const b = base.get(row.track)
    byResult.set(row.result, {
      ...row,
      description: oneLine(row.description, 200),
      attestations: Math.max(row.attestations, prev?.attestations ?? 0),
      delta: b != null ? row.val_bpb - b : prev?.delta ?? row.delta
    })
  }
  return rankRows([...byResult.values()], q.limit)
}

/** An offline node's board: its own kept results (nobody reproduced them: no attestations). */
export function localBoard (history: ExperimentRecord[], ctx: { project: string, peerId: string, hardware: LeaderboardRow['hardware'] }, q: LeaderboardQuery = {}): LeaderboardRow[] {
  const first = history.find(r => r.status === 'baseline')
  const firstValue = first != null ? recordFigure(first) : null
  const rows: LeaderboardRow[] = []
  for (const r of history) {
    const v = recordFigure(r)
    if (r.status !== 'keep' || v == null || (q.track != null && r.track !== q.track)) continue
    rows.push({
      rank: 0, project: ctx.project, track: r.track, result: typeof r.child === 'string' ? r.child : r.id, val_bpb: v, claimed_bpb: v,
      attestations: 0, failed: 0, delta: firstValue != null ? v - firstValue : null, author: ctx.peerId, hardware: ctx.hardware,
      description: r.description, time: r.finished_at
    })
  }
  return rankRows(rows, q.limit)
}

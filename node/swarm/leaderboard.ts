/**
 * The leaderboard, computed from stored results and attestations (pure). A row
 * per kept result; reproduced results rank above unreproduced ones whatever
 * they claim, and a reproduced figure is the median of what attesters measured,
 * the same rule the DHT selector uses, so one liar cannot top the board.
 */
import type { AttestationMsg, ResultMsg } from '../../protocol/index.ts'
import { messageId } from '../../protocol/index.ts'
import { claimedFigure } from './adoption.ts'

export interface LeaderboardRow {
  rank: number
  project: string
  track: string
  result: string
  val_bpb: number
  claimed_bpb: number | null
  /** Distinct peers other than the author that reproduced it. */
  attestations: number
  failed: number
  delta: number | null
  author: string
  hardware: ResultMsg['hardware']
  description: string
  time: number
}

export interface LeaderboardQuery { project?: string, track?: string, limit?: number }

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

export function computeLeaderboard (results: ResultMsg[], attestations: AttestationMsg[], q: LeaderboardQuery = {}): LeaderboardRow[] {
  const byResult = new Map<string, AttestationMsg[]>()
  for (const a of attestations) {
    const list = byResult.get(a.result) ?? []
    list.push(a)
    byResult.set(a.result, list)
  }
  // The first baseline a track ever reported is what deltas are measured against.
  const firstBaseline = new Map<string, { time: number, value: number }>()
  for (const r of results) {
    const b = r.metrics.baseline_bpb
    const k = `${r.project}/${r.track}`
    if (typeof b === 'number' && (firstBaseline.get(k)?.time ?? Infinity) > r.time) firstBaseline.set(k, { time: r.time, value: b })
  }
  // A reproduction is published as its reproducer's own keep of the same content:
  // the content's first author holds the row, the others count as attestations.
  const first = new Map<string, ResultMsg>()
  for (const r of results) {
    if (r.status !== 'keep') continue
    const k = `${r.project}/${r.track}/${r.child}`
    const prev = first.get(k)
    if (prev == null || r.time < prev.time) first.set(k, r)
  }
  const rows: Array<Omit<LeaderboardRow, 'rank'>> = []
  for (const r of first.values()) {
    if (q.project != null && r.project !== q.project) continue
    if (q.track != null && r.track !== q.track) continue
    const id = messageId(r)
    const atts = (byResult.get(id) ?? []).filter(a => a.author !== r.author && a.project === r.project)
    const okBy = new Map<string, number>()
    const failedBy = new Set<string>()
    for (const a of atts) {
      const fig = a.verified_bpb ?? a.val_bpb
      if (a.ok && fig != null) okBy.set(a.author, fig)
      else if (!a.ok) failedBy.add(a.author)
    }
    const claimed = claimedFigure(r)
    const value = okBy.size > 0 ? median([...okBy.values()]) : claimed
    if (value == null) continue
    const base = firstBaseline.get(`${r.project}/${r.track}`)
    rows.push({
      project: r.project, track: r.track, result: id, val_bpb: value, claimed_bpb: claimed, attestations: okBy.size, failed: failedBy.size,
      delta: base != null ? value - base.value : null, author: r.author, hardware: r.hardware, description: r.description, time: r.time
    })
  }
  rows.sort((a, b) => a.track.localeCompare(b.track) ||
    Number(b.attestations > 0) - Number(a.attestations > 0) ||
    a.val_bpb - b.val_bpb || a.failed - b.failed || a.time - b.time || a.result.localeCompare(b.result))
  const ranked: LeaderboardRow[] = []
  const perTrack = new Map<string, number>()
  for (const row of rows) {
    const n = (perTrack.get(row.track) ?? 0) + 1
    perTrack.set(row.track, n)
    if (q.limit == null || n <= q.limit) ranked.push({ rank: n, ...row })
  }
  return ranked
}

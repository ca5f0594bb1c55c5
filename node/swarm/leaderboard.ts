/**
 * The leaderboard (pure): one row per kept content, ranked by the one rule
 * (protocol/rank.ts) under this node's evidence (node/swarm/trust.ts). Every
 * row says what backs its figure: verified here, reproduced by N trusted
 * peers, or only claimed; a claim never ranks above either. Rows of authors
 * caught lying are left out unless asked for everything.
 *
 * Times are what the author signed, bounded by when this node first saw the
 * message: nobody can date a result after we saw it, and a backdated copy of
 * someone's keep does not take its row (the row goes to the result with
 * evidence, then to the one seen first).
 */
import {
  claimedFigure, compareCodeUnits, compareRanked, messageId, type EvidenceKind, type Hardware, type Rankable, type ResultMsg
} from '../../protocol/index.ts'
import type { TrustBook } from './trust.ts'

export interface LeaderboardRow {
  rank: number
  project: string
  track: string
  /** Message id of the result holding the row. */
  result: string
  /** Content hash of what was kept. */
  child: string
  /** The figure under the row's evidence (our measurement, the reproducers' median, or the claim). */
  val_bpb: number
  /** What the author claimed. */
  claimed_bpb: number | null
  /** What backs val_bpb here. */
  evidence: EvidenceKind
  /** Trusted peers whose reproduction counts (for `reproduced`). */
  reproducers: number
  /** Distinct peers, trusted or not, that attested it reproduced. */
  attestations: number
  /** Trusted peers (or this node) that found it does not hold. */
  failed: number
  delta: number | null
  author: string
  hardware: Hardware
  description: string
  time: number
}

export interface LeaderboardQuery {
  project?: string
  track?: string
  limit?: number
  /** Also rows of authors this node caught lying (ranked last). */
  all?: boolean
}

export interface LeaderboardInput {
  /** Every result known (any status: crashes and discards are skipped here). */
  results: Iterable<ResultMsg>
  /** Has seen the same results and their attestations. */
  trust: TrustBook
  /** When this node first stored a message (store.seenAt); unknown: its own time. */
  seenAt?: (id: string) => number | undefined
}

/** "verified here", "reproduced by 2", "claimed": a row's evidence in a few words. */
export function evidenceLabel (row: Pick<LeaderboardRow, 'evidence' | 'reproducers' | 'failed'>): string {
  const base = row.evidence === 'verified'
    ? 'verified here'
    : row.evidence === 'reproduced' ? `reproduced by ${row.reproducers}` : row.evidence
  return row.failed > 0 && row.evidence !== 'distrusted' ? `${base}, disputed` : base
}

/** `time`: its own time bounded by `first`, when this node first saw it. */
interface Candidate { r: ResultMsg, id: string, time: number, first: number, backed: boolean }


export function computeLeaderboard (input: LeaderboardInput, q: LeaderboardQuery = {}): LeaderboardRow[] {
  const { trust } = input
  const firstSeen = (r: ResultMsg, id: string): number => input.seenAt?.(id) ?? r.time
  const byContent = new Map<string, Candidate[]>()
  const firstBaseline = new Map<string, { seen: number, value: number }>()
  for (const r of input.results) {
    if (q.project != null && r.project !== q.project) continue
    const id = messageId(r)
    const at = firstSeen(r, id)
    const key = `${r.project}/${r.track}`
    const base = r.metrics.baseline_bpb
    // Deltas are against the track's first baseline, as first seen here, from someone not caught lying.
    if (typeof base === 'number' && !trust.distrusted(r.author) && (firstBaseline.get(key)?.seen ?? Infinity) > at) firstBaseline.set(key, { seen: at, value: base })
    if (r.status !== 'keep' || (q.track != null && r.track !== q.track)) continue
    const list = byContent.get(`${key}/${r.child}`) ?? []
    list.push({ r, id, time: Math.min(r.time, at), first: at, backed: false })
    byContent.set(`${key}/${r.child}`, list)
  }
  const rows: Array<Omit<LeaderboardRow, 'rank'>> = []
  for (const list of byContent.values()) {
    const holder = pickHolder(list, trust)
    const evidence = trust.evidence(holder.r)
    if (evidence.kind === 'distrusted' && q.all !== true) continue
    const value = evidence.figure
    if (value == null) continue
    const r = holder.r
    const base = firstBaseline.get(`${r.project}/${r.track}`)
    rows.push({
      project: r.project, track: r.track, result: holder.id, child: r.child, val_bpb: value, claimed_bpb: claimedFigure(r),
      evidence: evidence.kind, reproducers: evidence.reproducers, attestations: evidence.attesters, failed: evidence.failed,
      delta: base != null ? value - base.value : null, author: r.author, hardware: r.hardware, description: r.description, time: holder.time
    })
  }
  return rankRows(rows, q.limit)
}

/**
 * Who holds a content's row when several published it (a reproducer
 * publishes its reproduction as its own keep; a copycat may backdate one):
 * not a caught liar, then the result attested by a peer this node believes,
 * then the one seen first.
 */
function pickHolder (list: Candidate[], trust: TrustBook): Candidate {
  for (const c of list) c.backed = trust.attestedBy(c.id).some(p => trust.attesterWeight(p) > 0)
  return [...list].sort((a, b) =>
    Number(trust.distrusted(a.r.author)) - Number(trust.distrusted(b.r.author)) ||
    Number(b.backed) - Number(a.backed) || a.first - b.first || a.time - b.time || (a.id < b.id ? -1 : 1))[0]!
}

/** Orders rows by the one rule, numbers them per project and track, and cuts each track at `limit`. */
export function rankRows (rows: Array<Omit<LeaderboardRow, 'rank'>>, limit?: number): LeaderboardRow[] {
  const rankable = (row: Omit<LeaderboardRow, 'rank'>): Rankable => ({
    evidence: { kind: row.evidence, figure: row.val_bpb, reproducers: row.reproducers, failed: row.failed }, time: row.time, id: row.result
  })
  const sorted = [...rows].sort((a, b) => compareCodeUnits(a.project, b.project) || compareCodeUnits(a.track, b.track) || compareRanked(rankable(a), rankable(b)))
  const out: LeaderboardRow[] = []
  const n = new Map<string, number>()
  for (const row of sorted) {
    const k = `${row.project}/${row.track}`
    const rank = (n.get(k) ?? 0) + 1
    n.set(k, rank)
    if (limit == null || rank <= limit) out.push({ rank, ...row })
  }
  return out
}

/**
 * The one ranking rule: evidence first, figure second. Every ordering of
 * results (the DHT's best-record selector, the leaderboard, `status`, the
 * dashboard, an answer to the leaderboard protocol ranked by its asker) is
 * `compareRanked` over rows that say what evidence they have.
 *
 * What counts as evidence is the caller's input, not this rule's: the DHT
 * selector must be a pure function of a record, so it reads the record's own
 * signed attestations (`recordEvidence`); a node ranking for itself reads
 * what its trust accepts (its own measurements, reproductions by attesters it
 * has seen to be right; node/swarm/trust.ts). The rule then is the same.
 */
import { compareCodeUnits } from './canonical.ts'
import { ATTESTER_RANK_CAP } from './constants.ts'
import { claimedFigure } from './figure.ts'
import { messageId } from './hash.ts'
import type { AttestationMsg, BestRecord } from './types.ts'

/**
 * What backs a row's figure, strongest first: this node measured it itself;
 * peers whose word this view accepts reproduced it; only its author says so;
 * its author was caught lying (shown only when asked for everything).
 */
export type EvidenceKind = 'verified' | 'reproduced' | 'claimed' | 'distrusted'
export const EVIDENCE_KINDS: readonly EvidenceKind[] = ['verified', 'reproduced', 'claimed', 'distrusted']

export interface Evidence {
  kind: EvidenceKind
  /** The figure under this evidence: our own measurement, else the reproducers' median, else the claim. */
  figure: number | null
  /** Distinct peers (other than the author) whose reproduction this view counts. */
  reproducers: number
  /** Distinct peers whose failed reproduction this view counts: a dispute. */
  failed: number
}

/** A row to rank: its evidence, its time (bounded by when the ranking node first saw it) and its id. */
export interface Rankable {
  evidence: Evidence
  time: number
  /** A stable final tie-break: the result's message id. */
  id: string
}

/**
 * Evidence outranks any figure: a claim never ranks above a verified or
 * reproduced row, whatever it claims. Verified and reproduced share a tier
 * and are ordered by figure, so a better new result reproduced by one trusted
 * peer can replace an older one verified here.
 */
const TIER: Record<EvidenceKind, number> = { verified: 0, reproduced: 0, claimed: 1, distrusted: 2 }

/** Sortable key, lower is better: [tier, figure, failed reproducers, time, id]. */
export type RankKey = readonly [number, number, number, number, string]

export function rankKey (row: Rankable): RankKey {
  const { evidence } = row
  return [TIER[evidence.kind], evidence.figure ?? Number.POSITIVE_INFINITY, evidence.failed, row.time, row.id]
}

/** Negative when `a` ranks better, positive when `b` does, 0 when they rank the same. */
export function compareRanked (a: Rankable, b: Rankable): number {
  return compareKeys(rankKey(a), rankKey(b))
}

export function compareKeys (a: readonly (number | string)[], b: readonly (number | string)[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i] as number | string
    const y = b[i] as number | string
    const order = typeof x === 'string' || typeof y === 'string'
      ? compareCodeUnits(String(x), String(y))
      : x < y ? -1 : x > y ? 1 : 0
    if (order !== 0) return order
  }
  return a.length - b.length
}

/**
 * A record's own evidence, the only view a pure selector has: distinct
 * attesters other than the author, ok ones capped at ATTESTER_RANK_CAP (a
 * tier, not a count), the figure the median of what they measured. Attester
 * keys are free: this view is a hint that any node may overwrite when its own
 * trust does not accept the attestations (see node/swarm/best-keeper.ts).
 */
export function recordEvidence (record: BestRecord): Evidence {
  const { result } = record
  const byAttester = new Map<string, AttestationMsg>()
  for (const a of record.attestations) {
    if (a.author !== result.author && !byAttester.has(a.author)) byAttester.set(a.author, a)
  }
  const measured = [...byAttester.values()].filter(a => a.ok).map(a => claimedFigure(a)).filter((v): v is number => v != null)
  const failed = [...byAttester.values()].filter(a => !a.ok).length
  const reproducers = Math.min(measured.length, ATTESTER_RANK_CAP)
  return reproducers > 0
    ? { kind: 'reproduced', figure: median(measured), reproducers, failed }
    : { kind: 'claimed', figure: claimedFigure(result), reproducers: 0, failed }
}

/** Sortable key of a best record under its own evidence, then the record's id (two publishers of one result). */
export type BestRank = readonly [...RankKey, string]

export function rankBestRecord (record: BestRecord): BestRank {
  return [...rankKey({ evidence: recordEvidence(record), time: record.result.time, id: messageId(record.result) }), messageId(record)]
}

/** Negative when `a` is the better record under the records' own evidence. */
export function compareBestRecords (a: BestRecord, b: BestRecord): number {
  return compareKeys(rankBestRecord(a), rankBestRecord(b))
}

export function median (values: readonly number[]): number {
  const sorted = [...values].sort((x, y) => x - y)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] as number : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

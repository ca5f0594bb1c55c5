/**
 * How best records compare. Kept in one small function so the policy is easy
 * to read and to change.
 */
import { compareCodeUnits } from './canonical.ts'
import { ATTESTER_RANK_CAP } from './constants.ts'
import { messageId } from './hash.ts'
import type { AttestationMsg, BestRecord } from './types.ts'

/**
 * Sortable rank of a best record; compare element by element, lower is better:
 * [-(distinct ok attesters, capped), bpb, failed attesters, result time, result id, record id].
 */
export type BestRank = readonly [number, number, number, number, string, string]

/*
 * Anyone can publish a record claiming any val_bpb, so a claim alone must not win:
 * reproduced records (distinct other peers attesting ok) outrank unreproduced ones
 * whatever they claim, and once reproduced the bpb is the attesters' median, not the
 * author's word. The cap stops an attestation pile from beating a better score.
 * Limits: attester keys are free to make (Sybils) and the publisher picks which
 * attestations to include, so the node should also weigh attestations it saw itself.
 */
export function rankBestRecord (record: BestRecord): BestRank {
  const { result } = record
  const byAttester = new Map<string, AttestationMsg>()
  for (const a of record.attestations) {
    if (a.author !== result.author && !byAttester.has(a.author)) byAttester.set(a.author, a)
  }
  const ok = [...byAttester.values()].filter((a) => a.ok)
  const failed = byAttester.size - ok.length
  const measured = ok.map((a) => a.verified_bpb ?? a.val_bpb).filter((v): v is number => v != null)
  const claimed = result.verified_bpb ?? result.val_bpb ?? Number.POSITIVE_INFINITY
  const bpb = measured.length > 0 ? median(measured) : claimed
  return [-Math.min(ok.length, ATTESTER_RANK_CAP), bpb, failed, result.time, messageId(result), messageId(record)]
}

/** Negative when `a` is the better record, positive when `b` is, 0 when they rank the same. */
export function compareBestRecords (a: BestRecord, b: BestRecord): number {
  return compareRanks(rankBestRecord(a), rankBestRecord(b))
}

export function compareRanks (a: BestRank, b: BestRank): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number | string
    const y = b[i] as number | string
    const order = typeof x === 'string' || typeof y === 'string'
      ? compareCodeUnits(String(x), String(y))
      : x < y ? -1 : x > y ? 1 : 0
    if (order !== 0) return order
  }
  return 0
}

function median (values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] as number : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

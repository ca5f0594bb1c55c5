/**
 * A baseline taken with no run of this node's own, on evidence its trust
 * accepts (a trusted reproduction, a private swarm member's confirmed keep),
 * is verified by use: the first experiment run on it is compared with the
 * figure it was adopted at. Near it (the claim rule), the baseline holds; far
 * worse, the node re-measures the baseline itself, keeps it when the claim
 * holds and falls back to the baseline it had before when it fails (and
 * attests the failure, so the liar and its vouchers lose this node's trust).
 *
 * Everything here is derived from the results log, so a node restarted
 * half-way through a verification picks it up where it stopped. Pure.
 */
import { figureOf } from '../protocol/index.ts'
import { claimHolds } from './decide.ts'
import type { ExperimentRecord } from './results-log.ts'

/** The statuses that set the baseline (a record of one is where a restarted node resumes). */
export const BASELINE_STATUSES: ReadonlySet<ExperimentRecord['status']> = new Set(['baseline', 'keep', 'adopted', 'restored'])

export type UseCheck =
  /** Our baseline stands on a run of our own (or was re-measured here). */
  | { state: 'measured' }
  /** Adopted with no run; no experiment on it has a figure yet. */
  | { state: 'pending', adopted: ExperimentRecord }
  /** Adopted with no run; its first experiment landed near the figure it was adopted at. */
  | { state: 'held', adopted: ExperimentRecord }
  /** Adopted with no run; its first experiment landed far worse: re-measure it before anything else. */
  | { state: 'suspect', adopted: ExperimentRecord, first: ExperimentRecord }

/** The record that made `commit` a baseline: through a `restored` record, the one it restored. */
export function definingRecord (history: readonly ExperimentRecord[], record: ExperimentRecord | null): ExperimentRecord | null {
  if (record?.status !== 'restored') return record
  for (let i = history.length - 1; i >= 0; i--) {
    const r = history[i]!
    if (r.seq < record.seq && r.commit === record.commit && BASELINE_STATUSES.has(r.status) && r.status !== 'restored') return r
  }
  return null
}

export function useCheck (history: readonly ExperimentRecord[], baseline: { commit: string, record: ExperimentRecord | null }, margin: number): UseCheck {
  const adopted = definingRecord(history, baseline.record)
  if (adopted?.status !== 'adopted') return { state: 'measured' }
  const on = history.filter(r => r.seq > adopted.seq && r.parent === baseline.commit && r.status !== 'restored')
  if (on.some(r => r.origin?.how === 'verify')) return { state: 'measured' }
  const first = on.find(r => figureOf(r) != null)
  if (first == null) return { state: 'pending', adopted }
  return claimHolds(figureOf(adopted), figureOf(first), margin) ? { state: 'held', adopted } : { state: 'suspect', adopted, first }
}

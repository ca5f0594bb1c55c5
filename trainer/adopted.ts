/**
 * A baseline taken with no run of this node's own, on evidence its trust
 * accepts (a trusted reproduction, a private swarm member's confirmed keep),
 * is verified by use: the first experiments run on it are compared with the
 * figure it was adopted at. One of the first USE_RUNS landing near it (the
 * claim rule) and the baseline holds; all of them far worse, and the node
 * re-measures the baseline itself, keeps it when the claim holds and falls
 * back to the baseline it had before when it fails (and attests the failure,
 * so the liar and its vouchers lose this node's trust). A candidate is another
 * content than its baseline, and a bad change can land far off on its own:
 * two of them landing far off is rare for an honest baseline (a re-measure
 * costs one run) and certain for a lie (the lie costs USE_RUNS + 1 runs).
 *
 * Everything here is derived from the results log, so a node restarted
 * half-way through a verification picks it up where it stopped. Pure.
 */
import { figureOf } from '../protocol/index.ts'
import { claimHolds } from './decide.ts'
import type { ExperimentRecord } from './results-log.ts'

/** Experiments on an adopted baseline that must all land far off before it is re-measured. */
export const USE_RUNS = 2

/** The statuses that set the baseline (a record of one is where a restarted node resumes). */
export const BASELINE_STATUSES: ReadonlySet<ExperimentRecord['status']> = new Set(['baseline', 'keep', 'adopted', 'restored'])

export type UseCheck =
  /** Our baseline stands on a run of our own (or was re-measured here). */
  | { state: 'measured' }
  /** Adopted with no run; no experiment on it has a figure yet. */
  | { state: 'pending', adopted: ExperimentRecord }
  /** Adopted with no run; one of its first experiments landed near the figure it was adopted at. */
  | { state: 'held', adopted: ExperimentRecord }
  /** Adopted with no run; its first experiments all landed far worse: re-measure it before anything else. */
  | { state: 'suspect', adopted: ExperimentRecord, first: ExperimentRecord[] }

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
  const first = on.filter(r => figureOf(r) != null).slice(0, USE_RUNS)
  if (first.some(r => claimHolds(figureOf(adopted), figureOf(r), margin))) return { state: 'held', adopted }
  return first.length < USE_RUNS ? { state: 'pending', adopted } : { state: 'suspect', adopted, first }
}

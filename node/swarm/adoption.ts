/**
 * Adoption policy, apart from all I/O: which results from the swarm are worth
 * reproducing on this machine, and what a reproduction proved. A stranger's
 * result is a claim; it becomes our baseline only by beating our baseline here.
 */
import type { ResultMsg } from '../../protocol/index.ts'

export type Decision =
  | { action: 'reproduce', reason: string }
  | { action: 'idea', reason: string }
  | { action: 'ignore', reason: string }

export interface Mine {
  project: string
  track: string
  peerId: string
  /** The figure a candidate must beat here; null before the baseline is measured. */
  baseline: number | null
  margin: number
}

/** The figure a result claims: what its author's node verified, else what the run printed. */
export function claimedFigure (r: Pick<ResultMsg, 'verified_bpb' | 'val_bpb'>): number | null {
  return r.verified_bpb ?? r.val_bpb
}

export function considerResult (r: ResultMsg, me: Mine, opts: { distrusted: boolean, tried: boolean }): Decision {
  if (r.project !== me.project) return { action: 'ignore', reason: 'another project' }
  if (r.author === me.peerId) return { action: 'ignore', reason: 'our own result' }
  if (r.status !== 'keep') return { action: 'ignore', reason: `a ${r.status}, nothing to adopt` }
  // Tracks are hardware classes: a figure from another class says little about ours.
  if (r.track !== me.track) return { action: 'idea', reason: `kept on track ${r.track}, not ours (${me.track})` }
  if (opts.distrusted) return { action: 'ignore', reason: 'its author failed reproduction before' }
  if (opts.tried) return { action: 'ignore', reason: 'already tried against this baseline' }
  const claimed = claimedFigure(r)
  if (claimed == null || me.baseline == null) return { action: 'ignore', reason: 'no figure to compare' }
  if (!(claimed < me.baseline - me.margin)) return { action: 'ignore', reason: `claims ${claimed.toFixed(4)}, not better than our ${me.baseline.toFixed(4)}` }
  return { action: 'reproduce', reason: `claims ${claimed.toFixed(4)} vs our ${me.baseline.toFixed(4)}` }
}

/**
 * How far our measurement may sit from the claim and still count as reproduced.
 * Tracks are coarse (a slower CPU trains fewer steps in the same budget), so the
 * band is wide next to run noise but far narrower than a lie worth telling.
 */
export function reproductionTolerance (claimed: number, margin: number): number {
  return Math.max(5 * margin, 0.05 * claimed)
}

/** Whether our run reproduced the claim: it must have been kept here and land near the claim. */
export function reproduced (claimed: number | null, measured: number | null, kept: boolean, margin: number): { ok: boolean, reason: string } {
  if (measured == null) return { ok: false, reason: 'it did not run here' }
  if (!kept) return { ok: false, reason: `measured ${measured.toFixed(4)}: not better than our baseline` }
  if (claimed != null && Math.abs(measured - claimed) > reproductionTolerance(claimed, margin)) {
    return { ok: false, reason: `measured ${measured.toFixed(4)}, far from the claimed ${claimed.toFixed(4)}` }
  }
  return { ok: true, reason: `measured ${measured.toFixed(4)}${claimed != null ? ` (claimed ${claimed.toFixed(4)})` : ''}` }
}

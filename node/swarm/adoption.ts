/**
 * Adoption policy, apart from all I/O: which results from the swarm are worth
 * a run on this machine, and what a reproduction proved. A stranger's result
 * is a claim; it becomes our baseline only by beating our baseline here.
 *
 * Two questions, two rules, both here:
 * - keep: the loop's keep rule (trainer/decide.ts) on our own runs; a
 *   reproduction is kept exactly when it beats our baseline, as any candidate.
 * - attest: the claim rule (`claimHolds`): our figure is at most the claimed
 *   figure plus a tolerance. A reproduction that beats its claim holds (ok);
 *   one far worse than claimed is a lie, kept here or not.
 * The trust book judges third parties' attestations by the same claim rule.
 */
import { claimedFigure, type Evidence, type ResultMsg } from '../../protocol/index.ts'
import { FAR_GAIN_FACTOR, FAR_GAIN_MARGINS } from './constants.ts'

/**
 * How much worse than the claim our measurement may be and still reproduce it.
 * Tracks are coarse (a slower CPU trains fewer steps in the same budget), so
 * the band is wide next to run noise but far narrower than a lie worth telling.
 */
export function reproductionTolerance (claimed: number, margin: number): number {
  return Math.max(5 * margin, 0.05 * claimed)
}

/** The claim rule: what we measured is no worse than the claim beyond the tolerance. Nothing measured holds nothing. */
export function claimHolds (claimed: number | null, measured: number | null, margin: number): boolean {
  if (measured == null) return false
  return claimed == null || measured <= claimed + reproductionTolerance(claimed, margin)
}

/** The attestation of a reproduction: ok when the claim holds, whether or not it beat our baseline. */
export function reproductionVerdict (claimed: number | null, measured: number | null, kept: boolean, margin: number): { ok: boolean, reason: string } {
  if (measured == null) return { ok: false, reason: 'it did not run here' }
  const vs = claimed != null ? ` (claimed ${claimed.toFixed(4)})` : ''
  if (!claimHolds(claimed, measured, margin)) return { ok: false, reason: `measured ${measured.toFixed(4)}, far worse than the claimed ${claimed!.toFixed(4)}` }
  return { ok: true, reason: `measured ${measured.toFixed(4)}${vs}${kept ? ', kept as our baseline' : ', not better than our baseline'}` }
}

export type Decision =
  | { action: 'reproduce', reason: string }
  /** Worth a run, but not yet: the budget for unverified authors is spent, or a trusted reproduction is awaited. */
  | { action: 'wait', reason: string }
  | { action: 'idea', reason: string }
  | { action: 'ignore', reason: string }

export interface Mine {
  project: string
  track: string
  peerId: string
  /** The figure a candidate must beat here; null before the baseline is measured. */
  baseline: number | null
  /** Content hash of our baseline. */
  baselineContent: string
  margin: number
}

/** What this node's trust says about a result, and what it can afford. */
export interface Facts {
  /** The author: caught lying, whose improvements we kept, or neither. */
  standing: 'distrusted' | 'verified' | 'unknown'
  /** The result's content under this node's own evidence view. */
  evidence: Evidence
  /** Content already run against our baseline. */
  tried: boolean
  /** The largest gain this node has itself verified (0: none yet). */
  largestGain: number
  /** A run on an unverified claim is affordable now (see NEW_AUTHOR_EVERY, UNVERIFIED_EVERY). */
  budget: boolean
}

/**
 * What can be told of a result the moment it arrives, whatever the loop is
 * doing: null when it may be worth a run later, else why not (or that it is
 * only an idea, from another track).
 */
export function screenResult (r: ResultMsg, me: Pick<Mine, 'project' | 'track' | 'peerId' | 'baselineContent'>, standing: Facts['standing']): Decision | null {
  if (r.project !== me.project) return { action: 'ignore', reason: 'another project' }
  if (r.author === me.peerId) return { action: 'ignore', reason: 'our own result' }
  if (r.status !== 'keep') return { action: 'ignore', reason: `a ${r.status}, nothing to adopt` }
  if (standing === 'distrusted') return { action: 'ignore', reason: 'its author was caught lying' }
  // A peer's reproduction of what we already run is news, not a candidate.
  if (r.child === me.baselineContent) return { action: 'ignore', reason: 'it is our baseline' }
  // Tracks are hardware classes: a figure from another class says little about ours.
  if (r.track !== me.track) return { action: 'idea', reason: `kept on track ${r.track}, not ours (${me.track})` }
  return null
}

export function considerResult (r: ResultMsg, me: Mine, f: Facts): Decision {
  const screened = screenResult(r, me, f.standing)
  if (screened != null) return screened
  if (f.tried) return { action: 'ignore', reason: 'already tried against this baseline' }
  if (f.evidence.kind === 'verified') return { action: 'ignore', reason: 'already measured here' }
  const reproduced = f.evidence.kind === 'reproduced'
  // A trusted peer found it does not hold: one reproduction for the swarm is enough.
  if (!reproduced && f.evidence.failed > 0) return { action: 'ignore', reason: 'a trusted peer could not reproduce it' }
  const figure = reproduced ? f.evidence.figure : claimedFigure(r)
  if (figure == null || me.baseline == null) return { action: 'ignore', reason: 'no figure to compare' }
  if (!(figure < me.baseline - me.margin)) return { action: 'ignore', reason: `${reproduced ? 'reproduced at' : 'claims'} ${figure.toFixed(4)}, not better than our ${me.baseline.toFixed(4)}` }
  const why = `${reproduced ? `reproduced by ${f.evidence.reproducers} trusted peer${f.evidence.reproducers === 1 ? '' : 's'} at` : 'claims'} ${figure.toFixed(4)} vs our ${me.baseline.toFixed(4)}`
  if (reproduced || f.standing === 'verified') return { action: 'reproduce', reason: why }
  // Only the author's word from here on: it costs a run on faith, so it is rationed.
  const gain = me.baseline - figure
  const far = Math.max(FAR_GAIN_FACTOR * f.largestGain, FAR_GAIN_MARGINS * me.margin)
  if (f.largestGain > 0 && gain > far) return { action: 'wait', reason: `claims a gain of ${gain.toFixed(4)}, far beyond the ${f.largestGain.toFixed(4)} verified here: waiting for a trusted reproduction` }
  if (!f.budget) return { action: 'wait', reason: 'runs on unverified claims are spent for now' }
  return { action: 'reproduce', reason: why }
}

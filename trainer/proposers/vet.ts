/**
 * Whether an edit, once applied, is worth an experiment: the loop's own gate
 * (editable files only, bounded text, a real change) plus "not tried against
 * this baseline before", here or by a peer. Pure; the reason is written for the
 * model (or the agent's log) to act on.
 */
import { contentHash } from '../../protocol/index.ts'
import { CandidateRejected, checkCandidate } from '../check.ts'

export interface Vetted { ok: true, files: Record<string, string> }
export interface Refused { ok: false, reason: string }

/**
 * @param baseline the baseline's editable files
 * @param changes new text of the changed files
 * @param tried content hash -> what came of it, for everything tried on this baseline
 */
export function vetCandidate (baseline: Record<string, string>, changes: Record<string, string>, editable: readonly string[], tried: ReadonlyMap<string, string>): Vetted | Refused {
  let all: Record<string, string>
  try {
    all = checkCandidate(baseline, changes, [...editable])
  } catch (err) {
    if (err instanceof CandidateRejected) return { ok: false, reason: err.message === 'the proposal is identical to the baseline' ? 'the edit changes nothing: the result is identical to the baseline' : err.message }
    throw err
  }
  const before = tried.get(contentHash(all))
  if (before != null) return { ok: false, reason: `this exact change was already tried against this baseline (${before}); propose something different` }
  const files: Record<string, string> = {}
  for (const [p, text] of Object.entries(changes)) if (baseline[p] !== text) files[p] = text
  return { ok: true, files }
}

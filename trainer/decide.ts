/**
 * The two rules that judge a figure, apart from all I/O, in one place:
 *
 * - keep: time-limited runs are noisy (±0.03–0.07 val_bpb at 60 s on a CPU),
 *   so a candidate must beat the baseline by the margin in force (the
 *   manifest's noise margin, or twice the measured noise where that is larger:
 *   trainer/noise.ts), and then survive a confirming re-run: both runs must
 *   beat the baseline and their mean must clear the margin.
 * - the claim rule: a figure someone claimed holds when what this node
 *   measured of the same content is no worse than the claim beyond a
 *   tolerance. It decides an attestation (a reproduction that beats its claim
 *   holds; one far worse is a lie, kept here or not), the trust book's
 *   verdicts, and whether a baseline adopted without a run survives its use.
 */

export type Verdict = 'confirm' | 'keep' | 'discard'

/**
 * A first run this many margins better than the baseline is kept without a
 * confirming run. The margin is at least twice the measured noise, so such a
 * gain is eight standard deviations of it: no lucky draw. The second run is
 * the one step of a keep that parallel nodes cannot share, so a swarm's pace
 * is bounded by it wherever it is spent without need.
 */
export const DECISIVE_MARGINS = 4

/** First look at a candidate's figure: worth a confirming run, kept (decisively better, or confirmation off), or discarded. */
export function firstLook (value: number, baseline: number, margin: number, confirm: boolean, decisive = DECISIVE_MARGINS): Verdict {
  if (!(value < baseline - margin)) return 'discard'
  if (!confirm || (decisive > 0 && value <= baseline - decisive * margin)) return 'keep'
  return 'confirm'
}

/** After the confirming run: keep only if the improvement is not a lucky draw. */
export function afterConfirm (first: number, second: number, baseline: number, margin: number): Verdict {
  const mean = (first + second) / 2
  return first < baseline && second < baseline && mean < baseline - margin ? 'keep' : 'discard'
}

export function mean (xs: number[]): number {
  return xs.reduce((s, x) => s + x, 0) / xs.length
}

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

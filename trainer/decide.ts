/**
 * The keep rule, apart from all I/O. Time-limited runs are noisy (±0.03–0.07
 * val_bpb at 60 s on a CPU), so a candidate must beat the baseline by the
 * margin in force (the manifest's noise margin, or twice the measured noise
 * where that is larger: trainer/noise.ts), and then survive a confirming
 * re-run: both runs must beat the baseline and their mean must clear the margin.
 */

export type Verdict = 'confirm' | 'keep' | 'discard'

/** First look at a candidate's figure: worth a confirming run, or discarded. */
export function firstLook (value: number, baseline: number, margin: number, confirm: boolean): Verdict {
  if (!(value < baseline - margin)) return 'discard'
  return confirm ? 'confirm' : 'keep'
}

/** After the confirming run: keep only if the improvement is not a lucky draw. */
export function afterConfirm (first: number, second: number, baseline: number, margin: number): Verdict {
  const mean = (first + second) / 2
  return first < baseline && second < baseline && mean < baseline - margin ? 'keep' : 'discard'
}

export function mean (xs: number[]): number {
  return xs.reduce((s, x) => s + x, 0) / xs.length
}

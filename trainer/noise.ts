/**
 * How far apart two runs of the same code land, measured instead of guessed.
 * The manifest's `noise_margin` is the project author's guess; at the first
 * baseline (or when asked) the node runs the baseline a few times, and from
 * then on the margin in force is max(noise_margin, 2σ). The measurement is
 * kept in the baseline's record, so a restarted node derives the same margin
 * from its records and needs no state of its own.
 */
import type { ExperimentRecord, NoiseMeasurement } from './results-log.ts'

/** Runs of the baseline that make one noise measurement (the baseline run itself included). */
export const NOISE_RUNS = 3
/** A keep must clear this many standard deviations of the run-to-run noise. */
export const SIGMA_MULTIPLE = 2

export interface MarginInForce {
  /** What a candidate must beat the baseline by. */
  margin: number
  /** Measured run-to-run standard deviation; null when never measured. */
  sigma: number | null
  /** Runs the measurement took (0 when never measured). */
  runs: number
  source: 'measured' | 'manifest'
}

/** Sample standard deviation of repeated runs; null with fewer than two. */
export function estimateSigma (values: readonly number[]): number | null {
  const xs = values.filter(Number.isFinite)
  if (xs.length < 2) return null
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length
  return Math.sqrt(xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (xs.length - 1))
}

/** The margin a measured σ calls for: never below the manifest's. */
export function marginFor (manifestMargin: number, sigma: number | null): number {
  return sigma == null ? manifestMargin : Math.max(manifestMargin, SIGMA_MULTIPLE * sigma)
}

/** What a baseline record keeps of a noise measurement: the runs, σ and the margin they set. */
export function measurement (values: readonly number[], manifestMargin: number): NoiseMeasurement | null {
  const sigma = estimateSigma(values)
  return sigma == null ? null : { runs: [...values], sigma, margin: marginFor(manifestMargin, sigma) }
}

function isMeasurement (n: unknown): n is NoiseMeasurement {
  const m = n as NoiseMeasurement | null | undefined
  return m != null && Array.isArray(m.runs) && m.runs.length >= 2 && typeof m.sigma === 'number' && Number.isFinite(m.sigma) && m.sigma >= 0
}

/** The margin in force: from the latest noise measurement in the records, else the manifest's. */
export function noiseInForce (history: readonly ExperimentRecord[], manifestMargin: number): MarginInForce {
  for (let i = history.length - 1; i >= 0; i--) {
    const n = history[i]!.noise
    if (isMeasurement(n)) return { margin: marginFor(manifestMargin, n.sigma), sigma: n.sigma, runs: n.runs.length, source: 'measured' }
  }
  return { margin: manifestMargin, sigma: null, runs: 0, source: 'manifest' }
}

/** The margin in force for a session (its records and manifest). */
export function marginInForce (s: { history: readonly ExperimentRecord[], project: { manifest: { noise_margin: number } } }): MarginInForce {
  return noiseInForce(s.history, s.project.manifest.noise_margin)
}

/** "0.0122 (2σ, σ 0.0061 over 3 runs)" or "0.0100 (noise_margin)", for status lines. */
export function describeMargin (m: MarginInForce, digits = 4): string {
  if (m.source === 'manifest' || m.sigma == null) return `${m.margin.toFixed(digits)} (noise_margin)`
  const which = m.margin > SIGMA_MULTIPLE * m.sigma ? 'noise_margin' : `${SIGMA_MULTIPLE}σ`
  return `${m.margin.toFixed(digits)} (${which}; σ ${m.sigma.toFixed(digits)} over ${m.runs} runs)`
}

// Causality probe for exported language models.
//
// A model that reads the token it is asked to predict scores absurdly well
// (a trial cheat reached 0.22 bpb), and val_bpb alone cannot tell it from a
// real improvement. The probe perturbs every token after a cut point t and
// requires the logits at positions <= t to stay put: an honest causal model
// cannot see the change there. It also re-runs the untouched windows in a
// different batch, because a model that mixes information across batch rows
// could read a neighbouring window instead of its own future.
//
// Nothing here knows about onnxruntime: the model is reached through a
// LogitsRunner, so the logic stays pure and testable.
//
// A cheat could also try to tell probes from scoring. Two channels are
// closed: every run has exactly the evaluation's batch size (rows are padded
// with other validation windows), and the probed windows are drawn from a
// fresh random seed unless one is given, so a model cannot behave only on
// windows it knows will be probed.

import { randomInt } from 'node:crypto'
import { seededRandom } from './random.ts'

/** Runs the model on `rows` windows of `context` tokens, row-major; returns [rows, context, vocab] logits. */
export type LogitsRunner = (tokens: BigInt64Array, rows: number) => Promise<Float32Array>

export type PerturbKind = 'shift' | 'random'

export interface CausalityOptions {
  /** How many windows of the validation set to probe. */
  probeWindows?: number
  /** Allowed |Δlogit| as a fraction of the largest |logit| seen (floored at 1). */
  relTolerance?: number
  /** Picks the probed windows and the random perturbation. Random per call when absent. */
  seed?: number
  /** Rows per model run; should equal the evaluation's batch size. */
  batchSize?: number
}

export interface CausalityViolation {
  kind: 'future-peek' | 'cross-batch'
  window: number
  cut: number | null
  perturbation: PerturbKind | null
  position: number
  diff: number
}

export interface CausalityResult {
  causal: boolean
  /** Largest |Δlogit| over every compared position, both checks. */
  maxDiff: number
  /** The absolute threshold maxDiff was held to. */
  tolerance: number
  detail: string
  violation?: CausalityViolation
  probes: number
  /** The seed actually used, to reproduce a verdict. */
  seed: number
}

interface ProbeRow {
  /** Index among the probed windows of the row this one perturbs. */
  source: number
  cut: number
  kind: PerturbKind
}

export interface ProbePlan {
  /** Which windows of the validation set were probed. */
  windowIndices: number[]
  /** Originals first (rows 0..k-1), then one row per ProbeRow. */
  tokens: BigInt64Array
  rows: number
  probes: ProbeRow[]
}

export const DEFAULT_PROBE_WINDOWS = 8
export const DEFAULT_REL_TOLERANCE = 1e-4
export const DEFAULT_PROBE_BATCH = 32
const DEFAULT_SEED = 0x5eed

/** Cut points spanning the sequence: the very start, early, middle, late and the last useful one. */
export function cutPoints(context: number): number[] {
  if (context < 2) throw new RangeError(`causality needs context >= 2, got ${context}`)
  const last = context - 2
  const raw = [0, 1, Math.floor(context / 4), Math.floor(context / 2), Math.floor((3 * context) / 4), last]
  return [...new Set(raw.map((t) => Math.min(t, last)))].sort((a, b) => a - b)
}

export { seededRandom } from './random.ts'

/** `want` distinct indices below `total`, in increasing order (partial Fisher-Yates). */
function pickIndices(total: number, want: number, rand: () => number): number[] {
  const k = Math.min(total, want)
  const pool = Array.from({ length: total }, (_, i) => i)
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(rand() * (total - i))
    ;[pool[i], pool[j]] = [pool[j]!, pool[i]!]
  }
  return pool.slice(0, k).sort((a, b) => a - b)
}

/**
 * Builds one batch: the chosen windows unchanged, then each of them with every
 * token after each cut replaced. Every replaced token differs from the
 * original, so a model that reads any future position sees a change.
 *
 * `windows` holds rows of `stride` bytes; the first `context` of each row are the model's input.
 */
export function planProbes(
  windows: Uint8Array,
  windowCount: number,
  stride: number,
  context: number,
  vocab: number,
  opts: CausalityOptions = {}
): ProbePlan {
  if (windowCount < 1) throw new RangeError('causality needs at least one window')
  if (vocab < 2) throw new RangeError(`causality needs vocab >= 2, got ${vocab}`)
  const rand = seededRandom(opts.seed ?? DEFAULT_SEED)
  const windowIndices = pickIndices(windowCount, opts.probeWindows ?? DEFAULT_PROBE_WINDOWS, rand)
  const probes: ProbeRow[] = []
  for (let source = 0; source < windowIndices.length; source++) {
    for (const cut of cutPoints(context)) {
      probes.push({ source, cut, kind: 'shift' }, { source, cut, kind: 'random' })
    }
  }
  const k = windowIndices.length
  const rows = k + probes.length
  const tokens = new BigInt64Array(rows * context)
  windowIndices.forEach((w, i) => {
    for (let p = 0; p < context; p++) tokens[i * context + p] = BigInt(windows[w * stride + p]!)
  })
  probes.forEach((probe, j) => {
    const row = (k + j) * context
    const src = windowIndices[probe.source]! * stride
    for (let p = 0; p < context; p++) {
      const x = windows[src + p]!
      let v = x
      if (p > probe.cut) {
        if (probe.kind === 'shift') {
          v = (x + 1 + ((p - probe.cut - 1) % (vocab - 1))) % vocab
        } else {
          v = Math.floor(rand() * vocab)
          if (v === x) v = (v + 1) % vocab
        }
      }
      tokens[row + p] = BigInt(v)
    }
  })
  return { windowIndices, tokens, rows, probes }
}

/** Largest |a[i] - b[i]| over a run of `len` values; NaN counts as infinitely different. */
function maxAbsDiff(a: Float32Array, aOff: number, b: Float32Array, bOff: number, len: number): { diff: number; at: number } {
  let diff = 0
  let at = -1
  for (let i = 0; i < len; i++) {
    const d = Math.abs(a[aOff + i]! - b[bOff + i]!)
    if (!(d <= diff)) {
      diff = Number.isNaN(d) ? Infinity : d
      at = i
    }
  }
  return { diff, at }
}

function logitScale(logits: Float32Array, len: number): number {
  let m = 0
  for (let i = 0; i < len; i++) {
    const v = Math.abs(logits[i]!)
    if (v > m) m = v
  }
  return m
}

/**
 * Compares the probe batch (and, if given, the originals re-run on their own
 * in reverse order) against the untouched windows.
 */
export function judgeProbes(
  plan: ProbePlan,
  logits: Float32Array,
  context: number,
  vocab: number,
  alone: Float32Array | null,
  relTolerance = DEFAULT_REL_TOLERANCE,
  seed = DEFAULT_SEED
): CausalityResult {
  const k = plan.windowIndices.length
  const rowLen = context * vocab
  const tolerance = relTolerance * Math.max(1, logitScale(logits, k * rowLen))
  let maxDiff = 0
  let worst: CausalityViolation | undefined

  const consider = (v: CausalityViolation) => {
    if (v.diff > maxDiff) maxDiff = v.diff
    if (v.diff > tolerance && (worst === undefined || v.diff > worst.diff)) worst = v
  }

  plan.probes.forEach((probe, j) => {
    const len = (probe.cut + 1) * vocab
    const { diff, at } = maxAbsDiff(logits, probe.source * rowLen, logits, (k + j) * rowLen, len)
    consider({
      kind: 'future-peek',
      window: plan.windowIndices[probe.source]!,
      cut: probe.cut,
      perturbation: probe.kind,
      position: at < 0 ? 0 : Math.floor(at / vocab),
      diff
    })
  })

  if (alone) {
    for (let i = 0; i < k; i++) {
      // `alone` holds the originals in reverse order.
      const { diff, at } = maxAbsDiff(logits, i * rowLen, alone, (k - 1 - i) * rowLen, rowLen)
      consider({
        kind: 'cross-batch',
        window: plan.windowIndices[i]!,
        cut: null,
        perturbation: null,
        position: at < 0 ? 0 : Math.floor(at / vocab),
        diff
      })
    }
  }

  const causal = worst === undefined
  const detail = causal
    ? `${plan.probes.length} perturbed windows (cuts ${cutPoints(context).join(',')}) left earlier logits ` +
      `unchanged: max |Δlogit| ${maxDiff.toExponential(2)} <= ${tolerance.toExponential(2)}`
    : describe(worst!, tolerance)
  return { causal, maxDiff, tolerance, detail, violation: worst, probes: plan.probes.length, seed }
}

function describe(v: CausalityViolation, tolerance: number): string {
  const by = `${v.diff.toExponential(2)} (tolerance ${tolerance.toExponential(2)})`
  if (v.kind === 'cross-batch') {
    return `logits of window ${v.window} at position ${v.position} changed by ${by} when it was run in a different batch: the model mixes batch rows`
  }
  return `logits at position ${v.position} of window ${v.window} changed by ${by} when tokens after position ${v.cut} were perturbed (${v.perturbation}): the model reads future tokens`
}

/**
 * Runs `rows` rows in batches of exactly `batchSize`, topping the last one up
 * with filler rows so that no run differs in shape from a scoring run.
 * Returns the logits of the real rows only.
 */
export async function runFullBatches(
  run: LogitsRunner,
  tokens: BigInt64Array,
  rows: number,
  context: number,
  batchSize: number,
  filler: (slot: number, into: BigInt64Array) => void,
  signal?: AbortSignal
): Promise<Float32Array> {
  let out: Float32Array | null = null
  let rowLen = 0
  const batch = new BigInt64Array(batchSize * context)
  for (let first = 0; first < rows; first += batchSize) {
    signal?.throwIfAborted()
    const n = Math.min(batchSize, rows - first)
    batch.set(tokens.subarray(first * context, (first + n) * context))
    for (let slot = n; slot < batchSize; slot++) filler(slot, batch.subarray(slot * context, (slot + 1) * context))
    const logits = await run(batch, batchSize)
    if (!out) {
      rowLen = logits.length / batchSize
      out = new Float32Array(rows * rowLen)
    }
    out.set(logits.subarray(0, n * rowLen), first * rowLen)
  }
  return out!
}

/** The probe batch, then the untouched windows in reverse order among other windows. */
export async function runCausalityProbe(
  run: LogitsRunner,
  windows: Uint8Array,
  windowCount: number,
  stride: number,
  context: number,
  vocab: number,
  opts: CausalityOptions & { signal?: AbortSignal } = {}
): Promise<CausalityResult> {
  const seed = opts.seed ?? randomSeed()
  const batchSize = opts.batchSize ?? DEFAULT_PROBE_BATCH
  const plan = planProbes(windows, windowCount, stride, context, vocab, { ...opts, seed })
  const k = plan.windowIndices.length
  // Fillers are other validation windows, walked in order, so padded rows look like scoring rows.
  let next = 0
  const filler = (_slot: number, into: BigInt64Array) => {
    const src = (next++ % windowCount) * stride
    for (let p = 0; p < context; p++) into[p] = BigInt(windows[src + p]!)
  }
  const logits = await runFullBatches(run, plan.tokens, plan.rows, context, batchSize, filler, opts.signal)
  const reversed = new BigInt64Array(k * context)
  for (let i = 0; i < k; i++) reversed.set(plan.tokens.subarray(i * context, (i + 1) * context), (k - 1 - i) * context)
  const alone = await runFullBatches(run, reversed, k, context, batchSize, filler, opts.signal)
  return judgeProbes(plan, logits, context, vocab, alone, opts.relTolerance, seed)
}

function randomSeed(): number {
  return randomInt(0x7fffffff)
}

// Re-measures val_bpb from an exported model.onnx, independently of the
// Python the agent edits, and refuses models that cheat or break the contract.
//
// Contract (manifest `onnx` block): input `tokens` int64 [B, T] with a dynamic
// batch axis, output `logits` float32 [B, T, vocab]; val_eval.bin is uint8
// [N, T+1]; token_bytes.bin holds vocab entries as uint8 or int32 LE.
// val_bpb = Σ cross-entropy (nats) / (ln 2 · Σ token_bytes[target]), with
// zero-byte targets counting neither loss nor bytes.
//
// Two kinds of failure, kept apart on purpose: OnnxModelError is the model's
// fault (verifyModel turns it into verdict 'invalid'); OnnxEvalInputError is
// ours (broken validation files, bad options) and always throws.

import { readFile, stat } from 'node:fs/promises'
import type { InferenceSession } from 'onnxruntime-node'
import { runCausalityProbe } from './onnx-causality.ts'
import type { CausalityOptions, CausalityResult, LogitsRunner } from './onnx-causality.ts'

export type ModelFault = 'missing' | 'load' | 'io' | 'shape' | 'non-finite' | 'run' | 'non-causal'

export class OnnxModelError extends Error {
  override name = 'OnnxModelError'
  constructor(
    readonly fault: ModelFault,
    message: string
  ) {
    super(message)
  }
}

export class OnnxEvalInputError extends Error {
  override name = 'OnnxEvalInputError'
}

export interface EvalProgress {
  windowsDone: number
  windows: number
}

export interface EvalOptions {
  modelPath: string
  tokensPath: string
  tokenBytesPath: string
  context: number
  vocab: number
  /** Windows per session.run; each run blocks the event loop while it lasts. */
  batchSize?: number
  /** onnxruntime intra-op threads; its default is one per core. */
  threads?: number
  signal?: AbortSignal
  onProgress?: (p: EvalProgress) => void
}

export interface EvalResult {
  valBpb: number
  windows: number
  /** Σ token_bytes over every target: the bpb denominator. */
  bytes: number
  seconds: number
}

export interface VerifyResult {
  verdict: 'ok' | 'invalid'
  /** null when the model was refused before or during evaluation. */
  valBpb: number | null
  reason?: string
  fault?: ModelFault
  causality?: CausalityResult
  windows?: number
  bytes?: number
  seconds: number
}

export const DEFAULT_BATCH_SIZE = 32

// ---------------------------------------------------------------- data files

export interface EvalData {
  /** N rows of context+1 tokens. */
  windows: Uint8Array
  count: number
  context: number
  vocab: number
  tokenBytes: Int32Array
}

/** Per-token byte lengths: `vocab` uint8 entries, or `vocab` int32 little-endian ones. */
export function parseTokenBytes(buf: Uint8Array, vocab: number, label = 'token_bytes'): Int32Array {
  const out = new Int32Array(vocab)
  if (buf.byteLength === vocab) {
    out.set(buf)
  } else if (buf.byteLength === 4 * vocab) {
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
    for (let i = 0; i < vocab; i++) {
      const v = view.getInt32(4 * i, true)
      if (v < 0) throw new OnnxEvalInputError(`${label}: entry ${i} is negative (${v})`)
      out[i] = v
    }
  } else {
    throw new OnnxEvalInputError(
      `${label}: ${buf.byteLength} bytes fits neither uint8 (${vocab}) nor int32 (${4 * vocab}) for vocab ${vocab}`
    )
  }
  return out
}

/** Checks the [N, T+1] layout and that every token is inside the vocabulary. */
export function parseWindows(buf: Uint8Array, context: number, vocab: number, label = 'val tokens'): number {
  const stride = context + 1
  if (buf.byteLength === 0) throw new OnnxEvalInputError(`${label}: file is empty`)
  if (buf.byteLength % stride !== 0) {
    throw new OnnxEvalInputError(
      `${label}: ${buf.byteLength} bytes is not a multiple of context+1 = ${stride}; wrong context or a truncated file`
    )
  }
  if (vocab < 256) {
    const bad = buf.findIndex((t) => t >= vocab)
    if (bad >= 0) throw new OnnxEvalInputError(`${label}: token ${buf[bad]} at byte ${bad} is outside vocab ${vocab}`)
  }
  return buf.byteLength / stride
}

function checkShapeOptions(context: number, vocab: number, batchSize: number): void {
  if (!Number.isInteger(context) || context < 2) throw new OnnxEvalInputError(`context must be an integer >= 2, got ${context}`)
  if (!Number.isInteger(vocab) || vocab < 2 || vocab > 256) {
    throw new OnnxEvalInputError(`vocab must be an integer in 2..256 (tokens are stored as uint8), got ${vocab}`)
  }
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new OnnxEvalInputError(`batchSize must be a positive integer, got ${batchSize}`)
}

async function readInput(path: string, label: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path))
  } catch (err) {
    throw new OnnxEvalInputError(`${label} ${path} cannot be read: ${(err as Error).message}`)
  }
}

export async function loadEvalData(tokensPath: string, tokenBytesPath: string, context: number, vocab: number): Promise<EvalData> {
  const windows = await readInput(tokensPath, 'val tokens file')
  const count = parseWindows(windows, context, vocab, tokensPath)
  const tokenBytes = parseTokenBytes(await readInput(tokenBytesPath, 'token bytes file'), vocab, tokenBytesPath)
  return { windows, count, context, vocab, tokenBytes }
}

// ---------------------------------------------------------------- the loss

export interface LossSum {
  nats: number
  bytes: number
}

/**
 * Cross-entropy of `rows` windows starting at `firstRow`, from their
 * [rows, T, vocab] logits: log-softmax in float64, max-shifted for stability.
 */
export function windowLoss(logits: Float32Array, data: EvalData, firstRow: number, rows: number): LossSum {
  const { context: T, vocab: V, windows, tokenBytes } = data
  const stride = T + 1
  let nats = 0
  let bytes = 0
  for (let r = 0; r < rows; r++) {
    const base = (firstRow + r) * stride
    for (let p = 0; p < T; p++) {
      const target = windows[base + p + 1]!
      const nb = tokenBytes[target]!
      if (nb === 0) continue
      const off = (r * T + p) * V
      let max = -Infinity
      for (let i = 0; i < V; i++) if (logits[off + i]! > max) max = logits[off + i]!
      let sum = 0
      for (let i = 0; i < V; i++) sum += Math.exp(logits[off + i]! - max)
      nats += Math.log(sum) + max - logits[off + target]!
      bytes += nb
    }
  }
  return { nats, bytes }
}

export function bitsPerByte(total: LossSum): number {
  return total.nats / (Math.LN2 * total.bytes)
}

/** Would a reported val_bpb be accepted against the one we measured? */
export function compareReported(reported: number, verified: number, tolerance = 1e-3): boolean {
  if (!Number.isFinite(reported) || !Number.isFinite(verified)) return false
  return Math.abs(reported - verified) <= tolerance
}

// ---------------------------------------------------------------- the model

export interface ModelSession {
  run: LogitsRunner
  inputName: string
  outputName: string
  release(): Promise<void>
}

type Meta = InferenceSession.ValueMetadata

/** Checks names, element types and ranks the session declares, before any run. */
export function checkModelIo(inputs: readonly Meta[], outputs: readonly Meta[], context: number, vocab: number): void {
  const io = (what: string) => new OnnxModelError('io', what)
  if (inputs.length !== 1) throw io(`model must have exactly one input, has ${inputs.length} (${inputs.map((m) => m.name).join(', ')})`)
  if (outputs.length !== 1) throw io(`model must have exactly one output, has ${outputs.length} (${outputs.map((m) => m.name).join(', ')})`)
  const [input, output] = [inputs[0]!, outputs[0]!]
  if (!input.isTensor || input.type !== 'int64') {
    throw io(`input '${input.name}' must be an int64 tensor, is ${input.isTensor ? input.type : 'not a tensor'}`)
  }
  if (!output.isTensor || output.type !== 'float32') {
    throw io(`output '${output.name}' must be a float32 tensor, is ${output.isTensor ? output.type : 'not a tensor'}`)
  }
  // An empty shape means "unknown" to onnxruntime; the logits check after each run still applies.
  const fixed = (d: number | string | undefined, want: number) => typeof d !== 'number' || d === want || d < 0
  if (input.shape.length > 0) {
    if (input.shape.length !== 2) throw io(`input '${input.name}' must be [batch, ${context}], is [${input.shape.join(', ')}]`)
    if (typeof input.shape[0] === 'number' && input.shape[0] > 0) {
      throw io(`input '${input.name}' has a fixed batch size ${input.shape[0]}; the contract needs a dynamic batch axis`)
    }
    if (!fixed(input.shape[1], context)) throw io(`input '${input.name}' is [${input.shape.join(', ')}], context must be ${context}`)
  }
  if (output.shape.length > 0) {
    if (output.shape.length !== 3 || !fixed(output.shape[1], context) || !fixed(output.shape[2], vocab)) {
      throw io(`output '${output.name}' must be [batch, ${context}, ${vocab}], is [${output.shape.join(', ')}]`)
    }
  }
}

/** Index of the first NaN or ±Inf, or -1. A running sum catches both without a branch per value. */
export function firstNonFinite(values: Float32Array): number {
  const block = 4096
  for (let start = 0; start < values.length; start += block) {
    const end = Math.min(values.length, start + block)
    let acc = 0
    for (let i = start; i < end; i++) acc += values[i]!
    if (!Number.isFinite(acc)) {
      for (let i = start; i < end; i++) if (!Number.isFinite(values[i]!)) return i
    }
  }
  return -1
}

export async function openModel(modelPath: string, context: number, vocab: number, threads?: number): Promise<ModelSession> {
  let size: number
  try {
    size = (await stat(modelPath)).size
  } catch {
    throw new OnnxModelError('missing', `model file ${modelPath} does not exist`)
  }
  if (size === 0) throw new OnnxModelError('load', `model file ${modelPath} is empty`)

  // Loaded lazily so that importing this module (e.g. for compareReported) never loads the native binding.
  const ort = await import('onnxruntime-node')
  let session: InferenceSession
  try {
    session = await ort.InferenceSession.create(modelPath, {
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      interOpNumThreads: 1,
      ...(threads ? { intraOpNumThreads: threads } : {})
    })
  } catch (err) {
    throw new OnnxModelError('load', `onnxruntime cannot load ${modelPath}: ${(err as Error).message}`)
  }
  try {
    checkModelIo(session.inputMetadata, session.outputMetadata, context, vocab)
  } catch (err) {
    await session.release()
    throw err
  }
  const inputName = session.inputNames[0]!
  const outputName = session.outputNames[0]!

  const run: LogitsRunner = async (tokens, rows) => {
    let result: InferenceSession.ReturnType
    try {
      result = await session.run({ [inputName]: new ort.Tensor('int64', tokens, [rows, context]) })
    } catch (err) {
      throw new OnnxModelError('run', `model failed on a batch of ${rows}: ${(err as Error).message}`)
    }
    const out = result[outputName]
    if (!out || !('dims' in out) || out.type !== 'float32') {
      throw new OnnxModelError('shape', `output '${outputName}' is not a float32 tensor`)
    }
    const dims = out.dims
    if (dims.length !== 3 || dims[0] !== rows || dims[1] !== context || dims[2] !== vocab) {
      throw new OnnxModelError('shape', `logits are [${dims.join(', ')}], expected [${rows}, ${context}, ${vocab}]`)
    }
    const logits = out.data as Float32Array
    const bad = firstNonFinite(logits)
    if (bad >= 0) {
      const pos = Math.floor(bad / vocab)
      throw new OnnxModelError(
        'non-finite',
        `logits contain ${logits[bad]} (window ${Math.floor(pos / context)} of the batch, position ${pos % context})`
      )
    }
    return logits
  }
  return { run, inputName, outputName, release: () => session.release() }
}

// ---------------------------------------------------------------- evaluation

async function evaluateWith(
  session: ModelSession,
  data: EvalData,
  batchSize: number,
  signal?: AbortSignal,
  onProgress?: (p: EvalProgress) => void
): Promise<Omit<EvalResult, 'seconds'>> {
  const T = data.context
  const stride = T + 1
  const total: LossSum = { nats: 0, bytes: 0 }
  const input = new BigInt64Array(batchSize * T)
  for (let first = 0; first < data.count; first += batchSize) {
    signal?.throwIfAborted()
    const rows = Math.min(batchSize, data.count - first)
    // The last batch is topped up with windows from the start and those rows
    // are not scored: every run then has the same shape as the causality
    // probe's, so a model cannot cheat only on an odd-sized batch.
    for (let r = 0; r < batchSize; r++) {
      const src = ((first + r) % data.count) * stride
      for (let p = 0; p < T; p++) input[r * T + p] = BigInt(data.windows[src + p]!)
    }
    const logits = await session.run(input, batchSize)
    const part = windowLoss(logits, data, first, rows)
    total.nats += part.nats
    total.bytes += part.bytes
    onProgress?.({ windowsDone: first + rows, windows: data.count })
  }
  if (total.bytes === 0) throw new OnnxEvalInputError('every target token has zero bytes; val_bpb is undefined')
  return { valBpb: bitsPerByte(total), windows: data.count, bytes: total.bytes }
}

async function withModel<R>(opts: EvalOptions, body: (session: ModelSession, data: EvalData) => Promise<R>): Promise<R> {
  const batchSize = opts.batchSize ?? DEFAULT_BATCH_SIZE
  checkShapeOptions(opts.context, opts.vocab, batchSize)
  // Our own inputs are checked first, so a broken validation set is never blamed on the model.
  const data = await loadEvalData(opts.tokensPath, opts.tokenBytesPath, opts.context, opts.vocab)
  opts.signal?.throwIfAborted()
  const session = await openModel(opts.modelPath, opts.context, opts.vocab, opts.threads)
  try {
    return await body(session, data)
  } finally {
    await session.release()
  }
}

/** val_bpb of the model on the whole validation set. Throws OnnxModelError for model faults. */
export async function evaluateOnnx(opts: EvalOptions): Promise<EvalResult> {
  const started = performance.now()
  const r = await withModel(opts, (s, d) => evaluateWith(s, d, opts.batchSize ?? DEFAULT_BATCH_SIZE, opts.signal, opts.onProgress))
  return { ...r, seconds: (performance.now() - started) / 1000 }
}

export type CausalityCheckOptions = Omit<EvalOptions, 'onProgress'> & CausalityOptions

function probe(session: ModelSession, data: EvalData, opts: CausalityCheckOptions): Promise<CausalityResult> {
  const batchSize = opts.batchSize ?? DEFAULT_BATCH_SIZE
  return runCausalityProbe(session.run, data.windows, data.count, data.context + 1, data.context, data.vocab, { ...opts, batchSize })
}

/** Perturbs future tokens and requires earlier logits to stay put (see onnx-causality.ts). */
export async function checkCausality(opts: CausalityCheckOptions): Promise<CausalityResult> {
  return withModel(opts, (s, d) => probe(s, d, opts))
}

/**
 * Causality check, then evaluation, in one session. Never throws for the
 * model's own faults (missing, corrupt, wrong shapes, NaN, non-causal): those
 * come back as verdict 'invalid' with a reason. Throws for broken inputs of
 * ours and when aborted.
 */
export async function verifyModel(opts: EvalOptions & CausalityOptions): Promise<VerifyResult> {
  const started = performance.now()
  const seconds = () => (performance.now() - started) / 1000
  try {
    return await withModel(opts, async (session, data) => {
      const causality = await probe(session, data, opts)
      if (!causality.causal) {
        return { verdict: 'invalid', valBpb: null, fault: 'non-causal', reason: causality.detail, causality, seconds: seconds() }
      }
      const r = await evaluateWith(session, data, opts.batchSize ?? DEFAULT_BATCH_SIZE, opts.signal, opts.onProgress)
      return { verdict: 'ok', valBpb: r.valBpb, windows: r.windows, bytes: r.bytes, causality, seconds: seconds() }
    })
  } catch (err) {
    if (err instanceof OnnxModelError) {
      return { verdict: 'invalid', valBpb: null, fault: err.fault, reason: err.message, seconds: seconds() }
    }
    throw err
  }
}

/**
 * One training run of the workspace as it stands, and the node's own reading of
 * it: run the project's command under the budget, parse the summary, and where
 * the project exports a model re-measure the metric from it with onnxruntime
 * (the agent edits train.py; it must not be able to edit its own score).
 */
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { Manifest } from './manifest.ts'
import { compareReported } from './onnx-eval.ts'
import { verifyModelInWorker } from './onnx-worker.ts'
import { classifyOutcome, runCommand } from './runner.ts'
import { substitutePython } from './python.ts'
import type { Summary } from './summary.ts'

export const VERIFY_TOLERANCE = 1e-3

export interface Measurement {
  status: 'ok' | 'crash' | 'invalid' | 'aborted'
  reason: string
  reported: number | null
  verified: number | null
  /** The figure decisions use: verified where a model is exported, else reported. */
  value: number | null
  summary: Summary
  runSeconds: number
  verifySeconds: number
  tail: string
}

export interface MeasureOptions {
  dir: string
  manifest: Manifest
  python: string
  env?: Record<string, string>
  signal?: AbortSignal
  onProgress?: (p: { elapsedS: number, budgetS?: number, lastLine: string }) => void
}

export function runEnv (manifest: Manifest, extra: Record<string, string> = {}): Record<string, string> {
  return {
    SWARM_TIME_BUDGET: String(manifest.budget_s),
    // Torch and OpenBLAS threads fight over cores unless idle threads sleep.
    OMP_WAIT_POLICY: 'PASSIVE',
    ...extra
  }
}

export async function measure (opts: MeasureOptions): Promise<Measurement> {
  const { dir, manifest } = opts
  // A model left by an earlier run must never be scored for this one.
  if (manifest.onnx != null) await rm(join(dir, manifest.onnx.model), { force: true })
  const outcome = await runCommand({
    command: substitutePython(manifest.run, opts.python),
    cwd: dir,
    env: runEnv(manifest, opts.env),
    budgetS: manifest.budget_s,
    timeoutS: manifest.timeout_s,
    logPath: join(dir, 'run.log'),
    signal: opts.signal,
    onProgress: opts.onProgress
  })
  const base = { summary: outcome.summary ?? {}, runSeconds: outcome.elapsedS, verifySeconds: 0, tail: outcome.tail, verified: null }
  const cls = classifyOutcome(outcome, manifest.metric)
  if (cls.kind === 'aborted') return { ...base, status: 'aborted', reason: cls.reason, reported: null, value: null }
  if (cls.kind !== 'ok') return { ...base, status: 'crash', reason: cls.reason, reported: null, value: null }
  const reported = cls.value
  if (manifest.onnx == null) return { ...base, status: 'ok', reason: '', reported, value: reported }

  const o = manifest.onnx
  let v: Awaited<ReturnType<typeof verifyModelInWorker>>
  try {
    v = await verifyModelInWorker({
      modelPath: join(dir, o.model),
      tokensPath: join(dir, o.tokens),
      tokenBytesPath: join(dir, o.token_bytes),
      context: o.context,
      vocab: o.vocab
    }, opts.signal)
  } catch (err) {
    if (opts.signal?.aborted === true) return { ...base, status: 'aborted', reason: 'stopped during verification', reported, value: null }
    throw err
  }
  const verified = v.valBpb ?? null
  const common = { ...base, reported, verified, verifySeconds: v.seconds }
  if (v.verdict !== 'ok' || verified == null) return { ...common, status: 'invalid', reason: `model rejected: ${v.reason ?? 'no figure'}`, value: null }
  if (!compareReported(reported, verified, VERIFY_TOLERANCE)) {
    return { ...common, status: 'invalid', reason: `reported ${manifest.metric} ${reported.toFixed(6)} but the exported model measures ${verified.toFixed(6)}`, value: null }
  }
  return { ...common, status: 'ok', reason: '', value: verified }
}

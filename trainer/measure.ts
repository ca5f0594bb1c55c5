/**
 * One training run of the workspace as it stands, and the node's own reading of
 * it: run the project's command in the sandbox, killed at the node's own
 * deadline (budget + grace), parse the summary, refuse a summary that trained
 * past the budget, and where the project exports a model re-measure the metric
 * from it with onnxruntime, on the node's own copy of the validation data (the
 * agent edits train.py; it must not be able to edit its own score).
 */
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { runDeadlineS, type Manifest } from './manifest.ts'
import { checkMeasurementData, type MeasurementData } from './measure-data.ts'
import { compareReported } from './onnx-eval.ts'
import { DEFAULT_VERIFY_TIMEOUT_S, verifyModelIsolated } from './onnx-verify.ts'
import { classifyOutcome, runCommand } from './runner.ts'
import { substitutePython } from './python.ts'
import type { ProjectSandbox } from './sandbox/index.ts'
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
  /** Where the run is caged; without one it runs as a plain child process (tests of the runner alone). */
  sandbox?: ProjectSandbox
  /** The node's copy of the validation data (measure-data.ts); the workspace's files when absent. */
  data?: MeasurementData | null
}

/** A run may report a little more training than its budget: the step that crosses it, and rounding. */
export function trainingSlackS (budgetS: number): number {
  return Math.max(1, 0.02 * budgetS)
}

/** Why a summary's training_seconds is not believable under `budgetS`, or null when it is (or is absent). */
export function overBudget (summary: Summary, budgetS: number): string | null {
  const t = summary.training_seconds
  if (typeof t !== 'number' || !Number.isFinite(t)) return null
  if (t <= budgetS + trainingSlackS(budgetS)) return null
  return `training_seconds ${t} exceeds the ${budgetS} s budget: the run set its own budget`
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
  const command = substitutePython(manifest.run, opts.python)
  const env = runEnv(manifest, opts.env)
  const outcome = await runCommand({
    command,
    cwd: dir,
    env,
    budgetS: manifest.budget_s,
    // The node's deadline, from the manifest: nothing the run sets moves it.
    timeoutS: runDeadlineS(manifest),
    logPath: join(dir, 'run.log'),
    signal: opts.signal,
    onProgress: opts.onProgress,
    launch: await opts.sandbox?.launch({ profile: 'run', command, cwd: dir, env })
  })
  const base = { summary: outcome.summary ?? {}, runSeconds: outcome.elapsedS, verifySeconds: 0, tail: outcome.tail, verified: null }
  const cls = classifyOutcome(outcome, manifest.metric)
  if (cls.kind === 'aborted') return { ...base, status: 'aborted', reason: cls.reason, reported: null, value: null }
  if (cls.kind !== 'ok') return { ...base, status: 'crash', reason: cls.reason, reported: null, value: null }
  const reported = cls.value
  const late = overBudget(base.summary, manifest.budget_s)
  if (late != null) return { ...base, status: 'invalid', reason: late, reported, value: null }
  if (manifest.onnx == null) return { ...base, status: 'ok', reason: '', reported, value: reported }

  const o = manifest.onnx
  const data = opts.data
  if (data != null) await checkMeasurementData(data)
  let v: Awaited<ReturnType<typeof verifyModelIsolated>>
  try {
    v = await verifyModelIsolated({
      modelPath: join(dir, o.model),
      tokensPath: data?.tokens ?? join(dir, o.tokens),
      tokenBytesPath: data?.tokenBytes ?? join(dir, o.token_bytes),
      context: o.context,
      vocab: o.vocab
    }, { sandbox: opts.sandbox, signal: opts.signal, timeoutS: Math.max(DEFAULT_VERIFY_TIMEOUT_S, manifest.budget_s) })
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

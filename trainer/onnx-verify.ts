/**
 * Runs `verifyModel` on a model a run produced, in a process of its own and,
 * given a sandbox, inside it. The model is the run's output and so as hostile
 * as the run: an ONNX file can name "external data" files anywhere on disk for
 * onnxruntime to load into its weights (and so into the figure the node
 * publishes), and a parser bug turns a file into code. In the sandbox the
 * verifier sees the model, the node's validation data and its own program,
 * read-only, and nothing else: no network, no home, no workspace.
 *
 * A process of its own also keeps onnxruntime's seconds of computing off the
 * node's event loop (gossip, heartbeats, the control API).
 */
import { lstat, mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { VerifyResult } from './onnx-eval.ts'
import { shellQuote } from './python.ts'
import { runCommand } from './runner.ts'
import type { ProjectSandbox } from './sandbox/index.ts'

export interface VerifyOptions {
  modelPath: string
  tokensPath: string
  tokenBytesPath: string
  context: number
  vocab: number
}

export class VerifierError extends Error {
  override name = 'VerifierError'
}

const ENTRY = fileURLToPath(new URL('./onnx-verify-entry.mjs', import.meta.url))
/** The package root: the verifier's own code and node_modules (onnxruntime-node, tsx). */
const PACKAGE_ROOT = dirname(dirname(ENTRY))
const RESULT = 'SWARM_VERIFY_RESULT '
const INSIDE = { model: '/swarm-verify/model.onnx', tokens: '/swarm-verify/val_tokens.bin', tokenBytes: '/swarm-verify/token_bytes.bin' }
export const DEFAULT_VERIFY_TIMEOUT_S = 600

/**
 * The verdict on `modelPath`. A model that crashes, hangs or kills the
 * verifier is 'invalid' (its fault); broken validation data of ours throws
 * VerifierError; an abort throws the signal's reason.
 */
export async function verifyModelIsolated (opts: VerifyOptions, o: { sandbox?: ProjectSandbox, signal?: AbortSignal, timeoutS?: number } = {}): Promise<VerifyResult> {
  o.signal?.throwIfAborted()
  for (const p of [opts.tokensPath, opts.tokenBytesPath]) {
    if ((await stat(p).catch(() => null))?.isFile() !== true) throw new VerifierError(`validation data ${p}: no such file`)
  }
  // The model is the run's: a link or a pipe in its place is refused, never followed.
  const model = await lstat(opts.modelPath).catch(() => null)
  if (model == null) return { verdict: 'invalid', valBpb: null, fault: 'missing', reason: `the run wrote no model (${opts.modelPath})`, seconds: 0 }
  if (!model.isFile()) return { verdict: 'invalid', valBpb: null, fault: 'load', reason: `${opts.modelPath} is not a regular file`, seconds: 0 }
  if (model.size === 0) return { verdict: 'invalid', valBpb: null, fault: 'missing', reason: `the run wrote no model (${opts.modelPath} is empty)`, seconds: 0 }
  const caged = o.sandbox?.confined === true
  const args = caged
    ? { ...opts, modelPath: INSIDE.model, tokensPath: INSIDE.tokens, tokenBytesPath: INSIDE.tokenBytes }
    : opts
  const argv = [process.execPath, ENTRY, JSON.stringify(args)]
  const scratch = await mkdtemp(join(tmpdir(), 'swarm-verify-'))
  const started = performance.now()
  try {
    const launch = o.sandbox == null
      ? undefined
      : await o.sandbox.launch({
        profile: 'verify',
        command: argv,
        cwd: caged ? '/' : scratch,
        readOnly: [PACKAGE_ROOT, dirname(dirname(process.execPath))],
        files: caged ? [{ src: opts.modelPath, dest: INSIDE.model }, { src: opts.tokensPath, dest: INSIDE.tokens }, { src: opts.tokenBytesPath, dest: INSIDE.tokenBytes }] : []
      })
    const outcome = await runCommand({
      command: argv.map(shellQuote).join(' '),
      cwd: scratch,
      timeoutS: o.timeoutS ?? DEFAULT_VERIFY_TIMEOUT_S,
      killGraceMs: 1000,
      logPath: join(scratch, 'verify.log'),
      signal: o.signal,
      launch
    })
    if (outcome.aborted) throw o.signal?.reason ?? new Error('aborted')
    const seconds = (performance.now() - started) / 1000
    const log = await readFile(join(scratch, 'verify.log'), 'utf8').catch(() => '')
    const line = log.split('\n').reverse().find(l => l.startsWith(RESULT))
    if (outcome.timedOut) return { verdict: 'invalid', valBpb: null, fault: 'run', reason: `verification did not finish within ${o.timeoutS ?? DEFAULT_VERIFY_TIMEOUT_S} s`, seconds }
    if (line == null) {
      const how = outcome.exitCode !== null ? `exit code ${outcome.exitCode}` : `signal ${outcome.signal ?? '?'}`
      return { verdict: 'invalid', valBpb: null, fault: 'run', reason: `the verifier died on this model (${how}): ${outcome.tail.trim().split('\n').pop() ?? ''}`.slice(0, 400), seconds }
    }
    const m = JSON.parse(line.slice(RESULT.length)) as { ok: true, result: VerifyResult } | { ok: false, error: string }
    if (!m.ok) throw new VerifierError(m.error)
    return m.result
  } finally {
    await rm(scratch, { recursive: true, force: true })
  }
}

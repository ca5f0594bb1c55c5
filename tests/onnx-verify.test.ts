/**
 * Verification in a process of its own, in the sandbox: the same verdicts as
 * in-process, a model that is a link is refused unread, broken validation
 * data is an error of ours, and it stops when told.
 */
import { execFile } from 'node:child_process'
import { symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseManifest } from '../trainer/manifest.ts'
import { verifyModel } from '../trainer/onnx-eval.ts'
import { VerifierError, verifyModelIsolated } from '../trainer/onnx-verify.ts'
import { ProjectSandbox, Sandbox } from '../trainer/sandbox/index.ts'
import { cleanupFixtures, tempDir } from './helpers/fixtures.ts'

const T = 32
let dir = ''
let cage: ProjectSandbox
const opts = (model: string) => ({ modelPath: join(dir, model), tokensPath: join(dir, 'val_eval.bin'), tokenBytesPath: join(dir, 'token_bytes.bin'), context: T, vocab: 256 })

beforeAll(async () => {
  dir = await tempDir('onnx-verify')
  await promisify(execFile)('/usr/bin/python3', [join(import.meta.dirname, 'fixtures/onnx/make_models.py'), '--out', dir, '--context', String(T), '--vocab', '256', '--windows', '64'],
    { env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' }, timeout: 50_000 })
  const sandbox = await Sandbox.open({ home: await tempDir('onnx-verify-home') })
  expect(sandbox.confined, 'bubblewrap must work here (scripts/setup installs it)').toBe(true)
  cage = new ProjectSandbox(sandbox, { dir, manifest: parseManifest({ name: 'v', run: 'true' }), python: null })
})
afterAll(cleanupFixtures)

describe('verifyModelIsolated', () => {
  it('gives the in-process figure for an honest model and the same verdict for a cheat, caged', async () => {
    const here = await verifyModel(opts('honest.onnx'))
    const there = await verifyModelIsolated(opts('honest.onnx'), { sandbox: cage })
    expect(there.verdict).toBe('ok')
    expect(there.valBpb).toBeCloseTo(here.valBpb!, 9)
    const cheat = await verifyModelIsolated(opts('cheat.onnx'), { sandbox: cage })
    expect(cheat.verdict).toBe('invalid')
    expect(cheat.reason).toMatch(/logits at position \d+ of window \d+ ch/)
    // Without a sandbox it is still its own process, with the same figure.
    expect((await verifyModelIsolated(opts('honest.onnx'))).valBpb).toBeCloseTo(here.valBpb!, 9)
  })

  it('refuses a model that is a link or empty without reading it, and a model that is not ONNX', async () => {
    await symlink(join(dir, 'honest.onnx'), join(dir, 'linked.onnx'))
    const linked = await verifyModelIsolated(opts('linked.onnx'), { sandbox: cage })
    expect(linked).toMatchObject({ verdict: 'invalid', reason: expect.stringMatching(/not a regular file/) })
    await writeFile(join(dir, 'empty.onnx'), '')
    expect((await verifyModelIsolated(opts('empty.onnx'), { sandbox: cage })).reason).toMatch(/wrote no model/)
    await writeFile(join(dir, 'junk.onnx'), 'not a model at all')
    expect((await verifyModelIsolated(opts('junk.onnx'), { sandbox: cage })).verdict).toBe('invalid')
  })

  it('reports broken validation data as an error, and stops on abort', async () => {
    await expect(verifyModelIsolated({ ...opts('honest.onnx'), tokensPath: join(dir, 'missing.bin') }, { sandbox: cage })).rejects.toThrow(VerifierError)
    await expect(verifyModelIsolated({ ...opts('honest.onnx'), tokensPath: join(dir, 'missing.bin') }, { sandbox: cage })).rejects.toThrow(/missing\.bin/)
    const ac = new AbortController()
    const p = verifyModelIsolated(opts('honest.onnx'), { sandbox: cage, signal: ac.signal })
    setTimeout(() => ac.abort(new Error('stop now')), 200)
    await expect(p).rejects.toThrow(/stop now/)
  })
})

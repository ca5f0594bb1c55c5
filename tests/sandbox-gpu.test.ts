/**
 * A GPU inside the sandbox: the NVIDIA devices bound in, /proc/driver/nvidia
 * and /sys read-only, so the default project trains on CUDA in the cage and
 * its model is still verified there. Needs a machine with an NVIDIA GPU and a
 * CUDA PyTorch; elsewhere it is skipped, and says why.
 */
import { cp, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { runLoop } from '../trainer/loop.ts'
import { findPython } from '../trainer/python.ts'
import { NoProposer } from '../trainer/proposers/none.ts'
import { probeCapabilities } from '../trainer/sandbox/index.ts'
import { openSession } from '../trainer/session.ts'
import { TEMPLATE_DIR } from '../trainer/template.ts'
import { cleanupFixtures, tempDir } from './helpers/fixtures.ts'

afterAll(cleanupFixtures)

const caps = await probeCapabilities()
// Importing torch costs seconds: only where there is a GPU to use it on.
const python = caps.gpu == null ? null : await findPython().catch(() => null)
const skip = caps.gpu == null
  ? 'no GPU on this machine (no /dev/nvidia* devices)'
  : python?.cuda !== true ? `a GPU is here, but ${python?.path ?? 'no Python'}'s torch ${python?.torch ?? ''} has no CUDA` : null
if (skip != null) console.warn(`sandbox-gpu: skipped: ${skip}`)

describe('GPU inside the sandbox', () => {
  it.skipIf(skip != null)(`the default project trains on CUDA in the cage${skip != null ? ` (skipped: ${skip})` : ''}`, async () => {
    expect(caps.gpu!.devices.some(d => /nvidia(ctl|\d+)$/.test(d))).toBe(true)
    const dir = join(await tempDir('gpu'), 'project')
    await mkdir(dir)
    await cp(TEMPLATE_DIR, dir, { recursive: true })
    const session = await openSession({ projectDir: dir, home: await tempDir('gpu-home'), runTag: 'gpu', budgetS: 10 })
    expect(session.sandbox.status()).toMatchObject({ confined: true, gpu: true })
    await runLoop({ session, proposer: new NoProposer(), signal: new AbortController().signal, onEvent: () => {}, maxExperiments: 0 })
    const base = session.history.at(-1)!
    console.log(`sandbox-gpu: baseline on ${base.metrics.device}: val_bpb ${base.val_bpb}, verified ${base.verified_bpb}, ${base.metrics.num_steps} steps, peak ${base.metrics.peak_vram_mb} MB, run ${base.metrics.run_seconds} s, verify ${base.metrics.verify_seconds} s`)
    expect(base.status).toBe('baseline')
    expect(base.metrics.device).toBe('cuda')
    expect(Number(base.metrics.peak_vram_mb)).toBeGreaterThan(0)
    expect(base.verified_bpb).toBeGreaterThan(0)
    expect(Math.abs(base.verified_bpb! - base.val_bpb!)).toBeLessThan(1e-3)
  }, 300_000)
})

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { appleChip, detectHardware, gpuModel, mibToGb, parseNvidiaSmi, roundRam, trackFor, wireHardware } from '../trainer/hardware.ts'
import type { Hardware } from '../trainer/hardware.ts'

const TRACK = /^[a-z0-9][a-z0-9-]{0,47}$/

const base: Hardware = { cpu: 'AMD EPYC 7763 64-Core Processor', cores: 16, ram_gb: 125.7, gpu: null, gpu_mem_gb: null, platform: 'linux', arch: 'x64' }

describe('trackFor', () => {
  it.each([
    ['NVIDIA H100 80GB HBM3', 'gpu-h100'],
    ['NVIDIA H100 PCIe', 'gpu-h100'],
    ['NVIDIA H100 NVL', 'gpu-h100'],
    ['NVIDIA H200', 'gpu-h200'],
    ['NVIDIA GH200 480GB', 'gpu-gh200'],
    ['NVIDIA A100-SXM4-40GB', 'gpu-a100'],
    ['NVIDIA A100 80GB PCIe', 'gpu-a100'],
    ['NVIDIA A10G', 'gpu-a10g'],
    ['NVIDIA L4', 'gpu-l4'],
    ['NVIDIA L40S', 'gpu-l40s'],
    ['NVIDIA B200', 'gpu-b200'],
    ['Tesla T4', 'gpu-t4'],
    ['Tesla V100-SXM2-16GB', 'gpu-v100'],
    ['NVIDIA GeForce RTX 4090', 'gpu-rtx4090'],
    ['NVIDIA GeForce RTX 4090 Laptop GPU', 'gpu-rtx4090'],
    ['NVIDIA GeForce RTX 3080 Ti', 'gpu-rtx3080-ti'],
    ['NVIDIA GeForce RTX 4070 Ti SUPER', 'gpu-rtx4070-ti-super'],
    ['NVIDIA GeForce GTX 1080 Ti', 'gpu-gtx1080-ti'],
    ['NVIDIA RTX A6000', 'gpu-rtx-a6000'],
    ['NVIDIA RTX 6000 Ada Generation', 'gpu-rtx6000-ada'],
    ['Quadro RTX 8000', 'gpu-rtx8000'],
    ['NVIDIA TITAN RTX', 'gpu-titan-rtx'],
    ['AMD Instinct MI300X', 'gpu-mi300x'],
    ['AMD Radeon RX 7900 XTX', 'gpu-rx7900-xtx'],
    ['Intel(R) Arc(TM) A770 Graphics', 'gpu-arc-a770'],
    ['NVIDIA', 'gpu-unknown'],
    ['  ', 'cpu']
  ])('%s -> %s', (gpu, track) => {
    const got = trackFor({ ...base, gpu, gpu_mem_gb: 80 })
    expect(got).toBe(track)
    expect(got).toMatch(TRACK)
  })

  it('is cpu without a GPU', () => {
    expect(trackFor(base)).toBe('cpu')
  })

  it.each([
    ['Apple M1', 'apple-m1'],
    ['Apple M2', 'apple-m2'],
    ['Apple M3 Max', 'apple-m3-max'],
    ['Apple M2 Ultra', 'apple-m2-ultra'],
    ['Apple M4 Pro', 'apple-m4-pro'],
    ['', 'apple-silicon']
  ])('Apple silicon %s -> %s', (chip, track) => {
    expect(trackFor({ ...base, cpu: chip, gpu: chip === '' ? null : chip, platform: 'darwin', arch: 'arm64' })).toBe(track)
  })

  it('keeps absurd names inside the track pattern', () => {
    const got = trackFor({ ...base, gpu: `NVIDIA ${'X'.repeat(200)}` })
    expect(got).toMatch(TRACK)
    expect(got.startsWith('gpu-x')).toBe(true)
  })
})

describe('pure helpers', () => {
  it('gpuModel and appleChip', () => {
    expect(gpuModel('NVIDIA H100 80GB HBM3')).toBe('h100')
    expect(appleChip('Apple M3 Max')).toBe('m3-max')
    expect(appleChip('Intel(R) Core(TM) i9')).toBeNull()
  })

  it('rounds memory to one decimal GiB', () => {
    expect(roundRam(128 * 1024 ** 3)).toBe(128)
    expect(roundRam(134_956_859_392)).toBe(125.7)
    expect(mibToGb(81559)).toBe(79.6)
  })

  it('parses nvidia-smi output', () => {
    expect(parseNvidiaSmi('NVIDIA H100 80GB HBM3, 81559\n')).toEqual({ gpu: 'NVIDIA H100 80GB HBM3', gpu_mem_gb: 79.6 })
    expect(parseNvidiaSmi('\nNVIDIA A100-SXM4-40GB, 40960\nNVIDIA A100-SXM4-40GB, 40960\n')).toEqual({ gpu: 'NVIDIA A100-SXM4-40GB', gpu_mem_gb: 40 })
    expect(parseNvidiaSmi('NVIDIA GH200 480GB, [N/A]')).toEqual({ gpu: 'NVIDIA GH200 480GB', gpu_mem_gb: null })
    expect(parseNvidiaSmi('')).toBeNull()
    expect(parseNvidiaSmi(', 100')).toBeNull()
  })
})

describe('wireHardware', () => {
  it('keeps only the shared fields and clips long names', () => {
    const wire = wireHardware({ ...base, gpu: 'G'.repeat(300), gpu_mem_gb: 79.6 })
    expect(Object.keys(wire).sort()).toEqual(['cores', 'cpu', 'gpu', 'gpu_mem_gb', 'ram_gb'])
    expect(wire.gpu).toHaveLength(128)
    expect(wire).toMatchObject({ cpu: base.cpu, cores: 16, ram_gb: 125.7, gpu_mem_gb: 79.6 })
    expect(wireHardware(base).gpu).toBeNull()
  })
})

describe('detectHardware', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hw-test-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('describes this machine', async () => {
    const hw = await detectHardware()
    expect(hw.cores).toBeGreaterThan(0)
    expect(hw.ram_gb).toBeGreaterThan(0)
    expect(hw.cpu.length).toBeGreaterThan(0)
    expect(hw.platform).toBe(process.platform)
    expect(hw.arch).toBe(process.arch)
    expect(trackFor(hw)).toMatch(TRACK)
    if (hw.gpu === null) expect(trackFor(hw)).toBe('cpu')
  })

  it('reports no GPU when nvidia-smi is absent', async () => {
    const hw = await detectHardware({ env: { ...process.env, PATH: dir } })
    expect(hw.gpu).toBeNull()
    expect(hw.gpu_mem_gb).toBeNull()
    expect(trackFor(hw)).toBe('cpu')
  })

  it('reads the GPU from nvidia-smi on PATH', async () => {
    const smi = join(dir, 'nvidia-smi')
    await writeFile(smi, '#!/bin/sh\necho "NVIDIA H100 80GB HBM3, 81559"\n')
    await chmod(smi, 0o755)
    const hw = await detectHardware({ env: { ...process.env, PATH: dir } })
    expect(hw.gpu).toBe('NVIDIA H100 80GB HBM3')
    expect(hw.gpu_mem_gb).toBe(79.6)
    expect(trackFor(hw)).toBe('gpu-h100')
  })

  it('gives up on a hanging nvidia-smi within its timeout', async () => {
    const hangDir = join(dir, 'hang')
    await mkdir(hangDir)
    const smi = join(hangDir, 'nvidia-smi')
    // exec so the timeout's SIGKILL reaches the sleep itself and nothing is left behind.
    await writeFile(smi, '#!/bin/sh\nexec sleep 30\n')
    await chmod(smi, 0o755)
    const t0 = Date.now()
    const hw = await detectHardware({ env: { ...process.env, PATH: `${hangDir}:/usr/bin:/bin` }, timeoutMs: 500 })
    expect(Date.now() - t0).toBeLessThan(5000)
    expect(hw.gpu).toBeNull()
  })
})

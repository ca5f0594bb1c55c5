/**
 * Describes the machine a node trains on, and names its "track": results are only
 * comparable between nodes with the same kind of accelerator, because the run
 * budget is wall-clock time. Detection does I/O; everything else here is pure.
 */
import { execFile } from 'node:child_process'
import os from 'node:os'
import type { Hardware as WireHardware } from '../protocol/index.ts'

/**
 * What is gossiped (`gpu`: the CUDA GPU, or the chip on Apple silicon, null
 * when CPU-only; `gpu_mem_gb`: on Apple silicon the unified memory) plus what
 * only this node needs.
 */
export interface Hardware extends WireHardware {
  platform: string
  arch: string
}

export interface DetectOptions {
  /** environment for the probes (PATH decides which nvidia-smi runs); default process.env */
  env?: NodeJS.ProcessEnv
  /** per-probe limit, default 10 s: nvidia-smi can hang on a wedged driver */
  timeoutMs?: number
  /** override for tests; default process.platform / process.arch */
  platform?: string
  arch?: string
}

const DEFAULT_PROBE_TIMEOUT_MS = 10_000
const TRACK_MAX = 48
const GIB = 1024 ** 3

/** Bytes to GiB, one decimal: 137438953472 -> 128. */
export function roundRam (bytes: number): number {
  return Math.round((bytes / GIB) * 10) / 10
}

/** MiB (as nvidia-smi reports) to GiB, one decimal: 81559 -> 79.6. */
export function mibToGb (mib: number): number {
  return Math.round((mib / 1024) * 10) / 10
}

/**
 * Reads `nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits`.
 * Multi-GPU machines list one line each; the first GPU is the one training uses.
 */
export function parseNvidiaSmi (stdout: string): { gpu: string, gpu_mem_gb: number | null } | null {
  const line = stdout.split(/\r?\n/).map(l => l.trim()).find(l => l !== '')
  if (line === undefined) return null
  const comma = line.lastIndexOf(',')
  const name = (comma < 0 ? line : line.slice(0, comma)).trim()
  if (name === '') return null
  const mib = comma < 0 ? NaN : Number(line.slice(comma + 1).trim())
  return { gpu: name, gpu_mem_gb: Number.isFinite(mib) && mib > 0 ? mibToGb(mib) : null }
}

/** Output of a short command, or null when it is missing, fails or overruns. */
async function probe (file: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<string | null> {
  return await new Promise(resolve => {
    execFile(file, args, { env, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 256 * 1024 }, (err, stdout) => {
      resolve(err === null ? String(stdout) : null)
    })
  })
}

export async function detectHardware (opts: DetectOptions = {}): Promise<Hardware> {
  const env = opts.env ?? process.env
  const timeoutMs = opts.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS
  const platform = opts.platform ?? process.platform
  const arch = opts.arch ?? process.arch
  const ram_gb = roundRam(os.totalmem())
  // availableParallelism honours CPU affinity (containers pinned to a few cores).
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length
  let cpu = os.cpus()[0]?.model.trim() ?? ''

  if (platform === 'darwin' && arch === 'arm64') {
    const brand = (await probe('sysctl', ['-n', 'machdep.cpu.brand_string'], env, timeoutMs))?.trim() ?? ''
    if (brand !== '') cpu = brand
    return { cpu: cpu || 'Apple silicon', cores, ram_gb, gpu: cpu || 'Apple silicon', gpu_mem_gb: ram_gb, platform, arch }
  }

  const smi = await probe('nvidia-smi', ['--query-gpu=name,memory.total', '--format=csv,noheader,nounits'], env, timeoutMs)
  const gpu = smi === null ? null : parseNvidiaSmi(smi)
  return { cpu: cpu || 'unknown', cores, ram_gb, gpu: gpu?.gpu ?? null, gpu_mem_gb: gpu?.gpu_mem_gb ?? null, platform, arch }
}

// Words that name a vendor or product line rather than the model.
const VENDOR_WORDS = new Set(['nvidia', 'geforce', 'tesla', 'quadro', 'amd', 'ati', 'radeon', 'instinct', 'intel', 'corporation', 'graphics', 'r', 'tm'])
// Series prefixes that mean nothing without the token after them.
const SERIES = new Set(['rtx', 'gtx', 'gt', 'rx', 'titan', 'arc'])
// Suffixes that change performance enough to be a different track.
const MODIFIERS = new Set(['ti', 'super', 'xt', 'xtx', 'ada'])

/**
 * The model token of a GPU name: "NVIDIA H100 80GB HBM3" -> "h100",
 * "NVIDIA GeForce RTX 4090" -> "rtx4090", "NVIDIA GeForce RTX 3080 Ti" -> "rtx3080-ti",
 * "NVIDIA RTX A6000" -> "rtx-a6000". Memory sizes and form factors (80GB, SXM4,
 * PCIe) are dropped: they follow the model token.
 */
export function gpuModel (name: string): string {
  const tokens = name.toLowerCase().split(/[^a-z0-9]+/).filter(t => t !== '' && !VENDOR_WORDS.has(t))
  const first = tokens[0]
  if (first === undefined) return 'unknown'
  let model = first
  let i = 1
  const next = tokens[1]
  if (SERIES.has(first) && next !== undefined) {
    model = /^\d/.test(next) ? `${first}${next}` : `${first}-${next}`
    i = 2
  }
  const parts = [model]
  for (let t = tokens[i]; t !== undefined && MODIFIERS.has(t); t = tokens[++i]) parts.push(t)
  return parts.join('-')
}

/** "Apple M3 Max" -> "m3-max", "Apple M1" -> "m1"; null when it names no M chip. */
export function appleChip (name: string): string | null {
  const match = /\b(m\d+)(?:\s+(pro|max|ultra))?\b/i.exec(name)
  if (match === null) return null
  return [match[1], match[2]].filter((p): p is string => p !== undefined).join('-').toLowerCase()
}

/** Keeps a track within `^[a-z0-9][a-z0-9-]{0,47}$`. */
function cleanTrack (raw: string): string {
  const cleaned = raw.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/-+/g, '-').replace(/^-+/, '')
  return cleaned.slice(0, TRACK_MAX).replace(/-+$/, '') || 'cpu'
}

export function trackFor (hw: Hardware): string {
  if (hw.platform === 'darwin' && hw.arch === 'arm64') {
    return cleanTrack(`apple-${appleChip(hw.gpu ?? hw.cpu) ?? 'silicon'}`)
  }
  if (hw.gpu === null || hw.gpu.trim() === '') return 'cpu'
  return cleanTrack(`gpu-${gpuModel(hw.gpu)}`)
}

/** The fields peers exchange; platform and arch stay local (the wire rejects unknown keys). */
export type { WireHardware }

const WIRE_TEXT_MAX = 128

/** Hardware as gossiped: only the shared fields, names clipped to the wire's 128 characters. */
export function wireHardware (hw: Hardware): WireHardware {
  return {
    cpu: hw.cpu.slice(0, WIRE_TEXT_MAX),
    cores: hw.cores,
    ram_gb: hw.ram_gb,
    gpu: hw.gpu === null ? null : hw.gpu.slice(0, WIRE_TEXT_MAX),
    gpu_mem_gb: hw.gpu_mem_gb
  }
}

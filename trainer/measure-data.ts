/**
 * The validation tokens and byte table the node verifies every model with,
 * kept where no run can reach them. `prepare` writes them into the project
 * (data/), runs only ever see that folder read-only, and right after prepare
 * the node copies both files into its own home, which no sandbox shows, and
 * remembers their hashes. Before every verification the copies are hashed
 * again: a change means the node can no longer measure honestly, and it stops.
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { chmod, copyFile, mkdir, rename, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { OnnxSpec } from './manifest.ts'

export interface MeasurementData {
  tokens: string
  tokenBytes: string
  sha256: { tokens: string, tokenBytes: string }
}

export class MeasurementDataError extends Error {
  override name = 'MeasurementDataError'
}

export async function sha256File (path: string): Promise<string> {
  return await new Promise((resolve, reject) => {
    const h = createHash('sha256')
    createReadStream(path).on('data', d => h.update(d)).on('error', reject).on('end', () => resolve(h.digest('hex')))
  })
}

/** Where a project's measurement data lives in the node's home. */
export function measurementDir (home: string, projectId: string): string {
  return join(home, 'runs', projectId, 'measure')
}

async function copyIn (src: string, dest: string, label: string): Promise<string> {
  const info = await stat(src).catch(() => null)
  if (info?.isFile() !== true) throw new MeasurementDataError(`${label} ${src} is missing after prepare: the project's prepare step must write it`)
  const tmp = `${dest}.tmp`
  await rm(tmp, { force: true })
  await copyFile(src, tmp)
  await chmod(tmp, 0o444)
  await rm(dest, { force: true })
  await rename(tmp, dest)
  return await sha256File(dest)
}

/** Copies the prepared files into the node's home and hashes the copies. */
export async function captureMeasurementData (projectDir: string, onnx: OnnxSpec, dir: string): Promise<MeasurementData> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const tokens = join(dir, 'val_tokens.bin')
  const tokenBytes = join(dir, 'token_bytes.bin')
  return {
    tokens,
    tokenBytes,
    sha256: {
      tokens: await copyIn(join(projectDir, onnx.tokens), tokens, 'onnx.tokens'),
      tokenBytes: await copyIn(join(projectDir, onnx.token_bytes), tokenBytes, 'onnx.token_bytes')
    }
  }
}

/** Throws MeasurementDataError unless both copies still hash to what was captured. */
export async function checkMeasurementData (d: MeasurementData): Promise<void> {
  for (const [path, want] of [[d.tokens, d.sha256.tokens], [d.tokenBytes, d.sha256.tokenBytes]] as const) {
    const got = await sha256File(path).catch(() => 'missing')
    if (got !== want) {
      throw new MeasurementDataError(`the node's validation data ${path} changed (sha256 ${got.slice(0, 12)}, expected ${want.slice(0, 12)}): ` +
        'no result can be measured honestly with it. Restart the node to copy it again from the prepared data.')
    }
  }
}

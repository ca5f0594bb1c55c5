import { randomBytes } from 'node:crypto'
import { open, rename, mkdir, rm } from 'node:fs/promises'
import { dirname } from 'node:path'

/** Write-then-rename with fsync, so a crash leaves the old file or the new one, never half of one. */
export async function writeFileAtomic (path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  await mkdir(dirname(path), { recursive: true })
  // Unique per call: two writes of one path must not share (and clobber) a temp file.
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`
  const fh = await open(tmp, 'w', mode)
  try {
    await fh.writeFile(data)
    await fh.sync()
  } finally {
    await fh.close()
  }
  try {
    await rename(tmp, path)
  } catch (err) {
    await rm(tmp, { force: true })
    throw err
  }
}

import { open, rename, mkdir } from 'node:fs/promises'
import { dirname } from 'node:path'

/** Write-then-rename with fsync, so a crash leaves the old file or the new one, never half of one. */
export async function writeFileAtomic (path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  await mkdir(dirname(path), { recursive: true })
  const tmp = `${path}.tmp-${process.pid}`
  const fh = await open(tmp, 'w', mode)
  try {
    await fh.writeFile(data)
    await fh.sync()
  } finally {
    await fh.close()
  }
  await rename(tmp, path)
}

/** `swarm-node keygen`: a pre-shared key for a private swarm (libp2p pnet format). */
import { generateKey } from '@libp2p/pnet'
import { access } from 'node:fs/promises'
import { resolve } from 'node:path'
import { writeFileAtomic } from '../fs-util.ts'
import type { Output } from '../output.ts'

export async function keygen (file: string, opts: { force?: boolean }, out: Output): Promise<number> {
  const path = resolve(file)
  if (opts.force !== true) {
    try {
      await access(path)
      return out.fail(`${path} already exists: pass --force to replace it (every node of the private swarm will need the new key)`)
    } catch {}
  }
  const key = new Uint8Array(95)
  generateKey(key)
  await writeFileAtomic(path, key, 0o600)
  out.result({ path }, `wrote swarm key ${path} (mode 0600)\nshare it only with the members of your private swarm`)
  return 0
}

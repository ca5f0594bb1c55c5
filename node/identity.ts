/**
 * The node's persistent libp2p identity: an Ed25519 key in the home directory,
 * mode 0600, created on first use. Results are signed with it, so losing it
 * means starting over as a stranger.
 */
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { readFile, stat, chmod } from 'node:fs/promises'
import { paths } from './home.ts'
import { writeFileAtomic } from './fs-util.ts'

export interface Identity { privateKey: PrivateKey, peerId: string, created: boolean, path: string }

export async function loadOrCreateIdentity (home: string): Promise<Identity> {
  const path = paths.identity(home)
  let bytes: Uint8Array | null = null
  try {
    bytes = await readFile(path)
  } catch (err: any) {
    if (err?.code !== 'ENOENT') throw err
  }
  if (bytes != null) {
    let privateKey: PrivateKey
    try {
      privateKey = privateKeyFromProtobuf(bytes)
    } catch (err: any) {
      throw new Error(`${path} is not a valid libp2p private key (${err.message}); move it away to create a new identity`)
    }
    // Tighten a key file someone loosened by hand.
    if (((await stat(path)).mode & 0o077) !== 0) await chmod(path, 0o600)
    return { privateKey, peerId: peerIdFromPrivateKey(privateKey).toString(), created: false, path }
  }
  const privateKey = await generateKeyPair('Ed25519')
  await writeFileAtomic(path, privateKeyToProtobuf(privateKey), 0o600)
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey).toString(), created: true, path }
}

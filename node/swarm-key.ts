/**
 * The pre-shared key of a private swarm (libp2p pnet "swarm key" v1 format):
 *
 *   /key/swarm/psk/1.0.0/
 *   /base16/
 *   <64 hex characters: 32 random bytes>
 *
 * `@libp2p/pnet` only checks the key length and reports a bad file as
 * "invalid psk" deep inside node start-up, so we check the whole file here and
 * say which line is wrong.
 */
import { readFile } from 'node:fs/promises'
import { fromString as utf8Bytes } from 'uint8arrays/from-string'
import { toString as utf8Text } from 'uint8arrays/to-string'

export const SWARM_KEY_HEADER = '/key/swarm/psk/1.0.0/'
export const SWARM_KEY_CODEC = '/base16/'
/** 32 bytes as hex. */
const KEY_HEX = /^[0-9a-fA-F]{64}$/
/** A real key file is 95 bytes; refuse to read anything much larger. */
const MAX_FILE_BYTES = 1024

export type SwarmKeyErrorCode = 'missing' | 'unreadable' | 'malformed'

export class SwarmKeyError extends Error {
  override readonly name = 'SwarmKeyError'
  constructor (readonly code: SwarmKeyErrorCode, message: string) {
    super(message)
  }
}

/** Read and check a key file; returns it in canonical form, ready for `preSharedKey({ psk })`. */
export async function readSwarmKey (path: string): Promise<Uint8Array> {
  let bytes: Uint8Array
  try {
    bytes = await readFile(path)
  } catch (err: any) {
    if (err?.code === 'ENOENT') {
      throw new SwarmKeyError('missing', `swarm key file ${path} does not exist (create one with \`npx swarm-node keygen ${path}\`, or get it from the swarm's owner)`)
    }
    throw new SwarmKeyError('unreadable', `cannot read swarm key file ${path}: ${err?.message ?? String(err)}`)
  }
  return parseSwarmKey(bytes, path)
}

/** Check key file bytes; `source` names the file in errors. */
export function parseSwarmKey (bytes: Uint8Array, source = 'swarm key'): Uint8Array {
  const bad = (why: string): SwarmKeyError =>
    new SwarmKeyError('malformed', `${source} is not a libp2p swarm key: ${why} (expected "${SWARM_KEY_HEADER}", "${SWARM_KEY_CODEC}" and 64 hex characters on three lines)`)
  if (bytes.byteLength > MAX_FILE_BYTES) throw bad(`${bytes.byteLength} bytes is far too long`)
  const lines = utf8Text(bytes).split(/\r\n|\r|\n/)
  // One trailing newline (or several) is what editors leave behind.
  while (lines.length > 3 && lines[lines.length - 1]?.trim() === '') lines.pop()
  if (lines.length !== 3) throw bad(`${lines.length} lines`)
  const [header, codec, key] = lines.map(l => l.trim()) as [string, string, string]
  if (header !== SWARM_KEY_HEADER) throw bad(`first line is "${header.slice(0, 40)}"`)
  if (codec !== SWARM_KEY_CODEC) throw bad(`second line is "${codec.slice(0, 40)}" (only base16 keys are supported)`)
  if (!KEY_HEX.test(key)) throw bad(`third line has ${key.length} characters, not 64 hex digits`)
  return utf8Bytes(`${SWARM_KEY_HEADER}\n${SWARM_KEY_CODEC}\n${key.toLowerCase()}`)
}

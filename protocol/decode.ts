/**
 * The one call for anything a peer sent on gossip: bytes in, a checked and
 * signature-verified message out, or a ProtocolError saying why not.
 */
import { fail } from './errors.ts'
import { parseMessage } from './messages.ts'
import { verifySignature } from './sign.ts'
import type { Message } from './types.ts'

export interface DecodeOptions {
  /** Refuse (with `wrong-project`) a message for any other project id. */
  expectProject?: string
}

/** Size cap, strict UTF-8, JSON, schema, canonical form, project, then signature. */
export async function decodeMessage (bytes: Uint8Array, options: DecodeOptions = {}): Promise<Message> {
  const message = parseMessage(bytes)
  if (options.expectProject != null && message.project !== options.expectProject) {
    fail('wrong-project', `${message.kind}.project`, `is ${message.project}, expected ${options.expectProject}`)
  }
  // Cheap checks first: a signature is only worth verifying on a message we would keep.
  await verifySignature(message, message.kind)
  return message
}

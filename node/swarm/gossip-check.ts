/**
 * The checks every gossiped message passes on every node, trainer or
 * bootstrap, before it is stored or forwarded: signed by GossipSub, decodes
 * under the protocol (size, schema, canonical form, Ed25519 signature, the
 * topic's project), and written by the peer that published it.
 */
import type { Message as GossipMessage } from '@libp2p/gossipsub'
import { ProtocolError, decodeMessage, type Message } from '../../protocol/index.ts'

export const FUTURE_SKEW_MS = 10 * 60_000

export type GossipVerdict =
  | { ok: true, message: Message, from: string }
  | { ok: false, reject: boolean, reason: string, from: string }

export async function checkGossip (msg: GossipMessage, project: string, now = Date.now()): Promise<GossipVerdict> {
  if (msg.type !== 'signed') return { ok: false, reject: true, reason: 'unsigned gossip', from: 'unsigned' }
  const from = msg.from.toString()
  let m: Message
  try {
    m = await decodeMessage(msg.data, { expectProject: project })
  } catch (err) {
    return { ok: false, reject: true, reason: err instanceof ProtocolError ? `${err.code}: ${err.message}` : String(err), from }
  }
  // Results are signed twice (GossipSub and ours); the two signers must agree, or a peer is replaying someone else's words.
  if (m.author !== from) return { ok: false, reject: true, reason: `author ${m.author} is not the publisher ${from}`, from }
  if (m.time > now + FUTURE_SKEW_MS) return { ok: false, reject: false, reason: 'from the future', from }
  return { ok: true, message: m, from }
}

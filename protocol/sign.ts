/**
 * Ed25519 signatures over canonical bytes. The author is a peer id, and the
 * public key is recovered from it, so "signed by the key of this peer id"
 * holds by construction and no key travels in the message.
 */
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { fromString as base64Decode } from 'uint8arrays/from-string'
import { toString as base64Encode } from 'uint8arrays/to-string'
import { checkBestRecord } from './best-record.ts'
import { encodeUnsigned } from './canonical.ts'
import { describe, fail } from './errors.ts'
import { validateMessage } from './messages.ts'
import type { Ed25519PublicKey, PrivateKey } from '@libp2p/interface'
import type { Signed, SignedOf, Unsigned } from './types.ts'

// Well-formed stand-in so the schema can be checked before anything is signed.
const PLACEHOLDER_SIG = 'A'.repeat(86) + '=='

/** The Ed25519 public key behind an author peer id. */
export function publicKeyOf (author: string, field = 'author'): Ed25519PublicKey {
  let peer
  try {
    peer = peerIdFromString(author)
  } catch {
    fail('bad-peer-id', field, `is not a valid peer id, got ${describe(author)}`)
  }
  if (peer.type !== 'Ed25519') fail('bad-peer-id', field, `must be an Ed25519 peer id, got a ${peer.type} one`)
  return peer.publicKey
}

/**
 * Sign a body: sets `author` from the key, signs the canonical encoding without
 * `sig`, and checks the result against the schema so nothing invalid gets signed.
 */
export async function signMessage<B extends Unsigned<Signed>> (body: B, privateKey: PrivateKey): Promise<SignedOf<B>> {
  if (privateKey?.type !== 'Ed25519') {
    fail('bad-peer-id', 'privateKey', `must be an Ed25519 key, got ${describe(privateKey?.type)}`)
  }
  const author = peerIdFromPrivateKey(privateKey).toString()
  const { sig: _sig, author: _author, ...rest } = body as Record<string, unknown>
  const unsigned = { ...rest, author }
  validateSigned({ ...unsigned, sig: PLACEHOLDER_SIG })
  const signature = await privateKey.sign(encodeUnsigned(unsigned))
  return { ...unsigned, sig: base64Encode(signature, 'base64pad') } as unknown as SignedOf<B>
}

/**
 * Check a message's schema and signature; for a best record also the inner
 * result's and every attestation's. Throws ProtocolError('bad-signature').
 */
export async function verifyMessage (message: Signed): Promise<void> {
  validateSigned(message)
  await verifySignature(message, message.kind)
  if (message.kind === 'best') {
    await verifySignature(message.result, 'best.result')
    for (const [i, attestation] of message.attestations.entries()) {
      await verifySignature(attestation, `best.attestations[${i}]`)
    }
  }
}

/** The signature alone, on an object whose schema was already checked. */
export async function verifySignature (message: Signed, field: string): Promise<void> {
  const key = publicKeyOf(message.author, `${field}.author`)
  let ok = false
  try {
    ok = await key.verify(encodeUnsigned(message), base64Decode(message.sig, 'base64pad'))
  } catch {
    ok = false
  }
  if (!ok) fail('bad-signature', `${field}.sig`, `does not verify against the key of ${message.author}`)
}

function validateSigned (value: unknown): Signed {
  const kind = (value as { kind?: unknown } | null)?.kind
  return kind === 'best' ? checkBestRecord(value) : validateMessage(value)
}

/**
 * Builders of valid protocol objects for the protocol tests: real Ed25519 keys,
 * real signatures, real hashes. Each builder takes overrides so a test can
 * break exactly one thing.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { toString as base64 } from 'uint8arrays/to-string'
import { bestKey, contentHash, encodeUnsigned, messageId, sha256Hex, signMessage } from '../protocol/index.ts'
import type {
  AttestationMsg, BestRecord, ClaimMsg, Hardware, ResultMsg, StatusMsg, Unsigned
} from '../protocol/index.ts'
import type { Ed25519PrivateKey } from '@libp2p/interface'

export const PROJECT = sha256Hex('project: autoresearch nanochat')
export const OTHER_PROJECT = sha256Hex('project: something else')
export const TRACK = 'cpu'
export const T0 = Date.UTC(2025, 5, 1, 12, 0, 0)

export const HARDWARE: Hardware = { cpu: 'AMD EPYC 7B13', cores: 2, ram_gb: 8, gpu: null, gpu_mem_gb: null }
export const FILES = { 'train.py': 'import torch\nprint("val_bpb: 2.3")\n' }
export const PARENT = sha256Hex('baseline content')

export interface Keys { a: Ed25519PrivateKey, b: Ed25519PrivateKey, c: Ed25519PrivateKey, d: Ed25519PrivateKey, e: Ed25519PrivateKey }

export async function makeKeys (): Promise<Keys> {
  const [a, b, c, d, e] = await Promise.all([0, 1, 2, 3, 4].map(async () => generateKeyPair('Ed25519')))
  return { a: a!, b: b!, c: c!, d: d!, e: e! }
}

export const peerOf = (key: Ed25519PrivateKey): string => peerIdFromPrivateKey(key).toString()

export function resultBody (overrides: Partial<Unsigned<ResultMsg>> = {}): Unsigned<ResultMsg> {
  return {
    v: 1,
    kind: 'result',
    project: PROJECT,
    track: TRACK,
    parent: PARENT,
    child: contentHash(FILES),
    diff: '--- a/train.py\n+++ b/train.py\n@@ -1 +1 @@\n-lr = 1e-3\n+lr = 2e-3\n',
    val_bpb: 2.3,
    verified_bpb: null,
    status: 'keep',
    reason: '',
    metrics: { training_seconds: 300.1, peak_vram_mb: 0, num_params_m: 11.5 },
    hardware: HARDWARE,
    agent: 'mutation',
    description: 'double the learning rate',
    time: T0,
    ...overrides
  }
}

export function attestationBody (result: ResultMsg, overrides: Partial<Unsigned<AttestationMsg>> = {}): Unsigned<AttestationMsg> {
  return {
    v: 1,
    kind: 'attestation',
    project: result.project,
    track: result.track,
    result: messageId(result),
    child: result.child,
    ok: true,
    val_bpb: result.val_bpb,
    verified_bpb: null,
    hardware: HARDWARE,
    time: result.time + 60_000,
    ...overrides
  }
}

export function claimBody (overrides: Partial<Unsigned<ClaimMsg>> = {}): Unsigned<ClaimMsg> {
  return { v: 1, kind: 'claim', project: PROJECT, track: TRACK, parent: PARENT, description: 'try a wider MLP', time: T0, expires: T0 + 600_000, ...overrides }
}

export function statusBody (overrides: Partial<Unsigned<StatusMsg>> = {}): Unsigned<StatusMsg> {
  return { v: 1, kind: 'status', project: PROJECT, track: TRACK, experiment: 'wider MLP', best_bpb: 2.3, experiments: 10, kept: 3, peers: 4, time: T0, ...overrides }
}

export interface BestOptions {
  files?: Record<string, string>
  result?: Partial<Unsigned<ResultMsg>>
  resultKey?: Ed25519PrivateKey
  /** Attesters and what they measured (ok defaults to true). */
  attesters?: Array<{ key: Ed25519PrivateKey, val_bpb?: number | null, ok?: boolean }>
  publisher?: Ed25519PrivateKey
  record?: Partial<Unsigned<BestRecord>>
}

/** A fully signed best record (result, attestations, record) for the given keys. */
export async function makeBest (keys: Keys, opts: BestOptions = {}): Promise<BestRecord> {
  const files = opts.files ?? FILES
  const result = await signMessage(resultBody({ child: contentHash(files), ...opts.result }), opts.resultKey ?? keys.a)
  const attestations = await Promise.all((opts.attesters ?? []).map(async ({ key, val_bpb: valBpb, ok }) =>
    signMessage(attestationBody(result, { ok: ok ?? true, val_bpb: valBpb === undefined ? result.val_bpb : valBpb }), key)))
  return signMessage({
    v: 1,
    kind: 'best',
    project: result.project,
    track: result.track,
    result,
    content: { files },
    attestations,
    time: result.time + 120_000,
    ...opts.record
  }, opts.publisher ?? keys.a)
}

export const KEY = bestKey(PROJECT, TRACK)

/**
 * Sign without any schema check, as an attacker would: lets a test produce a
 * correctly signed object that breaks exactly one rule.
 */
export async function forceSign<T extends object> (body: T, key: Ed25519PrivateKey): Promise<T & { author: string, sig: string }> {
  const { sig: _sig, ...rest } = body as Record<string, unknown>
  const unsigned = { ...rest, author: peerOf(key) }
  const sig = await key.sign(encodeUnsigned(unsigned))
  return { ...unsigned, sig: base64(sig, 'base64pad') } as unknown as T & { author: string, sig: string }
}

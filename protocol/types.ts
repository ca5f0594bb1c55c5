/**
 * The shapes that cross the wire. Field names are snake_case as on the wire;
 * hashes are 64 lowercase hex characters; times are integer ms since the epoch.
 */

/** sha256 hex (64 lowercase hex characters). */
export type Hash = string

export interface Hardware {
  cpu: string
  cores: number
  ram_gb: number
  gpu: string | null
  gpu_mem_gb: number | null
}

export type ResultStatus = 'keep' | 'discard' | 'crash' | 'invalid'
export const RESULT_STATUSES: readonly ResultStatus[] = ['keep', 'discard', 'crash', 'invalid']

/** Fields every signed object carries. `author` is the signer's Ed25519 peer id. */
interface Envelope<K extends string> {
  v: 1
  kind: K
  author: string
  /** Padded base64 of the Ed25519 signature over the canonical encoding without `sig`. */
  sig: string
}

/** One experiment's outcome, gossiped whatever it was. */
export interface ResultMsg extends Envelope<'result'> {
  project: Hash
  track: string
  /** Content hash of the baseline the change was made on. */
  parent: Hash
  /** Content hash of the candidate. */
  child: Hash
  /**
   * A stacked candidate's second parent: the content of the peer's keep whose
   * change was applied onto `parent` (optional; absent on every other result).
   */
  merged?: Hash
  diff: string
  /** As reported by the run; null when it crashed. */
  val_bpb: number | null
  /** Re-measured by the node itself (ONNX); null when not measured. */
  verified_bpb: number | null
  status: ResultStatus
  reason: string
  metrics: Record<string, number>
  hardware: Hardware
  agent: string
  description: string
  time: number
}

/** A peer re-ran someone's result and signs what it measured. */
export interface AttestationMsg extends Envelope<'attestation'> {
  project: Hash
  track: string
  /** Message id of the attested Result. */
  result: Hash
  child: Hash
  /** Whether the attester reproduced the result. */
  ok: boolean
  val_bpb: number | null
  verified_bpb: number | null
  hardware: Hardware
  time: number
}

/** "I am working on this from that baseline until `expires`": lets peers spread out. */
export interface ClaimMsg extends Envelope<'claim'> {
  project: Hash
  track: string
  parent: Hash
  /** Content hash of the candidate it runs, when the claimant knows it (optional): peers skip that content. */
  child?: Hash
  description: string
  time: number
  expires: number
}

/** A node's periodic heartbeat. */
export interface StatusMsg extends Envelope<'status'> {
  project: Hash
  track: string
  experiment: string | null
  best_bpb: number | null
  experiments: number
  kept: number
  peers: number
  time: number
}

/** The editable files of a baseline: relative path -> UTF-8 text. */
export interface Content {
  files: Record<string, string>
}

/** The DHT value under `/swarm-best/<project>/<track>`. */
export interface BestRecord extends Envelope<'best'> {
  project: Hash
  track: string
  /** The full signed keep Result whose child is this content. */
  result: ResultMsg
  content: Content
  /** Signed attestations of `result`, at most one per attester. */
  attestations: AttestationMsg[]
  time: number
}

/** Everything that travels on the gossip topic. */
export type Message = ResultMsg | AttestationMsg | ClaimMsg | StatusMsg
export type MessageKind = Message['kind']
export const MESSAGE_KINDS: readonly MessageKind[] = ['result', 'attestation', 'claim', 'status']

/** Everything that carries a signature. */
export type Signed = Message | BestRecord

/** A signed shape before signing: `author` comes from the key, `sig` from signing. */
export type Unsigned<T> = T extends unknown ? Omit<T, 'author' | 'sig'> : never

/** The signed type for a given unsigned body. */
export type SignedOf<B extends { kind: Signed['kind'] }> = Extract<Signed, { kind: B['kind'] }>

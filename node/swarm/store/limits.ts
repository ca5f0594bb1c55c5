/**
 * How much of a peer's words this node keeps, named once. Defaults hold an
 * honest swarm of dozens of nodes for months; an operator tunes them in
 * `<home>/limits.json` (see node/limits-file.ts), tests make them small.
 */

const KiB = 1024
const MiB = 1024 * KiB

export interface StoreLimits {
  /** Bytes of stored results and attestations (their canonical encodings), all authors together. */
  maxBytes: number
  /** Bytes one author's keeps and attestations may hold; beyond it the author's new ones are refused. */
  authorMaxBytes: number
  /** Discards, crashes and invalid results kept per author: the newest; older ones age out. */
  authorMaxDiscards: number
  /** Bytes of editable content (fetched, served, best records); the oldest unreferenced goes first. */
  maxContentBytes: number
  /** Authors whose latest claim and status are remembered; the least recently heard are forgotten. */
  maxLiveAuthors: number
  /** Tracks with a best record. */
  maxBestTracks: number
}

export const DEFAULT_STORE_LIMITS: Readonly<StoreLimits> = Object.freeze({
  maxBytes: 128 * MiB,
  authorMaxBytes: 4 * MiB,
  authorMaxDiscards: 100,
  maxContentBytes: 64 * MiB,
  maxLiveAuthors: 1024,
  maxBestTracks: 64
})

/** Defaults with `over` laid on top; throws a RangeError naming a bad value. */
export function storeLimits (over: Partial<StoreLimits> = {}): StoreLimits {
  const limits = { ...DEFAULT_STORE_LIMITS, ...over }
  for (const [k, v] of Object.entries(limits)) {
    if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`store limit ${k} must be a positive integer, got ${String(v)}`)
  }
  // One message of the largest size must fit where an author may keep it.
  if (limits.authorMaxBytes > limits.maxBytes) throw new RangeError(`store limit authorMaxBytes (${limits.authorMaxBytes}) is over maxBytes (${limits.maxBytes})`)
  return limits
}

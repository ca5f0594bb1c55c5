/**
 * The kad-dht validator and selector for `/swarm-best/<project>/<track>`:
 *
 *   kadDHT({ validators: { [BEST_KEY_PREFIX]: validateBestRecord },
 *            selectors: { [BEST_KEY_PREFIX]: selectBestRecord } })
 */
import { compareBytes, compareCodeUnits } from './canonical.ts'
import { parseBestRecord } from './best-record.ts'
import { fail } from './errors.ts'
import { sha256Hex } from './hash.ts'
import { compareKeys, rankBestRecord } from './rank.ts'
import { verifyMessage } from './sign.ts'
import { parseBestKey } from './topics.ts'
import type { BestRank } from './rank.ts'
import type { BestRecord } from './types.ts'

/**
 * Full check of a DHT value: key shape, size, schema, consistency, the key's
 * project and track, and every signature (record, result, attestations).
 */
export async function validateBestRecord (key: Uint8Array, bytes: Uint8Array): Promise<BestRecord> {
  const record = parseBestRecordForKey(key, bytes)
  await verifyMessage(record)
  return record
}

/** Sync part of the validator: everything but signatures. */
export function parseBestRecordForKey (key: Uint8Array, bytes: Uint8Array): BestRecord {
  const { project, track } = parseBestKey(key)
  const record = parseBestRecord(bytes)
  // A record is only good under its own key: refuse a replay under another project or track.
  if (record.project !== project) fail('wrong-key', 'best.project', `is ${record.project}, but the key is for project ${project}`)
  if (record.track !== track) fail('wrong-key', 'best.track', `is ${record.track}, but the key is for track ${track}`)
  return record
}

type Candidate =
  | { index: number, bytes: Uint8Array, rank: BestRank }
  | { index: number, bytes: Uint8Array, rank: null, digest: string }

/**
 * Index of the best record (see rankBestRecord). Total and deterministic: the
 * same set of records picks the same one in any order; records failing the
 * sync checks rank below every valid one and never throw. Signatures are not
 * checked here (kad-dht validates before it selects). Returns -1 for [].
 */
export function selectBestRecord (key: Uint8Array, records: Uint8Array[]): number {
  let best: Candidate | undefined
  for (const [index, bytes] of records.entries()) {
    const candidate = score(key, bytes, index)
    if (best === undefined || compareCandidates(candidate, best) < 0) best = candidate
  }
  return best?.index ?? -1
}

function score (key: Uint8Array, bytes: Uint8Array, index: number): Candidate {
  try {
    return { index, bytes, rank: rankBestRecord(parseBestRecordForKey(key, bytes)) }
  } catch {
    let digest = ''
    try { digest = sha256Hex(bytes) } catch { /* not even bytes: ranks last of all */ }
    return { index, bytes, rank: null, digest }
  }
}

function compareCandidates (a: Candidate, b: Candidate): number {
  if (a.rank !== null && b.rank !== null) {
    return compareKeys(a.rank, b.rank) || compareBytes(a.bytes, b.bytes) || a.index - b.index
  }
  if (a.rank !== null) return -1
  if (b.rank !== null) return 1
  // Both invalid: any fixed order will do, as long as it ignores input order.
  if (a.digest === '' || b.digest === '') return (a.digest === '' ? 1 : 0) - (b.digest === '' ? 1 : 0) || a.index - b.index
  return compareCodeUnits(a.digest, b.digest) || a.index - b.index
}

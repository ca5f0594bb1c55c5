/**
 * The best baseline per project and track, in the DHT. kad-dht does not
 * enforce the selector on store (a later, worse put overwrites a better copy)
 * and does not fail a put that remote peers reject, so every write here is
 * read-compare-write: fetch what the swarm holds, write only if ours ranks
 * better under the protocol's own order.
 */
import {
  bestKey, compareBestRecords, encodeBestRecord, validateBestRecord, type BestRecord
} from '../../protocol/index.ts'
import type { SwarmLibp2p } from '../libp2p.ts'

const GET_TIMEOUT_MS = 15_000
const PUT_TIMEOUT_MS = 30_000

/** Every valid record the DHT returns for the key, best first. */
export async function getBestRecords (node: SwarmLibp2p, project: string, track: string, signal?: AbortSignal): Promise<BestRecord[]> {
  const key = bestKey(project, track)
  const deadline = AbortSignal.timeout(GET_TIMEOUT_MS)
  const found: BestRecord[] = []
  const seen = new Set<string>()
  try {
    for await (const ev of node.services.dht.get(key, { signal: signal != null ? AbortSignal.any([signal, deadline]) : deadline })) {
      if (ev.name !== 'VALUE') continue
      const id = Buffer.from(ev.value).toString('base64')
      if (seen.has(id)) continue
      seen.add(id)
      try {
        found.push(await validateBestRecord(key, ev.value))
      } catch {
        // A peer handed us an invalid record: it simply does not count.
      }
    }
  } catch (err: any) {
    // "not found" and timeouts end the query; what was found so far stands.
    if (signal?.aborted === true) throw err
  }
  return found.sort(compareBestRecords)
}

export async function getBestRecord (node: SwarmLibp2p, project: string, track: string, signal?: AbortSignal): Promise<BestRecord | null> {
  return (await getBestRecords(node, project, track, signal))[0] ?? null
}

/**
 * Puts `record` unless the swarm already holds one that ranks at least as well.
 * Returns what the key holds afterwards, as far as we know.
 */
export async function putBestIfBetter (node: SwarmLibp2p, record: BestRecord, signal?: AbortSignal): Promise<{ written: boolean, best: BestRecord }> {
  const current = await getBestRecord(node, record.project, record.track, signal)
  if (current != null && compareBestRecords(current, record) <= 0) return { written: false, best: current }
  const deadline = AbortSignal.timeout(PUT_TIMEOUT_MS)
  try {
    for await (const _ of node.services.dht.put(bestKey(record.project, record.track), encodeBestRecord(record), { signal: signal != null ? AbortSignal.any([signal, deadline]) : deadline })) { /* drain */ }
  } catch (err: any) {
    if (signal?.aborted === true) throw err
    // A put that reached no peer still stored the local copy; it spreads on the next try.
  }
  return { written: true, best: record }
}

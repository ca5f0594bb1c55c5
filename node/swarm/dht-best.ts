/**
 * Reading and writing the best-baseline record per project and track in the
 * DHT. kad-dht returns the value its selector (the protocol's pure rule over
 * each record's own attestations) picks from what the closest peers hold,
 * after correcting them to it; it does not apply the selector on store, so a
 * put simply replaces what those peers held. Whether to write is the caller's
 * call, made by its own evidence (best-keeper.ts).
 */
import type { KadDHT } from '@libp2p/kad-dht'
import { bestKey, encodeBestRecord, validateBestRecord, type BestRecord } from '../../protocol/index.ts'
import { BEST_GET_TIMEOUT_MS, BEST_PUT_TIMEOUT_MS } from './constants.ts'

/** Every valid record the DHT returned for the key (the selected one; kad-dht yields no other). */
export async function getBestRecords (dht: KadDHT, project: string, track: string, signal?: AbortSignal): Promise<BestRecord[]> {
  const key = bestKey(project, track)
  const deadline = AbortSignal.timeout(BEST_GET_TIMEOUT_MS)
  const found: BestRecord[] = []
  const seen = new Set<string>()
  try {
    for await (const ev of dht.get(key, { signal: signal != null ? AbortSignal.any([signal, deadline]) : deadline })) {
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
  return found
}

/** Writes `record` under its key, locally and at the closest peers. */
export async function putBestRecord (dht: KadDHT, record: BestRecord, signal?: AbortSignal): Promise<void> {
  const deadline = AbortSignal.timeout(BEST_PUT_TIMEOUT_MS)
  try {
    for await (const _ of dht.put(bestKey(record.project, record.track), encodeBestRecord(record), { signal: signal != null ? AbortSignal.any([signal, deadline]) : deadline })) { /* drain */ }
  } catch (err: any) {
    if (signal?.aborted === true) throw err
    // A put that reached no peer still stored the local copy; it spreads on the next try.
  }
}

/**
 * An operator's limits: `<home>/limits.json`, optional, overriding any of the
 * store quotas (node/swarm/store/limits.ts) and gossip rate limits
 * (node/swarm/gossip-check.ts). A bootstrap node serving a big swarm raises
 * them; a laptop may lower them. A bad file is an error that names the field,
 * never a silent default.
 *
 * @example limits.json
 * ```json
 * { "store": { "maxBytes": 268435456, "authorMaxDiscards": 200 },
 *   "gossip": { "perPeer": { "burst": 1000, "perMinute": 3000 } } }
 * ```
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { BucketRate } from './rate-limit.ts'
import { DEFAULT_GOSSIP_LIMITS, type GossipLimits } from './swarm/gossip-check.ts'
import { DEFAULT_STORE_LIMITS, storeLimits, type StoreLimits } from './swarm/store/limits.ts'

export interface NodeLimits { store: Partial<StoreLimits>, gossip: Partial<GossipLimits> }

export const limitsPath = (home: string): string => join(home, 'limits.json')

export async function loadLimits (home: string): Promise<NodeLimits> {
  const path = limitsPath(home)
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err: any) {
    if (err?.code === 'ENOENT') return { store: {}, gossip: {} }
    throw err
  }
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch (err: any) {
    throw new Error(`${path}: not JSON (${String(err?.message ?? err)})`)
  }
  return parseLimits(v, path)
}

export function parseLimits (v: unknown, where = 'limits'): NodeLimits {
  const bad = (field: string, what: string): never => { throw new Error(`${where}: ${field} ${what}`) }
  const object = (x: unknown, field: string): Record<string, unknown> =>
    typeof x === 'object' && x !== null && !Array.isArray(x) ? x as Record<string, unknown> : bad(field, 'must be an object')
  const positive = (x: unknown, field: string, integer: boolean): number =>
    typeof x === 'number' && Number.isFinite(x) && x > 0 && (!integer || Number.isSafeInteger(x)) ? x : bad(field, `must be a positive ${integer ? 'integer' : 'number'}, got ${JSON.stringify(x)}`)
  const only = (o: Record<string, unknown>, known: string[], field: string): void => {
    for (const k of Object.keys(o)) if (!known.includes(k)) bad(`${field}${k}`, `is not a limit (known: ${known.join(', ')})`)
  }
  const top = object(v, 'the file')
  only(top, ['store', 'gossip'], '')
  const store: Partial<StoreLimits> = {}
  const s = object(top.store ?? {}, 'store')
  only(s, Object.keys(DEFAULT_STORE_LIMITS), 'store.')
  for (const [k, x] of Object.entries(s)) (store as Record<string, number>)[k] = positive(x, `store.${k}`, true)
  try {
    storeLimits(store)
  } catch (err: any) {
    throw new Error(`${where}: ${String(err.message)}`)
  }
  const gossip: Partial<GossipLimits> = {}
  const g = object(top.gossip ?? {}, 'gossip')
  only(g, Object.keys(DEFAULT_GOSSIP_LIMITS), 'gossip.')
  for (const k of ['perPeer', 'perAuthor', 'newAuthors'] as const) {
    if (g[k] === undefined) continue
    const r = object(g[k], `gossip.${k}`)
    only(r, ['burst', 'perMinute'], `gossip.${k}.`)
    const rate: BucketRate = { ...DEFAULT_GOSSIP_LIMITS[k] }
    if (r.burst !== undefined) rate.burst = Math.max(1, positive(r.burst, `gossip.${k}.burst`, true))
    if (r.perMinute !== undefined) rate.perMinute = positive(r.perMinute, `gossip.${k}.perMinute`, false)
    gossip[k] = rate
  }
  if (g.maxTracked !== undefined) gossip.maxTracked = positive(g.maxTracked, 'gossip.maxTracked', true)
  return { store, gossip }
}

/**
 * The swarm's request/response protocols over length-prefixed streams:
 * `fetch` (editable content by hash, verified on arrival), `sync` (results and
 * attestations since a time, paginated, for late joiners and healed
 * partitions) and `leaderboard` (a peer's aggregated view). Requests and
 * answers are canonical JSON; every answer is checked before it is believed.
 */
import type { PeerId } from '@libp2p/interface'
import {
  FETCH_PROTOCOL, LEADERBOARD_PROTOCOL, MAX_BEST_RECORD_BYTES, MAX_MESSAGE_BYTES, SYNC_PROTOCOL,
  checkRelativePath, contentHash, decodeMessage, encode, encodeMessage,
  type AttestationMsg, type ResultMsg
} from '../../protocol/index.ts'
import { StreamError, handleRequests, request } from '../streams.ts'
import type { SwarmLibp2p } from '../libp2p.ts'
import { computeLeaderboard, type LeaderboardRow } from './leaderboard.ts'
import type { SwarmStore } from './store.ts'

export const SYNC_PAGE = 100
export const SYNC_MAX_PAGES = 20
const TIMEOUT_MS = 10_000
const HASH_RE = /^[0-9a-f]{64}$/

const dec = new TextDecoder('utf-8', { fatal: true })

function parseJson (bytes: Uint8Array, what: string): Record<string, unknown> {
  let v: unknown
  try {
    v = JSON.parse(dec.decode(bytes))
  } catch {
    throw new StreamError('protocol', `${what}: not JSON`)
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new StreamError('protocol', `${what}: not an object`)
  return v as Record<string, unknown>
}

/** Looks up the store of a project this node serves (one for a trainer, many for a bootstrap node). */
export type StoreLookup = (project: string) => SwarmStore | undefined

function projectOf (req: Record<string, unknown>, stores: StoreLookup): SwarmStore {
  const p = req.project
  if (typeof p !== 'string' || !HASH_RE.test(p)) throw new StreamError('protocol', 'project must be a 64-hex project id')
  const store = stores(p)
  if (store == null) throw new StreamError('not-found', 'this node does not follow that project')
  return store
}

export async function serveSwarmProtocols (node: SwarmLibp2p, stores: StoreLookup): Promise<void> {
  // Fetch also runs over a limited (relayed) link: one small answer, so a node behind a strict NAT can still adopt.
  await handleRequests(node, FETCH_PROTOCOL, { maxRequestBytes: 1024, maxResponseBytes: MAX_BEST_RECORD_BYTES, timeoutMs: TIMEOUT_MS, rateLimit: { perPeerPerMinute: 60 }, runOnLimitedConnection: true }, async req => {
    const r = parseJson(req, 'fetch request')
    const store = projectOf(r, stores)
    if (typeof r.hash !== 'string' || !HASH_RE.test(r.hash)) throw new StreamError('protocol', 'hash must be 64 hex')
    const files = await store.getContent(r.hash)
    if (files == null) throw new StreamError('not-found', 'no content with that hash here')
    return encode({ files })
  })

  await handleRequests(node, SYNC_PROTOCOL, { maxRequestBytes: 1024, maxResponseBytes: MAX_MESSAGE_BYTES, timeoutMs: TIMEOUT_MS, rateLimit: { perPeerPerMinute: 120 } }, async req => {
    const r = parseJson(req, 'sync request')
    const store = projectOf(r, stores)
    const since = typeof r.since === 'number' && Number.isFinite(r.since) ? r.since : 0
    const limit = typeof r.limit === 'number' && Number.isInteger(r.limit) ? Math.min(Math.max(r.limit, 1), SYNC_PAGE) : SYNC_PAGE
    const page = store.since(since, limit)
    // The last frame says whether more follows; the others are signed messages as gossiped.
    return [...page.items.map(m => encodeMessage(m)), encode({ more: page.more })]
  })

  await handleRequests(node, LEADERBOARD_PROTOCOL, { maxRequestBytes: 1024, maxResponseBytes: 512 * 1024, timeoutMs: TIMEOUT_MS, rateLimit: { perPeerPerMinute: 30 } }, async req => {
    const r = parseJson(req, 'leaderboard request')
    const store = projectOf(r, stores)
    const track = typeof r.track === 'string' ? r.track : undefined
    const limit = typeof r.limit === 'number' && Number.isInteger(r.limit) ? Math.min(Math.max(r.limit, 1), 100) : 20
    return new TextEncoder().encode(JSON.stringify({ rows: computeLeaderboard(store.results(), store.attestations(), { track, limit }) }))
  })
}

/** Content by hash from `peer`; throws unless it hashes to what was asked and only names editable files. */
export async function fetchContent (node: SwarmLibp2p, peer: PeerId, project: string, hash: string, editable: string[], signal?: AbortSignal): Promise<Record<string, string>> {
  const [frame] = await request(node, peer, FETCH_PROTOCOL, encode({ project, hash }), { maxResponseBytes: MAX_BEST_RECORD_BYTES, timeoutMs: TIMEOUT_MS, signal, runOnLimitedConnection: true })
  if (frame == null) throw new StreamError('protocol', 'empty fetch answer')
  const { files } = parseJson(frame, 'fetch answer') as { files?: unknown }
  if (typeof files !== 'object' || files === null || Array.isArray(files)) throw new StreamError('protocol', 'fetch answer without files')
  for (const [p, text] of Object.entries(files)) {
    checkRelativePath(p, 'content path')
    if (!editable.includes(p)) throw new StreamError('protocol', `fetched content holds ${p}, which is not editable here`)
    if (typeof text !== 'string') throw new StreamError('protocol', `fetched ${p} is not text`)
  }
  if (contentHash(files as Record<string, string>) !== hash) throw new StreamError('protocol', 'fetched content does not match its hash')
  return files as Record<string, string>
}

/**
 * Pages through a peer's results and attestations since `since`. Every message
 * is verified like gossip (schema, size, signature, project); `accept` stores
 * it. Returns how many were new and how many were refused.
 */
export async function syncFrom (node: SwarmLibp2p, peer: PeerId, project: string, since: number, accept: (m: ResultMsg | AttestationMsg) => Promise<boolean>, signal?: AbortSignal): Promise<{ added: number, rejected: number, pages: number }> {
  let added = 0
  let rejected = 0
  let cursor = since
  for (let page = 1; page <= SYNC_MAX_PAGES; page++) {
    const frames = await request(node, peer, SYNC_PROTOCOL, encode({ project, since: cursor, limit: SYNC_PAGE }), { maxResponseBytes: MAX_MESSAGE_BYTES, maxFrames: SYNC_PAGE + 1, timeoutMs: TIMEOUT_MS, signal })
    const tail = frames.pop()
    const more = tail != null && parseJson(tail, 'sync answer').more === true
    let newest = cursor
    let fresh = 0
    for (const f of frames) {
      try {
        const m = await decodeMessage(f, { expectProject: project })
        if (m.kind !== 'result' && m.kind !== 'attestation') { rejected++; continue }
        newest = Math.max(newest, m.time)
        if (await accept(m)) { added++; fresh++ }
      } catch {
        rejected++
      }
    }
    // Pages overlap at equal times; a page with nothing new and no progress ends it.
    if (!more || (fresh === 0 && newest === cursor)) return { added, rejected, pages: page }
    cursor = newest
  }
  return { added, rejected, pages: SYNC_MAX_PAGES }
}

export async function leaderboardFrom (node: SwarmLibp2p, peer: PeerId, project: string, q: { track?: string, limit?: number }, signal?: AbortSignal): Promise<LeaderboardRow[]> {
  // The canonical encoding refuses undefined fields: send only what is set.
  const query = Object.fromEntries(Object.entries({ project, ...q }).filter(([, v]) => v !== undefined))
  const [frame] = await request(node, peer, LEADERBOARD_PROTOCOL, encode(query), { maxResponseBytes: 512 * 1024, timeoutMs: TIMEOUT_MS, signal })
  if (frame == null) return []
  const rows = parseJson(frame, 'leaderboard answer').rows
  return Array.isArray(rows) ? rows as LeaderboardRow[] : []
}

/**
 * The swarm's request/response protocols over length-prefixed streams:
 * `fetch` (editable content by hash, verified on arrival), `sync` (results and
 * attestations since a time, paginated, for late joiners and healed
 * partitions) and `leaderboard` (the signed results and attestations behind a
 * peer's leaderboard, which the asker ranks itself: rows from peers are never
 * believed). Requests are canonical JSON; every answer is checked before it
 * is believed.
 *
 * @example
 * ```ts
 * const served = swarmProtocols({ stores: p => p === project ? store : undefined })(swarmComponents(node))
 * await served.start()   // handles fetch, sync, leaderboard
 * await served.stop()    // unhandles them
 * ```
 */
import type { PeerId } from '@libp2p/interface'
import {
  FETCH_PROTOCOL, HASH_PATTERN, LEADERBOARD_PROTOCOL, MAX_BEST_RECORD_BYTES, MAX_MESSAGE_BYTES, SYNC_PROTOCOL, TRACK_PATTERN,
  checkRelativePath, contentHash, decodeMessage, encode, encodeMessage, messageId,
  type AttestationMsg, type ResultMsg
} from '../../protocol/index.ts'
import { StreamError, handleRequests, request } from '../streams.ts'
import { streamNode, swarmComponents, type Component, type SwarmComponents } from './components.ts'
import {
  FETCH_RATE_PER_MINUTE, LEADERBOARD_ATTESTATIONS_PER_ROW, LEADERBOARD_MAX_FRAMES, LEADERBOARD_MAX_ROWS, LEADERBOARD_RATE_PER_MINUTE,
  PROTOCOL_TIMEOUT_MS, SYNC_MAX_PAGES, SYNC_PAGE, SYNC_RATE_PER_MINUTE
} from './constants.ts'
import type { LeaderboardRow } from './leaderboard.ts'
import type { SwarmStore } from './store.ts'
import type { SwarmLibp2p } from '../libp2p.ts'

export { SYNC_MAX_PAGES, SYNC_PAGE }

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

/**
 * The rows a node stands behind for a leaderboard answer, best first (its own
 * ranking; the asker re-ranks what it is sent). Absent: the store's keeps by
 * their claims, as a bootstrap node with no opinion of its own sends them.
 */
export type BoardLookup = (project: string, q: { track?: string, limit: number }) => LeaderboardRow[]

export interface SwarmProtocolsInit {
  stores: StoreLookup
  board?: BoardLookup
}

function projectOf (req: Record<string, unknown>, stores: StoreLookup): { project: string, store: SwarmStore } {
  const p = req.project
  if (typeof p !== 'string' || !HASH_PATTERN.test(p)) throw new StreamError('protocol', 'project must be a 64-hex project id')
  const store = stores(p)
  if (store == null) throw new StreamError('not-found', 'this node does not follow that project')
  return { project: p, store }
}

const PROTOCOLS = [FETCH_PROTOCOL, SYNC_PROTOCOL, LEADERBOARD_PROTOCOL]

/** Serves fetch, sync and leaderboard while started; `stop` unhandles all three. */
export class SwarmProtocols implements Component {
  readonly [Symbol.toStringTag] = 'swarm-node/protocols'
  private started = false

  constructor (private readonly components: SwarmComponents, private readonly init: SwarmProtocolsInit) {}

  isStarted (): boolean { return this.started }

  async start (): Promise<void> {
    if (this.started) return
    const node = streamNode(this.components)
    const { stores } = this.init
    // Fetch also runs over a limited (relayed) link: one small answer, so a node behind a strict NAT can still adopt.
    await handleRequests(node, FETCH_PROTOCOL, { maxRequestBytes: 1024, maxResponseBytes: MAX_BEST_RECORD_BYTES, timeoutMs: PROTOCOL_TIMEOUT_MS, rateLimit: { perPeerPerMinute: FETCH_RATE_PER_MINUTE }, runOnLimitedConnection: true }, async req => {
      const r = parseJson(req, 'fetch request')
      const { store } = projectOf(r, stores)
      if (typeof r.hash !== 'string' || !HASH_PATTERN.test(r.hash)) throw new StreamError('protocol', 'hash must be 64 hex')
      const files = await store.getContent(r.hash)
      if (files == null) throw new StreamError('not-found', 'no content with that hash here')
      return encode({ files })
    })
    await handleRequests(node, SYNC_PROTOCOL, { maxRequestBytes: 1024, maxResponseBytes: MAX_MESSAGE_BYTES, timeoutMs: PROTOCOL_TIMEOUT_MS, rateLimit: { perPeerPerMinute: SYNC_RATE_PER_MINUTE } }, async req => {
      const r = parseJson(req, 'sync request')
      const { store } = projectOf(r, stores)
      const since = typeof r.since === 'number' && Number.isFinite(r.since) ? r.since : 0
      const limit = typeof r.limit === 'number' && Number.isInteger(r.limit) ? Math.min(Math.max(r.limit, 1), SYNC_PAGE) : SYNC_PAGE
      const page = store.since(since, limit)
      // The last frame says whether more follows; the others are signed messages as gossiped.
      return [...page.items.map(m => encodeMessage(m)), encode({ more: page.more })]
    })
    await handleRequests(node, LEADERBOARD_PROTOCOL, { maxRequestBytes: 1024, maxResponseBytes: MAX_MESSAGE_BYTES, timeoutMs: PROTOCOL_TIMEOUT_MS, rateLimit: { perPeerPerMinute: LEADERBOARD_RATE_PER_MINUTE } }, async req => {
      const r = parseJson(req, 'leaderboard request')
      const { project, store } = projectOf(r, stores)
      const track = typeof r.track === 'string' && TRACK_PATTERN.test(r.track) ? r.track : undefined
      const limit = typeof r.limit === 'number' && Number.isInteger(r.limit) ? Math.min(Math.max(r.limit, 1), LEADERBOARD_MAX_ROWS) : LEADERBOARD_MAX_ROWS
      return boardEvidence(store, this.init.board?.(project, { track, limit }).map(row => row.result) ?? claimedKeeps(store, track, limit)).map(m => encodeMessage(m))
    })
    this.started = true
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    for (const p of PROTOCOLS) await this.components.registrar.unhandle(p).catch(() => {})
  }
}

export function swarmProtocols (init: SwarmProtocolsInit): (components: SwarmComponents) => SwarmProtocols {
  return components => new SwarmProtocols(components, init)
}

/** Starts serving on a running node (the bootstrap node and test peers, which have no swarm service). */
export async function serveSwarmProtocols (node: SwarmLibp2p, stores: StoreLookup, board?: BoardLookup): Promise<SwarmProtocols> {
  const served = swarmProtocols({ stores, board })(swarmComponents(node))
  await served.start()
  return served
}

/** A bootstrap node's pick: kept results by their claims, best first. */
function claimedKeeps (store: SwarmStore, track: string | undefined, limit: number): string[] {
  const best = new Map<string, ResultMsg>()
  for (const r of store.results()) {
    if (r.status !== 'keep' || (track != null && r.track !== track) || r.val_bpb == null) continue
    const k = `${r.track}/${r.child}`
    const prev = best.get(k)
    if (prev == null || r.time < prev.time) best.set(k, r)
  }
  const perTrack = new Map<string, ResultMsg[]>()
  for (const r of best.values()) perTrack.set(r.track, [...(perTrack.get(r.track) ?? []), r])
  return [...perTrack.values()].flatMap(list => list.sort((a, b) => a.val_bpb! - b.val_bpb!).slice(0, limit)).map(r => messageId(r))
}

/** Each row's result, then the attestations of it (reproductions first), as signed. */
function boardEvidence (store: SwarmStore, ids: string[]): Array<ResultMsg | AttestationMsg> {
  const out: Array<ResultMsg | AttestationMsg> = []
  for (const id of ids) {
    const r = store.get(id)?.msg
    if (r?.kind !== 'result') continue
    const atts = store.attestations(id).sort((a, b) => Number(b.ok) - Number(a.ok)).slice(0, LEADERBOARD_ATTESTATIONS_PER_ROW)
    if (out.length + 1 + atts.length > LEADERBOARD_MAX_FRAMES) break
    out.push(r, ...atts)
  }
  return out
}

/** Content by hash from `peer`; throws unless it hashes to what was asked and only names editable files. */
export async function fetchContent (c: SwarmComponents, peer: PeerId, project: string, hash: string, editable: string[], signal?: AbortSignal, timeoutMs = PROTOCOL_TIMEOUT_MS): Promise<Record<string, string>> {
  const [frame] = await request(streamNode(c), peer, FETCH_PROTOCOL, encode({ project, hash }), { maxResponseBytes: MAX_BEST_RECORD_BYTES, timeoutMs, signal, runOnLimitedConnection: true })
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
export async function syncFrom (c: SwarmComponents, peer: PeerId, project: string, since: number, accept: (m: ResultMsg | AttestationMsg) => Promise<boolean>, signal?: AbortSignal): Promise<{ added: number, rejected: number, pages: number }> {
  let added = 0
  let rejected = 0
  let cursor = since
  for (let page = 1; page <= SYNC_MAX_PAGES; page++) {
    const frames = await request(streamNode(c), peer, SYNC_PROTOCOL, encode({ project, since: cursor, limit: SYNC_PAGE }), { maxResponseBytes: MAX_MESSAGE_BYTES, maxFrames: SYNC_PAGE + 1, timeoutMs: PROTOCOL_TIMEOUT_MS, signal })
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

/** What a peer's leaderboard answer held: the signed messages that verified, and how many frames did not. */
export interface BoardEvidence { messages: Array<ResultMsg | AttestationMsg>, rejected: number }

/**
 * Asks `peer` for the evidence behind its leaderboard. Every frame must be a
 * message of this project with a valid signature; anything else (rows in the
 * old format included) is refused and counted, never shown.
 */
export async function leaderboardFrom (c: SwarmComponents, peer: PeerId, project: string, q: { track?: string, limit?: number }, signal?: AbortSignal): Promise<BoardEvidence> {
  // The canonical encoding refuses undefined fields: send only what is set.
  const query = Object.fromEntries(Object.entries({ project, ...q }).filter(([, v]) => v !== undefined))
  const frames = await request(streamNode(c), peer, LEADERBOARD_PROTOCOL, encode(query), { maxResponseBytes: MAX_MESSAGE_BYTES, maxFrames: LEADERBOARD_MAX_FRAMES, timeoutMs: PROTOCOL_TIMEOUT_MS, signal })
  const messages: Array<ResultMsg | AttestationMsg> = []
  let rejected = 0
  for (const f of frames) {
    try {
      const m = await decodeMessage(f, { expectProject: project })
      if (m.kind === 'result' || m.kind === 'attestation') messages.push(m)
      else rejected++
    } catch {
      rejected++
    }
  }
  return { messages, rejected }
}

/**
 * Where a kept result's content comes from, for the adoption inbox: this
 * node's store; else the result's parent, held here, with the diff the result
 * carries applied; else peers, asked one after another within a deadline
 * (the author, then peers that ran it, then anyone connected). Whatever the
 * source, the files must hash to the content the result names. Whether to ask
 * again later, drop the claim or blame its author is the inbox's call, on the
 * round's outcome.
 *
 *   if (await content.here(r)) ready()
 *   else { const round = await content.ask(r, stop); ... }
 */
import type { Logger } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { applyDiff } from '../../protocol/apply-diff.ts'
import { contentHash, type ResultMsg } from '../../protocol/index.ts'
import { LOCAL_ONLY_CODES } from '../streams.ts'
import { connectedPeers, type SwarmComponents } from './components.ts'
import { PREFETCH_DEADLINE_MS, PREFETCH_MAX_PEERS, PREFETCH_PEER_TIMEOUT_MS } from './constants.ts'
import { fetchContent } from './protocols.ts'
import type { SwarmStore } from './store.ts'
import type { TrustBook } from './trust.ts'

export interface ResultContentInit {
  self: string
  editable: string[]
  store: SwarmStore
  trust: Pick<TrustBook, 'distrusted'>
  peerTimeoutMs?: number
  deadlineMs?: number
}

/** One round of asking peers: the content came (and is stored), or what the asks came to. */
export type AskRound =
  | { got: true }
  | {
    got: false
    /** Peers asked. */
    asked: number
    /** Some peer held the stream past its deadline while connected: how a staller behaves. */
    held: boolean
    /** Some peer answered without the content, or held it: not only the network failed us. */
    answered: boolean
    /** The round's deadline passed. */
    timedOut: boolean
  }

export class ResultContent {
  private readonly log: Logger

  constructor (private readonly components: SwarmComponents, private readonly init: ResultContentInit) {
    this.log = components.logger.forComponent('swarm-node:result-content')
  }

  /** The round's deadline, for words. */
  get deadlineMs (): number {
    return this.init.deadlineMs ?? PREFETCH_DEADLINE_MS
  }

  /**
   * The result's content is here, or can be made here: its parent's content
   * with its diff applied, when that hashes to what the result names (the
   * diff is the author's word; the hash is not). A keep made on our own
   * baseline is ready the moment its gossip arrives, with no fetch.
   */
  async here (r: ResultMsg): Promise<boolean> {
    const { store, editable } = this.init
    if (await store.getContent(r.child) != null) return true
    const parent = await store.getContent(r.parent)
    if (parent == null) return false
    const files = applyDiff(parent, r.diff, editable)
    if (files == null || contentHash(files) !== r.child) return false
    await store.putContent(files)
    return true
  }

  /** Asks peers for the content, one at a time, until one serves it or the deadline passes. */
  async ask (r: ResultMsg, stop: AbortSignal): Promise<AskRound> {
    if (await this.init.store.getContent(r.child) != null) return { got: true }
    const signal = AbortSignal.any([stop, AbortSignal.timeout(this.deadlineMs)])
    let asked = 0
    let held = false
    let answered = false
    for (const peer of this.sources(r)) {
      if (signal.aborted) break
      asked++
      try {
        const files = await fetchContent(this.components, peerIdFromString(peer), r.project, r.child, this.init.editable, signal, this.init.peerTimeoutMs ?? PREFETCH_PEER_TIMEOUT_MS)
        await this.init.store.putContent(files)
        return { got: true }
      } catch (err: any) {
        const failure = fetchFailure(err?.code, connectedPeers(this.components).some(x => x.toString() === peer))
        if (failure === 'held') held = true
        if (failure !== 'cut') answered = true
        this.log('fetch of %s from %s failed (%s) - %e', r.child, peer, failure, err)
      }
    }
    return { got: false, asked, held, answered, timedOut: signal.aborted && !stop.aborted }
  }

  /**
   * Who should hold the content: the author, then peers that reported or
   * attested a run of it, then anyone connected; those we are connected to
   * first (a dial to a peer nobody can reach would eat the deadline).
   */
  private sources (r: ResultMsg): string[] {
    const { store, self, trust } = this.init
    const ran = store.byChild(r.child).map(m => m.author)
    const connected = new Set(connectedPeers(this.components).map(p => p.toString()))
    const all = [...new Set([r.author, ...ran, ...connected])].filter(p => p !== self && !trust.distrusted(p))
    return [...all.filter(p => connected.has(p)), ...all.filter(p => !connected.has(p))].slice(0, PREFETCH_MAX_PEERS)
  }
}

/**
 * Why a fetch failed, as the trust book sees it: the peer held the stream
 * past the deadline while the connection stayed up (a staller), answered
 * without the content (refused: not found, rate-limited, malformed), or the
 * network cut the ask off (the stream or connection went away, no dial, or a
 * deadline that passed after the connection itself was gone).
 */
export function fetchFailure (code: string | undefined, stillConnected: boolean): 'held' | 'refused' | 'cut' {
  if (code != null && LOCAL_ONLY_CODES.includes(code)) return 'cut'
  if (code === 'timeout') return stillConnected ? 'held' : 'cut'
  return 'refused'
}

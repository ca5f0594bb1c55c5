/**
 * The queue of peers' kept results worth reproducing here, handed to the
 * research loop one at a time (best claim first). The content comes from our
 * store, or is fetched from the author, then from any connected peer, and must
 * hash to what the result names before it goes anywhere near the workspace.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { messageId, type ResultMsg } from '../../protocol/index.ts'
import { triedAgainst, type Adoption, type AdoptionInbox } from '../../trainer/loop.ts'
import type { Session } from '../../trainer/session.ts'
import type { SwarmLibp2p } from '../libp2p.ts'
import { claimedFigure, considerResult } from './adoption.ts'
import { fetchContent } from './protocols.ts'
import type { SwarmStore } from './store.ts'
import type { TrustBook } from './trust.ts'

const MAX_FETCH_ATTEMPTS = 3
const MAX_PENDING = 256

interface Pending { result: ResultMsg, id: string, attempts: number }

export class SwarmInbox implements AdoptionInbox {
  private readonly pending = new Map<string, Pending>()
  private wake: (() => void) | null = null

  constructor (private readonly init: {
    node: SwarmLibp2p
    store: SwarmStore
    trust: TrustBook
    peerId: string
    onNote: (message: string) => void
  }) {}

  offer (result: ResultMsg): void {
    const id = messageId(result)
    if (this.pending.has(id)) return
    if (this.pending.size >= MAX_PENDING) {
      // Keep the most promising claims.
      const worst = [...this.pending.values()].sort((a, b) => (claimedFigure(b.result) ?? 99) - (claimedFigure(a.result) ?? 99))[0]
      if (worst != null) this.pending.delete(worst.id)
    }
    this.pending.set(id, { result, id, attempts: 0 })
    this.wake?.()
  }

  get size (): number { return this.pending.size }

  async wait (ms: number, signal: AbortSignal): Promise<void> {
    await new Promise<void>(resolve => {
      const done = (): void => { clearTimeout(t); signal.removeEventListener('abort', done); this.wake = null; resolve() }
      const t = setTimeout(done, ms)
      signal.addEventListener('abort', done)
      this.wake = done
    })
  }

  async next (session: Session, signal: AbortSignal): Promise<Adoption | null> {
    const tried = triedAgainst(session)
    const mine = { project: session.project.id, track: session.track, peerId: this.init.peerId, baseline: session.baseline.value, margin: session.project.manifest.noise_margin }
    // Best claim first; on a tie the earliest result, so the peer who found it (not one who reproduced it) is the one attested.
    const queue = [...this.pending.values()].sort((a, b) => (claimedFigure(a.result) ?? 99) - (claimedFigure(b.result) ?? 99) || a.result.time - b.result.time)
    for (const p of queue) {
      if (signal.aborted) return null
      const r = p.result
      const d = considerResult(r, mine, { distrusted: this.init.trust.distrusted(r.author), tried: tried.has(r.child) || r.child === session.baseline.content })
      if (d.action !== 'reproduce') {
        this.pending.delete(p.id)
        continue
      }
      const files = await this.content(r, session.project.manifest.editable, signal)
      if (files == null) {
        if (++p.attempts >= MAX_FETCH_ATTEMPTS) {
          this.pending.delete(p.id)
          this.init.onNote(`gave up on ${p.id.slice(0, 8)}: its content could not be fetched`)
        }
        continue
      }
      this.pending.delete(p.id)
      return {
        proposal: { files, description: `reproduce ${r.author.slice(-8)}: ${r.description}`.slice(0, 300) },
        origin: { result: p.id, author: r.author, claimed: claimedFigure(r), track: r.track }
      }
    }
    return null
  }

  private async content (r: ResultMsg, editable: string[], signal: AbortSignal): Promise<Record<string, string> | null> {
    const local = await this.init.store.getContent(r.child)
    if (local != null) return local
    const { node } = this.init
    // Whoever ran this content holds it: the author first, then peers that reported or attested a run of it, then anyone connected.
    const ran = [...this.init.store.results(), ...this.init.store.attestations()].filter(m => m.child === r.child).map(m => m.author)
    const candidates = [...new Set([r.author, ...ran, ...node.getPeers().map(p => p.toString())])].filter(p => p !== this.init.peerId)
    for (const peer of candidates.slice(0, 6)) {
      try {
        const files = await fetchContent(node, peerIdFromString(peer), r.project, r.child, editable, signal)
        await this.init.store.putContent(files)
        return files
      } catch (err: any) {
        if (signal.aborted) return null
        this.init.onNote(`fetch of ${r.child.slice(0, 8)} from ${peer.slice(-8)} failed: ${err.message}`)
      }
    }
    return null
  }
}

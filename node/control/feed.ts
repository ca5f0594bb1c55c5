/**
 * The node's live feed for the dashboard and `/api/events`: what the loop and
 * the swarm did, as small JSON events with increasing ids. The last few are
 * kept so a page that (re)connects sees recent history first; live progress
 * lines are forwarded but not kept.
 */
import { FEED_REPLAY } from './constants.ts'

export interface FeedEvent {
  id: number
  type: string
  time: number
  [k: string]: unknown
}

export type FeedListener = (e: FeedEvent) => void

export class Feed {
  private readonly kept: FeedEvent[] = []
  private readonly listeners = new Set<FeedListener>()
  private nextId = 1

  constructor (private readonly replay = FEED_REPLAY) {}

  /** Adds an event; `keep: false` for transient ones (progress). */
  publish (type: string, data: Record<string, unknown>, keep = true): FeedEvent {
    const e: FeedEvent = { ...data, id: this.nextId++, type, time: Date.now() }
    if (keep) {
      this.kept.push(e)
      if (this.kept.length > this.replay) this.kept.shift()
    }
    for (const l of [...this.listeners]) {
      // A broken listener (a closed socket) must not stop the others.
      try { l(e) } catch {}
    }
    return e
  }

  /** Kept events newer than `after` (all kept ones when absent). */
  recent (after?: number): FeedEvent[] {
    return after == null ? [...this.kept] : this.kept.filter(e => e.id > after)
  }

  subscribe (fn: FeedListener): () => void {
    this.listeners.add(fn)
    return () => { this.listeners.delete(fn) }
  }

  get subscribers (): number { return this.listeners.size }
}

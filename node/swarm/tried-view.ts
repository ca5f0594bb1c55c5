/**
 * The swarm-wide "tried" view, so peers split the search instead of repeating
 * each other: per parent content, what trusted peers ran on it (results of
 * every status) and what they say they are running now (claims that name
 * their candidate's content). Every proposer skips these as it skips its own
 * history; the adoption inbox asks it who is reproducing or stacking what.
 *
 * Only trusted peers count (trust.ts: attesters with weight, private swarm
 * members): a free key that "tried" everything would otherwise stall the
 * search of every node that listened.
 */
import type { ClaimMsg, ResultMsg } from '../../protocol/index.ts'
import type { PeerCrash, PeerOutcome } from '../../trainer/proposers/types.ts'
import type { TrustBook } from './trust.ts'

/** Crashes of peers remembered for the proposer (the latest). */
const MAX_CRASHES = 200
/** Peers' experiments remembered for the mutation proposer's weights (the latest). */
export const MAX_OUTCOMES = 2000
/**
 * Runs remembered in all (the parents heard of least recently go first): what
 * was tried outlives the store's retention, but not without bound.
 */
export const MAX_TRIED_RUNS = 50_000

export interface TriedViewInit {
  self: string
  trust: Pick<TrustBook, 'attesterWeight' | 'distrusted'>
  /** The latest claim of every peer (the store keeps them). */
  claims: () => ClaimMsg[]
  /** The editable files of a content, when this node holds them (the store's content). */
  content?: (hash: string) => Promise<Record<string, string> | null>
}

/** Enough of a result to say what came of it. */
interface Ran { author: string, status: ResultMsg['status'], description: string }

export class TriedView {
  /** parent content -> child content -> every peer's run of it (in arrival order). */
  private readonly byParent = new Map<string, Map<string, Ran[]>>()
  private readonly peerCrashes: Array<PeerCrash & { author: string }> = []
  private readonly peerOutcomes: Array<PeerOutcome & { author: string }> = []
  private runs = 0

  constructor (private readonly init: TriedViewInit) {}

  /** Trusted peers' crashes whose baseline's files this node holds: the mutation proposer remembers them across baselines. */
  crashes (): PeerCrash[] {
    return this.peerCrashes.filter(c => this.trusted(c.author))
  }

  /** Trusted peers' experiments, the latest MAX_OUTCOMES, oldest first. */
  outcomes (): PeerOutcome[] {
    const trusted = new Map<string, boolean>()
    const ok = (author: string): boolean => {
      let t = trusted.get(author)
      if (t == null) trusted.set(author, t = this.trusted(author))
      return t
    }
    return this.peerOutcomes.filter(o => ok(o.author)).map(({ description, status }) => ({ description, status }))
  }

  add (r: ResultMsg): void {
    // What the proposer learns from (peers' crashes and outcomes, both bounded) takes only authors
    // trusted when their run arrives, so free keys cannot push trusted peers' runs out of it.
    // Reading filters again: trust can be lost later.
    const learn = r.author !== this.init.self && this.trusted(r.author)
    if (r.status === 'crash' && learn) void this.rememberCrash(r)
    const children = this.byParent.get(r.parent) ?? new Map<string, Ran[]>()
    // Re-inserted: the parent heard of most recently is forgotten last.
    this.byParent.delete(r.parent)
    this.byParent.set(r.parent, children)
    const runs = children.get(r.child) ?? []
    if (!runs.some(x => x.author === r.author && x.status === r.status)) {
      runs.push({ author: r.author, status: r.status, description: r.description })
      this.runs++
      if (learn) {
        this.peerOutcomes.push({ author: r.author, status: r.status, description: r.description })
        if (this.peerOutcomes.length > MAX_OUTCOMES) this.peerOutcomes.shift()
      }
    }
    children.set(r.child, runs)
    while (this.runs > MAX_TRIED_RUNS) {
      // The oldest child of the parent heard of least recently goes first.
      const [parent, kids] = this.byParent.entries().next().value as [string, Map<string, Ran[]>]
      const [child, gone] = kids.entries().next().value as [string, Ran[]]
      kids.delete(child)
      this.runs -= gone.length
      if (kids.size === 0) this.byParent.delete(parent)
    }
  }

  /** How many runs the view remembers. */
  get size (): number { return this.runs }

  private async rememberCrash (r: ResultMsg): Promise<void> {
    const parentFiles = await this.init.content?.(r.parent).catch(() => null)
    if (parentFiles == null) return
    this.peerCrashes.push({ author: r.author, description: r.description, reason: r.reason, parentFiles })
    if (this.peerCrashes.length > MAX_CRASHES) this.peerCrashes.shift()
  }

  private trusted (peer: string): boolean {
    return peer === this.init.self || (this.init.trust.attesterWeight(peer) > 0 && !this.init.trust.distrusted(peer))
  }

  /**
   * Per content tried on `parent`: the first trusted run of it, else a trusted
   * peer's live claim on it (a content's result settles it; its claim only says
   * it is coming). The one rule both views below read.
   */
  private on (parent: string, now: number): Map<string, { ran: Ran } | { claim: ClaimMsg }> {
    const out = new Map<string, { ran: Ran } | { claim: ClaimMsg }>()
    for (const [child, runs] of this.byParent.get(parent) ?? []) {
      const ran = runs.find(x => this.trusted(x.author))
      if (ran != null) out.set(child, { ran })
    }
    for (const claim of this.live(now)) if (claim.parent === parent && !out.has(claim.child!)) out.set(claim.child!, { claim })
    return out
  }

  /** What trusted peers ran on `parent`, or run on it now: content hash -> what came of it, in words. */
  tried (parent: string, now = Date.now()): Map<string, string> {
    const out = new Map<string, string>()
    for (const [child, e] of this.on(parent, now)) {
      out.set(child, 'ran' in e
        ? `${e.ran.status} by ${e.ran.author === this.init.self ? 'this node' : `peer ${e.ran.author.slice(-8)}`}: "${e.ran.description}"`
        : `running now on peer ${e.claim.author.slice(-8)}: "${e.claim.description}"`)
    }
    return out
  }

  /** The same, as the step-back hint reads it: each content's description and status (`running` for a claim). */
  ranOn (parent: string, now = Date.now()): PeerOutcome[] {
    return [...this.on(parent, now).values()].map(e => 'ran' in e
      ? { description: e.ran.description, status: e.ran.status }
      : { description: e.claim.description, status: 'running' })
  }

  /** A trusted peer other than `except` running `child` now (on whatever baseline), or null. */
  runningNow (child: string, except: readonly string[] = [], now = Date.now()): string | null {
    return this.live(now).find(c => c.child === child && !except.includes(c.author))?.author ?? null
  }

  /** Trusted peers' unexpired claims that name their candidate. */
  private live (now: number): ClaimMsg[] {
    return this.init.claims().filter(c => c.child != null && c.expires > now && c.author !== this.init.self && this.trusted(c.author))
  }
}

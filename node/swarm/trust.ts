/**
 * How much we believe each author, derived from attestations (so it survives
 * restarts with the store and needs no file of its own). A failed
 * reproduction costs far more than a success earns: lying must not pay.
 */
import type { AttestationMsg, ResultMsg } from '../../protocol/index.ts'
import { claimedFigure, reproductionTolerance } from './adoption.ts'

export const DISTRUST_BELOW = -1
const OWN_FAIL = -2
const OWN_OK = 1
const OTHERS_FAIL = -0.5
const OTHERS_OK = 0.25

export class TrustBook {
  private readonly scores = new Map<string, number>()
  private readonly seen = new Set<string>()

  constructor (private readonly self: string, private readonly margin: number) {}

  /**
   * Counts an attestation of `result` once; our own verdicts weigh most. A
   * failed attestation costs the author only when the figure it measured is
   * far from the claim (or the content did not run at all): an honest result
   * that merely did not beat the attester's own baseline is no lie.
   */
  record (a: AttestationMsg, result: Pick<ResultMsg, 'author' | 'val_bpb' | 'verified_bpb'> | undefined): void {
    if (result == null || result.author === a.author) return
    const key = `${a.author}:${a.result}`
    if (this.seen.has(key)) return
    this.seen.add(key)
    const claimed = claimedFigure(result)
    const measured = a.verified_bpb ?? a.val_bpb
    const lie = !a.ok && (measured == null || (claimed != null && Math.abs(measured - claimed) > reproductionTolerance(claimed, this.margin)))
    if (!a.ok && !lie) return
    const mine = a.author === this.self
    const delta = a.ok ? (mine ? OWN_OK : OTHERS_OK) : (mine ? OWN_FAIL : OTHERS_FAIL)
    this.scores.set(result.author, this.score(result.author) + delta)
  }

  score (peer: string): number {
    return this.scores.get(peer) ?? 0
  }

  distrusted (peer: string): boolean {
    return this.score(peer) < DISTRUST_BELOW
  }

  entries (): Array<[string, number]> {
    return [...this.scores.entries()]
  }
}

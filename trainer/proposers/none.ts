/** A proposer with no ideas: the node only reproduces what the swarm finds. */
import type { Proposal, Proposer } from './types.ts'

export class NoProposer implements Proposer {
  readonly name = 'none'
  async propose (): Promise<Proposal | null> {
    return null
  }
}

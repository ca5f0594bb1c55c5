/**
 * A proposer that can fail (an LLM that is down, an agent that times out) in
 * front of one that cannot (mutation): when the first gives up on an
 * experiment, the second proposes it, so the loop never stops for an outage.
 * The next experiment asks the first again.
 */
import type { CrashReport, Proposal, ProposeContext, Proposer, ProposerStats } from './types.ts'

/** The proposer tried and could not produce a candidate this time (not: "nothing left to try"). */
export class ProposerFailed extends Error {
  override name = 'ProposerFailed'
  constructor (message: string, readonly stats?: ProposerStats) {
    super(message)
  }
}

export class WithFallback implements Proposer {
  constructor (readonly primary: Proposer, readonly fallback: Proposer) {}

  get name (): string {
    return this.primary.name
  }

  async propose (ctx: ProposeContext): Promise<Proposal | null> {
    try {
      return await this.primary.propose(ctx)
    } catch (err) {
      if (!(err instanceof ProposerFailed)) throw err
      ctx.log?.('warn', `${this.primary.name}: ${err.message}; the ${this.fallback.name} proposer makes this experiment`)
      const p = await this.fallback.propose(ctx)
      if (p == null) return null
      return { ...p, proposer: p.proposer ?? this.fallback.name, detail: { ...p.detail, fallback: { from: this.primary.name, reason: err.message, stats: err.stats } } }
    }
  }

  async repair (ctx: ProposeContext, crash: CrashReport): Promise<Proposal | null> {
    if (this.primary.repair == null) return null
    try {
      return await this.primary.repair(ctx, crash)
    } catch (err) {
      if (!(err instanceof ProposerFailed)) throw err
      ctx.log?.('warn', `${this.primary.name}: repair failed: ${err.message}; the crash stands`)
      return null
    }
  }
}

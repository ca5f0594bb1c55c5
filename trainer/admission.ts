/**
 * Whether a candidate may run on this node, decided before it runs. Code the
 * node wrote itself (the mutation proposer's change of a constant) always may.
 * Code from anyone else (a peer's adopted result, an LLM's or an agent's edit)
 * runs only where a sandbox cages it (or the user said --unsafe-no-sandbox),
 * and only past the project's policy (policy.ts), which names in words what it
 * refuses. One rule, asked by the loop for every candidate. Pure.
 */
import type { PolicySpec } from './manifest.ts'
import { checkPolicy, policyReason } from './policy.ts'

/** The proposer whose candidates are this node's own writing. */
export const OWN_PROPOSER = 'mutation'

export interface Admission {
  /** Who made the candidate: the proposer's name, or 'adopt' for a peer's result. */
  proposer: string
  /** Set when the candidate is a peer's result. */
  adopted: boolean
  baseline: Record<string, string>
  candidate: Record<string, string>
  policy: PolicySpec
  sandbox: { confined: boolean, foreignAllowed: boolean }
}

export function isForeign (a: Pick<Admission, 'proposer' | 'adopted'>): boolean {
  return a.adopted || a.proposer !== OWN_PROPOSER
}

/** Null when the candidate may run; else why not, for the record and the log. */
export function refusal (a: Admission): string | null {
  if (!isForeign(a)) return null
  const who = a.adopted ? 'a peer\'s result' : `a candidate by ${a.proposer}`
  if (!a.sandbox.foreignAllowed) {
    return `not run: ${who} is code this node did not write, and there is no sandbox here to run it in (pass --unsafe-no-sandbox to run it anyway)`
  }
  const findings = checkPolicy(a.baseline, a.candidate, a.policy)
  return findings.length > 0 ? policyReason(findings) : null
}

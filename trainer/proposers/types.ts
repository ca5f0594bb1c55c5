/** What every proposer (mutation, LLM, external agent) hands the loop. */
import type { ClaimMsg, ResultMsg } from '../../protocol/index.ts'
import type { Hardware } from '../hardware.ts'
import type { ProjectSandbox } from '../sandbox/index.ts'

export interface Proposal {
  /** Full new text of each editable file that changes. */
  files: Record<string, string>
  /** One line a human reads in results.tsv and on the leaderboard. */
  description: string
  /** Structured detail kept in the experiment record (e.g. the mutated constant, LLM token usage). */
  detail?: Record<string, unknown>
  /** Who really made it when not the loop's proposer (e.g. the mutation fallback of an LLM that is down). */
  proposer?: string
}

/** What one proposal cost, kept in its record (`detail.stats`). */
export interface ProposerStats {
  /** Prompt and reply tokens over all requests (as the server reported them, else estimated). */
  tokens_in: number
  tokens_out: number
  /** Wall-clock from the first request to the proposal, retries and backoff included. */
  latency_ms: number
  /** HTTP requests made (retries included). */
  requests: number
  /** Replies (or agent runs) it took: 1 when the first was usable. */
  attempts: number
}

export interface PastExperiment {
  parent: string
  status: string
  description: string
  val_bpb: number | null
  baseline_bpb?: number | null
  detail?: Record<string, unknown>
  /** Content hash of the candidate, to tell "already tried" in words. */
  child?: string
  proposer?: string
  reason?: string
  finished_at?: number
}

/** A trusted peer's crashed experiment and the editable files of the baseline it was made on. */
export interface PeerCrash {
  description: string
  reason: string
  parentFiles: Record<string, string>
}

/**
 * A trusted peer's experiment as its record tells it: what the mutation
 * proposer weighs beside its own history (a change the swarm kept pulls, one
 * it discarded again and again pushes away), so every node learns from every
 * node's runs.
 */
export interface PeerOutcome {
  description: string
  status: string
}

/** Peers' results and live claims on this project, as the swarm store holds them (ours left out). */
export interface SwarmContext {
  results: ResultMsg[]
  claims: ClaimMsg[]
}

/** The part of the git workspace a proposer that edits files in place (an external agent) needs. */
export interface EditableWorkspace {
  readonly dir: string
  readonly branch: string
  readonly editable: readonly string[]
  readonly outputs: readonly string[]
  head (): Promise<string>
  readEditable (): Promise<Record<string, string>>
  writeEditable (files: Record<string, string>): Promise<void>
  changedFiles (): Promise<string[]>
  resetTo (sha: string): Promise<void>
}

export interface ProposeContext {
  /** The baseline's editable files. */
  files: Record<string, string>
  editable: string[]
  /** Baseline commit: "never the same change twice" is per baseline. */
  parent: string
  history: PastExperiment[]
  /** Content hashes already tried against this baseline. */
  tried: Set<string>
  /**
   * The swarm-wide "tried" view of this baseline: what trusted peers ran on
   * it or are running now (content hash -> what came of it, in words). Every
   * proposer skips these as it skips `tried`.
   */
  swarmTried?: ReadonlyMap<string, string>
  /**
   * Trusted peers' crashed experiments, each with the files it was made on:
   * a crash whose cause does not depend on the baseline (the same change in
   * the same surroundings) is not tried again here either.
   */
  swarmCrashes?: readonly PeerCrash[]
  /** Trusted peers' experiments (the latest), whatever their baseline: what the swarm learned of each change. */
  swarmOutcomes?: readonly PeerOutcome[]
  /**
   * What was run on the last few baselines before this one, by this node and
   * trusted peers, and what trusted peers are running on them now (status
   * `running`): a change discarded there, to a constant the steps since did
   * not move, would most likely be discarded again, and one a peer is running
   * there will be heard of soon (trainer/step-back.ts).
   */
  stepBack?: readonly PeerOutcome[]
  signal?: AbortSignal
  /** Content hash of the baseline: what peers' results and claims name as their parent. */
  baselineContent?: string
  /** The figure to beat (val_bpb of the baseline). */
  baselineValue?: number | null
  metric?: string
  /** The project's research brief (autoresearch's program.md), when it has one. */
  programMd?: string | null
  hardware?: Hardware
  track?: string
  budgetS?: number
  swarm?: SwarmContext
  workspace?: EditableWorkspace
  /** The cage an external agent runs in. */
  sandbox?: ProjectSandbox
  /** Where a proposer reports what it did (retries, rejections, fallbacks): the loop's log. */
  log?: (level: 'info' | 'warn', message: string) => void
}

/** A candidate that crashed, handed back to its proposer for a fix. */
export interface CrashReport {
  /** The crashed candidate as proposed (its changed files, description, detail). */
  proposal: Proposal
  /** Every editable file of the crashed candidate. */
  files: Record<string, string>
  /** The loop's one-line reason (exit code, timeout, NaN, ...). */
  reason: string
  /** The last few KB of run.log. */
  tail: string
  /** 1 for the first repair of this candidate, 2 for the next, ... */
  attempt: number
}

export interface Proposer {
  readonly name: string
  propose (ctx: ProposeContext): Promise<Proposal | null>
  /** A fixed version of a crashed candidate (full files, against the baseline), or null to give up. */
  repair? (ctx: ProposeContext, crash: CrashReport): Promise<Proposal | null>
}

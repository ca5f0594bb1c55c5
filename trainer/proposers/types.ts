/** What every proposer (mutation, LLM, external agent) hands the loop. */

export interface Proposal {
  /** Full new text of each editable file that changes. */
  files: Record<string, string>
  /** One line a human reads in results.tsv and on the leaderboard. */
  description: string
  /** Structured detail kept in the experiment record (e.g. the mutated constant). */
  detail?: Record<string, unknown>
}

export interface PastExperiment {
  parent: string
  status: string
  description: string
  val_bpb: number | null
  baseline_bpb?: number | null
  detail?: Record<string, unknown>
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
  signal?: AbortSignal
}

export interface Proposer {
  readonly name: string
  propose (ctx: ProposeContext): Promise<Proposal | null>
}

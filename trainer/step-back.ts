/**
 * What the mutation proposer hears of the baselines before this one (its
 * step-back hint, trainer/proposers/mutation.ts: notDiscardedStepBack): the
 * runs made on the last STEP_BACK_BASELINES baselines of this node's lineage,
 * here and by trusted peers, and what trusted peers are running on them now.
 *
 * A swarm moves its baseline more often than one of its runs ends (at 8 nodes,
 * nearly half of the runs end on a baseline a peer's keep has already beaten),
 * so what was discarded, or is being run, a step or two behind is most of what
 * a node knows of its new baseline's neighbourhood. Three baselines back:
 * `npm run model:swarm` (variants step-back-*) found one step back making every
 * node about 5 % faster, three steps with peers' running claims also the swarms
 * faster than lone nodes (4 nodes 3.4x one node, 2.1x the best of 4; 8 nodes
 * 5.2x, against 3.1x, 1.9x and 5.0x without), and six steps the lone node most.
 */
import { BASELINE_STATUSES, definingRecord } from './adopted.ts'
import type { PeerOutcome } from './proposers/types.ts'
import type { ExperimentRecord } from './results-log.ts'

export const STEP_BACK_BASELINES = 3

/** A baseline this node had: its commit, and its content where the record says (what peers' results name). */
export interface EarlierBaseline { commit: string, content: string | null }

/** The baselines before the one `made` made, the latest first, back to the first measured one or `depth` of them. */
export function earlierBaselines (history: readonly ExperimentRecord[], made: ExperimentRecord | null, depth = STEP_BACK_BASELINES): EarlierBaseline[] {
  const out: EarlierBaseline[] = []
  let cur = definingRecord(history, made)
  while (cur != null && out.length < depth && (cur.status === 'keep' || cur.status === 'adopted')) {
    out.push({ commit: cur.parent, content: cur.parent_content ?? null })
    const at = cur
    let before: ExperimentRecord | null = null
    for (let i = history.length - 1; i >= 0 && before == null; i--) {
      const r = history[i]!
      if (r.seq < at.seq && r.commit === at.parent && BASELINE_STATUSES.has(r.status)) before = r
    }
    cur = definingRecord(history, before)
  }
  return out
}

/** A record of a run (a keep, discard, crash or invalid run), not of a baseline taken or restored. */
const ran = (r: ExperimentRecord): boolean => r.status === 'keep' || !BASELINE_STATUSES.has(r.status)

/**
 * The step-back hint's input: this node's runs on the earlier baselines, and
 * what `peers` says trusted peers ran or run on them (the swarm's tried view).
 */
export function stepBack (history: readonly ExperimentRecord[], made: ExperimentRecord | null, peers?: (content: string) => readonly PeerOutcome[]): PeerOutcome[] {
  const out: PeerOutcome[] = []
  for (const b of earlierBaselines(history, made)) {
    for (const r of history) if (r.parent === b.commit && r !== made && ran(r)) out.push({ description: r.description, status: r.status })
    if (b.content != null && peers != null) out.push(...peers(b.content))
  }
  return out
}

/**
 * Leaderboards from elsewhere than a running node's own store (pure), ranked
 * by the one rule like every other board:
 * - an asker's board of what peers sent: signed results and attestations
 *   (never rows: a row from a peer is its word, and is not believed) and the
 *   DHT's signed best records, under the asker's own evidence;
 * - an offline node's board of its own keeps, each measured here.
 */
import { figureOf, messageId, type AttestationMsg, type BestRecord, type Hardware, type ResultMsg } from '../../protocol/index.ts'
import type { ExperimentRecord } from '../../trainer/results-log.ts'
import { FOREIGN_PROJECT_MARGIN } from '../swarm/constants.ts'
import { computeLeaderboard, rankRows, type LeaderboardQuery, type LeaderboardRow } from '../swarm/leaderboard.ts'
import { TrustBook, type TrustInit } from '../swarm/trust.ts'

export interface AskerView {
  /** Whose measurements count as "verified here" (the home's identity, or the asker's throwaway key). */
  self: string
  /** Judgement of peers carried over (a running node's trust, or one derived from the home's store). */
  known?: TrustInit['known']
  margin?: number
}

/**
 * The board of messages gathered from peers and best records from the DHT, as
 * the asker ranks it. Everything here was signature-checked on arrival.
 */
export function boardFromEvidence (messages: Iterable<ResultMsg | AttestationMsg>, records: BestRecord[], project: string, view: AskerView, q: LeaderboardQuery = {}): LeaderboardRow[] {
  const trust = new TrustBook({ self: view.self, margin: view.margin ?? FOREIGN_PROJECT_MARGIN, known: view.known })
  const results = new Map<string, ResultMsg>()
  const add = (m: ResultMsg | AttestationMsg): void => {
    if (m.project !== project) return
    trust.add(m)
    if (m.kind === 'result') results.set(messageId(m), m)
  }
  for (const m of messages) if (m.kind === 'result') add(m)
  for (const rec of records) add(rec.result)
  for (const m of messages) if (m.kind === 'attestation') add(m)
  for (const rec of records) for (const a of rec.attestations) add(a)
  return computeLeaderboard({ results: results.values(), trust }, { ...q, project })
}

/** An offline node's board: its own kept results, each measured here (nobody else saw them). */
export function localBoard (history: ExperimentRecord[], ctx: { project: string, peerId: string, hardware: Hardware }, q: LeaderboardQuery = {}): LeaderboardRow[] {
  const first = history.find(r => r.status === 'baseline')
  const firstValue = first != null ? figureOf(first) : null
  const rows: Array<Omit<LeaderboardRow, 'rank'>> = []
  for (const r of history) {
    const v = figureOf(r)
    if (r.status !== 'keep' || v == null || (q.track != null && r.track !== q.track)) continue
    const child = r.child ?? r.id
    rows.push({
      project: ctx.project, track: r.track, result: child, child, val_bpb: v, claimed_bpb: v, evidence: 'verified', reproducers: 0,
      attestations: 0, failed: 0, delta: firstValue != null ? v - firstValue : null, author: ctx.peerId, hardware: ctx.hardware,
      description: r.description, time: r.finished_at
    })
  }
  return rankRows(rows, q.limit)
}

/** Verify by use (trainer/adopted.ts): where a baseline adopted with no run stands, from the records alone. */
import { describe, expect, it } from 'vitest'
import { USE_RUNS, definingRecord, useCheck } from '../trainer/adopted.ts'
import type { ExperimentRecord } from '../trainer/results-log.ts'

const MARGIN = 0.01
let seq = 0
function rec (over: Partial<ExperimentRecord>): ExperimentRecord {
  return {
    id: `t-${++seq}`, seq, commit: 'c', parent: 'c', status: 'discard', val_bpb: null, verified_bpb: null, memory_gb: 0,
    description: '', reason: '', proposer: 'mutation', metrics: {}, track: 'cpu', started_at: 0, finished_at: 0, ...over
  }
}
const origin = { result: 'r'.repeat(64), author: 'peer', claimed: 1.0, track: 'cpu' }

describe('verify by use', () => {
  const base = rec({ status: 'baseline', commit: 'b0', parent: 'b0', decision_bpb: 1.3 })
  const adopted = rec({ status: 'adopted', commit: 'a1', parent: 'b0', decision_bpb: 1.0, baseline_bpb: 1.3, origin: { ...origin, how: 'adopt' } })
  const on = (figure: number | null, status: ExperimentRecord['status'] = 'discard'): ExperimentRecord => rec({ parent: 'a1', commit: `x${seq}`, status, decision_bpb: figure })
  const check = (history: ExperimentRecord[]): string => useCheck(history, { commit: 'a1', record: adopted }, MARGIN).state

  it('waits for the first experiments, holds when one lands near the claim, and suspects the baseline when all land far off', () => {
    expect(USE_RUNS).toBe(2)
    expect(check([base, adopted])).toBe('pending')
    // A crash has no figure: it says nothing about the baseline.
    expect(check([base, adopted, on(null, 'crash')])).toBe('pending')
    expect(check([base, adopted, on(1.02)])).toBe('held')
    // One bad change far off is not enough; a second near the claim settles it.
    expect(check([base, adopted, on(1.3)])).toBe('pending')
    expect(check([base, adopted, on(1.3), on(1.04)])).toBe('held')
    const suspect = useCheck([base, adopted, on(1.3), on(1.25)], { commit: 'a1', record: adopted }, MARGIN)
    expect(suspect.state).toBe('suspect')
    // Re-measured (the claim held): measured here from then on.
    expect(check([base, adopted, on(1.3), on(1.25), rec({ parent: 'a1', commit: 'a1', status: 'baseline', decision_bpb: 1.01, proposer: 'verify', origin: { ...origin, how: 'verify' } })])).toBe('measured')
  })

  it('applies to baselines adopted with no run only, and through a return to one', () => {
    expect(useCheck([base], { commit: 'b0', record: base }, MARGIN).state).toBe('measured')
    const keep = rec({ status: 'keep', commit: 'k1', parent: 'a1', decision_bpb: 0.98 })
    expect(useCheck([base, adopted, keep], { commit: 'k1', record: keep }, MARGIN).state).toBe('measured')
    // Gone back to an adopted baseline (its successor failed): it is still to be verified by use.
    const restored = rec({ status: 'restored', commit: 'a1', parent: 'z9' })
    expect(definingRecord([base, adopted, restored], restored)).toBe(adopted)
    expect(useCheck([base, adopted, restored], { commit: 'a1', record: restored }, MARGIN).state).toBe('pending')
  })
})

/** What the proposer hears of the baselines before this one (trainer/step-back.ts), from the records alone. */
import { describe, expect, it } from 'vitest'
import { STEP_BACK_BASELINES, earlierBaselines, stepBack } from '../trainer/step-back.ts'
import type { ExperimentRecord } from '../trainer/results-log.ts'

let seq = 0
function rec (over: Partial<ExperimentRecord>): ExperimentRecord {
  return {
    id: `t-${++seq}`, seq, commit: `x${seq}`, parent: 'c', status: 'discard', val_bpb: null, verified_bpb: null, memory_gb: 0,
    description: '', reason: '', proposer: 'mutation', metrics: {}, track: 'cpu', started_at: 0, finished_at: 0, ...over
  }
}
const on = (parent: string, description: string, status: ExperimentRecord['status'] = 'discard'): ExperimentRecord => rec({ parent, description, status })

describe('step back', () => {
  // b0 (measured) -> k1 (our keep) -> a2 (a peer's keep, adopted) -> k3 -> k4, with runs on each.
  const b0 = rec({ status: 'baseline', commit: 'b0', parent: 'b0', child: 'B0' })
  const r0 = on('b0', 'LR 1 -> 2')
  const k1 = rec({ status: 'keep', commit: 'k1', parent: 'b0', parent_content: 'B0', child: 'K1', description: 'WD 1 -> 2' })
  const r1 = on('k1', 'DEPTH 2 -> 3')
  const c1 = on('k1', 'DEPTH 2 -> 1', 'crash')
  const a2 = rec({ status: 'adopted', commit: 'a2', parent: 'k1', parent_content: 'K1', child: 'A2', description: 'N_EMBD 64 -> 128' })
  const r2 = on('a2', 'LR 1 -> 0.5')
  const k3 = rec({ status: 'keep', commit: 'k3', parent: 'a2', parent_content: 'A2', child: 'K3', description: 'DEPTH 2 -> 4' })
  const r3 = on('k3', 'WD 2 -> 4')
  const k4 = rec({ status: 'keep', commit: 'k4', parent: 'k3', parent_content: 'K3', child: 'K4', description: 'LR 1 -> 1.4' })
  const history = [b0, r0, k1, r1, c1, a2, r2, k3, r3, k4]

  it('walks back through keeps and adoptions, the latest first, STEP_BACK_BASELINES of them', () => {
    expect(STEP_BACK_BASELINES).toBe(3)
    expect(earlierBaselines(history, k4)).toEqual([{ commit: 'k3', content: 'K3' }, { commit: 'a2', content: 'A2' }, { commit: 'k1', content: 'K1' }])
    expect(earlierBaselines(history, k1, 5)).toEqual([{ commit: 'b0', content: 'B0' }])
    // The first measured baseline, or none at all, has nothing before it.
    expect(earlierBaselines(history, b0)).toEqual([])
    expect(earlierBaselines(history, null)).toEqual([])
  })

  it('hears this node\'s runs on them (never the keep that made this baseline, nor a baseline record) and the peers\' view of each', () => {
    const asked: string[] = []
    const heard = stepBack(history, k4, content => { asked.push(content); return content === 'A2' ? [{ description: 'BATCH 8 -> 16', status: 'running' }] : [] })
    expect(heard).toEqual([
      { description: 'WD 2 -> 4', status: 'discard' },
      { description: 'LR 1 -> 0.5', status: 'discard' },
      { description: 'DEPTH 2 -> 4', status: 'keep' },
      { description: 'BATCH 8 -> 16', status: 'running' },
      { description: 'DEPTH 2 -> 3', status: 'discard' },
      { description: 'DEPTH 2 -> 1', status: 'crash' }
    ])
    expect(asked).toEqual(['K3', 'A2', 'K1'])
    expect(stepBack(history, k1)).toEqual([{ description: 'LR 1 -> 2', status: 'discard' }])
  })

  it('after a return to an earlier baseline, walks back from the record that first made it', () => {
    // a2 failed its re-measure later on: the node went back to k1, which b0 came before.
    const restored = rec({ status: 'restored', commit: 'k1', parent: 'a2' })
    expect(earlierBaselines([...history, restored], restored)).toEqual([{ commit: 'b0', content: 'B0' }])
  })
})

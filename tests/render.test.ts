/**
 * The live line on a terminal: it counts up to the budget while the run
 * trains, and then says the run is evaluating instead of counting past the
 * budget (which reads like an overrun).
 */
import { describe, expect, it } from 'vitest'
import { createRenderer, runClock } from '../node/render.ts'
import { Output } from '../node/output.ts'

describe('runClock', () => {
  it('counts to the budget, then says evaluating with the time since', () => {
    expect(runClock(0.4, 30)).toBe('0s/30s')
    expect(runClock(29.9, 30)).toBe('29s/30s')
    expect(runClock(30, 30)).toBe('30s/30s evaluating (+0s)')
    expect(runClock(33.7, 30)).toBe('30s/30s evaluating (+3s)')
    expect(runClock(12, null)).toBe('12s')
  })

  it('is what the live line shows past the budget: never 33s/30s', () => {
    const written: string[] = []
    const write = process.stderr.write
    process.stderr.write = ((chunk: string) => { written.push(String(chunk)); return true }) as typeof process.stderr.write
    try {
      const r = createRenderer(new Output(false), true, () => 'offline · base 3.5014')
      r.onEvent({ type: 'progress', seq: 1, kind: 'baseline', elapsedS: 33.2, budgetS: 30, lastLine: 'step 100 | loss 2.1' })
      r.clear()
    } finally {
      process.stderr.write = write
    }
    const line = written.join('')
    expect(line).toContain('#1 baseline ████████████████████████ 30s/30s evaluating (+3s) offline · base 3.5014')
    expect(line).not.toMatch(/33s\/30s/)
  })
})

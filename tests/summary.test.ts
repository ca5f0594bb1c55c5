import { describe, expect, it } from 'vitest'
import { lastProgressLine, metricOf, missingMetric, parseSummary } from '../trainer/summary.ts'

// What autoresearch's train.py prints: \r-redrawn progress, a blank print(), then the block.
const AUTORESEARCH_LOG = [
  'Vocab size: 8,192',
  '\rstep 00001 (0.3%) | loss: 9.012 | remaining: 299s    \rstep 00002 (0.6%) | loss: 8.701 | remaining: 298s    ',
  '',
  '---',
  'val_bpb:          0.997900',
  'training_seconds: 300.1',
  'total_seconds:    325.9',
  'peak_vram_mb:     45060.2',
  'mfu_percent:      39.80',
  'total_tokens_M:   499.6',
  'num_steps:        953',
  'num_params_M:     50.3',
  'depth:            8',
  ''
].join('\n')

describe('parseSummary', () => {
  it('reads the autoresearch summary block with numbers parsed', () => {
    const s = parseSummary(AUTORESEARCH_LOG)
    expect(s).toEqual({
      val_bpb: 0.9979,
      training_seconds: 300.1,
      total_seconds: 325.9,
      peak_vram_mb: 45060.2,
      mfu_percent: 39.8,
      total_tokens_M: 499.6,
      num_steps: 953,
      num_params_M: 50.3,
      depth: 8
    })
  })

  it('returns null without a block', () => {
    expect(parseSummary('')).toBeNull()
    expect(parseSummary('step 1\nstep 2\nval_bpb: 1.0\n')).toBeNull()
  })

  it('takes the last block', () => {
    const log = '---\nval_bpb: 2.5\nstep 3\n---\nval_bpb: 1.25\n'
    expect(parseSummary(log)).toEqual({ val_bpb: 1.25 })
  })

  it('skips a later empty block such as a separator or markdown rule', () => {
    const log = '---\nval_bpb: 1.5\n---\nnot a summary\n---\n'
    expect(parseSummary(log)).toEqual({ val_bpb: 1.5 })
  })

  it('keeps non-numeric values as strings', () => {
    const s = parseSummary('---\nval_bpb: nan\nat: 12:30\nhex: 0x10\nempty:\ninf: Infinity\nbig: 1e999\nneg: -2.5e-3\n')
    expect(s).toEqual({ val_bpb: 'nan', at: '12:30', hex: '0x10', empty: '', inf: 'Infinity', big: '1e999', neg: -0.0025 })
  })

  it('ignores keys that are not identifiers but keeps reading', () => {
    const s = parseSummary('---\npeak vram: 12\n1bad: 3\nval_bpb: 0.9\n')
    expect(s).toEqual({ val_bpb: 0.9 })
  })

  it('stops at the first line that is not key: value, skipping blank lines', () => {
    const s = parseSummary('  ---  \r\na: 1\r\n\r\nb: 2\r\nTraceback without colon\r\nc: 3\r\n')
    expect(s).toEqual({ a: 1, b: 2 })
  })

  it('lets a later duplicate key win', () => {
    expect(parseSummary('---\nx: 1\nx: 2\n')).toEqual({ x: 2 })
  })
})

describe('metricOf', () => {
  it('returns finite positive numbers only', () => {
    const s = { ok: 0.98, zero: 0, neg: -1, str: 'nan', num: '1.0' }
    expect(metricOf(s, 'ok')).toBe(0.98)
    expect(metricOf(s, 'zero')).toBeNull()
    expect(metricOf(s, 'neg')).toBeNull()
    expect(metricOf(s, 'str')).toBeNull()
    expect(metricOf(s, 'num')).toBeNull()
    expect(metricOf(s, 'missing')).toBeNull()
    expect(metricOf(s, 'toString')).toBeNull()
    expect(metricOf(null, 'ok')).toBeNull()
  })
})

describe('lastProgressLine', () => {
  it('returns the last \\r-redrawn progress line, not the summary', () => {
    expect(lastProgressLine(AUTORESEARCH_LOG)).toBe('step 00002 (0.6%) | loss: 8.701 | remaining: 298s')
  })

  it('returns the last non-empty line when there is no summary', () => {
    expect(lastProgressLine('a\nb\n\n  \n')).toBe('b')
    expect(lastProgressLine('')).toBe('')
  })

  it('counts lines after the summary block as progress', () => {
    expect(lastProgressLine('step 9\n---\nval_bpb: 1\ncleanup done\n')).toBe('cleanup done')
  })

  it('returns an empty string when only a summary exists', () => {
    expect(lastProgressLine('---\nval_bpb: 1\n')).toBe('')
  })
})

describe('missingMetric', () => {
  it('names the summary keys that were printed, not a progress line', () => {
    const log = 'step 00100 | loss: 3.2100\n---\nval_loss:         3.2100\ntraining_seconds: 30.0\n'
    expect(missingMetric(parseSummary(log), 'val_bpb', lastProgressLine(log))).toBe('no val_bpb in the summary: it printed val_loss, training_seconds')
    // Autoresearch's own summary, asked for a metric it does not print: every key is listed (up to 12).
    expect(missingMetric(parseSummary(AUTORESEARCH_LOG), 'val_loss', '')).toBe(
      'no val_loss in the summary: it printed val_bpb, training_seconds, total_seconds, peak_vram_mb, mfu_percent, total_tokens_M, num_steps, num_params_M, depth')
    const many = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i]))
    expect(missingMetric(many, 'val_bpb', '')).toMatch(/it printed k0, k1, .*k11, … \(20 in all\)$/)
  })

  it('says when no summary block was printed at all, with the last line', () => {
    expect(missingMetric(null, 'val_bpb', 'step 00100 | loss: 3.2100')).toBe('no val_bpb in output: no summary block (a line "---", then "key: value" lines) was printed; last line: step 00100 | loss: 3.2100')
    expect(missingMetric(null, 'val_bpb', '')).toMatch(/; no output$/)
    expect(missingMetric({ val_bpb: 'nan' }, 'val_bpb', '')).toBe('val_bpb is not a positive number: nan')
  })
})

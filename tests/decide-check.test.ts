import { describe, expect, it } from 'vitest'
import { CandidateRejected, MAX_EDITABLE_BYTES, checkCandidate } from '../trainer/check.ts'
import { afterConfirm, firstLook } from '../trainer/decide.ts'

describe('keep rule', () => {
  it('needs more than the noise margin to look further', () => {
    expect(firstLook(2.49, 2.5, 0.02, true)).toBe('discard')
    expect(firstLook(2.47, 2.5, 0.02, true)).toBe('confirm')
    expect(firstLook(2.47, 2.5, 0.02, false)).toBe('keep')
    expect(firstLook(Number.NaN, 2.5, 0.02, true)).toBe('discard')
    // Decisively better (4 margins by default): kept on the one run; 0 always confirms.
    expect(firstLook(2.42, 2.5, 0.02, true)).toBe('keep')
    expect(firstLook(2.43, 2.5, 0.02, true)).toBe('confirm')
    expect(firstLook(2.42, 2.5, 0.02, true, 0)).toBe('confirm')
    expect(firstLook(2.3, 2.5, 0.02, true, 10)).toBe('keep')
  })
  it('keeps after confirmation only when both runs beat the baseline and the mean clears the margin', () => {
    expect(afterConfirm(2.40, 2.46, 2.5, 0.02)).toBe('keep')
    expect(afterConfirm(2.40, 2.51, 2.5, 0.02)).toBe('discard')
    expect(afterConfirm(2.47, 2.495, 2.5, 0.02)).toBe('discard')
  })
})

describe('candidate check', () => {
  const base = { 'train.py': 'a = 1\n' }
  const reject = (changes: Record<string, string>, re: RegExp): void => {
    expect(() => checkCandidate(base, changes, ['train.py'])).toThrow(CandidateRejected)
    expect(() => checkCandidate(base, changes, ['train.py'])).toThrow(re)
  }
  it('accepts a change to an editable file', () => {
    expect(checkCandidate(base, { 'train.py': 'a = 2\n' }, ['train.py'])).toEqual({ 'train.py': 'a = 2\n' })
  })
  it('rejects what it must', () => {
    reject({}, /changes no file/)
    reject({ 'prepare.py': 'x' }, /not editable: prepare.py/)
    reject({ 'train.py': 'a = 2\n', '../evil.py': 'x' }, /not editable/)
    reject({ 'train.py': 'a = 1\n' }, /identical/)
    reject({ 'train.py': '   \n' }, /empties/)
    reject({ 'train.py': 'a\0b' }, /NUL/)
    reject({ 'train.py': 'x'.repeat(MAX_EDITABLE_BYTES + 1) }, /over the/)
  })
})

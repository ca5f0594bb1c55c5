import { describe, expect, it } from 'vitest'
import { contentHash } from '../protocol/index.ts'
import { applyMutation, findConstants, neighbours, proposeMutation, rng, weightOf } from '../trainer/proposers/mutation.ts'
import type { PastExperiment, ProposeContext } from '../trainer/proposers/types.ts'

const TRAIN = [
  'import torch',
  'SEED = 1337',
  'N_LAYER = 2          # depth',
  'N_EMBD = 128',
  'LEARNING_RATE = 3e-3',
  'WEIGHT_DECAY = 0.1',
  'DROPOUT = 0.0',
  'WARMUP_STEPS = 0',
  'TIE_WEIGHTS = True',
  'def f():',
  '    INNER = 5',
  'x = N_LAYER * 2'
].join('\n')

function ctx (over: Partial<ProposeContext> = {}): ProposeContext {
  return { files: { 'train.py': TRAIN }, editable: ['train.py'], parent: 'abc', history: [], tried: new Set(), ...over }
}

describe('mutation proposer', () => {
  it('finds top-level constants, not seeds or indented names', () => {
    const names = findConstants('train.py', TRAIN).map(c => c.name)
    expect(names).toEqual(['N_LAYER', 'N_EMBD', 'LEARNING_RATE', 'WEIGHT_DECAY', 'DROPOUT', 'WARMUP_STEPS', 'TIE_WEIGHTS'])
  })

  it('proposes sensible neighbours', () => {
    const by = Object.fromEntries(findConstants('train.py', TRAIN).map(c => [c.name, neighbours(c)]))
    expect(by.N_LAYER).toEqual(['1', '3'])
    expect(by.N_EMBD).toEqual(['64', '256', '192'])
    expect(by.LEARNING_RATE).toEqual(['1.5e-3', '2.1e-3', '4.2e-3', '6e-3'])
    expect(by.WEIGHT_DECAY).toEqual(['0.05', '0.07', '0.14', '0.2'])
    expect(by.DROPOUT).toEqual(['0.01', '0.1'])
    expect(by.WARMUP_STEPS).toEqual(['1', '10', '100'])
    expect(by.TIE_WEIGHTS).toEqual(['False'])
  })

  it('rewrites one line and keeps its comment', () => {
    const c = findConstants('train.py', TRAIN).find(c => c.name === 'N_LAYER')!
    const out = applyMutation(TRAIN, c, '3')
    expect(out.split('\n')[2]).toBe('N_LAYER = 3          # depth')
    expect(out.split('\n').filter((l, i) => l !== TRAIN.split('\n')[i])).toHaveLength(1)
  })

  it('never proposes the same change twice against one baseline, then runs dry', () => {
    const tried = new Set<string>()
    const random = rng(7)
    const seen = new Set<string>()
    for (;;) {
      const p = proposeMutation(ctx({ tried }), random)
      if (p == null) break
      expect(seen.has(p.description)).toBe(false)
      seen.add(p.description)
      tried.add(contentHash({ 'train.py': p.files['train.py']! }))
    }
    expect(seen.size).toBe(2 + 3 + 4 + 4 + 2 + 3 + 1)
  })

  it('is reproducible for a seed', () => {
    const a = proposeMutation(ctx(), rng(42))
    const b = proposeMutation(ctx(), rng(42))
    expect(a).toEqual(b)
    expect(a?.detail?.mutation).toBeDefined()
  })

  it('leans towards what was kept and away from crashes', () => {
    const kept: PastExperiment = { parent: 'p', status: 'keep', description: '', val_bpb: 2, detail: { mutation: { file: 'train.py', name: 'LEARNING_RATE', from: '3e-3', to: '6e-3' } } }
    const crashed: PastExperiment = { parent: 'p', status: 'crash', description: '', val_bpb: null, detail: { mutation: { file: 'train.py', name: 'N_EMBD', from: '128', to: '256' } } }
    expect(weightOf('LEARNING_RATE', 'up', [kept])).toBeGreaterThan(weightOf('LEARNING_RATE', 'down', [kept]))
    expect(weightOf('N_EMBD', 'up', [crashed])).toBeLessThan(1)
    let lrUp = 0
    const random = rng(1)
    for (let i = 0; i < 400; i++) {
      const p = proposeMutation(ctx({ history: [kept, kept] }), random)!
      const m = p.detail!.mutation as { name: string, from: string, to: string }
      if (m.name === 'LEARNING_RATE' && Number(m.to) > Number(m.from)) lrUp++
    }
    // 2 of 19 options uniformly (~42 of 400); with two keeps the pull is ~9x.
    expect(lrUp).toBeGreaterThan(120)
  })

  it('leaves non-Python editable files alone', () => {
    expect(proposeMutation(ctx({ files: { 'notes.txt': 'A = 1' }, editable: ['notes.txt'] }), rng(1))).toBeNull()
  })
})

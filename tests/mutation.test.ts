import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { contentHash } from '../protocol/index.ts'
import { analyse } from '../trainer/proposers/constraints.ts'
import { FILTERS, HINTS, applyMutation, findConstants, learnedFrom, neighbours, proposeMutation, rng, seedFor, viableOptions, weightOf, type Mutation } from '../trainer/proposers/mutation.ts'
import type { PastExperiment, ProposeContext } from '../trainer/proposers/types.ts'
import { TEMPLATE_DIR } from '../trainer/template.ts'

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
    const keptOnce = learnedFrom({ history: [kept] })
    expect(weightOf('LEARNING_RATE', 'up', keptOnce)).toBeGreaterThan(weightOf('LEARNING_RATE', 'down', keptOnce))
    expect(weightOf('N_EMBD', 'up', learnedFrom({ history: [crashed] }))).toBeLessThan(1)
    let lrUp = 0
    const random = rng(1)
    for (let i = 0; i < 400; i++) {
      const p = proposeMutation(ctx({ history: [kept, kept] }), random)!
      const m = p.detail!.mutation as { name: string, from: string, to: string }
      if (m.name === 'LEARNING_RATE' && Number(m.to) > Number(m.from)) lrUp++
    }
    // 2 of 19 options uniformly (~42 of 400, sd ~6); with two keeps in two tries the pull is 1.8x (~74).
    expect(lrUp).toBeGreaterThan(60)
  })

  it('weighs a change by how often it was kept, within bounds: no run of keeps takes every draw', () => {
    const lr = (status: string, to = '6e-3'): PastExperiment => ({ parent: 'p', status, description: '', val_bpb: 2, detail: { mutation: { file: 'train.py', name: 'LEARNING_RATE', from: '3e-3', to } } })
    const w = (history: PastExperiment[]): number => weightOf('LEARNING_RATE', 'up', learnedFrom({ history }))
    expect(w([])).toBe(1)
    expect(w(Array(20).fill(lr('keep')))).toBeLessThanOrEqual(3)
    expect(w(Array(10).fill(lr('discard')))).toBeCloseTo(3 / 13)
    // Discards in the other direction say nothing of this one; a keep there does.
    expect(w(Array(10).fill(lr('discard', '1.5e-3')))).toBe(1)
    expect(w([lr('keep', '1.5e-3')])).toBeLessThan(1)
  })

  it('learns from trusted peers\' outcomes as from its own: what the swarm discarded again and again is drawn less', () => {
    const discarded = Array.from({ length: 10 }, () => ({ description: 'LEARNING_RATE 3e-3 -> 6e-3', status: 'discard' }))
    const count = (over: Partial<ProposeContext>): number => {
      const random = rng(7)
      let n = 0
      for (let i = 0; i < 400; i++) if (proposeMutation(ctx(over), random)!.description === 'LEARNING_RATE 3e-3 -> 6e-3') n++
      return n
    }
    const alone = count({})
    const told = count({ swarmOutcomes: [...discarded, { description: 'an LLM\'s idea', status: 'keep' }] })
    expect(alone).toBeGreaterThan(10)
    expect(told).toBeLessThan(alone / 2)
  })

  it('leaves non-Python editable files alone', () => {
    expect(proposeMutation(ctx({ files: { 'notes.txt': 'A = 1' }, editable: ['notes.txt'] }), rng(1))).toBeNull()
  })
})

const DEFAULT_TRAIN = readFileSync(join(TEMPLATE_DIR, 'train.py'), 'utf8')
const described = (o: { mutation: Mutation }): string => `${o.mutation.name} ${o.mutation.from} -> ${o.mutation.to}`

describe('mutation proposer: what the file itself rules out', () => {
  it('never proposes N_HEAD 4 -> 3 or 4 -> 5 on the default train.py (128 would not split into heads), and nothing else is lost', () => {
    const c = ctx({ files: { 'train.py': DEFAULT_TRAIN } })
    const { viable, skipped } = viableOptions(c)
    expect(skipped.map(s => [described(s.option), s.why])).toEqual([
      ['N_HEAD 4 -> 3', 'breaks "N_HEAD divides N_EMBD"'],
      ['N_HEAD 4 -> 5', 'breaks "N_HEAD divides N_EMBD"']
    ])
    // Widths that still divide by 4 heads stay: the condition is checked, not the name.
    expect(viable.map(described)).toEqual(expect.arrayContaining(['N_EMBD 128 -> 64', 'N_EMBD 128 -> 256', 'N_EMBD 128 -> 192']))
    const random = rng(11)
    for (let i = 0; i < 100; i++) expect(proposeMutation(c, random)!.description).not.toMatch(/^N_HEAD 4 -> [35]$/)
  })

  it('reads the conditions from the code, whatever the names: asserts, integer divisions, divisors', () => {
    const file = [
      'WIDTH = 96', 'GROUPS = 4', 'D_MODEL = 100', 'HEADS = 4', 'STEPS = 7', 'SCALE = 2',
      'assert WIDTH % GROUPS == 0, "groups must split the width"',
      'head = D_MODEL // HEADS  # a remainder here would not reshape',
      'chunk = STEPS // 2       # a literal divisor rounds on purpose',
      'ratio = 1.0 / SCALE',
      'def f(x):', '    return x.view(-1, HEADS, x.size(-1) // HEADS)'
    ].join('\n')
    const a = analyse(file)
    expect(a.conditions.map(c => c.text)).toEqual(['assert WIDTH % GROUPS == 0', 'HEADS divides D_MODEL', 'GROUPS is not zero', 'HEADS is not zero', 'SCALE is not zero'])
    const int = (v: number) => ({ v, int: true })
    expect(a.violated({ GROUPS: int(3) })).toBeNull() // 96 splits into 3
    expect(a.violated({ GROUPS: int(5) })).toBe('assert WIDTH % GROUPS == 0')
    expect(a.violated({ HEADS: int(5) })).toBeNull() // 100 = 5 x 20
    expect(a.violated({ HEADS: int(3) })).toBe('HEADS divides D_MODEL')
    expect(a.violated({ STEPS: int(9) })).toBeNull()
    expect(a.violated({ SCALE: int(0) })).toBe('SCALE is not zero')
    const { skipped } = viableOptions(ctx({ files: { 'train.py': file } }))
    expect(skipped.map(s => described(s.option)).sort()).toEqual(['D_MODEL 100 -> 125', 'D_MODEL 100 -> 75', 'GROUPS 4 -> 5', 'HEADS 4 -> 3'])
  })

  it('ignores a condition the file already breaks (the baseline runs, so it is no requirement), strings and comments', () => {
    const file = ['N = 10', 'K = 4', 'blocks = N // K', 's = "N // 3 and assert False"', '# assert K == 4', 'M = 8', 'H = 2', 'assert M % H == 0']
      .join('\n')
    const a = analyse(file)
    expect(a.conditions.map(c => c.text)).toEqual(['assert M % H == 0', 'K is not zero', 'H is not zero'])
    expect(a.violated({ K: { v: 3, int: true } })).toBeNull()
  })

  it('reads any text without failing: broken Python has fewer conditions, never an error', () => {
    const pythonish = fc.stringMatching(/^[A-Z_a-z0-9 =()[\]{}:,.+\-*/%<>!#"'\\\n]{0,120}$/)
    fc.assert(fc.property(pythonish, text => {
      const a = analyse(`N = 4\nM = 8\n${text}`)
      expect(typeof a.violated({ N: { v: 3, int: true } }) === 'string' || a.violated({ N: { v: 3, int: true } }) === null).toBe(true)
    }), { numRuns: 400 })
  })

  it('learns a crash across baselines when its surroundings are the same, not when they changed or the machine was to blame', () => {
    const file = (wd: string): string => ['LR = 0.1', `WD = ${wd}`, 'DEPTH = 2', 'opt = make(LR, WD)'].join('\n')
    const crashed = (reason: string, context: Record<string, string>): PastExperiment => ({
      parent: 'old-baseline', status: 'crash', description: 'LR 0.05 -> 0.2', val_bpb: null, reason,
      detail: { mutation: { file: 'train.py', name: 'LR', from: '0.05', to: '0.2', context } }
    })
    const lrTo02 = (c: ProposeContext): boolean => viableOptions(c).viable.some(o => o.mutation.name === 'LR' && o.mutation.to === '0.2')
    const on = (wd: string, history: PastExperiment[]): ProposeContext => ctx({ files: { 'train.py': file(wd) }, parent: 'new-baseline', history })
    expect(lrTo02(on('0.1', []))).toBe(true)
    // The same change crashed on another baseline with WD as it is now: not again.
    const deterministic = crashed('exit code 1: ValueError: lr too high', { WD: '0.1' })
    expect(lrTo02(on('0.1', [deterministic]))).toBe(false)
    expect(viableOptions(on('0.1', [deterministic])).skipped.find(s => s.option.mutation.to === '0.2')?.why).toMatch(/crashed before with the same WD \(exit code 1/)
    // WD has changed since: worth another try. A timeout says more about the moment than the change.
    expect(lrTo02(on('0.2', [deterministic]))).toBe(true)
    expect(lrTo02(on('0.1', [crashed('timed out after 900 s', { WD: '0.1' })]))).toBe(true)
    // Proposals carry their surroundings, so the next crash is remembered the same way.
    const p = proposeMutation(on('0.1', []), rng(5))!
    const m = p.detail!.mutation as Mutation
    expect(m.context).toEqual(m.name === 'DEPTH' ? {} : m.name === 'LR' ? { WD: '0.1' } : { LR: '0.1' })
  })

  it('learns a trusted peer\'s crash the same way, from the files it was made on', () => {
    const file = (wd: string, depth = '2'): string => ['LR = 0.05', `WD = ${wd}`, `DEPTH = ${depth}`, 'opt = make(LR, WD)'].join('\n')
    const lrTo01 = (c: ProposeContext): string | undefined => viableOptions(c).skipped.find(s => s.option.mutation.name === 'LR' && s.option.mutation.to === '0.1')?.why
    // The peer crashed LR 0.05 -> 0.1 with WD 0.1 on its baseline (DEPTH 3); ours differs only where it does not matter.
    const crash = { description: 'LR 0.05 -> 0.1', reason: 'exit code 1: ValueError: lr too high', parentFiles: { 'train.py': file('0.1', '3') } }
    expect(lrTo01(ctx({ files: { 'train.py': file('0.1') }, swarmCrashes: [crash] }))).toMatch(/crashed before on a peer with the same WD/)
    expect(lrTo01(ctx({ files: { 'train.py': file('0.2') }, swarmCrashes: [crash] }))).toBeUndefined()
    // A description that names no constant change teaches nothing.
    expect(lrTo01(ctx({ files: { 'train.py': file('0.1') }, swarmCrashes: [{ ...crash, description: 'rewrite the optimizer' }] }))).toBeUndefined()
  })

  it('skips what trusted peers ran on this baseline or are running now, and draws differently per node', () => {
    const all = viableOptions(ctx()).viable
    const taken = new Map(all.slice(0, 3).map(o => [o.child, 'discard by peer 12345678: "x"']))
    const { viable, skipped } = viableOptions(ctx({ swarmTried: taken }))
    expect(viable.length).toBe(all.length - 3)
    expect(skipped.filter(s => s.why.startsWith('in the swarm: discard by peer')).length).toBe(3)
    // Nodes seeded by their peer ids: on one baseline, their first draws spread over the options.
    const firsts = new Set(Array.from({ length: 8 }, (_, i) => proposeMutation(ctx(), rng(seedFor(`12D3KooWpeer${i}`)))!.description))
    expect(firsts.size).toBeGreaterThan(3)
  })

  it('lets a change discarded on an earlier baseline, or running there on a peer, wait while its constant has not moved, unless nothing else is left', () => {
    // The step to this baseline moved N_LAYER; on the one before, these ran (here or on trusted peers).
    const stepBack = [
      { description: 'LEARNING_RATE 3e-3 -> 6e-3', status: 'discard' },
      { description: 'N_LAYER 1 -> 2', status: 'keep' },
      { description: 'N_LAYER 1 -> 0', status: 'discard' },
      { description: 'N_EMBD 128 -> 256', status: 'crash' },
      { description: 'WEIGHT_DECAY 0.1 -> 0.2', status: 'running' },
      { description: 'make the model wider', status: 'discard' }
    ]
    const why = (c: ProposeContext, name: string, to: string): string | undefined =>
      viableOptions(c, [...FILTERS, ...HINTS]).skipped.find(s => s.option.mutation.name === name && s.option.mutation.to === to)?.why
    const c = ctx({ stepBack })
    expect(why(c, 'LEARNING_RATE', '6e-3')).toBe('discarded on an earlier baseline, LEARNING_RATE unmoved since')
    expect(why(c, 'WEIGHT_DECAY', '0.2')).toBe('running now on a peer on an earlier baseline, WEIGHT_DECAY unmoved since')
    // The rest of the constants' changes stay: a crash is the crash memory's to judge, a keep pulls, and a
    // change from another value of the constant is a different change.
    expect(why(c, 'N_EMBD', '256')).toBeUndefined()
    expect(why(c, 'LEARNING_RATE', '4.2e-3')).toBeUndefined()
    expect(why(ctx({ stepBack, files: { 'train.py': TRAIN.replace('LEARNING_RATE = 3e-3', 'LEARNING_RATE = 1e-3') } }), 'LEARNING_RATE', '6e-3')).toBeUndefined()
    const random = rng(3)
    for (let i = 0; i < 200; i++) expect(proposeMutation(c, random)!.description).not.toMatch(/^(LEARNING_RATE 3e-3 -> 6e-3|WEIGHT_DECAY 0.1 -> 0.2)$/)
    // With every other option tried here, the hint yields: a discard one step back is still worth a run.
    const others = viableOptions(ctx()).viable.filter(o => !/^(LEARNING_RATE|WEIGHT_DECAY)$/.test(o.mutation.name) || !['6e-3', '0.2'].includes(o.to))
    const left = ctx({ stepBack, tried: new Set(others.map(o => o.child)) })
    const seen = new Set(Array.from({ length: 40 }, () => proposeMutation(left, random)?.description))
    expect(seen).toEqual(new Set(['LEARNING_RATE 3e-3 -> 6e-3', 'WEIGHT_DECAY 0.1 -> 0.2']))
  })
})

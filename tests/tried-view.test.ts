/** The swarm-wide tried view: who ran what on which parent, trusted peers only, within a bound. */
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { beforeAll, describe, expect, it } from 'vitest'
import { contentHash, type ClaimMsg, type ResultMsg } from '../protocol/index.ts'
import { MAX_OUTCOMES, MAX_TRIED_RUNS, TriedView } from '../node/swarm/tried-view.ts'

let me: string
let trusted: string
let stranger: string
const HW = { cpu: 'x', cores: 2, ram_gb: 8, gpu: null, gpu_mem_gb: null }

/** Unsigned: the view takes what the store already admitted, it does not check signatures. */
function ran (author: string, parent: string, child: string, status: ResultMsg['status'] = 'discard'): ResultMsg {
  return {
    v: 1, kind: 'result', project: 'a'.repeat(64), track: 'cpu', parent: contentHash({ 'train.py': parent }), child: contentHash({ 'train.py': child }),
    diff: '', val_bpb: 2, verified_bpb: null, status, reason: '', metrics: {}, hardware: HW, agent: 'mutation', description: `${parent}->${child}`, time: 1, author, sig: ''
  } as unknown as ResultMsg
}

beforeAll(async () => {
  const ids = await Promise.all([0, 1, 2].map(async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519') as PrivateKey).toString()))
  ;[me, trusted, stranger] = ids as [string, string, string]
})

describe('tried view', () => {
  const view = (): TriedView => new TriedView({
    self: me,
    trust: { attesterWeight: p => p === trusted ? 1 : 0, distrusted: () => false },
    claims: () => []
  })

  it('names what trusted peers ran on a parent, not what free keys say they ran', () => {
    const v = view()
    v.add(ran(trusted, 'p', 'c1'))
    v.add(ran(stranger, 'p', 'c2'))
    v.add(ran(me, 'p', 'c3', 'keep'))
    const tried = v.tried(contentHash({ 'train.py': 'p' }))
    expect([...tried.keys()]).toEqual([contentHash({ 'train.py': 'c1' }), contentHash({ 'train.py': 'c3' })])
    expect(tried.get(contentHash({ 'train.py': 'c3' }))).toMatch(/^keep by this node/)
  })

  it('tells the step-back hint what trusted peers ran on a parent and what they run on it now, not what free keys say', () => {
    const parent = contentHash({ 'train.py': 'p' })
    const claim = (author: string, child: string, expires: number): ClaimMsg =>
      ({ v: 1, kind: 'claim', project: 'a'.repeat(64), track: 'cpu', parent, child: contentHash({ 'train.py': child }), description: `running ${child}`, time: 1, expires, author, sig: '' }) as unknown as ClaimMsg
    const claims = [claim(trusted, 'c4', 2000), claim(stranger, 'c5', 2000), claim(trusted, 'c6', 500), claim(trusted, 'c1', 2000)]
    const v = new TriedView({ self: me, trust: { attesterWeight: p => p === trusted ? 1 : 0, distrusted: () => false }, claims: () => claims })
    v.add(ran(trusted, 'p', 'c1'))
    v.add(ran(stranger, 'p', 'c2'))
    v.add(ran(trusted, 'q', 'c3', 'keep'))
    // c1's result is in: its claim adds nothing; c6's claim has expired.
    expect(v.ranOn(parent, 1000)).toEqual([{ description: 'p->c1', status: 'discard' }, { description: 'running c4', status: 'running' }])
    expect(v.ranOn(contentHash({ 'train.py': 'q' }), 1000)).toEqual([{ description: 'q->c3', status: 'keep' }])
  })

  it('remembers at most MAX_TRIED_RUNS runs, forgetting the parent heard of least recently first', () => {
    const v = view()
    v.add(ran(trusted, 'old', 'x'))
    v.add(ran(trusted, 'kept warm', 'y'))
    for (let i = 0; i < MAX_TRIED_RUNS - 2; i++) v.add(ran(stranger, `p${i}`, 'c'))
    // 'kept warm' heard of again: now it is among the newest.
    v.add(ran(trusted, 'kept warm', 'z'))
    expect(v.size).toBe(MAX_TRIED_RUNS)
    expect(v.tried(contentHash({ 'train.py': 'old' })).size).toBe(0)
    expect(v.tried(contentHash({ 'train.py': 'kept warm' })).size).toBe(2)
    // One parent with more children than the bound is bounded too.
    const flood = view()
    for (let i = 0; i < MAX_TRIED_RUNS + 10; i++) flood.add(ran(stranger, 'one', `c${i}`))
    expect(flood.size).toBe(MAX_TRIED_RUNS)
  })

  it('hands the proposer trusted peers\' outcomes (not its own, not free keys\'), the latest MAX_OUTCOMES, each run once', () => {
    const v = view()
    v.add(ran(trusted, 'p', 'c1'))
    v.add(ran(trusted, 'p', 'c1'))
    v.add(ran(stranger, 'p', 'c2', 'keep'))
    v.add(ran(me, 'p', 'c3', 'keep'))
    v.add(ran(trusted, 'p', 'c4', 'keep'))
    expect(v.outcomes()).toEqual([{ description: 'p->c1', status: 'discard' }, { description: 'p->c4', status: 'keep' }])
    for (let i = 0; i < MAX_OUTCOMES; i++) v.add(ran(trusted, `q${i}`, 'c'))
    const all = v.outcomes()
    expect(all).toHaveLength(MAX_OUTCOMES)
    expect(all[0]).toEqual({ description: 'q0->c', status: 'discard' })
    expect(all.at(-1)).toEqual({ description: `q${MAX_OUTCOMES - 1}->c`, status: 'discard' })
  })

  it('keeps free keys\' runs out of what the proposer learns from, so a flood of them cannot push trusted peers\' out', () => {
    const v = view()
    v.add(ran(trusted, 'p', 'kept', 'keep'))
    for (let i = 0; i < 2 * MAX_OUTCOMES; i++) v.add(ran(stranger, `f${i}`, 'c'))
    expect(v.outcomes()).toEqual([{ description: 'p->kept', status: 'keep' }])
  })
})

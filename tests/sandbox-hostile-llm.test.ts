/**
 * The hostile-candidate suite, LLM half: an OpenAI-compatible server on
 * 127.0.0.1 answers a real `swarm-node start` process (the real `openai`
 * client) with edits that paste each attack of tests/helpers/hostile-cases.ts
 * into train.py. The project's policy is off, so every candidate is trained in
 * the sandbox, which alone stops it. Then an honest edit, measured exactly.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { startFakeOpenAI, type FakeOpenAI } from './helpers/fake-openai.ts'
import { searchReplace } from './helpers/llm-replies.ts'
import { cleanupFixtures } from './helpers/fixtures.ts'
import { CANARY_KEY, CASES, PAYLOAD_LINE, expectRecorded, honestFigure, hostileWorld, leftovers, type World } from './helpers/hostile-cases.ts'
import { startTrainer, stopAll, type Ev } from './helpers/swarm-procs.ts'

let world: World | undefined
let server: FakeOpenAI | undefined
afterEach(stopAll)
afterEach(async () => { await world?.close(); await server?.close() })
afterAll(cleanupFixtures)

describe('hostile LLM candidates, trained in the sandbox', () => {
  it('stops every attack, records each with its reason, and the next honest candidate measures honestly', async () => {
    const w = world = await hostileWorld('llm')
    const replies = CASES.map(c => ({ reply: `DESCRIPTION: attack ${c.name}\n\n${searchReplace(PAYLOAD_LINE, `${PAYLOAD_LINE}\n${c.payload(w)}`)}` }))
    replies.push({ reply: `DESCRIPTION: honest: LEARNING_RATE 0.04 -> 0.02\n\n${searchReplace('LEARNING_RATE = 0.04', 'LEARNING_RATE = 0.02')}` })
    const s = server = await startFakeOpenAI(replies)

    const v = await startTrainer('L', {
      dir: w.dir,
      home: w.home,
      offline: true,
      confirm: false,
      env: w.env,
      extraArgs: ['--llm-base-url', s.url, '--model', 'fake-coder', '--max-repairs', '0']
    })
    await v.proc.waitFor(e => e.type === 'experiment-end' && e.record.status === 'baseline', 30_000, 'baseline')
    const before = await w.snapshot()

    const ends = new Map<string, Ev>()
    const end = await v.proc.waitFor(e => {
      if (e.type !== 'experiment-end') return false
      ends.set(String(e.record.description), e)
      return String(e.record.description).startsWith('honest')
    }, 240_000, 'the honest candidate after every attack')

    for (const c of CASES) {
      const e = ends.get(`attack ${c.name}`)
      expect(e, `${c.name} was trained`).toBeDefined()
      expect(e!.record.proposer).toBe('llm:fake-coder')
      expectRecorded(c, e!.record)
    }
    expect(end.record).toMatchObject({ status: 'keep', val_bpb: honestFigure({ lr: 0.02 }), proposer: 'llm:fake-coder' })

    expect(w.heard).toEqual({ connections: 0, bytes: 0 })
    expect(await w.snapshot()).toEqual(before)
    expect(await leftovers(w.mark)).toEqual([])
    // The key reached the model's server, as it should, and no run.
    expect(s.chats().every(r => r.headers.authorization === `Bearer ${CANARY_KEY}`)).toBe(true)
    expect(s.left()).toBe(0)
    expect(v.proc.alive).toBe(true)
    expect(await v.proc.stop()).toBe(0)
  }, 300_000)
})

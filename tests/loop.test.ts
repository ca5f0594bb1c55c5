/**
 * The research loop end to end on the autoresearch-shaped fixture: real git,
 * real Python subprocesses, `uv run train.py` as the manifest says.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { simpleGit } from 'simple-git'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runLoop, type LoopEvent } from '../trainer/loop.ts'
import type { Proposal, Proposer } from '../trainer/proposers/types.ts'
import { openSession } from '../trainer/session.ts'
import { cleanupFixtures, fixtureCopy, pathWithFakeUv, tempDir } from './helpers/fixtures.ts'

class ScriptedProposer implements Proposer {
  readonly name = 'scripted'
  constructor (private readonly script: Array<(text: string) => Proposal>) {}
  async propose (ctx: { files: Record<string, string> }): Promise<Proposal | null> {
    const next = this.script.shift()
    return next == null ? null : next(ctx.files['train.py']!)
  }
}

const edit = (description: string, from: string, to: string) => (text: string): Proposal => {
  if (!text.includes(from)) throw new Error(`fixture drifted: ${from}`)
  return { description, files: { 'train.py': text.replace(from, to) } }
}

describe('research loop on an autoresearch-shaped project', () => {
  let dir: string
  let home: string
  const events: LoopEvent[] = []

  beforeAll(async () => {
    process.env.PATH = pathWithFakeUv()
    dir = await fixtureCopy('autoresearch')
    home = await tempDir('home')
    // A hang must be killed well before the manifest's own timeout.
    const manifest = JSON.parse(await readFile(join(dir, 'swarm.json'), 'utf8'))
    manifest.timeout_s = 4
    await (await import('node:fs/promises')).writeFile(join(dir, 'swarm.json'), JSON.stringify(manifest))
  })
  afterAll(cleanupFixtures)

  it('runs baseline, keep, discard, crash, hang and NaN, and records each', async () => {
    const session = await openSession({ projectDir: dir, home, runTag: 'test' })
    expect(session.workspace.branch).toBe('swarm/test')
    const proposer = new ScriptedProposer([
      edit('deeper: DEPTH 4 -> 6', 'DEPTH = 4', 'DEPTH = 6'),
      edit('higher lr', 'LEARNING_RATE = 0.04', 'LEARNING_RATE = 0.08'),
      edit('syntax error', 'WINDOW = 128', 'WINDOW = = 128'),
      edit('hang', 'sleep_s = 0.2', 'sleep_s = 60'),
      edit('lr 2 -> nan', 'LEARNING_RATE = 0.04', 'LEARNING_RATE = 2.0')
    ])
    // Always confirm: this keep (10 margins) would otherwise be kept on its one decisive run.
    await runLoop({ session, proposer, signal: new AbortController().signal, onEvent: e => events.push(e), decisive: 0 })

    const ends = events.filter(e => e.type === 'experiment-end').map(e => (e as any).record)
    expect(ends.map(r => r.status)).toEqual(['baseline', 'keep', 'discard', 'crash', 'crash', 'crash'])
    expect(ends[0].val_bpb).toBeCloseTo(1.1 + 0.1 + 0.0128, 6)
    expect(ends[1].val_bpb).toBeCloseTo(1.0 + 0.1 + 0.0128, 6)
    expect(ends[1].metrics.confirm_run).toBeCloseTo(ends[1].val_bpb, 6)
    expect(ends[3].reason).toMatch(/exit code|SyntaxError/)
    expect(ends[4].reason).toMatch(/timed out/)
    expect(ends[5].reason).toMatch(/nan/i)
    expect(ends.map(r => r.seq)).toEqual([1, 2, 3, 4, 5, 6])

    // The workspace holds the kept change and nothing else.
    const train = await readFile(join(dir, 'train.py'), 'utf8')
    expect(train).toContain('DEPTH = 6')
    expect(train).toContain('LEARNING_RATE = 0.04')
    expect(train).toContain('sleep_s = 0.2')
    const git = simpleGit(dir)
    expect((await git.status()).isClean()).toBe(true)
    expect(await git.revparse(['HEAD'])).toBe(ends[1].commit)
    expect((await git.raw(['log', '--format=%s', '-1'])).trim()).toBe('deeper: DEPTH 4 -> 6')

    // results.tsv in autoresearch's columns; the JSONL holds every record.
    const tsv = (await readFile(join(dir, 'results.tsv'), 'utf8')).trim().split('\n')
    expect(tsv[0]).toBe('commit\tval_bpb\tmemory_gb\tstatus\tdescription')
    expect(tsv.slice(1).map(l => l.split('\t')[3])).toEqual(['keep', 'keep', 'discard', 'crash', 'crash', 'crash'])
    expect(tsv[4]!.split('\t')[1]).toBe('0.000000')
    const records = await session.log.readAll()
    expect(records).toHaveLength(6)
    // Run outputs are never committed.
    expect(await git.raw(['ls-files'])).not.toMatch(/run\.log|results\.tsv|data\//)
  })

  it('resumes from the recorded baseline without measuring it again', async () => {
    const session = await openSession({ projectDir: dir, home, runTag: 'test' })
    expect(session.baseline.value).toBeCloseTo(1.1128, 6)
    expect(session.history).toHaveLength(6)
    const seen: LoopEvent[] = []
    await runLoop({ session, proposer: new ScriptedProposer([edit('wider window', 'WINDOW = 128', 'WINDOW = 256')]), signal: new AbortController().signal, onEvent: e => seen.push(e) })
    const ends = seen.filter(e => e.type === 'experiment-end').map(e => (e as any).record)
    expect(ends.map(r => [r.seq, r.status])).toEqual([[7, 'keep']])
  })
})

describe('what the proposer hears of the baseline before this one', () => {
  it('after a keep: the runs on the baseline it was made from, the keep itself aside; after a restart too', async () => {
    process.env.PATH = pathWithFakeUv()
    const dir = await fixtureCopy('autoresearch')
    const home = await tempDir('home')
    const heard: Array<string[] | undefined> = []
    const script = [
      edit('higher lr', 'LEARNING_RATE = 0.04', 'LEARNING_RATE = 0.08'),
      edit('deeper: DEPTH 4 -> 6', 'DEPTH = 4', 'DEPTH = 6'),
      edit('higher lr again', 'LEARNING_RATE = 0.04', 'LEARNING_RATE = 0.08')
    ]
    const listening: Proposer = {
      name: 'scripted',
      propose: async ctx => {
        heard.push(ctx.stepBack?.map(o => `${o.status}: ${o.description}`))
        return script.shift()?.(ctx.files['train.py']!) ?? null
      }
    }
    const session = await openSession({ projectDir: dir, home, runTag: 'step' })
    await runLoop({ session, proposer: listening, signal: new AbortController().signal, onEvent: () => {}, decisive: 0 })
    expect(session.history.map(r => r.status)).toEqual(['baseline', 'discard', 'keep', 'discard'])
    // On the first baseline nothing came before it; after the keep, what ran on its parent.
    expect(heard).toEqual([[], [], ['discard: higher lr'], ['discard: higher lr']])
    const again = await openSession({ projectDir: dir, home, runTag: 'step' })
    const after: Array<string[] | undefined> = []
    await runLoop({ session: again, proposer: { name: 'scripted', propose: async ctx => { after.push(ctx.stepBack?.map(o => o.description)); return null } }, signal: new AbortController().signal, onEvent: () => {} })
    expect(after[0]).toEqual(['higher lr'])
  })
})

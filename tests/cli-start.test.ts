/**
 * `swarm-node start --offline` as a user runs it: a real CLI process on the
 * autoresearch-shaped fixture, killed with SIGKILL mid-experiment and
 * restarted, and stopped with SIGINT while a run is in flight.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { execFileSync } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { simpleGit } from 'simple-git'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { cleanupFixtures, fixtureCopy, pathWithFakeUv, tempDir } from './helpers/fixtures.ts'

const BIN = join(import.meta.dirname, '..', 'bin', 'swarm-node.js')
const live: ChildProcess[] = []

interface Cli { proc: ChildProcess, events: any[], waitFor: (pred: (e: any) => boolean, ms?: number) => Promise<any>, exit: Promise<number | null> }

function startCli (args: string[]): Cli {
  const proc = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, PATH: pathWithFakeUv() }, stdio: ['ignore', 'pipe', 'pipe'] })
  live.push(proc)
  const events: any[] = []
  const waiters: Array<{ pred: (e: any) => boolean, resolve: (e: any) => void }> = []
  let stderr = ''
  proc.stderr!.on('data', d => { stderr += String(d) })
  createInterface({ input: proc.stdout! }).on('line', line => {
    let e: any
    try { e = JSON.parse(line) } catch { return }
    events.push(e)
    for (const w of [...waiters]) if (w.pred(e)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(e) }
  })
  const exit = new Promise<number | null>(resolve => proc.on('exit', code => resolve(code)))
  const waitFor = async (pred: (e: any) => boolean, ms = 30_000): Promise<any> => {
    const hit = events.find(pred)
    if (hit != null) return hit
    return await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out; events: ${JSON.stringify(events.slice(-5))}; stderr: ${stderr.slice(-2000)}`)), ms)
      waiters.push({ pred, resolve: e => { clearTimeout(t); resolve(e) } })
      void exit.then(() => { clearTimeout(t); reject(new Error(`exited; stderr: ${stderr.slice(-2000)}`)) })
    })
  }
  return { proc, events, waitFor, exit }
}

function pythonsUnder (dir: string): string[] {
  try {
    return execFileSync('pgrep', ['-af', 'train.py'], { encoding: 'utf8' }).split('\n').filter(l => l.includes(dir) || l.includes('train.py'))
      .filter(l => !l.includes('pgrep'))
  } catch { return [] }
}

afterEach(() => { for (const p of live.splice(0)) if (p.exitCode == null) p.kill('SIGKILL') })
afterAll(cleanupFixtures)

describe('swarm-node start --offline', () => {
  it('survives kill -9 mid-experiment: restart resumes without losing or duplicating results', async () => {
    const dir = await fixtureCopy('autoresearch')
    const home = await tempDir('home')
    const args = ['--home', home, '--json', 'start', '--offline', '--project', dir, '--seed', '3', '--no-confirm']
    const a = startCli(args)
    await a.waitFor(e => e.type === 'experiment-end' && e.record.seq === 3)
    await a.waitFor(e => e.type === 'experiment-start' && e.seq === 4)
    a.proc.kill('SIGKILL')
    await a.exit
    const before = a.events.filter(e => e.type === 'experiment-end').map(e => e.record)

    const b = startCli([...args, '--max-experiments', '2'])
    const session = await b.waitFor(e => e.type === 'session')
    expect(session.baseline).toBeCloseTo(before.filter(r => r.status === 'keep' || r.status === 'baseline').at(-1).decision_bpb ?? before[0].val_bpb, 6)
    expect(await b.exit).toBe(0)
    const after = b.events.filter(e => e.type === 'experiment-end').map(e => e.record)
    expect(after.map(r => r.seq)).toEqual([before.length + 1, before.length + 2])

    const home2 = join(home, 'runs')
    const [projectId] = (await import('node:fs')).readdirSync(home2)
    const lines = (await readFile(join(home2, projectId!, 'experiments.jsonl'), 'utf8')).trim().split('\n').map(l => JSON.parse(l))
    const ids = lines.map(r => r.id)
    expect(new Set(ids).size).toBe(ids.length)
    expect(lines.map(r => r.seq)).toEqual(Array.from({ length: lines.length }, (_, i) => i + 1))
    expect(lines.filter(r => r.status === 'baseline')).toHaveLength(1)
    const git = simpleGit(dir)
    expect((await git.status()).isClean()).toBe(true)
    const lastBase = lines.filter(r => r.status === 'keep' || r.status === 'baseline').at(-1)
    expect(await git.revparse(['HEAD'])).toBe(lastBase.commit)
    const tsv = (await readFile(join(dir, 'results.tsv'), 'utf8')).trim().split('\n')
    expect(tsv).toHaveLength(lines.length + 1)
  })

  it('stops cleanly on SIGINT: the run in flight is killed and the workspace stays on the baseline', async () => {
    const dir = await fixtureCopy('autoresearch')
    const home = await tempDir('home')
    const train = join(dir, 'train.py')
    await writeFile(train, (await readFile(train, 'utf8')).replace('sleep_s = 0.2', 'sleep_s = 2'))
    const c = startCli(['--home', home, '--json', 'start', '--offline', '--project', dir, '--seed', '5', '--no-confirm'])
    await c.waitFor(e => e.type === 'experiment-start' && e.kind === 'candidate')
    await new Promise(r => setTimeout(r, 700))
    const t0 = Date.now()
    c.proc.kill('SIGINT')
    expect(await c.exit).toBe(0)
    expect(Date.now() - t0).toBeLessThan(8000)
    expect(c.events.some(e => e.type === 'stopped')).toBe(true)
    expect(pythonsUnder(dir).filter(l => l.includes(dir))).toEqual([])
    const git = simpleGit(dir)
    expect((await git.status()).isClean()).toBe(true)
    const baseline = c.events.find(e => e.type === 'experiment-end' && e.record.status === 'baseline').record
    expect(await git.revparse(['HEAD'])).toBe(baseline.commit)
  })
})

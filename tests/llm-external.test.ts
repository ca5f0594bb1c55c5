/**
 * An external agent command as the proposer (`--agent-cmd`), through the real
 * loop on the autoresearch-shaped fixture: shell one-liners stand in for
 * Claude Code, Codex or aider. What it does to train.py is the candidate;
 * anything else is reverted and refused, and a hung agent is killed. It runs
 * in the sandbox's agent cage: git and the data are read-only there, and it
 * sees only the folders the user binds (--agent-bind).
 */
import { readdir, readFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { simpleGit } from 'simple-git'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runLoop, type LoopEvent } from '../trainer/loop.ts'
import { createProposer } from '../trainer/proposers/index.ts'
import type { ExperimentRecord } from '../trainer/results-log.ts'
import { Sandbox } from '../trainer/sandbox/index.ts'
import { openSession, type Session } from '../trainer/session.ts'
import { cleanupFixtures, fixtureCopy, pathWithFakeUv, tempDir } from './helpers/fixtures.ts'

beforeAll(() => { process.env.PATH = pathWithFakeUv() })
afterAll(cleanupFixtures)

const DEEPER = "sed -i 's/^DEPTH = 4$/DEPTH = 6/' train.py"

async function run (agentCmd: string, opts: { maxExperiments?: number, timeoutS?: number, binds?: string[], unconfined?: boolean } = {}): Promise<{ session: Session, records: ExperimentRecord[], logs: string[], line: string, seconds: number }> {
  const dir = await fixtureCopy('autoresearch')
  const home = await tempDir('home')
  // unconfined: a machine without a sandbox where the user passed --unsafe-no-sandbox.
  const sandbox = await Sandbox.open({ home, agent: { binds: opts.binds }, ...(opts.unconfined === true ? { unsafe: true, env: { ...process.env, SWARM_BWRAP: 'none' } } : {}) })
  expect(sandbox.confined).toBe(opts.unconfined !== true)
  const session = await openSession({ projectDir: dir, home, runTag: 't', sandbox })
  const { proposer, line, maxRepairs } = createProposer({ agentCmd, agentTimeoutS: opts.timeoutS, env: {} }, { seed: 3 })
  const events: LoopEvent[] = []
  const t0 = Date.now()
  await runLoop({ session, proposer, maxRepairs, confirm: false, maxExperiments: opts.maxExperiments ?? 1, signal: new AbortController().signal, onEvent: e => events.push(e) })
  const records = events.filter(e => e.type === 'experiment-end').map(e => (e as { record: ExperimentRecord }).record)
  const logs = events.filter(e => e.type === 'log').map(e => (e as { message: string }).message)
  return { session, records, logs, line, seconds: (Date.now() - t0) / 1000 }
}

/** Live processes (not zombies) whose command line contains `marker`. */
async function running (marker: string): Promise<number[]> {
  const out: number[] = []
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null)
    if (cmd.includes(marker) && stat != null && !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]!)) out.push(Number(pid))
  }
  return out
}

async function clean (s: Session): Promise<boolean> {
  return (await simpleGit(s.project.dir).status()).isClean()
}

describe('external agent command', () => {
  it('takes its edit to train.py as the candidate, with its description; the brief arrives on stdin', async () => {
    const out = await tempDir('agent-out')
    const { session, records, line } = await run(`cat > ${out}/brief.md; ${DEEPER}; echo "deeper: DEPTH 4 -> 6" > "$SWARM_DESCRIPTION_FILE"`, { binds: [out] })
    expect(line).toMatch(/^proposer: external agent `cat > .*` \(timeout 1800 s\)$/)
    expect(records.map(r => r.status)).toEqual(['baseline', 'keep'])
    expect(records[1]).toMatchObject({ description: 'deeper: DEPTH 4 -> 6', proposer: 'agent:cat' })
    expect((records[1]!.detail as any).agent).toMatchObject({ exit_code: 0 })
    expect((records[1]!.detail as any).stats.latency_ms).toBeGreaterThan(0)
    const brief = await readFile(join(out, 'brief.md'), 'utf8')
    expect(brief).toContain('Edit only train.py')
    expect(brief).toContain('Lower val_bpb. Only train.py may change.')
    expect(brief).toMatch(/current baseline val_bpb: 1\.212800/)
    expect(await clean(session)).toBe(true)
  })

  it('reads a printed DESCRIPTION line; in the cage an agent cannot commit (aider would), its edit still counts', async () => {
    const { session, records, logs } = await run(`${DEEPER}; git commit -qam 'agent commit' 2>&1; echo 'DESCRIPTION: deeper, commit refused'`)
    expect(records[1]).toMatchObject({ status: 'keep', description: 'deeper, commit refused', proposer: 'agent:sed' })
    expect((records[1]!.detail as any).agent.log_tail).toMatch(/Read-only file system|unable to|fatal/i)
    const subjects = (await simpleGit(session.project.dir).raw(['log', '--format=%s'])).trim().split('\n')
    expect(subjects).not.toContain('agent commit')
    expect(logs.some(l => /candidate refused/.test(l))).toBe(false)
  })

  it('unconfined (--unsafe-no-sandbox where none works), undoes the commits an agent makes', async () => {
    const { session, records } = await run(`${DEEPER} && git commit -qam 'agent commit' && echo 'DESCRIPTION: deeper, committed'`, { unconfined: true })
    expect(records[1]).toMatchObject({ status: 'keep', description: 'deeper, committed' })
    expect((records[1]!.detail as any).notes).toEqual(['it committed; the commits were undone'])
    const subjects = (await simpleGit(session.project.dir).raw(['log', '--format=%s'])).trim().split('\n')
    expect(subjects).not.toContain('agent commit')
  })

  it('reverts and refuses a change to prepare.py or a new file; mutation makes that experiment', async () => {
    for (const cmd of [`echo '# mine' >> prepare.py; ${DEEPER}`, `echo 'x = 1' > helper.py; ${DEEPER}`]) {
      const { session, records, logs } = await run(cmd)
      expect(records[1]!.proposer, cmd).toBe('mutation')
      expect((records[1]!.detail as any).fallback.reason).toMatch(/changed files that are not editable: (prepare\.py|helper\.py); reverted and refused/)
      expect(logs.some(l => /reverted and refused; the mutation proposer makes this experiment/.test(l))).toBe(true)
      expect(await readFile(join(session.project.dir, 'prepare.py'), 'utf8')).not.toContain('# mine')
      expect(existsSync(join(session.project.dir, 'helper.py'))).toBe(false)
      expect(await clean(session)).toBe(true)
    }
  })

  it('cannot write the data or git at all: the cage refuses, and the data is as prepare left it', async () => {
    const { session, records } = await run(`echo tampered >> data/ready; touch .git/hooks/post-commit; ${DEEPER}`)
    expect(await readFile(join(session.project.dir, 'data', 'ready'), 'utf8')).toBe('ok\n')
    expect(existsSync(join(session.project.dir, '.git', 'hooks', 'post-commit'))).toBe(false)
    expect((records[1]!.detail as any).agent.log_tail).toMatch(/Read-only file system/)
    expect(records[1]).toMatchObject({ proposer: 'agent:echo', status: 'keep' })
  })

  it('kills an agent that runs past its timeout, with everything it started', async () => {
    const marker = `61.${process.pid}${Date.now() % 100000}`
    const { records, seconds, session } = await run(`${DEEPER}; (setsid sleep ${marker} &); sleep 60`, { timeoutS: 1 })
    expect(seconds).toBeLessThan(20)
    expect(await running(marker)).toEqual([])
    expect((records[1]!.detail as any).fallback.reason).toMatch(/did not finish within 1 s/)
    expect(await readFile(join(session.project.dir, 'train.py'), 'utf8')).not.toContain('DEPTH = 6')
  })

  it('repairs its own crash when run again with the tail of run.log', async () => {
    const cmd = `if [ "$SWARM_MODE" = repair ]; then grep -q SyntaxError "$SWARM_BRIEF" && sed -i 's/WINDOW = = 256/WINDOW = 256/' train.py; echo 'DESCRIPTION: fix the typo'; ` +
      `else sed -i 's/^WINDOW = 128$/WINDOW = = 256/' train.py; echo 'DESCRIPTION: wider window'; fi`
    const { records } = await run(cmd, { maxExperiments: 2 })
    expect(records.map(r => [r.status, r.description])).toEqual([['baseline', 'baseline'], ['crash', 'wider window'], ['keep', 'repair: fix the typo']])
  })
})

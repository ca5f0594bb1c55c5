/**
 * A new user's first hour, as they would live it: the README's quick start
 * followed literally in a fresh home on the default project (real Python
 * training), every command succeeding and naming the project; a project whose
 * manifest is broken, fixed, and used; a hung LLM server with --llm-timeout.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readFile, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { simpleGit } from 'simple-git'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { runCli } from './helpers/cli-run.ts'
import { startFakeOpenAI, type FakeOpenAI } from './helpers/fake-openai.ts'
import { cleanupFixtures, fixtureCopy, pathWithFakeUv, tempDir } from './helpers/fixtures.ts'
import { REPO_ROOT } from './helpers/processes.ts'

const BIN = join(REPO_ROOT, 'bin', 'swarm-node.js')
const live: ChildProcess[] = []
const servers: FakeOpenAI[] = []

/** `swarm-node <args>` as a person runs it (no --json): its stderr lines, waited on by pattern. */
function startHuman (args: string[]): { lines: string[], waitFor: (re: RegExp, ms: number) => Promise<string>, exit: Promise<number | null>, stdout: () => string } {
  const proc = spawn(process.execPath, [BIN, ...args], { cwd: REPO_ROOT, env: { ...process.env, PATH: pathWithFakeUv() }, stdio: ['ignore', 'pipe', 'pipe'] })
  live.push(proc)
  const lines: string[] = []
  let out = ''
  const waiters = new Set<() => void>()
  createInterface({ input: proc.stderr! }).on('line', l => { lines.push(l); for (const w of [...waiters]) w() })
  proc.stdout!.on('data', d => { out += String(d) })
  const exit = new Promise<number | null>(resolve => proc.once('exit', code => { for (const w of [...waiters]) w(); resolve(code) }))
  const waitFor = async (re: RegExp, ms: number): Promise<string> => await new Promise((resolve, reject) => {
    const check = (): void => {
      const hit = lines.find(l => re.test(l))
      if (hit != null) { done(); resolve(hit); return }
      if (proc.exitCode != null) { done(); reject(new Error(`exited (${proc.exitCode}) before ${re}:\n${lines.slice(-20).join('\n')}`)) }
    }
    const timer = setTimeout(() => { done(); reject(new Error(`no ${re} within ${ms} ms:\n${lines.slice(-20).join('\n')}`)) }, ms)
    const done = (): void => { clearTimeout(timer); waiters.delete(check) }
    waiters.add(check)
    check()
  })
  return { lines, waitFor, exit, stdout: () => out }
}

afterEach(async () => {
  for (const p of live.splice(0)) if (p.exitCode == null) p.kill('SIGKILL')
  for (const s of servers.splice(0)) await s.close()
})
afterAll(cleanupFixtures)

describe('the README quick start, literally, in a fresh home', () => {
  it('start --offline --budget N --max-experiments 1, then results, plot, status and leaderboard all succeed and name the project', async () => {
    const home = await tempDir('quickstart')
    const cwd = await tempDir('quickstart-cwd')
    const at = ['--home', home]

    const init = await runCli([...at, 'init'])
    expect(init.code, init.stderr).toBe(0)
    // The next step it suggests works from a checkout too: through npx.
    expect(init.stdout).toMatch(/^next: npx swarm-node --home \S+ start --offline --budget 60$/m)

    const node = startHuman([...at, 'start', '--offline', '--budget', '2', '--max-experiments', '1'])
    expect(await node.waitFor(/^project brown-bytes [0-9a-f]{12} {2}track \S+ {2}budget 2s/, 60_000)).toBeTruthy()
    await node.waitFor(/^#1 BASELINE /, 90_000)
    await node.waitFor(/^#2 candidate: /, 30_000)

    // While the candidate runs: status needs the node, and the others ask it too.
    const status = await runCli([...at, 'status'])
    expect(status.code, status.stderr).toBe(0)
    expect(status.stdout).toMatch(/^project {3}brown-bytes [0-9a-f]{12} /m)
    // Counted like `results` counts; offline, "best" says why there is no swarm figure.
    expect(status.stdout).toMatch(/^baseline {2}\d\.\d{6} at [0-9a-f]{7} {3}1 baseline, 0 experiments, 0 kept$/m)
    expect(status.stdout).toMatch(/^best {6}nothing kept yet on \S+ {2}\(offline: no swarm to compare with\)$/m)
    const [resultsLive, boardLive] = await Promise.all([runCli([...at, 'results']), runCli([...at, 'leaderboard'])])
    expect(resultsLive.code, resultsLive.stderr).toBe(0)
    expect(resultsLive.stdout).toMatch(/^brown-bytes: 1 baseline, 0 experiments, 0 kept \(from the running node\)$/m)
    expect(boardLive.code, boardLive.stderr).toBe(0)
    expect(boardLive.stdout).toMatch(/brown-bytes \([0-9a-f]{12}\)/)

    expect(await node.exit).toBe(0)
    // After it stopped: the newest run of the default project, by name, with no --project and no id.
    const results = await runCli([...at, 'results'])
    expect(results.code, results.stderr).toBe(0)
    expect(results.stdout).toMatch(/^brown-bytes: 1 baseline, 1 experiment, [01] kept \(from the results log\)$/m)
    const plot = await runCli([...at, 'plot'], 30_000, cwd)
    expect(plot.code, plot.stderr).toBe(0)
    expect(plot.stdout.trim()).toMatch(new RegExp(`^wrote ${join(cwd, 'progress.svg')}: brown-bytes, 1 baseline, 1 experiment, [01] kept$`))
    expect(await readFile(join(cwd, 'progress.svg'), 'utf8')).toContain('brown-bytes: 1 baseline, 1 experiment')
    const board = await runCli([...at, 'leaderboard', '--offline'])
    expect(board.code, board.stderr).toBe(0)
    expect(board.stdout).toMatch(/brown-bytes \([0-9a-f]{12}\)/)
    // The run under --budget 2 has its own id; a prefix of it, the name and the directory all find it.
    const [id] = (await readdir(join(home, 'runs'))).filter(n => /^[0-9a-f]{64}$/.test(n))
    for (const ref of [id!.slice(0, 8), 'brown-bytes', join(home, 'project')]) {
      const r = await runCli([...at, '--json', 'results', '--project', ref])
      expect(r.code, `${ref}: ${r.stdout}${r.stderr}`).toBe(0)
      expect(r.json.project).toMatchObject({ id, name: 'brown-bytes', budget_s: 2 })
    }
    // autoresearch's results.tsv: its first row is a keep, described "baseline".
    const tsv = (await readFile(join(home, 'project', 'results.tsv'), 'utf8')).trim().split('\n')
    expect(tsv[0]).toBe('commit\tval_bpb\tmemory_gb\tstatus\tdescription')
    expect(tsv[1]).toMatch(/^[0-9a-f]{7}\t\d\.\d{6}\t\d+\.\d\tkeep\tbaseline$/)
    expect(tsv[2]!.split('\t')[3]).toMatch(/^(keep|discard|crash)$/)
  }, 240_000)
})

describe('a project whose manifest is broken, then fixed', () => {
  const start = async (home: string, dir: string, extra: string[] = []): Promise<{ code: number | null, stdout: string, stderr: string }> =>
    await runCli(['--home', home, 'start', '--offline', '--project', dir, '--max-experiments', '1', '--no-confirm', '--seed', '3', ...extra], 60_000)

  it('a directory swarm-node made a repository of is left as it was when the baseline fails; the fixed manifest then just works', async () => {
    const dir = await fixtureCopy('autoresearch')
    const home = await tempDir('broken')
    const manifest = JSON.parse(await readFile(join(dir, 'swarm.json'), 'utf8'))
    await writeFile(join(dir, 'swarm.json'), JSON.stringify({ ...manifest, run: 'uv run no_such_file.py' }))
    const failed = await start(home, dir)
    expect(failed.code).toBe(1)
    expect(failed.stderr).toMatch(/the baseline itself does not run/)
    expect(failed.stderr).toMatch(/removed the git repository it had made in .*: your files are as they were/)
    expect(existsSync(join(dir, '.git'))).toBe(false)
    expect(existsSync(join(dir, '.gitignore'))).toBe(false)
    await writeFile(join(dir, 'swarm.json'), JSON.stringify(manifest))
    const fixed = await start(home, dir)
    expect(fixed.code, fixed.stderr).toBe(0)
    // The manifest in the history is the one that ran.
    const root = (await simpleGit(dir).raw(['rev-list', '--max-parents=0', 'HEAD'])).trim()
    expect(JSON.parse(await simpleGit(dir).show([`${root}:swarm.json`])).run).toBe('uv run train.py')
    expect(fixed.stderr).toMatch(/made .* a git repository: experiments are commits on swarm\/main/)
  })

  it('in the user\'s own repository: a fixed swarm.json gets a real way in (--commit-changes), taken back if the baseline fails again', async () => {
    const dir = await fixtureCopy('autoresearch')
    const home = await tempDir('own-repo')
    const git = simpleGit(dir)
    await git.init().addConfig('user.name', 'U').addConfig('user.email', 'u@x')
    const manifest = JSON.parse(await readFile(join(dir, 'swarm.json'), 'utf8'))
    await writeFile(join(dir, 'swarm.json'), JSON.stringify({ ...manifest, run: 'uv run no_such_file.py' }))
    await git.add('.').commit('my project')
    expect((await start(home, dir)).code).toBe(1)

    await writeFile(join(dir, 'swarm.json'), JSON.stringify({ ...manifest, run: 'uv run still_missing.py' }))
    const refused = await start(home, dir)
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/uncommitted changes: swarm\.json\..*--commit-changes/)
    expect(refused.stderr).not.toMatch(/force: true/)
    const stillBroken = await start(home, dir, ['--commit-changes'])
    expect(stillBroken.code).toBe(1)
    expect(stillBroken.stderr).toMatch(/took back its commit of your changes to swarm\.json: they are uncommitted again/)
    expect((await git.log()).latest?.message).toBe('my project')

    await writeFile(join(dir, 'swarm.json'), JSON.stringify(manifest))
    const ok = await start(home, dir, ['--commit-changes'])
    expect(ok.code, ok.stderr).toBe(0)
    expect(ok.stderr).toMatch(/committed your changes to swarm\.json on swarm\/main \(--commit-changes\)/)
    expect(JSON.parse(await git.show(['swarm/main:swarm.json'])).run).toBe('uv run train.py')
  })
})

describe('an LLM server that hangs', () => {
  it('costs --llm-timeout, not five minutes a request: the mutation proposer makes the experiment', async () => {
    const server = await startFakeOpenAI([{ hang: true }, { hang: true }, { hang: true }, { hang: true }])
    servers.push(server)
    const dir = await fixtureCopy('autoresearch')
    const home = await tempDir('llm-timeout')
    const t0 = Date.now()
    const res = await runCli(['--home', home, '--json', 'start', '--offline', '--project', dir, '--max-experiments', '1', '--no-confirm',
      '--llm-base-url', server.url, '--model', 'fake', '--llm-timeout', '1'], 60_000)
    expect(res.code, res.stderr).toBe(0)
    const events = res.stdout.trim().split('\n').map(l => JSON.parse(l))
    expect(events.some(e => e.type === 'log' && /no complete reply within 1 s/.test(e.message))).toBe(true)
    const made = events.find(e => e.type === 'experiment-end' && e.record.status !== 'baseline').record
    expect(made.proposer).toBe('mutation')
    // One timeout, one retry, then the fallback: two requests of a second each, not five of 300 s.
    expect(server.chats()).toHaveLength(2)
    expect(Date.now() - t0).toBeLessThan(45_000)
  }, 60_000)
})

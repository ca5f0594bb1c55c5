/**
 * Which project `results`, `plot` and `leaderboard` mean: a directory, a name
 * or an id prefix, else the newest run of the home's default project. A run
 * under another --budget has another id; ambiguity is an error that lists the
 * candidates. Homes here are made by hand (no training).
 */
import { mkdir, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { resolveProject, UsageError } from '../node/control/project-ref.ts'
import { initProject } from '../trainer/template.ts'
import { writeRunInfo } from '../trainer/run-info.ts'
import { runCli } from './helpers/cli-run.ts'
import { cleanupFixtures, tempDir } from './helpers/fixtures.ts'

afterAll(cleanupFixtures)

const ID = { a30: 'ab12' + '0'.repeat(60), a300: 'ab34' + '1'.repeat(60), other: 'cd56' + '2'.repeat(60) }

/** A run with one record, last used `ageS` seconds ago. */
async function run (home: string, id: string, info: { name: string, dir: string, budget_s: number }, ageS: number): Promise<void> {
  await writeRunInfo(home, { id, ...info })
  const log = join(home, 'runs', id, 'experiments.jsonl')
  await writeFile(log, JSON.stringify({ id: 'main-1', seq: 1, commit: 'f'.repeat(40), parent: 'f'.repeat(40), status: 'baseline', val_bpb: 2, verified_bpb: null, memory_gb: 0, description: 'baseline', reason: '', proposer: 'none', metrics: {}, track: 'cpu', started_at: 1, finished_at: 2 }) + '\n')
  const t = Date.now() / 1000 - ageS
  await utimes(log, t, t)
}

async function home (): Promise<{ home: string, project: string, elsewhere: string }> {
  const h = await tempDir('refs')
  const project = join(h, 'project')
  await initProject(project)
  const elsewhere = join(await tempDir('elsewhere'), 'brown-bytes')
  await mkdir(elsewhere, { recursive: true })
  await run(h, ID.a300, { name: 'brown-bytes', dir: project, budget_s: 300 }, 3600)
  await run(h, ID.a30, { name: 'brown-bytes', dir: project, budget_s: 30 }, 60)
  await run(h, ID.other, { name: 'autoresearch', dir: elsewhere, budget_s: 300 }, 10)
  return { home: h, project, elsewhere }
}

describe('resolveProject', () => {
  it('defaults to the newest run of the default project, not the newest run of the home', async () => {
    const h = await home()
    const p = await resolveProject(h.home)
    expect(p).toMatchObject({ id: ID.a30, name: 'brown-bytes', dir: h.project, budget_s: 30 })
    expect(p.others?.map(o => o.id)).toEqual([ID.a300])
    // A later start whose baseline failed left only run.json: it recorded nothing, so it hides nothing.
    await writeRunInfo(h.home, { id: 'aa' + '7'.repeat(62), name: 'brown-bytes', dir: h.project, budget_s: 60 })
    expect((await resolveProject(h.home)).id).toBe(ID.a30)
  })

  it('takes a directory, a name, an id prefix or a whole id', async () => {
    const h = await home()
    expect((await resolveProject(h.home, h.project)).id).toBe(ID.a30)
    expect((await resolveProject(h.home, 'brown-bytes')).id).toBe(ID.a30)
    expect((await resolveProject(h.home, 'autoresearch'))).toMatchObject({ id: ID.other, dir: h.elsewhere })
    expect((await resolveProject(h.home, 'ab34'))).toMatchObject({ id: ID.a300, name: 'brown-bytes', budget_s: 300 })
    expect((await resolveProject(h.home, ID.other.slice(0, 12))).id).toBe(ID.other)
    // A whole id needs no results here: the leaderboard asks the swarm about any project.
    expect(await resolveProject(h.home, 'e'.repeat(64))).toEqual({ id: 'e'.repeat(64) })
  })

  it('refuses what is ambiguous or unknown, listing what there is', async () => {
    const h = await home()
    const prefix = await resolveProject(h.home, 'ab').catch((e: Error) => e)
    expect(prefix).toBeInstanceOf(UsageError)
    // Two hex digits are not an id prefix (4 at least): ab is simply not found; abxx matches two.
    expect((prefix as Error).message).toMatch(/--project ab: not a project directory .*; it has results for autoresearch, brown-bytes \(ids cd5622222222, ab1200000000, ab3411111111\)$/)
    const two = await resolveProject(h.home, 'ab12'.slice(0, 2) + '1').catch((e: Error) => e)
    expect(two).toBeInstanceOf(UsageError)
    await run(h.home, 'ab12' + '9'.repeat(60), { name: 'brown-bytes', dir: h.project, budget_s: 60 }, 5)
    const amb = await resolveProject(h.home, 'ab12').catch((e: Error) => e)
    // Newest first, each with what tells them apart.
    expect((amb as Error).message).toMatch(/--project ab12 is ambiguous: 2 project ids match:\n {2}brown-bytes ab1299999999 \(budget 60 s, .*\)\n {2}brown-bytes ab1200000000 \(budget 30 s, .*\)\npass more of the id/)
    // One name in two directories is two projects.
    await run(h.home, 'ef' + '3'.repeat(62), { name: 'autoresearch', dir: h.project, budget_s: 300 }, 5)
    const name = await resolveProject(h.home, 'autoresearch').catch((e: Error) => e)
    expect((name as Error).message).toMatch(/--project autoresearch is ambiguous: 2 projects with that name match/)
  })

  it('with no default project, the newest run of any project; with nothing at all, says what to do', async () => {
    const h = await tempDir('no-default')
    await run(h, ID.other, { name: 'autoresearch', dir: '/somewhere', budget_s: 300 }, 10)
    expect((await resolveProject(h)).name).toBe('autoresearch')
    const empty = await resolveProject(await tempDir('empty')).catch((e: Error) => e)
    expect((empty as Error).message).toMatch(/which project\? .*pass --project <dir, name or id>, or run `npx swarm-node start` first/)
  })
})

describe('results --project from the command line', () => {
  it('an ambiguous prefix is a usage error (exit 2) naming the candidates; a name shows the newest run and mentions the others', async () => {
    const h = await home()
    await run(h.home, 'ab12' + '9'.repeat(60), { name: 'brown-bytes', dir: h.project, budget_s: 60 }, 120)
    const amb = await runCli(['--home', h.home, 'results', '--project', 'ab12'])
    expect(amb.code).toBe(2)
    expect(amb.stderr).toMatch(/ambiguous: 2 project ids match:\n {2}brown-bytes ab1200000000 .*\n {2}brown-bytes ab1299999999/)
    const byName = await runCli(['--home', h.home, 'results', '--project', 'brown-bytes'])
    expect(byName.code, byName.stderr).toBe(0)
    expect(byName.stdout).toMatch(/^brown-bytes: 1 baseline, 0 experiments, 0 kept \(from the results log\)$/m)
    expect(byName.stdout).toMatch(/this home has 2 other runs: brown-bytes ab1299999999 \(budget 60 s.*; brown-bytes ab3411111111 \(budget 300 s/)
  })
})

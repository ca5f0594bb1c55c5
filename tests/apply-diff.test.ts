/**
 * A result's content rebuilt from its parent and its diff (protocol/apply-diff.ts)
 * must give back exactly the files real git diffed, or nothing: every diff here
 * is made by real git in a real repository, the way a node's workspace makes
 * the diff it publishes.
 */
import { execFileSync } from 'node:child_process'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { applyDiff } from '../protocol/apply-diff.ts'
import { wireDiff } from '../node/swarm/outgoing.ts'
import { cleanupFixtures, tempDir } from './helpers/fixtures.ts'
import { REPO_ROOT } from './helpers/processes.ts'

afterAll(cleanupFixtures)

type Files = Record<string, string>

/** A repository whose commits hold `files`; `diff` is git's diff between two of them over `paths`. */
async function repo (config: string[] = []): Promise<{ commit: (files: Files) => Promise<string>, diff: (a: string, b: string, paths: string[]) => string }> {
  const dir = await tempDir('apply-diff-')
  const git = (...args: string[]): string => execFileSync('git', ['-c', 'core.hooksPath=/dev/null', ...args], { cwd: dir, encoding: 'utf8', maxBuffer: 64 << 20 })
  git('init', '-q')
  for (const c of ['user.name=t', 'user.email=t@t', ...config]) git('config', ...c.split('='))
  let known = new Set<string>()
  return {
    async commit (files) {
      for (const p of known) if (!(p in files)) await rm(join(dir, p), { force: true })
      for (const [p, text] of Object.entries(files)) await writeFile(join(dir, p), text)
      known = new Set(Object.keys(files))
      git('add', '-A')
      git('commit', '-q', '--allow-empty', '-m', 'x')
      return git('rev-parse', 'HEAD').trim()
    },
    diff: (a, b, paths) => git('diff', '--no-color', '--no-ext-diff', '--no-textconv', a, b, '--', ...paths.map(p => `:(literal)${p}`))
  }
}

async function roundTrip (before: Files, after: Files, editable: string[], config: string[] = []): Promise<{ diff: string, applied: Files | null }> {
  const r = await repo(config)
  const a = await r.commit(before)
  const b = await r.commit(after)
  const diff = r.diff(a, b, editable)
  return { diff, applied: applyDiff(before, diff, editable) }
}

const set = (text: string, name: string, value: string): string => text.replace(new RegExp(`^${name} = .*$`, 'm'), `${name} = ${value}`)

describe('rebuilding a result from its parent and its diff', () => {
  it('gives back the landscape file after one or several constants changed, near its ends too', async () => {
    const P = await readFile(join(REPO_ROOT, 'projects', 'landscape', 'train.py'), 'utf8')
    const edits = [
      set(P, 'N_EMBD', '128'),
      set(set(set(P, 'N_LAYER', '3'), 'DROPOUT', '0.1'), 'EMBED_LR_MULT', '2.0'),
      'import os\n' + P.replace(/\n$/, '\nprint("end")\n')
    ]
    for (const C of edits) {
      expect(C).not.toBe(P)
      const { applied } = await roundTrip({ 'train.py': P }, { 'train.py': C }, ['train.py'])
      expect(applied).toEqual({ 'train.py': C })
    }
  })

  it('follows files without a final newline, new and deleted editable files, and leaves files the diff does not name', async () => {
    const ed = ['train.py', 'model.py', 'extra.py']
    const cases: Array<[Files, Files]> = [
      [{ 'train.py': 'a\nb\nc' }, { 'train.py': 'a\nB\nc' }],
      [{ 'train.py': 'a\nb\nc' }, { 'train.py': 'a\nb\nc\n' }],
      [{ 'train.py': 'a\nb\nc\n' }, { 'train.py': 'a\nb\nc' }],
      [{ 'train.py': 'x = 1\n', 'model.py': 'm = 1\n' }, { 'train.py': 'x = 1\n', 'model.py': 'm = 1\n', 'extra.py': 'e = 1\n' }],
      [{ 'train.py': 'x = 1\n', 'model.py': 'm = 1\n' }, { 'train.py': 'x = 2\n' }],
      [{ 'train.py': 'x = 1\n', 'model.py': '' }, { 'train.py': 'x = 1\n', 'model.py': 'now\n' }],
      [{ 'train.py': 'only\n' }, { 'train.py': '' }]
    ]
    for (const [before, after] of cases) {
      const { diff, applied } = await roundTrip(before, after, ed)
      expect(applied, diff).toEqual(after)
    }
  })

  it('follows a file of a few hundred thousand lines changed near its end', async () => {
    const P = Array.from({ length: 300_000 }, (_, i) => `X_${i} = ${i}`).join('\n') + '\n'
    const C = P.replace('X_299990 = 299990', 'X_299990 = 1')
    const { applied } = await roundTrip({ 'train.py': P }, { 'train.py': C }, ['train.py'])
    expect(applied?.['train.py'] === C).toBe(true)
  })

  it('reads the paths whatever prefix the repository configures (noprefix, mnemonicPrefix)', async () => {
    for (const config of [['diff.noprefix=true'], ['diff.mnemonicPrefix=true'], ['diff.context=0'], ['diff.algorithm=histogram']]) {
      const before = { 'train.py': 'a = 1\nb = 2\nc = 3\nd = 4\n' }
      const after = { 'train.py': 'a = 1\nb = 20\nc = 3\nd = 4\ne = 5\n' }
      const { diff, applied } = await roundTrip(before, after, ['train.py'], config)
      expect(applied, `${config[0]}\n${diff}`).toEqual(after)
    }
  })

  it('gives back exactly what git diffed over many random edits (lines added, removed, changed, far apart and together)', async () => {
    const r = await repo()
    let seed = 7
    const rand = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n }
    let text = Array.from({ length: 60 }, (_, i) => `LINE_${i} = ${i}`).join('\n') + '\n'
    let sha = await r.commit({ 'train.py': text })
    for (let round = 0; round < 40; round++) {
      const ls = text.split('\n')
      for (let k = 1 + rand(6); k > 0; k--) {
        const at = rand(ls.length)
        const op = rand(3)
        if (op === 0) ls.splice(at, 1)
        else if (op === 1) ls.splice(at, 0, `ADDED_${round}_${k} = ${rand(100)}`)
        else ls[at] = `CHANGED_${round}_${k} = ${rand(100)}`
      }
      const next = ls.join('\n')
      const nextSha = await r.commit({ 'train.py': next })
      const diff = r.diff(sha, nextSha, ['train.py'])
      expect(applyDiff({ 'train.py': text }, diff, ['train.py']), diff).toEqual({ 'train.py': next })
      text = next
      sha = nextSha
    }
  })

  it('gives null (fetch it instead) for a diff it cannot follow: cut off for the wire, tampered, a file not editable here, a rename, a wrong parent', async () => {
    const P = Array.from({ length: 4000 }, (_, i) => `X_${i} = ${i}`).join('\n') + '\n'
    const C = P.replace(/^X_(\d+) = /gm, 'Y_$1 = ')
    const big = await roundTrip({ 'train.py': P }, { 'train.py': C }, ['train.py'])
    expect(big.applied).toEqual({ 'train.py': C })
    const cut = wireDiff(big.diff)
    expect(cut.length).toBeLessThan(big.diff.length)
    expect(applyDiff({ 'train.py': P }, cut, ['train.py'])).toBeNull()

    const small = await roundTrip({ 'train.py': 'a\nb\nc\n' }, { 'train.py': 'a\nB\nc\n' }, ['train.py'])
    expect(applyDiff({ 'train.py': 'a\nb\nc\n' }, small.diff.replace('+B', '+Z'), ['train.py'])).toEqual({ 'train.py': 'a\nZ\nc\n' }) // the hash check catches this one
    expect(applyDiff({ 'train.py': 'a\nb\nc\n' }, small.diff.replace('\n a\n', '\n q\n'), ['train.py'])).toBeNull()
    expect(applyDiff({ 'train.py': 'a\nx\nc\n' }, small.diff, ['train.py'])).toBeNull()
    expect(applyDiff({ 'train.py': 'a\nb\nc\n' }, small.diff, ['model.py'])).toBeNull()
    expect(applyDiff({}, small.diff, ['train.py'])).toBeNull()
    expect(applyDiff({ 'train.py': 'a\nb\nc\n' }, 'not a diff\n', ['train.py'])).toBeNull()

    const outside = await roundTrip({ 'train.py': 'a\n', 'prepare.py': 'p\n' }, { 'train.py': 'a\n', 'prepare.py': 'evil\n' }, ['train.py', 'prepare.py'])
    expect(applyDiff({ 'train.py': 'a\n', 'prepare.py': 'p\n' }, outside.diff, ['train.py'])).toBeNull()

    const r = await repo(['diff.renames=true'])
    const a = await r.commit({ 'train.py': 'same\ncontent\nhere\n' })
    const b = await r.commit({ 'model.py': 'same\ncontent\nhere\n' })
    const renamed = r.diff(a, b, ['train.py', 'model.py'])
    expect(renamed).toMatch(/rename from/)
    expect(applyDiff({ 'train.py': 'same\ncontent\nhere\n' }, renamed, ['train.py', 'model.py'])).toBeNull()
  })
})

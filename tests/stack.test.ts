/**
 * Stacking a peer's change onto our baseline with git's three-way merge (real
 * `git merge-file`), and the commit trailers that name every lineage merged
 * (read back by real `git interpret-trailers`).
 */
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { simpleGit } from 'simple-git'
import { afterAll, describe, expect, it } from 'vitest'
import { contentHash } from '../protocol/index.ts'
import { lineageTrailers, mergeLines, parseLineageTrailers, stackChange } from '../trainer/stack.ts'
import { cleanupFixtures, tempDir } from './helpers/fixtures.ts'
import { REPO_ROOT } from './helpers/processes.ts'

const ED = ['train.py']
const set = (text: string, name: string, value: string): string => {
  const out = text.replace(new RegExp(`^${name} = .*$`, 'm'), `${name} = ${value}`)
  if (out === text) throw new Error(`no ${name} to change`)
  return out
}

afterAll(cleanupFixtures)

describe('stacking a peer\'s change', () => {
  it('applies the change to our baseline where the lineages touched different constants, adjacent lines included', async () => {
    const P = await readFile(join(REPO_ROOT, 'projects', 'landscape', 'train.py'), 'utf8')
    const C = set(P, 'N_EMBD', '128')           // the peer's keep
    const B = set(P, 'N_LAYER', '3')            // ours: the line just above
    const far = set(B, 'DROPOUT', '0.1')        // ours: far from theirs
    for (const base of [B, far]) {
      const s = await stackChange({ parent: { 'train.py': P }, child: { 'train.py': C }, base: { 'train.py': base }, editable: ED })
      expect(s.status).toBe('merged')
      const text = (s as { files: Record<string, string> }).files['train.py']!
      expect(text).toBe(set(base, 'N_EMBD', '128'))
    }
  })

  it('is a conflict when both lineages changed the same constant differently, or one added lines beside the other\'s change', async () => {
    const P = 'A = 1\nB = 2\nC = 3\n'
    const same = await stackChange({ parent: { 'train.py': P }, child: { 'train.py': set(P, 'B', '20') }, base: { 'train.py': set(P, 'B', '5') }, editable: ED })
    expect(same).toEqual({ status: 'conflict', conflicts: ['train.py'] })
    const inserted = await stackChange({ parent: { 'train.py': P }, child: { 'train.py': set(P, 'B', '20') }, base: { 'train.py': 'A = 1\nX = 9\nB = 2\nC = 3\n' }, editable: ED })
    expect(inserted.status).toBe('conflict')
    expect(mergeLines(P, 'A = 1\nX = 9\nB = 2\nC = 3\n', set(P, 'B', '20'))).toBeNull()
  })

  it('says when our baseline already holds the change, takes the peer\'s file where we changed nothing, and leaves other files alone', async () => {
    const P = 'A = 1\nB = 2\n'
    const C = set(P, 'B', '20')
    expect(await stackChange({ parent: { 'train.py': P }, child: { 'train.py': C }, base: { 'train.py': set(C, 'A', '7') }, editable: ED })).toEqual({ status: 'contained' })
    expect(await stackChange({ parent: { 'train.py': P }, child: { 'train.py': P }, base: { 'train.py': set(P, 'A', '7') }, editable: ED })).toEqual({ status: 'contained' })
    const two = ['train.py', 'model.py']
    const s = await stackChange({
      parent: { 'train.py': P, 'model.py': 'm = 1\n' },
      child: { 'train.py': C, 'model.py': 'm = 1\n', 'prepare.py': 'evil()' },
      base: { 'train.py': P, 'model.py': 'm = 2\n' },
      editable: two
    })
    expect(s).toEqual({ status: 'merged', files: { 'train.py': C, 'model.py': 'm = 2\n' } })
  })
})

describe('lineage trailers', () => {
  it('name our lineage and every peer lineage merged, and git reads them back as trailers', async () => {
    const base = contentHash({ 'train.py': 'B' })
    const merged = [
      { author: '12D3KooWPeerA', result: 'a'.repeat(64), parent: contentHash({ 'train.py': 'P1' }), child: contentHash({ 'train.py': 'C1' }) },
      { author: '12D3KooWPeerB', result: 'b'.repeat(64), parent: contentHash({ 'train.py': 'P2' }), child: contentHash({ 'train.py': 'C2' }) }
    ]
    const dir = await tempDir('stack-git')
    const git = simpleGit(dir)
    await git.init().addConfig('user.email', 't@example.org').addConfig('user.name', 't')
    await git.raw(['commit', '--allow-empty', '-m', `N_EMBD 64 -> 128 stacked on our baseline\n\n${lineageTrailers({ base, merged })}`])
    const message = await git.raw(['log', '-1', '--format=%B'])
    const parsed = await new Promise<string>((resolve, reject) => {
      const p = execFile('git', ['interpret-trailers', '--parse'], { cwd: dir }, (err, out) => err != null ? reject(err) : resolve(out))
      p.stdin!.end(message)
    })
    expect(parseLineageTrailers(parsed)).toEqual({ base, merged })
    const results = await git.raw(['log', '-1', '--format=%(trailers:key=Merged-Result,valueonly)'])
    expect(results.trim().split('\n')).toEqual(['a'.repeat(64), 'b'.repeat(64)])
  })
})

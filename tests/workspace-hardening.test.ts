/**
 * git that a run cannot steer: hooks never run (not even the ones --no-verify
 * does not skip), a repository config changed under the node stops it before
 * any git command, and editable paths through a symbolic link are refused.
 */
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { appendFile, chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Workspace, WorkspaceError } from '../trainer/workspace.ts'

let root: string
let dir: string

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'swarm-ws-hard-'))
  dir = join(root, 'project')
  await mkdir(dir)
  await writeFile(join(dir, 'train.py'), 'lr = 0.01\n')
})
afterEach(async () => { await rm(root, { recursive: true, force: true }) })

const open = async (editable = ['train.py']): Promise<Workspace> =>
  await Workspace.open({ dir, editable, outputs: ['run.log'], runTag: 't', identity: { name: 't', email: 't@t' }, lockWaitMs: 100 })

describe('git the run cannot steer', () => {
  it('never runs a planted hook: post-commit, reference-transaction, pre-commit', async () => {
    const ws = await open()
    const fired = join(root, 'fired')
    for (const hook of ['post-commit', 'reference-transaction', 'pre-commit', 'post-checkout', 'post-index-change']) {
      const path = join(dir, '.git', 'hooks', hook)
      await writeFile(path, `#!/bin/sh\necho ${hook} >> ${fired}\n`)
      await chmod(path, 0o755)
    }
    // A plain git here does run them: the hooks are real.
    execFileSync('git', ['-c', 'user.name=x', '-c', 'user.email=x@x', 'commit', '-q', '--allow-empty', '-m', 'probe'], { cwd: dir })
    expect(existsSync(fired)).toBe(true)
    await rm(fired)
    await ws.writeEditable({ 'train.py': 'lr = 0.02\n' })
    const sha = await ws.commitCandidate('candidate')
    await ws.resetTo(`${sha}~1`)
    await ws.diff(sha, `${sha}~1`)
    expect(existsSync(fired)).toBe(false)
  })

  it('stops before any git command once the repository config changed under it', async () => {
    const ws = await open()
    expect(await ws.head()).toMatch(/^[0-9a-f]{40}$/)
    await appendFile(join(dir, '.git', 'config'), `[core]\n\tfsmonitor = touch ${join(root, 'pwned')}\n`)
    await expect(ws.head()).rejects.toThrow(/\.git\/config changed while swarm-node had the workspace open/)
    await expect(ws.changedFiles()).rejects.toThrow(WorkspaceError)
    expect(existsSync(join(root, 'pwned'))).toBe(false)
  })

  it('refuses editable paths through a symbolic link, to open, to write and to read', async () => {
    const secret = join(root, 'secret')
    await mkdir(secret)
    await writeFile(join(secret, 'model.py'), 'KEY = "do not publish"\n')
    await symlink(secret, join(dir, 'src'))
    await expect(open(['train.py', 'src/model.py'])).rejects.toThrow(/refusing editable path src\/model\.py: src is a symbolic link/)

    const ws = await open()
    await rm(join(dir, 'train.py'))
    await symlink(join(secret, 'model.py'), join(dir, 'train.py'))
    expect(await ws.readEditable()).toEqual({})
    await expect(ws.writeEditable({ 'train.py': 'x = 1\n' })).rejects.toThrow(/train\.py is a symbolic link/)
  })
})

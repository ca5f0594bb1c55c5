import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { DirtyWorkspaceError, NotEditableError, NothingToCommitError, Workspace } from '../trainer/workspace.ts'
import type { WorkspaceOptions } from '../trainer/workspace.ts'

const OUTPUTS = ['data/', 'run.log', 'model.onnx', 'results.tsv', '__pycache__/']

let root: string
let dir: string
const savedEnv = { HOME: process.env.HOME, XDG_CONFIG_HOME: process.env.XDG_CONFIG_HOME }

function git (cwd: string, ...args: string[]): string {
  // A clean environment so the test never depends on (or touches) the developer's git config.
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: root, GIT_CONFIG_NOSYSTEM: '1' }
  return execFileSync('git', args, { cwd, env, encoding: 'utf8' })
}

async function seedProject (at: string): Promise<void> {
  await mkdir(at, { recursive: true })
  await writeFile(join(at, 'train.py'), 'lr = 0.01\n')
  await writeFile(join(at, 'prepare.py'), 'print("prepare")\n')
  await writeFile(join(at, 'program.md'), '# program\n')
}

function options (extra: Partial<WorkspaceOptions> = {}): WorkspaceOptions {
  return { dir, editable: ['train.py'], outputs: OUTPUTS, runTag: 'test1', lockWaitMs: 100, ...extra }
}

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'swarm-ws-'))
  dir = join(root, 'project')
  await seedProject(dir)
  // Point git's global config at an empty home so identity handling is tested, not inherited.
  process.env.HOME = root
  delete process.env.XDG_CONFIG_HOME
})

afterEach(async () => {
  for (const [k, v] of Object.entries(savedEnv)) {
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
  await rm(root, { recursive: true, force: true })
})

describe('Workspace.open on a fresh directory', () => {
  it('creates a repo with an initial baseline commit on swarm/<runTag>, outputs ignored', async () => {
    await mkdir(join(dir, 'data'))
    await writeFile(join(dir, 'data', 'train.bin'), 'bytes')
    const ws = await Workspace.open(options())
    expect(ws.initialized).toBe(true)
    expect(ws.branch).toBe('swarm/test1')
    expect(ws.recovered).toEqual([])
    expect(git(dir, 'symbolic-ref', '--short', 'HEAD').trim()).toBe('swarm/test1')
    expect(git(dir, 'log', '--format=%s').trim()).toBe('swarm-node: initial baseline')
    expect(await ws.head()).toBe(git(dir, 'rev-parse', 'HEAD').trim())
    const tracked = git(dir, 'ls-files').trim().split('\n').sort()
    // Nothing of ours in the user's files or history: outputs are ignored through .git/info/exclude.
    expect(tracked).toEqual(['prepare.py', 'program.md', 'train.py'])
    expect(existsSync(join(dir, '.gitignore'))).toBe(false)
    const ignore = await readFile(join(dir, '.git', 'info', 'exclude'), 'utf8')
    for (const o of OUTPUTS) expect(ignore.split('\n')).toContain(o)
    expect(ws.notes.join('\n')).toMatch(/made .*project a git repository: experiments are commits on swarm\/test1.*\.git\/info\/exclude/)
    // Identity is set for this repository only.
    expect(git(dir, 'config', '--local', 'user.name').trim()).toBe('swarm-node')
    expect(existsSync(join(root, '.gitconfig'))).toBe(false)
    expect(await ws.changedFiles()).toEqual([])
  })

  it('is idempotent: reopening keeps the history and recovers nothing', async () => {
    const first = await Workspace.open(options())
    const head = await first.head()
    const again = await Workspace.open(options())
    expect(again.initialized).toBe(false)
    expect(await again.head()).toBe(head)
    expect(again.recovered).toEqual([])
  })

  it('leaves a .gitignore of the user\'s as it was: it is committed as theirs, ours goes to .git/info/exclude', async () => {
    await writeFile(join(dir, '.gitignore'), '.venv\nrun.log')
    await Workspace.open(options())
    expect(await readFile(join(dir, '.gitignore'), 'utf8')).toBe('.venv\nrun.log')
    expect(git(dir, 'show', 'HEAD:.gitignore')).toBe('.venv\nrun.log')
    expect((await readFile(join(dir, '.git', 'info', 'exclude'), 'utf8')).split('\n')).toContain('data/')
  })

  it('takes back the repository it made when the first baseline fails, and nothing else', async () => {
    const ws = await Workspace.open(options())
    expect(await ws.abandonSetup()).toMatch(/removed the git repository it had made/)
    expect(existsSync(join(dir, '.git'))).toBe(false)
    expect(await readFile(join(dir, 'train.py'), 'utf8')).toBe('lr = 0.01\n')
    // A repository this open() did not make is never removed: an older run may stand on it.
    await Workspace.open(options())
    const again = await Workspace.open(options())
    expect(await again.abandonSetup()).toBeNull()
    expect(existsSync(join(dir, '.git'))).toBe(true)
  })
})

describe('candidates', () => {
  it('commitCandidate advances head with a multi-line message, and refuses an empty change', async () => {
    const ws = await Workspace.open(options({ identity: { name: 'Tester', email: 't@example.com' } }))
    const base = await ws.head()
    await ws.writeEditable({ 'train.py': 'lr = 0.02\n' })
    expect(await ws.changedFiles()).toEqual(['train.py'])
    const message = 'raise lr\n\norigin: peer-abc\n\n\nparent:  1234567  '
    const sha = await ws.commitCandidate(message)
    expect(sha).toMatch(/^[0-9a-f]{40}$/)
    expect(await ws.head()).toBe(sha)
    expect(sha).not.toBe(base)
    expect(await ws.isAncestor(base, sha)).toBe(true)
    expect(await ws.isAncestor(sha, base)).toBe(false)
    expect(await ws.commitMessage(sha)).toBe(message)
    expect(git(dir, 'log', '-1', '--format=%an <%ae>').trim()).toBe('Tester <t@example.com>')
    await expect(ws.commitCandidate('nothing')).rejects.toThrow(NothingToCommitError)
  })

  it('stages editable files only; changedFiles still reports the others', async () => {
    const ws = await Workspace.open(options())
    await ws.writeEditable({ 'train.py': 'lr = 0.03\n' })
    await writeFile(join(dir, 'prepare.py'), 'print("tampered")\n')
    await writeFile(join(dir, 'notes.txt'), 'scratch\n')
    git(dir, 'add', 'prepare.py') // even if something else staged it
    expect(await ws.changedFiles()).toEqual(['notes.txt', 'prepare.py', 'train.py'])
    const sha = await ws.commitCandidate('candidate')
    expect(git(dir, 'show', '--name-only', '--format=', sha).trim()).toBe('train.py')
    expect(await ws.changedFiles()).toEqual(['notes.txt', 'prepare.py'])
  })

  it('writeEditable refuses non-editable and escaping paths, writing nothing', async () => {
    const ws = await Workspace.open(options())
    await expect(ws.writeEditable({ 'prepare.py': 'x' })).rejects.toThrow(NotEditableError)
    await expect(ws.writeEditable({ 'train.py': 'lr = 9\n', '../x': 'x' })).rejects.toThrow(/not editable: \.\.\/x/)
    expect(existsSync(join(root, 'x'))).toBe(false)
    expect(await readFile(join(dir, 'train.py'), 'utf8')).toBe('lr = 0.01\n')
    expect(await readFile(join(dir, 'prepare.py'), 'utf8')).toBe('print("prepare")\n')
  })

  it('keeps the file mode of an editable file it rewrites', async () => {
    await chmod(join(dir, 'train.py'), 0o755)
    const ws = await Workspace.open(options())
    const base = await ws.head()
    await ws.writeEditable({ 'train.py': '#!/usr/bin/env python\nlr = 1\n' })
    const sha = await ws.commitCandidate('mode kept')
    expect(git(dir, 'diff', '--summary', base, sha).trim()).toBe('')
    expect(git(dir, 'ls-tree', sha, 'train.py')).toMatch(/^100755 /)
    await expect(ws.isAncestor(base, 'f'.repeat(40))).rejects.toThrow(/unknown commit/)
  })

  it('readEditable returns the working-tree text of each editable file', async () => {
    const ws = await Workspace.open(options({ editable: ['train.py', 'model/extra.py'] }))
    expect(await ws.readEditable()).toEqual({ 'train.py': 'lr = 0.01\n' })
    await ws.writeEditable({ 'model/extra.py': 'x = 1\n' })
    expect(await ws.readEditable()).toEqual({ 'train.py': 'lr = 0.01\n', 'model/extra.py': 'x = 1\n' })
  })

  it('rejects an editable path outside the repository at open', async () => {
    await expect(Workspace.open(options({ editable: ['../train.py'] }))).rejects.toThrow(/invalid editable path/)
    await expect(Workspace.open(options({ editable: ['/etc/passwd'] }))).rejects.toThrow(/invalid editable path/)
    await expect(Workspace.open(options({ runTag: 'bad tag' }))).rejects.toThrow(/invalid runTag/)
  })
})

describe('resetTo and diff', () => {
  it('reverts content, removes new untracked files and keeps ignored outputs', async () => {
    const ws = await Workspace.open(options({ editable: ['train.py', 'helper.py'] }))
    const base = await ws.head()
    await mkdir(join(dir, 'data'), { recursive: true })
    await writeFile(join(dir, 'data', 'x'), 'dataset')
    await writeFile(join(dir, 'run.log'), 'step 1\n')
    await mkdir(join(dir, 'pkg', '__pycache__'), { recursive: true })
    await writeFile(join(dir, 'pkg', '__pycache__', 'm.pyc'), 'pyc')

    await ws.writeEditable({ 'train.py': 'lr = 0.5\n', 'helper.py': 'def f(): pass\n' })
    const cand = await ws.commitCandidate('candidate')
    await writeFile(join(dir, 'stray.txt'), 'left by the agent')

    await ws.resetTo(base)
    expect(await ws.head()).toBe(base)
    expect(git(dir, 'symbolic-ref', '--short', 'HEAD').trim()).toBe('swarm/test1')
    expect(await readFile(join(dir, 'train.py'), 'utf8')).toBe('lr = 0.01\n')
    expect(existsSync(join(dir, 'helper.py'))).toBe(false)
    expect(existsSync(join(dir, 'stray.txt'))).toBe(false)
    expect(await readFile(join(dir, 'data', 'x'), 'utf8')).toBe('dataset')
    expect(await readFile(join(dir, 'run.log'), 'utf8')).toBe('step 1\n')
    expect(existsSync(join(dir, 'pkg', '__pycache__', 'm.pyc'))).toBe(true)

    // The reverted candidate is still reachable and can be restored.
    await ws.resetTo(cand)
    expect(await readFile(join(dir, 'helper.py'), 'utf8')).toBe('def f(): pass\n')
    await expect(ws.resetTo('0123456789abcdef0123456789abcdef01234567')).rejects.toThrow(/unknown commit/)
  })

  it('diff is restricted to editable files', async () => {
    const ws = await Workspace.open(options())
    const base = await ws.head()
    await ws.writeEditable({ 'train.py': 'lr = 0.04\n' })
    const sha = await ws.commitCandidate('candidate')
    // A commit that touches a non-editable file too (made by hand, as a peer might).
    await writeFile(join(dir, 'prepare.py'), 'print("changed")\n')
    await writeFile(join(dir, 'train.py'), 'lr = 0.05\n')
    git(dir, 'commit', '-q', '-am', 'both')
    const both = git(dir, 'rev-parse', 'HEAD').trim()
    const d1 = await ws.diff(base, sha)
    expect(d1).toContain('diff --git a/train.py b/train.py')
    expect(d1).toContain('-lr = 0.01')
    expect(d1).toContain('+lr = 0.04')
    const d2 = await ws.diff(base, both)
    expect(d2).toContain('train.py')
    expect(d2).not.toContain('prepare.py')
  })
})

describe('recovery on open', () => {
  it('recovers a half-written candidate and a stale index.lock', async () => {
    const ws = await Workspace.open(options())
    const head = await ws.head()
    await writeFile(join(dir, 'train.py'), 'lr = half-writ')
    await writeFile(join(dir, '.git', 'index.lock'), '')
    await writeFile(join(dir, 'run.log'), 'kept\n')

    const again = await Workspace.open(options())
    expect(again.recovered.some(r => r.includes('index.lock'))).toBe(true)
    expect(again.recovered.some(r => r.includes('train.py'))).toBe(true)
    expect(existsSync(join(dir, '.git', 'index.lock'))).toBe(false)
    expect(await readFile(join(dir, 'train.py'), 'utf8')).toBe('lr = 0.01\n')
    expect(await readFile(join(dir, 'run.log'), 'utf8')).toBe('kept\n')
    expect(await again.head()).toBe(head)
    // git works again after the lock is gone.
    await again.writeEditable({ 'train.py': 'lr = 0.06\n' })
    await again.commitCandidate('after recovery')
  })

  it('refuses to discard uncommitted changes to a non-editable file, unless forced', async () => {
    await Workspace.open(options())
    await writeFile(join(dir, 'prepare.py'), 'print("user work")\n')
    await writeFile(join(dir, 'train.py'), 'lr = 0.07\n')
    const err = await Workspace.open(options()).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(DirtyWorkspaceError)
    expect((err as DirtyWorkspaceError).files).toEqual(['prepare.py'])
    // A real way out, in words and commands: commit them, --commit-changes, or stash.
    expect((err as Error).message).toMatch(/uncommitted changes: prepare\.py\..*git -C \S+ add -- prepare\.py && git -C \S+ commit.*--commit-changes.*stash -u/)
    expect((err as Error).message).not.toMatch(/force: true/)
    expect(await readFile(join(dir, 'prepare.py'), 'utf8')).toBe('print("user work")\n')

    const forced = await Workspace.open(options({ force: true }))
    expect(forced.recovered.length).toBe(2)
    expect(await readFile(join(dir, 'prepare.py'), 'utf8')).toBe('print("prepare")\n')
  })
})

describe('--commit-changes', () => {
  it('commits a fixed swarm.json on the experiment branch, and takes it back if the baseline fails', async () => {
    await writeFile(join(dir, 'swarm.json'), '{"name":"x","run":"false"}\n')
    const first = await Workspace.open(options())
    const initial = await first.head()
    await writeFile(join(dir, 'swarm.json'), '{"name":"x","run":"true"}\n') // the user's fix
    await writeFile(join(dir, 'train.py'), 'lr = 0.5  # a half-written candidate\n')
    await expect(Workspace.open(options())).rejects.toThrow(DirtyWorkspaceError)
    const ws = await Workspace.open(options({ commitChanges: true }))
    expect(ws.notes).toEqual(['committed your changes to swarm.json on swarm/test1 (--commit-changes)'])
    expect(ws.committedChanges).toBe(true)
    expect(git(dir, 'show', 'HEAD:swarm.json')).toBe('{"name":"x","run":"true"}\n')
    expect(git(dir, 'rev-parse', 'HEAD^').trim()).toBe(initial)
    // A dirty editable file on our own branch is a candidate cut short, not the user's: it is reset, not committed.
    expect(await readFile(join(dir, 'train.py'), 'utf8')).toBe('lr = 0.01\n')
    expect(ws.recovered).toEqual(['discarded uncommitted train.py'])
    expect(await ws.abandonSetup()).toMatch(/took back its commit of your changes to swarm\.json/)
    expect(await ws.head()).toBe(initial)
    expect(await readFile(join(dir, 'swarm.json'), 'utf8')).toBe('{"name":"x","run":"true"}\n')
    expect(git(dir, 'status', '--porcelain').trim()).toBe('M swarm.json')
  })

  it('carries the user\'s changes from their own branch to the experiment branch', async () => {
    const user = join(root, 'autoresearch')
    await seedProject(user)
    git(user, 'init', '-q', '-b', 'master')
    git(user, 'add', '-A')
    git(user, '-c', 'user.name=U', '-c', 'user.email=u@x', 'commit', '-q', '-m', 'first')
    await writeFile(join(user, 'prepare.py'), 'print("fixed")\n')
    const ws = await Workspace.open({ dir: user, editable: ['train.py'], outputs: OUTPUTS, runTag: 'x', commitChanges: true })
    expect(git(user, 'symbolic-ref', '--short', 'HEAD').trim()).toBe('swarm/x')
    expect(git(user, 'show', 'HEAD:prepare.py')).toBe('print("fixed")\n')
    expect(git(user, 'show', 'master:prepare.py')).toBe('print("prepare")\n')
    expect(await ws.changedFiles()).toEqual([])
  })
})

describe('an existing user repository', () => {
  it('keeps the user history and branch, ignores outputs via info/exclude', async () => {
    const user = join(root, 'autoresearch')
    await seedProject(user)
    await writeFile(join(user, '.gitignore'), '.venv\n')
    git(user, 'init', '-q', '-b', 'master')
    git(user, 'config', 'user.name', 'User')
    git(user, 'config', 'user.email', 'user@example.com')
    git(user, 'add', '-A')
    git(user, 'commit', '-q', '-m', 'first')
    await writeFile(join(user, 'train.py'), 'lr = 0.011\n')
    git(user, 'commit', '-q', '-am', 'second')
    const userHead = git(user, 'rev-parse', 'HEAD').trim()

    const ws = await Workspace.open({ dir: user, editable: ['train.py'], outputs: OUTPUTS, runTag: 'mar5' })
    expect(ws.initialized).toBe(false)
    expect(git(user, 'symbolic-ref', '--short', 'HEAD').trim()).toBe('swarm/mar5')
    expect(await ws.head()).toBe(userHead)
    expect(await readFile(join(user, '.gitignore'), 'utf8')).toBe('.venv\n')
    expect(await readFile(join(user, '.git', 'info', 'exclude'), 'utf8')).toContain('results.tsv')
    expect(git(user, 'config', '--local', 'user.name').trim()).toBe('User')

    await writeFile(join(user, 'results.tsv'), 'commit\tval_bpb\n')
    await ws.writeEditable({ 'train.py': 'lr = 0.2\n' })
    const sha = await ws.commitCandidate('ours')
    expect(git(user, 'show', '--name-only', '--format=', sha).trim()).toBe('train.py')
    expect(git(user, 'rev-parse', 'master').trim()).toBe(userHead)
    expect(git(user, 'log', '--format=%s', 'master').trim().split('\n')).toEqual(['second', 'first'])
  })

  it('treats uncommitted edits on the user\'s own branch as theirs, even to editable files', async () => {
    const user = join(root, 'autoresearch')
    await seedProject(user)
    git(user, 'init', '-q', '-b', 'master')
    git(user, 'add', '-A')
    git(user, '-c', 'user.name=U', '-c', 'user.email=u@x', 'commit', '-q', '-m', 'first')
    await writeFile(join(user, 'train.py'), 'lr = 0.3  # my experiment\n')
    await expect(Workspace.open({ dir: user, editable: ['train.py'], outputs: OUTPUTS, runTag: 'x' }))
      .rejects.toThrow(DirtyWorkspaceError)
    expect(await readFile(join(user, 'train.py'), 'utf8')).toBe('lr = 0.3  # my experiment\n')
    expect(git(user, 'symbolic-ref', '--short', 'HEAD').trim()).toBe('master')
  })

  it('will not reset to an old commit whose tree would overwrite a run output', async () => {
    const user = join(root, 'autoresearch')
    await seedProject(user)
    await writeFile(join(user, 'results.tsv'), 'old\n')
    git(user, 'init', '-q', '-b', 'master')
    git(user, 'add', '-A')
    git(user, '-c', 'user.name=U', '-c', 'user.email=u@x', 'commit', '-q', '-m', 'tracked results')
    const old = git(user, 'rev-parse', 'HEAD').trim()
    git(user, 'rm', '-q', '--cached', 'results.tsv')
    git(user, '-c', 'user.name=U', '-c', 'user.email=u@x', 'commit', '-q', '-m', 'untrack results')
    const ws = await Workspace.open({ dir: user, editable: ['train.py'], outputs: OUTPUTS, runTag: 'x', lockWaitMs: 100 })
    await writeFile(join(user, 'results.tsv'), 'precious\n')
    await expect(ws.resetTo(old)).rejects.toThrow(/would overwrite run outputs: results\.tsv/)
    expect(await readFile(join(user, 'results.tsv'), 'utf8')).toBe('precious\n')
  })

  it('refuses a repository without commits that it did not create', async () => {
    const user = join(root, 'empty')
    await seedProject(user)
    git(user, 'init', '-q')
    await expect(Workspace.open({ dir: user, editable: ['train.py'], outputs: OUTPUTS, runTag: 'x' }))
      .rejects.toThrow(/without commits/)
  })

  it('refuses a repository that tracks run outputs', async () => {
    const user = join(root, 'autoresearch')
    await seedProject(user)
    await writeFile(join(user, 'results.tsv'), 'commit\n')
    git(user, 'init', '-q', '-b', 'master')
    git(user, 'add', '-A')
    git(user, '-c', 'user.name=U', '-c', 'user.email=u@x', 'commit', '-q', '-m', 'first')
    await expect(Workspace.open({ dir: user, editable: ['train.py'], outputs: OUTPUTS, runTag: 'x' }))
      .rejects.toThrow(/run outputs are tracked.*results\.tsv/)
  })
})

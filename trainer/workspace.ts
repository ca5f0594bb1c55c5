/**
 * The git working copy a trainer experiments in. Every candidate is a commit on
 * `swarm/<runTag>`; reverting is a hard reset. Only the editable files ever get
 * staged, run outputs stay ignored and survive resets, and a user's own history
 * and uncommitted work are never destroyed silently.
 *
 * Runs are code nobody here wrote, so git must not be steerable by them: every
 * git command runs with hooks off and no fsmonitor, the system config ignored,
 * and the repository's own config watched (a change since open() stops the
 * node rather than run git under it); editable paths never go through a link.
 */
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { chmod, lstat, mkdir, readdir, readFile, readlink, realpath, rename, rm, writeFile } from 'node:fs/promises'
import { dirname, isAbsolute, join, posix, relative, resolve } from 'node:path'
import { GitError, simpleGit } from 'simple-git'
import type { SimpleGit, SimpleGitOptions } from 'simple-git'

export interface WorkspaceOptions {
  dir: string
  editable: string[]
  outputs: string[]
  runTag: string
  identity?: { name: string; email: string }
  /** Reset even when non-editable files carry uncommitted changes (they are lost). */
  force?: boolean
  /**
   * Commit the user's uncommitted changes to the project's files (a fixed
   * swarm.json, say) on the experiment branch instead of refusing to start.
   * Until the baseline has run on them, `abandonSetup()` takes the commit back.
   */
  commitChanges?: boolean
  /** How long open() waits for a git lock file to go away before calling it stale. */
  lockWaitMs?: number
}

export class WorkspaceError extends Error {
  override name = 'WorkspaceError'
}

/** Open found uncommitted work that is not ours to discard. */
export class DirtyWorkspaceError extends WorkspaceError {
  override name = 'DirtyWorkspaceError'
  constructor (readonly files: string[], dir: string) {
    const quoted = files.map(shellQuote).join(' ')
    super(`${dir} has uncommitted changes: ${files.join(', ')}. swarm-node resets the working tree between experiments, ` +
      'so it will not start over them. To use them, commit them ' +
      `(git -C ${shellQuote(dir)} add -- ${quoted} && git -C ${shellQuote(dir)} commit -m 'project changes'), ` +
      'or start with --commit-changes to have swarm-node commit them on its experiment branch. ' +
      `To drop them, git -C ${shellQuote(dir)} stash -u. Run artifacts belong in the manifest's "outputs" list.`)
  }
}

export class NothingToCommitError extends WorkspaceError {
  override name = 'NothingToCommitError'
}

export class NotEditableError extends WorkspaceError {
  override name = 'NotEditableError'
  constructor (readonly paths: string[], editable: readonly string[]) {
    super(`not editable: ${paths.join(', ')} (editable files: ${editable.join(', ')})`)
  }
}

/** A git command exited non-zero; `exitCode` lets callers read yes/no answers. */
export class GitCommandError extends WorkspaceError {
  override name = 'GitCommandError'
  constructor (readonly exitCode: number, detail: string) {
    super(`git exited with ${exitCode}: ${detail.trim() || '(no output)'}`)
  }
}

const INITIAL_MESSAGE = 'swarm-node: initial baseline'
const CHANGES_MESSAGE = 'swarm-node: project changes committed with --commit-changes'
const DEFAULT_IDENTITY = { name: 'swarm-node', email: 'swarm-node@localhost' }
const INIT_MARKER = 'swarm-node-init'
const TMP_PREFIX = 'swarm-node-tmp-'
const COMMIT_FLAGS = ['--no-verify', '--no-gpg-sign', '--cleanup=verbatim']
/** A full object name (SHA-1 or SHA-256), which no option or revision expression looks like. */
const FULL_SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/

export class Workspace {
  readonly branch: string
  private readonly editableSet: Set<string>
  private queue: Promise<unknown> = Promise.resolve()
  /** Hash of the repository config as open() left it. */
  private configHash = ''
  /** HEAD when it is the candidate commitCandidate made, and that commit's parent. */
  private candidate: { commit: string, parent: string } | null = null

  private constructor (
    private readonly git: SimpleGit,
    readonly dir: string,
    private readonly gitDir: string,
    readonly editable: readonly string[],
    readonly outputs: readonly string[],
    runTag: string,
    /** True when open() created the repository. */
    readonly initialized: boolean,
    /** What open() found and repaired, in words, for the caller to log. */
    readonly recovered: readonly string[],
    /** What open() did to the user's directory (made it a repository, committed changes), in words. */
    readonly notes: readonly string[],
    /** The commit open() made that only a baseline that runs may keep. */
    private setup: Setup | null
  ) {
    this.branch = branchName(runTag)
    this.editableSet = new Set(editable)
  }

  static async open (opts: WorkspaceOptions): Promise<Workspace> {
    validateOptions(opts)
    const branch = branchName(opts.runTag)
    await mkdir(opts.dir, { recursive: true })
    const dir = await realpath(resolve(opts.dir))
    const git = makeGit(dir, opts.identity)

    const initialized = !(await isRepoRoot(git))
    if (initialized) {
      await run(git, ['init', '-q', `--initial-branch=${branch}`])
      await writeFile(join(await gitDirOf(git, dir), INIT_MARKER), '')
    }
    const gitDir = await gitDirOf(git, dir)
    const recovered: string[] = []
    const notes: string[] = []
    await removeStaleLocks(gitDir, dir, branch, opts.lockWaitMs ?? 2000, recovered)
    await removeTempFiles(gitDir)
    if (!opts.identity) await ensureLocalIdentity(git)
    if (!(await tryRaw(git, ['rev-parse', '-q', '--verify', 'HEAD^{commit}']))) {
      // Unborn HEAD: finish our own (possibly interrupted) init, refuse to guess for anyone else's.
      if (!existsSync(join(gitDir, INIT_MARKER))) {
        throw new WorkspaceError(`${dir} is a git repository without commits; make an initial commit first`)
      }
      // Outputs are ignored through .git/info/exclude: nothing of ours lands in the user's files or history.
      await appendMissingLines(join(gitDir, 'info', 'exclude'), opts.outputs)
      await run(git, ['add', '-A'])
      await run(git, ['commit', '-q', '--allow-empty', ...COMMIT_FLAGS, '-m', INITIAL_MESSAGE])
      notes.push(`made ${dir} a git repository: experiments are commits on ${branch}, starting from "${INITIAL_MESSAGE}" of its files (run outputs are ignored through .git/info/exclude)`)
    }
    await rm(join(gitDir, INIT_MARKER), { force: true })
    await appendMissingLines(join(gitDir, 'info', 'exclude'), opts.outputs)

    const trackedOutputs = await listTrackedOutputs(git, opts.outputs)
    if (trackedOutputs.length > 0) {
      throw new WorkspaceError(`run outputs are tracked by git in ${dir}: ${trackedOutputs.join(', ')}; ` +
        'untrack them (git rm --cached) so resets cannot overwrite them')
    }

    for (const p of opts.editable) await refuseLinks(dir, p)

    const current = (await tryRaw(git, ['symbolic-ref', '-q', '--short', 'HEAD']))?.trim()
    const onOurBranch = current === branch
    const dirty = await listChanged(git)
    const editable = new Set(opts.editable)
    // On our branch a dirty editable file is a half-written candidate; anywhere else it is the user's.
    const foreign = dirty.filter(p => !(onOurBranch && editable.has(p)))
    const commitChanges = opts.commitChanges === true && foreign.length > 0
    if (foreign.length > 0 && opts.force !== true && !commitChanges) throw new DirtyWorkspaceError(foreign, dir)
    // Only a repository made by this very open() is ours to remove: an older one may hold another run's baseline.
    let setup: Setup | null = initialized ? { kind: 'init', gitDir } : null
    if (commitChanges) {
      // The changes travel to our branch (git carries them when they do not clash), then become its head.
      if (!onOurBranch) await checkoutBranch(git, branch, dir)
      const parent = await run(git, ['rev-parse', 'HEAD'])
      await run(git, ['reset', '-q'])
      await run(git, ['add', '-A', '--', ...literal(foreign)])
      await run(git, ['commit', '-q', ...COMMIT_FLAGS, '-m', `${CHANGES_MESSAGE}\n\n${foreign.join('\n')}`])
      notes.push(`committed your changes to ${foreign.join(', ')} on ${branch} (--commit-changes)`)
      setup ??= { kind: 'changes', commit: (await run(git, ['rev-parse', 'HEAD'])).trim(), parent: parent.trim(), files: foreign }
    }
    const left = commitChanges ? dirty.filter(p => !foreign.includes(p)) : dirty
    if (left.length > 0) {
      await run(git, ['reset', '-q', '--hard', 'HEAD'])
      await run(git, ['clean', '-q', '-f', '-d'])
      recovered.push(...left.map(p => `discarded uncommitted ${p}`))
    }
    if (!onOurBranch && !commitChanges) await checkoutBranch(git, branch, dir)
    const ws = new Workspace(git, dir, gitDir, [...opts.editable], [...opts.outputs], opts.runTag, initialized, recovered, notes, setup)
    ws.configHash = await configHash(gitDir)
    return ws
  }

  /**
   * Takes back what open() committed, for a project whose first baseline (or
   * prepare step) failed: a repository open() made is removed, changes it
   * committed become uncommitted again. The user fixes the project and starts
   * again; no broken manifest stays in their history. Returns what was undone
   * in words, or null when there was nothing to undo.
   */
  abandonSetup (): Promise<string | null> {
    return this.serial(async () => {
      const s = this.setup
      this.setup = null
      this.candidate = null
      if (s == null) return null
      if (s.kind === 'init') {
        if (!(await ownInitialCommit(this.git))) return null
        await rm(s.gitDir, { recursive: true, force: true })
        return `swarm-node removed the git repository it had made in ${this.dir}: your files are as they were (run logs stay, to read)`
      }
      if ((await this.resolveCommit('HEAD')) !== s.commit) return null
      await run(this.git, ['reset', '-q', '--mixed', s.parent])
      return `swarm-node took back its commit of your changes to ${s.files.join(', ')}: they are uncommitted again`
    })
  }

  /** open() committed the user's changes (--commit-changes): HEAD is theirs to measure, not a candidate to reset. */
  get committedChanges (): boolean {
    return this.setup?.kind === 'changes'
  }

  head (): Promise<string> {
    return this.serial(() => this.resolveCommit('HEAD'))
  }

  /** Missing editable files are left out. */
  readEditable (): Promise<Record<string, string>> {
    return this.serial(async () => {
      const out: Record<string, string> = {}
      for (const p of this.editable) {
        // A link in place of an editable file would make the node read (and publish) whatever it points at.
        if (!(await refuseLinks(this.dir, p, true))) continue
        const text = await readFile(join(this.dir, p), 'utf8').catch((err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOENT') return null
          throw err
        })
        if (text !== null) out[p] = text
      }
      return out
    })
  }

  writeEditable (files: Record<string, string>): Promise<void> {
    return this.serial(async () => {
      const refused = Object.keys(files).filter(p => !this.editableSet.has(p))
      if (refused.length > 0) throw new NotEditableError(refused, this.editable)
      for (const [p, text] of Object.entries(files)) {
        const target = join(this.dir, p)
        await refuseLinks(this.dir, p)
        const info = await lstat(target).catch(() => null)
        await mkdir(dirname(target), { recursive: true })
        // Written inside .git and renamed in, so a kill never leaves a half file or stray temp in the tree.
        const tmp = join(this.gitDir, `${TMP_PREFIX}${process.pid}-${Date.now()}`)
        await writeFile(tmp, text, 'utf8')
        if (info) await chmod(tmp, info.mode & 0o777) // keep train.py's mode, or git sees a mode change
        await rename(tmp, target).catch(async (err: NodeJS.ErrnoException) => {
          if (err.code !== 'EXDEV') throw err // .git on another filesystem: plain write it is
          await rm(tmp, { force: true })
          await writeFile(target, text, 'utf8')
        })
      }
    })
  }

  changedFiles (): Promise<string[]> {
    return this.serial(() => listChanged(this.git))
  }

  /**
   * Commits the editable files as they are in the working tree (only those:
   * anything else staged stays out) and returns the new commit. Three git
   * processes in the common case: a candidate's loop is short, and each spawn
   * of a large node process costs it real time.
   */
  commitCandidate (message: string): Promise<string> {
    return this.serial(async () => {
      if (message.trim() === '') throw new WorkspaceError('commit message is empty')
      this.candidate = null
      const tracked = new Set(splitZ(await run(this.git, ['ls-files', '-z', '--', ...literal(this.editable)])))
      const present = this.editable.filter(p => tracked.has(p) || existsSync(join(this.dir, p)))
      const nothing = (): NothingToCommitError => new NothingToCommitError('no editable file differs from HEAD; nothing to commit')
      if (present.length === 0) throw nothing()
      // A commit of only these paths takes files git knows; a new editable file is added first.
      const fresh = present.filter(p => !tracked.has(p))
      if (fresh.length > 0) await run(this.git, ['add', '-A', '--', ...literal(fresh)])
      if (await tryRaw(this.git, ['commit', '-q', ...COMMIT_FLAGS, '-m', message, '--only', '--', ...literal(present)]) === null) throw nothing()
      const [commit, parent] = (await run(this.git, ['rev-parse', 'HEAD', 'HEAD^'])).trim().split('\n')
      this.candidate = { commit: commit!, parent: parent! }
      return commit!
    })
  }

  resetTo (sha: string): Promise<void> {
    return this.serial(async () => {
      // Back from our own candidate to its parent only editable files change: no run output can be in the way.
      const back = this.candidate != null && this.candidate.parent === sha
      this.candidate = null
      const target = back ? sha : await this.resolveCommit(sha)
      if (!back) await this.refuseToOverwriteOutputs(target)
      await run(this.git, ['reset', '-q', '--hard', target])
      // Without -x: ignored outputs (data/, run.log, ...) are left alone.
      await run(this.git, ['clean', '-q', '-f', '-d'])
    })
  }

  diff (fromSha: string, toSha: string): Promise<string> {
    return this.serial(async () => {
      // Full object names need no lookup first; one that is not here fails the diff, and the lookup then says which.
      const [from, to] = [FULL_SHA.test(fromSha) ? fromSha : await this.resolveCommit(fromSha), FULL_SHA.test(toSha) ? toSha : await this.resolveCommit(toSha)]
      try {
        return await run(this.git, ['diff', '--no-color', '--no-ext-diff', '--no-textconv', from, to, '--', ...literal(this.editable)])
      } catch (err) {
        await this.resolveCommit(from)
        await this.resolveCommit(to)
        throw err
      }
    })
  }

  commitMessage (sha: string): Promise<string> {
    return this.serial(async () => {
      const raw = await run(this.git, ['cat-file', 'commit', await this.resolveCommit(sha)])
      const start = raw.indexOf('\n\n')
      const body = start < 0 ? '' : raw.slice(start + 2)
      // git terminates every message with a newline; hand back what was given.
      return body.endsWith('\n') ? body.slice(0, -1) : body
    })
  }

  isAncestor (a: string, b: string): Promise<boolean> {
    return this.serial(async () => {
      const [ca, cb] = [await this.resolveCommit(a), await this.resolveCommit(b)]
      return (await tryRaw(this.git, ['merge-base', '--is-ancestor', ca, cb])) !== null
    })
  }

  private async resolveCommit (ref: string): Promise<string> {
    if (ref === '' || ref.startsWith('-')) throw new WorkspaceError(`invalid commit reference '${ref}'`)
    const sha = await tryRaw(this.git, ['rev-parse', '-q', '--verify', `${ref}^{commit}`])
    if (sha === null) throw new WorkspaceError(`unknown commit '${ref}' in ${this.dir}`)
    return sha.trim()
  }

  /** A tree that tracks an ignored path would have reset --hard clobber the run output living there. */
  private async refuseToOverwriteOutputs (target: string): Promise<void> {
    const changed = splitZ(await run(this.git, ['diff', '--name-only', '-z', '--no-renames', 'HEAD', target]))
    for (let i = 0; i < changed.length; i += 500) {
      const out = await tryRaw(this.git, ['check-ignore', '--no-index', '--', ...changed.slice(i, i + 500)])
      const hits = out === null ? [] : out.split('\n').filter(l => l !== '')
      if (hits.length > 0) {
        throw new WorkspaceError(`resetting to ${target} would overwrite run outputs: ${hits.join(', ')}`)
      }
    }
  }

  /** One git operation at a time: multi-step methods must not interleave on the index. */
  private serial<T> (fn: () => Promise<T>): Promise<T> {
    const guarded = async (): Promise<T> => {
      await this.checkConfig()
      return await fn()
    }
    const run = this.queue.then(guarded, guarded)
    this.queue = run.catch(() => undefined)
    return run
  }

  /** Refuses to run git once the repository config changed under us (a run could have written it). */
  private async checkConfig (): Promise<void> {
    const now = await configHash(this.gitDir)
    if (now !== this.configHash) {
      throw new WorkspaceError(`${join(this.gitDir, 'config')} changed while swarm-node had the workspace open; ` +
        'git is not run under a config a run could have written. Check the file, then start the node again.')
    }
  }
}

const branchName = (runTag: string): string => `swarm/${runTag}`

/** A commit open() made that stands only once a baseline has run on it. */
type Setup =
  | { kind: 'init', gitDir: string }
  | { kind: 'changes', commit: string, parent: string, files: string[] }

/** True when the whole repository is nothing but our initial commit: ours to remove. */
async function ownInitialCommit (git: SimpleGit): Promise<boolean> {
  const count = (await tryRaw(git, ['rev-list', '--all', '--count']))?.trim()
  if (count !== '1') return false
  const subject = (await tryRaw(git, ['log', '-1', '--format=%s', 'HEAD']))?.trim()
  return subject === INITIAL_MESSAGE
}

async function checkoutBranch (git: SimpleGit, branch: string, dir: string): Promise<void> {
  const exists = await tryRaw(git, ['rev-parse', '-q', '--verify', `refs/heads/${branch}`])
  try {
    await run(git, exists ? ['checkout', '-q', branch] : ['checkout', '-q', '-b', branch])
  } catch (err) {
    throw new WorkspaceError(`cannot switch ${dir} to ${branch}: ${(err as Error).message.trim()}; commit or stash your changes first`)
  }
}

/** A word for a shell command line, quoted when it needs to be. */
function shellQuote (word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`
}

function validateOptions (opts: WorkspaceOptions): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(opts.runTag) || opts.runTag.includes('..') || opts.runTag.endsWith('.lock')) {
    throw new WorkspaceError(`invalid runTag '${opts.runTag}': use letters, digits, '.', '_' or '-'`)
  }
  if (opts.editable.length === 0) throw new WorkspaceError('at least one editable file is required')
  for (const p of opts.editable) {
    const bad = p === '' || isAbsolute(p) || p.includes('\\') || posix.normalize(p) !== p ||
      p.split('/').some(s => s === '..' || s === '.' || s === '.git') || p.endsWith('/')
    if (bad) throw new WorkspaceError(`invalid editable path '${p}': must be a plain file path inside the repository`)
  }
  for (const o of opts.outputs) {
    if (o.trim() === '' || /[\r\n]/.test(o)) throw new WorkspaceError(`invalid output pattern '${o}'`)
  }
}

/**
 * The environment our git commands run in. Inherited GIT_* (GIT_DIR from a hook,
 * GIT_INDEX_FILE, ...) would point git elsewhere, and simple-git refuses
 * editor/pager/askpass variables outright. The system config is not read.
 */
export function gitEnvironment (): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || /^(GIT_|EDITOR$|PAGER$|SSH_ASKPASS$|PREFIX$)/i.test(k)) continue
    env[k] = v
  }
  env.GIT_TERMINAL_PROMPT = '0'
  env.GIT_CONFIG_NOSYSTEM = '1'
  return env
}

/**
 * `-c` settings on every git command the node runs. Hooks are off for good:
 * `--no-verify` skips only pre-commit and commit-msg, while a planted
 * reference-transaction or post-commit hook would run on our next commit or
 * reset. /dev/null is a hooks "folder" nothing can be planted in. fsmonitor
 * would run a program on every status and diff.
 */
export const GIT_HARDENING = ['core.hooksPath=/dev/null', 'core.fsmonitor=false']

/** A simple-git for `dir` with the hardened environment and settings: the only way the node runs git. */
export function hardenedGit (dir: string, opts: { env?: Record<string, string>, errors?: SimpleGitOptions['errors'] } = {}): SimpleGit {
  return simpleGit({
    baseDir: dir,
    maxConcurrentProcesses: 1,
    timeout: { block: 30_000 },
    config: GIT_HARDENING,
    unsafe: { allowUnsafeHooksPath: true, allowUnsafeFsMonitor: true },
    ...(opts.errors != null ? { errors: opts.errors } : {})
  }).env(opts.env ?? gitEnvironment())
}

function makeGit (dir: string, identity?: { name: string; email: string }): SimpleGit {
  const env = gitEnvironment()
  if (identity) {
    env.GIT_AUTHOR_NAME = env.GIT_COMMITTER_NAME = identity.name
    env.GIT_AUTHOR_EMAIL = env.GIT_COMMITTER_EMAIL = identity.email
  }
  return hardenedGit(dir, {
    env,
    // simple-git only fails a command that wrote to stderr; we need every exit code.
    errors: (error, result) => {
      if (result.exitCode === 0) return error
      const detail = Buffer.concat([...result.stdErr, ...result.stdOut]).toString('utf8')
      return new GitExit(result.exitCode, detail || (error instanceof Error ? error.message : ''))
    }
  })
}

/** The repository's config (and per-worktree config) as one hash; '' parts for absent files. */
async function configHash (gitDir: string): Promise<string> {
  const h = createHash('sha256')
  for (const f of ['config', 'config.worktree']) h.update(await readFile(join(gitDir, f)).catch(() => Buffer.from('\0absent')))
  return h.digest('hex')
}

/**
 * Refuses (throws, or with `soft` returns false) an editable path that is, or
 * lies under, a symbolic link: writing or reading it would reach outside the
 * workspace (train.py -> ~/.ssh/id_rsa, src -> /etc).
 */
async function refuseLinks (dir: string, rel: string, soft = false): Promise<boolean> {
  const parts = rel.split('/')
  for (let i = 1; i <= parts.length; i++) {
    const sub = parts.slice(0, i).join('/')
    const info = await lstat(join(dir, sub)).catch(() => null)
    if (info == null) return true
    if (info.isSymbolicLink()) {
      if (soft) return false
      throw new WorkspaceError(`refusing editable path ${rel}: ${sub} is a symbolic link`)
    }
  }
  return true
}

/** Carries the exit code through simple-git, which passes only GitError instances on untouched. */
class GitExit extends GitError {
  constructor (readonly exitCode: number, readonly detail: string) {
    super(undefined, detail)
  }
}

async function run (git: SimpleGit, args: string[]): Promise<string> {
  try {
    return await git.raw(args)
  } catch (err) {
    if (err instanceof GitExit) throw new GitCommandError(err.exitCode, `git ${args[0]}: ${err.detail}`)
    throw err
  }
}

/** Runs a command whose non-zero exit is an answer ("no"), not a failure: null on exit 1. */
async function tryRaw (git: SimpleGit, args: string[]): Promise<string | null> {
  try {
    return await run(git, args)
  } catch (err) {
    if (err instanceof GitCommandError && err.exitCode === 1) return null
    throw err
  }
}

async function isRepoRoot (git: SimpleGit): Promise<boolean> {
  try {
    return (await run(git, ['rev-parse', '--show-prefix'])).trim() === '' &&
      (await run(git, ['rev-parse', '--is-inside-work-tree'])).trim() === 'true'
  } catch (err) {
    if (err instanceof GitCommandError && /not a git repository/i.test(err.message)) return false
    throw err
  }
}

async function gitDirOf (git: SimpleGit, dir: string): Promise<string> {
  return resolve(dir, (await run(git, ['rev-parse', '--git-dir'])).trim())
}

async function ensureLocalIdentity (git: SimpleGit): Promise<void> {
  for (const [key, value] of [['user.name', DEFAULT_IDENTITY.name], ['user.email', DEFAULT_IDENTITY.email]] as const) {
    if ((await tryRaw(git, ['config', '--get', key])) === null) await run(git, ['config', '--local', key, value])
  }
}

async function appendMissingLines (file: string, lines: readonly string[]): Promise<void> {
  const current = existsSync(file) ? await readFile(file, 'utf8') : ''
  const have = new Set(current.split(/\r?\n/).map(l => l.trim()))
  const missing = lines.filter(l => !have.has(l))
  if (missing.length === 0) return
  const sep = current === '' || current.endsWith('\n') ? '' : '\n'
  await mkdir(dirname(file), { recursive: true })
  await writeFile(file, `${current}${sep}${missing.join('\n')}\n`, 'utf8')
}

async function listChanged (git: SimpleGit): Promise<string[]> {
  const tracked = splitZ(await run(git, ['diff', '--name-only', '-z', '--no-renames', 'HEAD']))
  const untracked = splitZ(await run(git, ['ls-files', '-z', '--others', '--exclude-standard']))
  return [...new Set([...tracked, ...untracked])].sort()
}

async function listTrackedOutputs (git: SimpleGit, outputs: readonly string[]): Promise<string[]> {
  if (outputs.length === 0) return []
  return splitZ(await run(git, ['ls-files', '-z', '--cached', '--ignored', ...outputs.flatMap(o => ['-x', o])]))
}

/**
 * A kill -9 mid-command leaves lock files that block git forever. A lock that outlives a short
 * wait while no git process works in this repository is stale.
 */
async function removeStaleLocks (gitDir: string, dir: string, branch: string, waitMs: number, recovered: string[]): Promise<void> {
  const candidates = ['index.lock', 'HEAD.lock', 'config.lock', 'packed-refs.lock', `refs/heads/${branch}.lock`]
    .map(rel => join(gitDir, rel))
  const deadline = Date.now() + waitMs
  let present = candidates.filter(f => existsSync(f))
  while (present.length > 0 && Date.now() < deadline) {
    await new Promise(r => setTimeout(r, 50))
    present = present.filter(f => existsSync(f))
  }
  if (present.length === 0) return
  if (await gitProcessRunningIn(dir)) {
    throw new WorkspaceError(`another git process is working in ${dir} (lock: ${present.join(', ')}); try again when it finishes`)
  }
  for (const f of present) {
    await rm(f, { force: true })
    recovered.push(`removed stale ${relative(dir, f)}`)
  }
}

/** Best effort, Linux only (/proc): elsewhere the wait in removeStaleLocks is all we have. */
async function gitProcessRunningIn (dir: string): Promise<boolean> {
  const pids = await readdir('/proc').catch(() => [] as string[])
  for (const pid of pids) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue
    try {
      const comm = (await readFile(`/proc/${pid}/comm`, 'utf8')).trim()
      if (comm !== 'git') continue
      const cwd = await readlink(`/proc/${pid}/cwd`)
      if (cwd === dir || cwd.startsWith(`${dir}/`)) return true
    } catch {
      // the process exited or is not ours to inspect
    }
  }
  return false
}

async function removeTempFiles (gitDir: string): Promise<void> {
  const names = (await readdir(gitDir)).filter(n => n.startsWith(TMP_PREFIX))
  await Promise.all(names.map(n => rm(join(gitDir, n), { force: true })))
}

/** Editable paths are file names, never globs. */
function literal (paths: readonly string[]): string[] {
  return paths.map(p => `:(literal)${p}`)
}

function splitZ (out: string): string[] {
  return out.split('\0').filter(s => s !== '')
}

/**
 * Keeps an external agent to the editable files. Before it runs: a record of
 * the run outputs git cannot see (data/, results.tsv, ...). After: what it
 * changed, committed or not, tracked or new, the editable files it left, and
 * then the workspace back on the baseline whatever happened. The caller
 * refuses the candidate when anything outside the editable files moved.
 */
import { lstat, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { MAX_WATCHED_OUTPUT_FILES } from './constants.ts'
import type { EditableWorkspace } from './types.ts'
import { hardenedGit } from '../workspace.ts'

/** path -> "size:mtime" of every file under the outputs; caches excluded. */
export type OutputSnapshot = Map<string, string>

const CACHE_RE = /(^|\/)__pycache__(\/|$)|\.pyc$/

async function walk (dir: string, rel: string, out: OutputSnapshot): Promise<void> {
  if (out.size >= MAX_WATCHED_OUTPUT_FILES || CACHE_RE.test(rel)) return
  const info = await lstat(join(dir, rel)).catch(() => null)
  if (info == null) return
  if (!info.isDirectory()) {
    out.set(rel, `${info.size}:${info.mtimeMs}`)
    return
  }
  for (const name of (await readdir(join(dir, rel)).catch(() => [])).sort()) await walk(dir, `${rel}/${name}`, out)
}

export async function snapshotOutputs (ws: EditableWorkspace): Promise<OutputSnapshot> {
  const out: OutputSnapshot = new Map()
  for (const pattern of ws.outputs) {
    const rel = pattern.replace(/^\/+|\/+$/g, '')
    // Glob patterns cannot be walked as paths; the plain ones hold what matters (the data).
    if (rel === '' || /[*?[\]!]/.test(rel) || rel.split('/').includes('..')) continue
    await walk(ws.dir, rel, out)
  }
  return out
}

export function changedOutputs (before: OutputSnapshot, after: OutputSnapshot): string[] {
  const paths = new Set([...before.keys(), ...after.keys()])
  return [...paths].filter(p => before.get(p) !== after.get(p)).sort()
}

export interface AgentChanges {
  /** Every editable file as the agent left it. */
  files: Record<string, string>
  /** Paths outside the editable files the agent changed, created or deleted. */
  outside: string[]
  /** What it did to git itself that had to be undone (commits, a branch switch). */
  notes: string[]
}

/**
 * Reads what the agent did to the workspace, relative to `baseline`, and puts
 * the workspace back on `baseline` (our branch, clean), in every case.
 */
export async function collectAndRestore (ws: EditableWorkspace, baseline: string): Promise<AgentChanges> {
  const git = hardenedGit(ws.dir)
  const notes: string[] = []
  try {
    const branch = (await git.raw(['symbolic-ref', '-q', '--short', 'HEAD']).catch(() => '')).trim()
    if (branch !== ws.branch) {
      notes.push(`it left branch ${ws.branch} for ${branch === '' ? 'a detached HEAD' : branch}`)
      return { files: {}, outside: ['.git (HEAD)'], notes }
    }
    if (await ws.head() !== baseline) {
      // aider commits by default: its commits are undone, their changes kept in the tree to be judged.
      notes.push('it committed; the commits were undone')
      await git.raw(['reset', '-q', '--soft', baseline])
    }
    const changed = await ws.changedFiles()
    const outside = changed.filter(p => !ws.editable.includes(p))
    // An editable file swapped for a link would have the node read what it points at.
    for (const p of ws.editable) {
      if ((await lstat(join(ws.dir, p)).catch(() => null))?.isSymbolicLink() === true) outside.push(`${p} (made a symbolic link)`)
    }
    return { files: await ws.readEditable(), outside, notes }
  } finally {
    if ((await git.raw(['symbolic-ref', '-q', '--short', 'HEAD']).catch(() => '')).trim() !== ws.branch) {
      await git.raw(['checkout', '-q', '-f', ws.branch])
    }
    await ws.resetTo(baseline)
  }
}

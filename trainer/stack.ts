/**
 * Stacking a peer's change onto our own baseline instead of replacing it: the
 * peer's keep turned its parent P into its child C; our baseline B grew from
 * the same past along another lineage. git's three-way merge applies P -> C to
 * B, file by file, so the candidate B + change keeps our gains and adds the
 * peer's. Only the project's editable files take part.
 *
 *   const s = await stackChange({ parent: P, child: C, base: B, editable: ['train.py'] })
 *   if (s.status === 'merged') commit(s.files, `${description}\n\n${lineageTrailers({ base, merged: [peer] })}`)
 */
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)
const MAX_MERGE_BYTES = 16 * 1024 * 1024

type Files = Record<string, string>

export type StackResult =
  /** B + the peer's change: every editable file. */
  | { status: 'merged', files: Files }
  /** Our baseline already holds the peer's change (or the peer changed nothing). */
  | { status: 'contained' }
  /** The change does not apply to B: the files where both lineages changed the same lines differently. */
  | { status: 'conflict', conflicts: string[] }

export interface StackInput {
  /** The peer's parent, its child, and our baseline: editable file -> text. */
  parent: Files
  child: Files
  base: Files
  editable: readonly string[]
}

/**
 * git merge-file refuses changes on adjacent lines, and a training file keeps
 * its constants one per line. When neither side added or removed a line, each
 * line is taken from whichever side changed it; a line both sides changed
 * differently is still a conflict. Pure, so the common case (a few constants
 * changed on each side) merges without a git process.
 */
export function mergeLines (base: string, ours: string, theirs: string): string | null {
  const p = base.split('\n'); const b = ours.split('\n'); const c = theirs.split('\n')
  if (b.length !== p.length || c.length !== p.length) return null
  const out: string[] = []
  for (let i = 0; i < p.length; i++) {
    if (b[i] === p[i]) out.push(c[i]!)
    else if (c[i] === p[i] || c[i] === b[i]) out.push(b[i]!)
    else return null
  }
  return out.join('\n')
}

/** git's three-way merge of one file's text: ours (B), their base (P), theirs (C). Null on a conflict. */
async function gitMergeFile (dir: string, name: string, ours: string, base: string, theirs: string): Promise<string | null> {
  const [o, p, t] = ['ours', 'base', 'theirs'].map(k => join(dir, `${k}-${name.replace(/[^A-Za-z0-9._-]/g, '_')}`)) as [string, string, string]
  await Promise.all([writeFile(o, ours), writeFile(p, base), writeFile(t, theirs)])
  try {
    const { stdout } = await run('git', ['merge-file', '-p', '-L', 'ours', '-L', 'base', '-L', 'theirs', o, p, t], { maxBuffer: MAX_MERGE_BYTES })
    return stdout
  } catch (err: any) {
    // Exit status 1..127 counts conflicts; anything else (no git, a crash) is an error.
    if (typeof err?.code === 'number' && err.code > 0 && err.code < 128) return null
    throw err
  }
}

export async function stackChange (input: StackInput): Promise<StackResult> {
  const { parent, child, base, editable } = input
  const changed = editable.filter(f => parent[f] !== child[f])
  if (changed.length === 0) return { status: 'contained' }
  const files: Files = {}
  for (const f of editable) if (base[f] !== undefined) files[f] = base[f]!
  const conflicts: string[] = []
  let dir: string | null = null
  try {
    for (const f of changed) {
      const p = parent[f]; const c = child[f]; const b = base[f]
      if (b === c) continue
      if (b === p) {
        if (c === undefined) delete files[f]
        else files[f] = c
        continue
      }
      // A file added or removed on one side and edited on the other has no common text to merge on.
      if (p === undefined || c === undefined || b === undefined) {
        conflicts.push(f)
        continue
      }
      let merged = mergeLines(p, b, c)
      if (merged == null) merged = await gitMergeFile(dir ??= await mkdtemp(join(tmpdir(), 'swarm-stack-')), f, b, p, c)
      if (merged == null) conflicts.push(f)
      else files[f] = merged
    }
  } finally {
    if (dir != null) await rm(dir, { recursive: true, force: true })
  }
  if (conflicts.length > 0) return { status: 'conflict', conflicts }
  const same = editable.every(f => files[f] === base[f])
  return same ? { status: 'contained' } : { status: 'merged', files }
}

/** A peer's lineage merged into a stacked candidate: whose keep, and its parent and child content. */
export interface Lineage {
  author: string
  result: string
  parent: string
  child: string
}

/**
 * The commit trailers of a stacked candidate: the lineage it stands on (our
 * baseline's content, its first parent) and every peer lineage merged into it,
 * one Merged-* group each, in the order they were applied.
 */
export function lineageTrailers (l: { base: string, merged: readonly Lineage[] }): string {
  return [
    `Stacked-On: ${l.base}`,
    ...l.merged.flatMap(m => [`Merged-Result: ${m.result}`, `Merged-From-Peer: ${m.author}`, `Merged-Parent: ${m.parent}`, `Merged-Child: ${m.child}`])
  ].join('\n')
}

/** The lineages named by trailer lines (`key: value`, as `git interpret-trailers --parse` prints them). */
export function parseLineageTrailers (text: string): { base: string | null, merged: Lineage[] } {
  let base: string | null = null
  const merged: Array<Partial<Lineage>> = []
  let cur: Partial<Lineage> | null = null
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z-]+):\s*(\S+)\s*$/.exec(line)
    if (m == null) continue
    const [, key, value] = m as unknown as [string, string, string]
    if (key === 'Stacked-On') base = value
    else if (key === 'Merged-Result') merged.push(cur = { result: value })
    else if (cur != null && key === 'Merged-From-Peer') cur.author = value
    else if (cur != null && key === 'Merged-Parent') cur.parent = value
    else if (cur != null && key === 'Merged-Child') cur.child = value
  }
  return { base, merged: merged.filter((l): l is Lineage => l.result != null && l.author != null && l.parent != null && l.child != null) }
}

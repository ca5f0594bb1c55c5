/**
 * A result's content rebuilt from its parent's content and the diff it
 * carries, so a node that holds the parent (most often its own baseline) has
 * a peer's keep the moment the gossip arrives, with no fetch. The diff is the
 * `git diff` of the editable files the author's node made; anything this
 * reader does not follow exactly (a rename, a binary file, a cut-off diff, a
 * hunk that does not match) gives null, and the caller fetches the content by
 * its hash as before. The caller must still check the rebuilt files hash to
 * the result's `child`: the diff is the author's word, the hash is not.
 *
 *   const files = applyDiff(parentFiles, result.diff, editable)
 *   if (files != null && contentHash(files) === result.child) use(files)
 */

type Files = Record<string, string>

/** One line of a file with its own line end ('' for a last line without one). */
type Line = string

const HUNK = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/

/** The file's lines, each with its '\n' (the last without one when the file does not end in a newline). */
function lines (text: string): Line[] {
  const out = text.split('\n').map(l => l + '\n')
  const last = out.pop()!
  if (last !== '\n') out.push(last.slice(0, -1))
  return out
}

/**
 * The path a `--- ` or `+++ ` header names, as one of `known` (null for
 * /dev/null). git prefixes paths (a/, b/, or c/ i/ w/ with mnemonicPrefix;
 * none with noprefix): the path is the header itself or the header less its
 * first segment, whichever is editable here.
 */
function headerPath (header: string, known: ReadonlySet<string>): string | null | undefined {
  let p = header.replace(/\t.*$/, '')
  if (p === '/dev/null') return null
  if (p.startsWith('"')) return undefined // a quoted (escaped) name: not one we follow
  if (known.has(p)) return p
  p = p.slice(p.indexOf('/') + 1)
  return known.has(p) ? p : undefined
}

/**
 * `parent` with `diff` applied, restricted to `editable` paths; null when the
 * diff cannot be followed exactly.
 */
export function applyDiff (parent: Readonly<Files>, diff: string, editable: readonly string[]): Files | null {
  const known = new Set(editable)
  const out: Files = { ...parent }
  const text = diff.split('\n')
  // git ends its output with a newline: the empty string after it is no line.
  if (text.at(-1) === '') text.pop()
  let i = 0
  while (i < text.length) {
    if (!text[i]!.startsWith('diff --git ')) return null
    i++
    let from: string | null | undefined
    let to: string | null | undefined
    // Extended headers: only index and mode lines are understood (a mode change alone changes no text).
    while (i < text.length && !text[i]!.startsWith('diff --git ') && !text[i]!.startsWith('@@')) {
      const h = text[i]!
      if (h.startsWith('--- ')) from = headerPath(h.slice(4), known)
      else if (h.startsWith('+++ ')) to = headerPath(h.slice(4), known)
      else if (!/^(index |old mode |new mode |new file mode |deleted file mode )/.test(h)) return null
      i++
    }
    if (i >= text.length || text[i]!.startsWith('diff --git ')) {
      if (from === undefined && to === undefined) continue // a mode change: the text is as it was
      return null
    }
    if (from === undefined || to === undefined || (from == null && to == null)) return null
    if (from != null && to != null && from !== to) return null
    const path = (to ?? from)!
    if (from != null && !Object.hasOwn(parent, from)) return null
    if (from == null && Object.hasOwn(parent, path)) return null
    const applied = applyHunks(from == null ? [] : lines(parent[from]!), text, i)
    if (applied == null) return null
    i = applied.next
    if (to == null) {
      if (applied.made.length > 0) return null
      delete out[path]
    } else {
      out[path] = applied.made.join('')
    }
  }
  return out
}

/**
 * One file's hunks, from `text[i]` on, applied to its old lines: the new
 * lines and the index of the first line after the hunks, or null when a hunk
 * does not match the old lines exactly.
 */
function applyHunks (old: readonly Line[], text: readonly string[], i: number): { made: Line[], next: number } | null {
  const made: Line[] = []
  let at = 0 // next old line to copy
  const copyTo = (end: number): void => { for (; at < end; at++) made.push(old[at]!) }
  while (i < text.length && text[i]!.startsWith('@@')) {
    const m = HUNK.exec(text[i]!)
    if (m == null) return null
    const oldStart = Number(m[1])
    const oldCount = m[2] == null ? 1 : Number(m[2])
    const newCount = m[4] == null ? 1 : Number(m[4])
    // A hunk of zero old lines names the line before it.
    const start = oldCount === 0 ? oldStart : oldStart - 1
    if (start < at || start > old.length) return null
    copyTo(start)
    i++
    let seenOld = 0
    let seenNew = 0
    while (i < text.length && (seenOld < oldCount || seenNew < newCount || text[i]!.startsWith('\\'))) {
      const h = text[i++]!
      // "\ No newline at end of file" follows the line it speaks of.
      if (h.startsWith('\\')) continue
      const body = h.slice(1) + (text[i]?.startsWith('\\') === true ? '' : '\n')
      const sign = h[0]
      if (sign !== ' ' && sign !== '-' && sign !== '+') return null
      if (sign === ' ' || sign === '-') {
        if (old[at] !== body) return null
        at++
        seenOld++
      }
      if (sign === ' ' || sign === '+') {
        made.push(body)
        seenNew++
      }
    }
    if (seenOld !== oldCount || seenNew !== newCount) return null
  }
  copyTo(old.length)
  return { made, next: i }
}

/**
 * One line that says what a change does, for results.tsv, the leaderboard and
 * gossip. A model's own words come first: a `DESCRIPTION:` line, else the
 * first line of prose in its reply (models often open with "Raise the
 * learning rate a little." and no label). With no words, the edit describes
 * itself: the constants it moves, or the lines it rewrites. Never the crash
 * it fixes: "repair: N_HEAD 3 -> 4" tells a reader what changed; "fix exit
 * code 1: ..." does not. Pure.
 */
import { MAX_DESCRIPTION_CHARS } from './edits.ts'
import { findConstants } from './mutation.ts'

const FENCE_RE = /^\s*(`{3,}|~{3,})/
const SEARCH_RE = /^\s*<{5,9}\s*SEARCH\s*$/
const REPLACE_RE = /^\s*>{5,9}\s*REPLACE\s*$/
const FILE_LINE_RE = /^\s*(?:[#*]+\s*)?(?:FILE\s*:\s*)?[`*'"]*[\w./-]+\.\w+[`*'"]*:?\s*$/i
const DIFF_START_RE = /^(?:--- |\+\+\+ |@@ )/
const DIFF_BODY_RE = /^(?:[ +\-\\]|@@ |$)/
// Openers that introduce an edit instead of naming one.
const LEAD_IN_RE = /^(sure|certainly|okay|ok|of course|here(?:'s| is| are)|below|i (?:will|'ll|would|propose|suggest)\b.*:$|let'?s\b.*:$)/i
const LABEL_RE = /^(?:description|idea|change|experiment|summary|proposal|hypothesis)\s*[:\-–—]\s*/i

/** A line of prose made presentable: no markdown, no list marker, no label; at most one sentence when long. */
function clean (line: string): string {
  let t = line.replace(/[`*_]+/g, '').replace(/^\s*(?:#+|>|[-+•]|\d+[.)])\s+/, '').replace(LABEL_RE, '').replace(/\s+/g, ' ').trim()
  if (t.length > 120) {
    const stop = t.slice(0, 120).search(/[.;!?]\s/)
    if (stop > 20) t = t.slice(0, stop)
  }
  t = t.replace(/[.:;,\s]+$/, '')
  return t.length <= MAX_DESCRIPTION_CHARS ? t : `${t.slice(0, MAX_DESCRIPTION_CHARS - 1)}…`
}

/**
 * The first line of prose outside code fences, SEARCH/REPLACE blocks and
 * diffs, skipping file names and lead-ins ("Here is the change:"); null when
 * the reply has none.
 */
export function firstProseLine (reply: string): string | null {
  let fence: string | null = null
  let inBlock = false
  let inDiff = false
  for (const raw of reply.replace(/\r\n?/g, '\n').split('\n')) {
    // A unified diff runs from its header over its hunk lines; a markdown bullet outside one is prose.
    if (fence == null && !inBlock && DIFF_START_RE.test(raw)) { inDiff = true; continue }
    if (inDiff) { if (DIFF_BODY_RE.test(raw)) continue; inDiff = false }
    const f = FENCE_RE.exec(raw)?.[1]
    if (fence != null) {
      if (f != null && raw.trim() === fence) fence = null
      continue
    }
    if (f != null) { fence = f; continue }
    if (inBlock) { if (REPLACE_RE.test(raw)) inBlock = false; continue }
    if (SEARCH_RE.test(raw)) { inBlock = true; continue }
    const line = raw.trim()
    if (line === '' || FILE_LINE_RE.test(line) || /^={5,9}$/.test(line)) continue
    if (LEAD_IN_RE.test(clean(line)) || /:\s*$/.test(line)) continue
    if (/^\W*GIVE UP\b/.test(line)) continue
    const text = clean(line)
    if (/[A-Za-z]/.test(text) && text.length >= 3) return text
  }
  return null
}

/** Lines of `a` and `b` between their common head and tail: what an edit replaced with what. */
function changedSpan (a: string[], b: string[]): { from: number, old: string[], next: string[] } {
  let head = 0
  while (head < a.length && head < b.length && a[head] === b[head]) head++
  let tail = 0
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++
  return { from: head, old: a.slice(head, a.length - tail), next: b.slice(head, b.length - tail) }
}

const quoteCode = (s: string, max = 60): string => {
  const t = s.trim().replace(/\s+/g, ' ')
  return `"${t.length <= max ? t : `${t.slice(0, max - 1)}…`}"`
}

/** What an edit does, read from the edit: "N_HEAD 3 -> 4", or "train.py: ... -> ...". */
export function describeEdit (before: Record<string, string>, after: Record<string, string>): string {
  const parts: string[] = []
  for (const [file, text] of Object.entries(after)) {
    const old = before[file]
    if (old === text) continue
    if (old === undefined) { parts.push(`new file ${file}`); continue }
    // Moved constants say it best, as the mutation proposer would have written them.
    const was = new Map(findConstants(file, old).map(c => [c.name, c.raw]))
    const now = findConstants(file, text)
    const span = changedSpan(old.split('\n'), text.split('\n'))
    const moved = now.filter(c => was.has(c.name) && was.get(c.name) !== c.raw)
    const onlyConstants = moved.length > 0 && span.old.length === span.next.length &&
      span.next.every(l => moved.some(c => new RegExp(`^${c.name}\\s*=`).test(l)))
    if (onlyConstants) { parts.push(moved.map(c => `${c.name} ${was.get(c.name)} -> ${c.raw}`).join(', ')); continue }
    const o = span.old.filter(l => l.trim() !== '')
    const n = span.next.filter(l => l.trim() !== '')
    if (o.length === 1 && n.length === 1) parts.push(`${file}: ${quoteCode(o[0]!)} -> ${quoteCode(n[0]!)}`)
    else if (o.length === 0) parts.push(`${file}: add ${n.length} line${n.length === 1 ? '' : 's'} at line ${span.from + 1} (${quoteCode(n[0] ?? '')})`)
    else if (n.length === 0) parts.push(`${file}: remove ${o.length} line${o.length === 1 ? '' : 's'} at line ${span.from + 1} (${quoteCode(o[0]!)})`)
    else parts.push(`${file}: rewrite lines ${span.from + 1}-${span.from + span.old.length} (${quoteCode(n[0]!)}…)`)
  }
  const line = parts.join('; ') || 'no change'
  return line.length <= MAX_DESCRIPTION_CHARS ? line : `${line.slice(0, MAX_DESCRIPTION_CHARS - 1)}…`
}

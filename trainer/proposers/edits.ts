/**
 * Reading an edit out of a model's reply and applying it, strictly. Three forms
 * are understood, in any mix and order:
 *
 *   SEARCH/REPLACE blocks      whole-file replacement      unified diff
 *   train.py                   FILE: train.py              --- a/train.py
 *   <<<<<<< SEARCH             ```python                   +++ b/train.py
 *   LEARNING_RATE = 3e-3       ...every line...            @@ -36,1 +36,1 @@
 *   =======                    ```                         -LEARNING_RATE = 3e-3
 *   LEARNING_RATE = 1e-2                                   +LEARNING_RATE = 1e-2
 *   >>>>>>> REPLACE
 *
 * Text is matched exactly, line for line: a block that does not match, or
 * matches twice, is refused with a reason the model can act on. Pure: text in,
 * files or an EditRejected out.
 */

export type EditFormat = 'search-replace' | 'whole-file' | 'unified-diff'

export interface SearchReplaceEdit { kind: 'search-replace', file: string | null, search: string[], replace: string[] }
export interface WholeFileEdit { kind: 'whole-file', file: string, lines: string[] }
export interface DiffHunk { oldStart: number | null, lines: Array<{ op: ' ' | '-' | '+', text: string }> }
export interface DiffEdit { kind: 'unified-diff', file: string, hunks: DiffHunk[] }
export type Edit = SearchReplaceEdit | WholeFileEdit | DiffEdit

export interface ParsedReply {
  description: string | null
  edits: Edit[]
  /** Pieces that looked like an edit but were cut short or malformed. */
  problems: string[]
  /** The model says the crash cannot be fixed (repair only). */
  giveUp: boolean
}

export class EditRejected extends Error {
  override name = 'EditRejected'
}

export const MAX_DESCRIPTION_CHARS = 200

const SEARCH_RE = /^\s*<{5,9}\s*SEARCH\s*$/
const DIVIDER_RE = /^\s*={5,9}\s*$/
const REPLACE_RE = /^\s*>{5,9}\s*REPLACE\s*$/
const FENCE_RE = /^\s*(`{3,}|~{3,})/
const FILE_RE = /^\s*(?:[#*]+\s*)?(?:FILE|File|file)\s*:\s*[`*'"]*([^`*'"\s]+)[`*'"]*\s*$/
const DESCRIPTION_RE = /^[*_#>\s-]*DESCRIPTION[*_]*\s*:[*_]*\s*(.*)$/i
const HUNK_RE = /^@@ -(\d+)(?:,\d+)? \+\d+(?:,\d+)? @@/
const GIVE_UP_RE = /^\s*[*_]*GIVE UP\b/m

/** A path as a model writes it, made comparable to the manifest's editable list. */
export function normalizePath (raw: string): string {
  let p = raw.trim().replace(/^[`'"*]+|[`'"*:]+$/g, '')
  if (p.startsWith('./')) p = p.slice(2)
  return p
}

function diffPath (line: string): string {
  const p = normalizePath(line.slice(4).split('\t')[0]!)
  return /^[ab]\//.test(p) ? p.slice(2) : p
}

/** The file a SEARCH block names: the last plain path-like line above it, past fences and blank lines. */
function fileAbove (lines: string[], at: number): string | null {
  for (let i = at - 1; i >= 0 && i >= at - 3; i--) {
    const line = lines[i]!
    if (line.trim() === '' || FENCE_RE.test(line)) continue
    const file = FILE_RE.exec(line)?.[1] ?? line
    const p = normalizePath(file.replace(/^\s*[#*]+\s*/, ''))
    return /^[\w./-]+\.[\w]+$/.test(p) ? p : null
  }
  return null
}

function oneLineDescription (text: string): string | null {
  const clean = text.replace(/[`*_]+/g, '').replace(/\s+/g, ' ').trim()
  if (clean === '') return null
  return clean.length <= MAX_DESCRIPTION_CHARS ? clean : `${clean.slice(0, MAX_DESCRIPTION_CHARS - 1)}…`
}

function parseSearchBlock (lines: string[], start: number, file: string | null): { edit: SearchReplaceEdit | null, end: number, problem?: string } {
  let i = start + 1
  const search: string[] = []
  while (i < lines.length && !DIVIDER_RE.test(lines[i]!)) {
    if (SEARCH_RE.test(lines[i]!) || REPLACE_RE.test(lines[i]!)) return { edit: null, end: i - 1, problem: `the SEARCH block for ${file ?? 'a file'} has no ======= line` }
    search.push(lines[i++]!)
  }
  if (i >= lines.length) return { edit: null, end: i, problem: `the SEARCH block for ${file ?? 'a file'} is cut off before =======` }
  i++
  const replace: string[] = []
  while (i < lines.length && !REPLACE_RE.test(lines[i]!)) {
    if (SEARCH_RE.test(lines[i]!) || DIVIDER_RE.test(lines[i]!)) return { edit: null, end: i - 1, problem: `the SEARCH block for ${file ?? 'a file'} has no >>>>>>> REPLACE line` }
    replace.push(lines[i++]!)
  }
  if (i >= lines.length) return { edit: null, end: i, problem: `the SEARCH block for ${file ?? 'a file'} is cut off before >>>>>>> REPLACE` }
  return { edit: { kind: 'search-replace', file, search, replace }, end: i }
}

function parseWholeFile (lines: string[], fenceAt: number, file: string): { edit: WholeFileEdit | null, end: number, problem?: string } {
  const fence = FENCE_RE.exec(lines[fenceAt]!)![1]!
  const body: string[] = []
  for (let i = fenceAt + 1; i < lines.length; i++) {
    if (lines[i]!.trim() === fence) return { edit: { kind: 'whole-file', file, lines: body }, end: i }
    body.push(lines[i]!)
  }
  return { edit: null, end: lines.length, problem: `the full text of ${file} is cut off (no closing ${fence})` }
}

function isDiffStart (lines: string[], i: number): boolean {
  return lines[i]!.startsWith('--- ') && (lines[i + 1] ?? '').startsWith('+++ ')
}

function hunkGoesOn (lines: string[], i: number): boolean {
  let j = i
  while (j < lines.length && lines[j] === '') j++
  return j < lines.length && /^[ +-]/.test(lines[j]!) && !isDiffStart(lines, j)
}

function parseDiff (lines: string[], start: number): { edit: DiffEdit, end: number } {
  const file = diffPath(lines[start + 1]!.startsWith('+++ /dev/null') ? lines[start]! : lines[start + 1]!)
  const hunks: DiffHunk[] = []
  let i = start + 2
  while (i < lines.length) {
    const header = HUNK_RE.exec(lines[i]!) ?? (lines[i]!.startsWith('@@') ? [] as string[] : null)
    if (header == null) break
    const hunk: DiffHunk = { oldStart: header[1] != null ? Number(header[1]) : null, lines: [] }
    i++
    while (i < lines.length) {
      const line = lines[i]!
      if (line.startsWith('@@') || isDiffStart(lines, i) || FENCE_RE.test(line)) break
      if (line.startsWith('\\')) { i++; continue } // "\ No newline at end of file"
      // Models drop the space of an empty context line; a blank line at the hunk's end is spacing.
      if (line === '' && !hunkGoesOn(lines, i)) break
      const op = line === '' ? ' ' : line[0]
      if (op !== ' ' && op !== '-' && op !== '+') break
      hunk.lines.push({ op, text: line.slice(1) })
      i++
    }
    hunks.push(hunk)
  }
  return { edit: { kind: 'unified-diff', file, hunks }, end: i - 1 }
}

/** Everything the reply proposes, in order of appearance. Never throws. */
export function parseReply (reply: string): ParsedReply {
  const lines = reply.replace(/\r\n?/g, '\n').split('\n')
  const edits: Edit[] = []
  const problems: string[] = []
  let description: string | null = null
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!
    const d = description == null ? DESCRIPTION_RE.exec(line) : null
    if (d != null) {
      description = oneLineDescription(d[1]!)
      continue
    }
    if (SEARCH_RE.test(line)) {
      const r = parseSearchBlock(lines, i, fileAbove(lines, i))
      if (r.edit != null) edits.push(r.edit)
      if (r.problem != null) problems.push(r.problem)
      i = r.end
      continue
    }
    const file = FILE_RE.exec(line)?.[1]
    if (file != null) {
      let j = i + 1
      while (j < lines.length && lines[j]!.trim() === '') j++
      if (j < lines.length && FENCE_RE.test(lines[j]!) && !SEARCH_RE.test(lines[j + 1] ?? '')) {
        const r = parseWholeFile(lines, j, normalizePath(file))
        if (r.edit != null) edits.push(r.edit)
        if (r.problem != null) problems.push(r.problem)
        i = r.end
        continue
      }
    }
    if (isDiffStart(lines, i)) {
      const r = parseDiff(lines, i)
      if (r.edit.hunks.length === 0) problems.push(`the diff for ${r.edit.file} has no @@ hunk`)
      else edits.push(r.edit)
      i = r.end
    }
  }
  return { description, edits, problems, giveUp: edits.length === 0 && GIVE_UP_RE.test(reply) }
}

/** Where `needle` occurs in `hay` as whole consecutive lines. */
function findLines (hay: string[], needle: string[]): number[] {
  const at: number[] = []
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer
    at.push(i)
  }
  return at
}

function noMatch (file: string, hay: string[], needle: string[], what: string): EditRejected {
  const loose = (l: string): string => l.replace(/\s+/g, ' ').trim()
  const looseHay = hay.map(loose)
  const near = findLines(looseHay, needle.map(loose))
  const hint = near.length > 0
    ? ` It matches line ${near[0]! + 1} if whitespace is ignored: copy the lines exactly, indentation included.`
    : ` Its first line \`${needle.find(l => l.trim() !== '')?.trim().slice(0, 80) ?? ''}\` ${looseHay.includes(loose(needle.find(l => l.trim() !== '') ?? '')) ? 'is there, but the lines after it differ' : 'is not in the file'}.`
  return new EditRejected(`${what} for ${file} does not match the current file exactly.${hint}`)
}

function splitText (text: string): { lines: string[], newline: boolean } {
  const newline = text.endsWith('\n')
  return { lines: (newline ? text.slice(0, -1) : text).split('\n'), newline }
}

function joinText (lines: string[], newline: boolean): string {
  return lines.join('\n') + (newline ? '\n' : '')
}

function applySearch (text: string, e: SearchReplaceEdit, file: string, n: number): string {
  const { lines, newline } = splitText(text)
  if (e.search.every(l => l.trim() === '')) throw new EditRejected(`SEARCH block ${n} for ${file} is empty: quote the lines to replace`)
  const at = findLines(lines, e.search)
  if (at.length === 0) throw noMatch(file, lines, e.search, `SEARCH block ${n}`)
  if (at.length > 1) throw new EditRejected(`SEARCH block ${n} for ${file} matches ${at.length} places (lines ${at.map(a => a + 1).join(', ')}): include more lines so it matches one`)
  return joinText([...lines.slice(0, at[0]), ...e.replace, ...lines.slice(at[0]! + e.search.length)], newline)
}

function applyDiff (text: string, e: DiffEdit, file: string): string {
  let { lines, newline } = splitText(text)
  e.hunks.forEach((h, k) => {
    const old = h.lines.filter(l => l.op !== '+').map(l => l.text)
    const next = h.lines.filter(l => l.op !== '-').map(l => l.text)
    if (old.length === 0) throw new EditRejected(`diff hunk ${k + 1} for ${file} has no context or removed lines to place it by`)
    const at = findLines(lines, old)
    if (at.length === 0) throw noMatch(file, lines, old, `diff hunk ${k + 1}`)
    // Models miscount line numbers; the content decides, the number only breaks ties.
    const want = h.oldStart != null ? h.oldStart - 1 : null
    const pick = at.length === 1 ? at[0]! : (want != null && at.includes(want) ? want : null)
    if (pick == null) throw new EditRejected(`diff hunk ${k + 1} for ${file} matches ${at.length} places: include more context lines`)
    lines = [...lines.slice(0, pick), ...next, ...lines.slice(pick + old.length)]
  })
  return joinText(lines, newline)
}

function targetOf (e: Edit, editable: readonly string[]): string {
  if (e.file == null) {
    if (editable.length === 1) return editable[0]!
    throw new EditRejected(`a SEARCH block does not say which file it edits: put the file name (one of ${editable.join(', ')}) on the line above it`)
  }
  const file = normalizePath(e.file)
  if (!editable.includes(file)) throw new EditRejected(`${file} is not editable: only ${editable.join(', ')} may change`)
  return file
}

export interface Applied {
  /** New text of each file the edits changed. */
  files: Record<string, string>
  formats: EditFormat[]
}

/** Applies edits in order to the given files; throws EditRejected naming the first that fails. */
export function applyEdits (files: Record<string, string>, edits: Edit[], editable: readonly string[]): Applied {
  if (edits.length === 0) throw new EditRejected('the reply holds no edit')
  const out: Record<string, string> = {}
  const formats = new Set<EditFormat>()
  let block = 0
  for (const e of edits) {
    const file = targetOf(e, editable)
    const current = out[file] ?? files[file]
    formats.add(e.kind)
    if (e.kind === 'whole-file') {
      out[file] = joinText(e.lines, true)
      continue
    }
    if (current === undefined) throw new EditRejected(`${file} does not exist: send its full text with FILE: ${file}`)
    out[file] = e.kind === 'search-replace' ? applySearch(current, e, file, ++block) : applyDiff(current, e, file)
  }
  for (const [file, text] of Object.entries(out)) if (text === files[file]) delete out[file]
  return { files: out, formats: [...formats] }
}

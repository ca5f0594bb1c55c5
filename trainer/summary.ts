/**
 * Parses the summary block that autoresearch's train.py prints when a run ends:
 *
 *     ---
 *     val_bpb:          0.997900
 *     training_seconds: 300.1
 *     ...
 *
 * Rules (pure, no I/O):
 * - Lines are split on `\n`, `\r\n` and a lone `\r`: train.py redraws its progress
 *   line with `\r`, so a whole run's progress arrives as one physical line.
 * - A block starts at a line that is exactly `---` once trimmed, and runs over the
 *   `key: value` lines after it. Blank lines inside a block are skipped rather than
 *   ending it, so a stray `print()` between fields does not lose the rest. The block
 *   ends at the first other line.
 * - A `key: value` line is any line with a colon and text before it. Keys that are
 *   not identifiers (`^[A-Za-z_][A-Za-z0-9_]*$`) are skipped but do not end the block.
 * - A value becomes a number only when the whole trimmed value is a finite decimal
 *   number; anything else (`nan`, `inf`, `12:30`, `0x10`) stays a string.
 * - The LAST block with at least one entry wins; an empty block (a markdown rule,
 *   a separator printed mid-run) is not a summary. Later duplicate keys win.
 */

export type Summary = Record<string, number | string>

const SEPARATOR = '---'
const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/
// Only plain decimals: Number() alone would also accept '', '0x10' and 'Infinity'.
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/

interface Block {
  /** index of the `---` line */
  start: number
  /** index one past the last line belonging to the block */
  end: number
  summary: Summary
}

export function splitLines (text: string): string[] {
  return text.split(/\r\n|\n|\r/)
}

function parseValue (raw: string): number | string {
  const value = raw.trim()
  if (DECIMAL.test(value)) {
    const n = Number(value)
    if (Number.isFinite(n)) return n
  }
  return value
}

/** Reads the entries after the `---` at `start`; returns the block, empty or not. */
function readBlock (lines: string[], start: number): Block {
  const summary: Summary = {}
  let end = start + 1
  for (let i = start + 1; i < lines.length; i++) {
    const line = lines[i] ?? ''
    if (line.trim() === '') continue
    const colon = line.indexOf(':')
    const key = colon > 0 ? line.slice(0, colon).trim() : ''
    if (key === '') break
    if (KEY.test(key)) summary[key] = parseValue(line.slice(colon + 1))
    end = i + 1
  }
  return { start, end, summary }
}

function lastBlock (lines: string[]): Block | null {
  // Walk backwards so a long log with one summary at the end costs one block read.
  for (let i = lines.length - 1; i >= 0; i--) {
    if ((lines[i] ?? '').trim() !== SEPARATOR) continue
    const block = readBlock(lines, i)
    if (Object.keys(block.summary).length > 0) return block
  }
  return null
}

export function parseSummary (log: string): Summary | null {
  return lastBlock(splitLines(log))?.summary ?? null
}

/** The named metric when it is a finite number above zero, else null. */
export function metricOf (summary: Summary | null, name: string): number | null {
  if (summary === null || !Object.hasOwn(summary, name)) return null
  const value = summary[name]
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : null
}

/**
 * The last non-empty line (trimmed) outside the summary block, for progress
 * display; '' when there is none.
 */
export function lastProgressLine (text: string): string {
  const lines = splitLines(text)
  const block = lastBlock(lines)
  for (let i = lines.length - 1; i >= 0; i--) {
    if (block !== null && i >= block.start && i < block.end) continue
    const line = (lines[i] ?? '').trim()
    if (line !== '') return line
  }
  return ''
}

/**
 * Why a run has no usable `metric`, in words that point at the fix: the keys
 * the summary did print (a misnamed metric is the usual cause), or that no
 * summary block was printed at all, with the last line of output.
 */
export function missingMetric (summary: Summary | null, metric: string, lastLine: string): string {
  const last = lastLine === '' ? 'no output' : `last line: ${lastLine}`
  if (summary === null) return `no ${metric} in output: no summary block (a line "---", then "key: value" lines) was printed; ${last}`
  if (Object.hasOwn(summary, metric)) return `${metric} is not a positive number: ${String(summary[metric])}`
  const keys = Object.keys(summary)
  const shown = keys.length <= 12 ? keys.join(', ') : `${keys.slice(0, 12).join(', ')}, … (${keys.length} in all)`
  return `no ${metric} in the summary: it printed ${shown}`
}

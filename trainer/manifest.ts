/**
 * The project manifest (`swarm.json`): what the node may edit, how it prepares
 * data and runs an experiment, and how the result is scored. Parsing is pure so
 * every bad manifest gets an error that names the field and the fix.
 */

export interface OnnxSpec {
  model: string
  tokens: string
  token_bytes: string
  context: number
  vocab: number
}

export interface Manifest {
  name: string
  description: string
  editable: string[]
  prepare: string | null
  run: string
  budget_s: number
  timeout_s: number
  metric: string
  noise_margin: number
  outputs: string[]
  python: string | null
  onnx: OnnxSpec | null
}

export class ManifestError extends Error {
  constructor (readonly field: string, message: string) {
    super(`swarm.json: ${field}: ${message}`)
    this.name = 'ManifestError'
  }
}

export const DEFAULT_OUTPUTS = ['run.log', 'prepare.log', 'results.tsv', 'model.onnx', '__pycache__/']
const KNOWN_KEYS = new Set(['name', 'description', 'editable', 'prepare', 'run', 'budget_s', 'timeout_s', 'metric', 'noise_margin', 'outputs', 'python', 'onnx'])
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
const METRIC_RE = /^[a-z][a-z0-9_]{0,47}$/

/** A project-relative path: no absolute paths, no `..`, no backslashes, no `.git`. */
export function checkRelativePath (field: string, p: unknown, allowDir = false): string {
  if (typeof p !== 'string' || p.length === 0 || p.length > 200) throw new ManifestError(field, 'must be a non-empty relative path (at most 200 characters)')
  const body = allowDir && p.endsWith('/') ? p.slice(0, -1) : p
  const parts = body.split('/')
  if (p.startsWith('/') || p.includes('\\') || p.includes('\0') || parts.some(s => s === '' || s === '.' || s === '..') || parts[0] === '.git') {
    throw new ManifestError(field, `"${p}" must stay inside the project (no absolute paths, "..", backslashes or .git)`)
  }
  return p
}

function str (o: Record<string, unknown>, key: string, opts: { required?: boolean, max?: number, fallback?: string | null } = {}): string | null {
  const v = o[key]
  if (v === undefined || v === null) {
    if (opts.required === true) throw new ManifestError(key, 'is required')
    return opts.fallback ?? null
  }
  if (typeof v !== 'string' || v.trim() === '') throw new ManifestError(key, 'must be a non-empty string')
  if (v.length > (opts.max ?? 1000)) throw new ManifestError(key, `must be at most ${opts.max ?? 1000} characters`)
  return v
}

function num (o: Record<string, unknown>, key: string, min: number, max: number, fallback?: number, integer = false): number {
  const v = o[key]
  if (v === undefined && fallback !== undefined) return fallback
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    throw new ManifestError(key, `must be ${integer ? 'an integer' : 'a number'} between ${min} and ${max}, got ${JSON.stringify(v)}`)
  }
  return v
}

function parseOnnx (v: unknown): OnnxSpec | null {
  if (v === undefined || v === null) return null
  if (typeof v !== 'object' || Array.isArray(v)) throw new ManifestError('onnx', 'must be an object')
  const o = v as Record<string, unknown>
  for (const k of Object.keys(o)) {
    if (!['model', 'tokens', 'token_bytes', 'context', 'vocab'].includes(k)) throw new ManifestError(`onnx.${k}`, 'unknown field')
  }
  const path = (k: string): string => checkRelativePath(`onnx.${k}`, o[k])
  return {
    model: path('model'),
    tokens: path('tokens'),
    token_bytes: path('token_bytes'),
    context: num(o, 'context', 1, 65536, undefined, true),
    vocab: num(o, 'vocab', 2, 1 << 20, undefined, true)
  }
}

/** Validates a parsed swarm.json and fills the defaults. */
export function parseManifest (raw: unknown): Manifest {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ManifestError('(root)', 'must be a JSON object')
  const o = raw as Record<string, unknown>
  for (const k of Object.keys(o)) {
    if (!KNOWN_KEYS.has(k)) throw new ManifestError(k, `unknown field (known: ${[...KNOWN_KEYS].join(', ')})`)
  }
  const name = str(o, 'name', { required: true, max: 64 }) as string
  if (!NAME_RE.test(name)) throw new ManifestError('name', 'use letters, digits, ".", "_" and "-" (at most 64)')

  const editableRaw = o.editable ?? ['train.py']
  if (!Array.isArray(editableRaw) || editableRaw.length === 0 || editableRaw.length > 16) throw new ManifestError('editable', 'must be a list of 1 to 16 file paths')
  const editable = editableRaw.map((p, i) => checkRelativePath(`editable[${i}]`, p))
  if (new Set(editable).size !== editable.length) throw new ManifestError('editable', 'lists a file twice')
  if (editable.includes('swarm.json')) throw new ManifestError('editable', 'swarm.json itself cannot be editable')

  const outputsRaw = o.outputs ?? []
  if (!Array.isArray(outputsRaw) || outputsRaw.length > 64) throw new ManifestError('outputs', 'must be a list of at most 64 paths')
  const outputs = [...new Set([...DEFAULT_OUTPUTS, ...outputsRaw.map((p, i) => checkRelativePath(`outputs[${i}]`, p, true))])]
  for (const e of editable) {
    if (outputs.some(out => out === e || (out.endsWith('/') && e.startsWith(out)))) throw new ManifestError('outputs', `covers the editable file ${e}`)
  }

  const budget = num(o, 'budget_s', 1, 86_400, 300)
  const timeout = num(o, 'timeout_s', 1, 172_800, Math.ceil(budget * 2 + 120))
  if (timeout <= budget) throw new ManifestError('timeout_s', `must be greater than budget_s (${budget})`)
  const metric = str(o, 'metric', { max: 48, fallback: 'val_bpb' }) as string
  if (!METRIC_RE.test(metric)) throw new ManifestError('metric', 'must look like val_bpb (lowercase letters, digits, _)')

  return {
    name,
    description: str(o, 'description', { max: 300, fallback: '' }) ?? '',
    editable,
    prepare: str(o, 'prepare'),
    run: str(o, 'run', { required: true }) as string,
    budget_s: budget,
    timeout_s: timeout,
    metric,
    noise_margin: num(o, 'noise_margin', 0, 10, 0.02),
    outputs,
    python: str(o, 'python', { max: 500 }),
    onnx: parseOnnx(o.onnx)
  }
}

/**
 * A budget given on the command line replaces the manifest's (so it changes the
 * project id: results under another budget are not comparable); the hard
 * timeout grows with it so a longer budget is never killed early.
 */
export function withBudget (m: Manifest, budgetS: number | undefined): Manifest {
  if (budgetS === undefined) return m
  if (!Number.isFinite(budgetS) || budgetS < 1 || budgetS > 86_400) throw new ManifestError('budget_s', `--budget must be between 1 and 86400 seconds, got ${budgetS}`)
  return { ...m, budget_s: budgetS, timeout_s: Math.max(m.timeout_s, Math.ceil(budgetS * 1.5 + 120)) }
}

/** True when `path` is a run output (never committed, never part of the project id). */
export function isOutput (m: Manifest, path: string): boolean {
  return m.outputs.some(out => out.endsWith('/') ? (path === out.slice(0, -1) || path.startsWith(out) || path.includes('/' + out)) : (path === out || path.endsWith('/' + out)))
}

/**
 * Where JSON text first goes wrong, as a person finds it in an editor: line and
 * column (1-based), what was expected, and the line with a caret. JSON.parse
 * says only "at position 57" (or nothing at all on some inputs), so this scans
 * the text itself; it is called only once JSON.parse has refused the text.
 */
export function jsonErrorAt (text: string): { line: number, column: number, problem: string, excerpt: string } {
  const { at, problem } = findJsonError(text)
  const before = text.slice(0, at)
  const line = before.split('\n').length
  const lineStart = before.lastIndexOf('\n') + 1
  const lineEnd = text.indexOf('\n', at)
  const lineText = text.slice(lineStart, lineEnd < 0 ? undefined : lineEnd).replace(/\r$/, '')
  const column = [...text.slice(lineStart, at)].length + 1
  const shown = lineText.length > 120 ? lineText.slice(Math.max(0, column - 60), column + 60) : lineText
  const caret = ' '.repeat(Math.max(0, lineText.length > 120 ? Math.min(column - 1, 59) : column - 1)) + '^'
  return { line, column, problem, excerpt: `${shown.replace(/\t/g, ' ')}\n${caret}` }
}

function findJsonError (t: string): { at: number, problem: string } {
  let i = 0
  const ws = (): void => { while (i < t.length && ' \t\n\r'.includes(t[i]!)) i++ }
  const fail = (problem: string): never => { throw Object.assign(new Error(problem), { at: i }) }
  const describeHere = (): string => i >= t.length ? 'the end of the file' : `${JSON.stringify(t[i])}`
  const literal = (word: string): void => { if (t.startsWith(word, i)) i += word.length; else fail(`expected a value, found ${describeHere()}`) }
  const string = (): void => {
    i++
    while (i < t.length && t[i] !== '"') {
      const c = t.charCodeAt(i)
      if (c < 0x20) fail('a string may not hold a raw line break or control character (write \\n)')
      if (t[i] === '\\') {
        i++
        if (t[i] === 'u') { if (!/^[0-9a-fA-F]{4}$/.test(t.slice(i + 1, i + 5))) fail('\\u must be followed by 4 hex digits'); i += 5; continue }
        if (!'"\\/bfnrt'.includes(t[i] ?? '')) fail(`unknown escape \\${t[i] ?? ''}`)
      }
      i++
    }
    if (i >= t.length) fail('the string is not closed (missing ")')
    i++
  }
  const number = (): void => {
    const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(t.slice(i))
    if (m == null) fail(`expected a value, found ${describeHere()}`)
    i += m![0].length
  }
  const value = (): void => {
    ws()
    const c = t[i]
    if (c === '{') return object()
    if (c === '[') return array()
    if (c === '"') return string()
    if (c === 't') return literal('true')
    if (c === 'f') return literal('false')
    if (c === 'n') return literal('null')
    if (c === '-' || (c != null && c >= '0' && c <= '9')) return number()
    fail(c === "'" ? 'strings take double quotes (") in JSON' : `expected a value, found ${describeHere()}`)
  }
  const object = (): void => {
    i++
    ws()
    if (t[i] === '}') { i++; return }
    for (;;) {
      ws()
      if (t[i] !== '"') fail(t[i] === '}' ? 'a trailing comma is not allowed in JSON' : `expected a "key" in double quotes, found ${describeHere()}`)
      string()
      ws()
      if (t[i] !== ':') fail(`expected : after the key, found ${describeHere()}`)
      i++
      value()
      ws()
      if (t[i] === ',') { i++; continue }
      if (t[i] === '}') { i++; return }
      fail(t[i] === '"' ? 'expected , or } after the value: is a comma missing before this key?' : `expected , or } after the value, found ${describeHere()}`)
    }
  }
  const array = (): void => {
    i++
    ws()
    if (t[i] === ']') { i++; return }
    for (;;) {
      value()
      ws()
      if (t[i] === ',') { i++; ws(); if (t[i] === ']') fail('a trailing comma is not allowed in JSON'); continue }
      if (t[i] === ']') { i++; return }
      fail(`expected , or ] after the value, found ${describeHere()}`)
    }
  }
  try {
    if (t.charCodeAt(0) === 0xfeff) fail('the file starts with a byte order mark; save it as UTF-8 without BOM')
    value()
    ws()
    if (i < t.length) fail(`unexpected ${describeHere()} after the end of the JSON value`)
    return { at: t.length, problem: 'not valid JSON' }
  } catch (err) {
    return { at: (err as { at?: number }).at ?? i, problem: (err as Error).message }
  }
}

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

/** What the sandbox lets a run see, write and use (see trainer/sandbox). */
export interface SandboxSpec {
  /** Memory a run may use, MiB; null: three quarters of the machine's. */
  memory_mb: number | null
  /** Processes and threads a run may have at once. */
  processes: number
  /** Largest file a run may write, MiB. */
  file_size_mb: number
  /** Host paths (absolute or ~/...) a run may read: toolchains, caches. */
  read_only: string[]
  /** Host paths (absolute or ~/...) `prepare` writes and runs only read: data kept outside the project. */
  data: string[]
  /** Output folders of the project a run may write (every other output folder is data: read-only to runs). */
  writable: string[]
  /** Names of environment variables passed into the sandbox (never secrets). */
  env: string[]
}

export const POLICY_RULES = ['network', 'process', 'native-code', 'dynamic-code', 'outside-paths'] as const
export type PolicyRule = typeof POLICY_RULES[number]

/** The early, explainable refusal of foreign candidates (trainer/policy.ts). */
export interface PolicySpec {
  enabled: boolean
  /** Rules this project does not apply. */
  allow: PolicyRule[]
  /** Further modules a candidate may not newly import. */
  deny_imports: string[]
}

export interface Manifest {
  name: string
  description: string
  editable: string[]
  prepare: string | null
  run: string
  budget_s: number
  timeout_s: number
  /** Seconds past the budget a run may take (start-up, evaluation, export); null: up to timeout_s. */
  grace_s: number | null
  metric: string
  noise_margin: number
  outputs: string[]
  python: string | null
  onnx: OnnxSpec | null
  sandbox: SandboxSpec
  policy: PolicySpec
}

export class ManifestError extends Error {
  constructor (readonly field: string, message: string) {
    super(`swarm.json: ${field}: ${message}`)
    this.name = 'ManifestError'
  }
}

export const DEFAULT_OUTPUTS = ['run.log', 'prepare.log', 'results.tsv', 'model.onnx', '__pycache__/']
const KNOWN_KEYS = new Set(['name', 'description', 'editable', 'prepare', 'run', 'budget_s', 'timeout_s', 'grace_s', 'metric', 'noise_margin', 'outputs', 'python', 'onnx', 'sandbox', 'policy'])
const SANDBOX_KEYS = ['memory_mb', 'processes', 'file_size_mb', 'read_only', 'data', 'writable', 'env']
export const DEFAULT_PROCESSES = 1024
export const DEFAULT_FILE_SIZE_MB = 16 * 1024
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/
const MODULE_RE = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/
/** Environment names that hold credentials: never let into a sandbox, whatever a manifest asks. */
export const SECRET_NAME_RE = /KEY|TOKEN|SECRET|PASSW|CREDENTIAL|COOKIE|SESSION|AUTH|^SWARM_NODE_/i
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

/** A host path for the sandbox: absolute, or under the home directory as `~/...`; never the whole home or `/`. */
function hostPath (field: string, p: unknown): string {
  if (typeof p !== 'string' || p.length === 0 || p.length > 500 || p.includes('\0')) throw new ManifestError(field, 'must be a path (at most 500 characters)')
  const rest = p.startsWith('~/') ? p.slice(2) : p.startsWith('/') ? p.slice(1) : null
  if (rest === null) throw new ManifestError(field, `"${p}" must be absolute or start with ~/`)
  const parts = rest.replace(/\/+$/, '').split('/')
  if (parts.some(s => s === '' || s === '.' || s === '..')) throw new ManifestError(field, `"${p}" must name a folder below / or ~ (no "..", no empty parts)`)
  return p
}

function list<T> (o: Record<string, unknown>, key: string, max: number, each: (field: string, v: unknown) => T): T[] {
  const v = o[key] ?? []
  if (!Array.isArray(v) || v.length > max) throw new ManifestError(key, `must be a list of at most ${max} entries`)
  return v.map((x, i) => each(`${key}[${i}]`, x))
}

/** Runs `parse` with every field it names reported under `prefix` (`sandbox.memory_mb`, not `memory_mb`). */
function within<T> (prefix: string, parse: () => T): T {
  try {
    return parse()
  } catch (err) {
    if (!(err instanceof ManifestError) || err.field.startsWith(`${prefix}.`)) throw err
    throw new ManifestError(`${prefix}.${err.field}`, err.message.slice(`swarm.json: ${err.field}: `.length))
  }
}

function parseSandbox (v: unknown, outputs: string[]): SandboxSpec {
  if (v !== undefined && (typeof v !== 'object' || v === null || Array.isArray(v))) throw new ManifestError('sandbox', 'must be an object')
  const o = (v ?? {}) as Record<string, unknown>
  return within('sandbox', () => {
    for (const k of Object.keys(o)) {
      if (!SANDBOX_KEYS.includes(k)) throw new ManifestError(k, `unknown field (known: ${SANDBOX_KEYS.join(', ')})`)
    }
    const writable = list(o, 'writable', 16, (field, x) => {
      const p = checkRelativePath(field, x, true)
      const dir = p.endsWith('/') ? p : `${p}/`
      if (!outputs.includes(dir)) throw new ManifestError(field, `"${p}" must be an output folder listed in "outputs" (as "${dir}")`)
      return dir
    })
    const env = list(o, 'env', 32, (field, x) => {
      if (typeof x !== 'string' || !ENV_NAME_RE.test(x)) throw new ManifestError(field, 'must be an environment variable name')
      if (SECRET_NAME_RE.test(x)) throw new ManifestError(field, `${x} looks like a secret; the sandbox never passes keys, tokens or passwords to a run`)
      return x
    })
    return {
      memory_mb: o.memory_mb === undefined || o.memory_mb === null ? null : num(o, 'memory_mb', 64, 16 * 1024 * 1024, undefined, true),
      processes: num(o, 'processes', 8, 1 << 20, DEFAULT_PROCESSES, true),
      file_size_mb: num(o, 'file_size_mb', 1, 16 * 1024 * 1024, DEFAULT_FILE_SIZE_MB, true),
      read_only: list(o, 'read_only', 32, hostPath),
      data: list(o, 'data', 16, hostPath),
      writable,
      env
    }
  })
}

function parsePolicy (v: unknown): PolicySpec {
  if (v === undefined || v === true) return { enabled: true, allow: [], deny_imports: [] }
  if (v === false) return { enabled: false, allow: [], deny_imports: [] }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ManifestError('policy', 'must be true, false or an object')
  const o = v as Record<string, unknown>
  return within('policy', () => {
    for (const k of Object.keys(o)) {
      if (!['allow', 'deny_imports'].includes(k)) throw new ManifestError(k, 'unknown field (known: allow, deny_imports)')
    }
    const allow = list(o, 'allow', POLICY_RULES.length, (field, x) => {
      if (!POLICY_RULES.includes(x as PolicyRule)) throw new ManifestError(field, `must be one of ${POLICY_RULES.join(', ')}`)
      return x as PolicyRule
    })
    const deny = list(o, 'deny_imports', 64, (field, x) => {
      if (typeof x !== 'string' || !MODULE_RE.test(x) || x.length > 100) throw new ManifestError(field, 'must be a Python module name')
      return x
    })
    return { enabled: true, allow: [...new Set(allow)], deny_imports: [...new Set(deny)] }
  })
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
  const grace = o.grace_s === undefined ? null : num(o, 'grace_s', 1, 86_400)
  if (grace !== null && budget + grace > timeout) throw new ManifestError('grace_s', `budget_s + grace_s (${budget + grace}) must not exceed timeout_s (${timeout})`)
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
    grace_s: grace,
    metric,
    noise_margin: num(o, 'noise_margin', 0, 10, 0.02),
    outputs,
    python: str(o, 'python', { max: 500 }),
    onnx: parseOnnx(o.onnx),
    sandbox: parseSandbox(o.sandbox, outputs),
    policy: parsePolicy(o.policy)
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
  // A declared grace keeps the deadline tight: the run gets the new budget plus that grace, no more.
  if (m.grace_s !== null) return { ...m, budget_s: budgetS, timeout_s: budgetS + m.grace_s }
  return { ...m, budget_s: budgetS, timeout_s: Math.max(m.timeout_s, Math.ceil(budgetS * 1.5 + 120)) }
}

/**
 * When the node kills a run: the budget plus the grace for start-up and
 * evaluation, or the hard timeout. The node owns this deadline: nothing the
 * run sets (SWARM_TIME_BUDGET included) moves it.
 */
export function runDeadlineS (m: Manifest): number {
  return m.grace_s === null ? m.timeout_s : Math.min(m.timeout_s, m.budget_s + m.grace_s)
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

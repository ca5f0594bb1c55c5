/**
 * What a Python file's own code says its constants must satisfy, read from
 * the file (no table of known names): every `assert` over constants, every
 * integer division `A // B` of constant expressions (a head dimension
 * `N_EMBD // N_HEAD` means N_HEAD must divide N_EMBD: a remainder is a shape
 * that cannot be viewed), and every divisor that must not be zero. A
 * condition counts only when it holds for the file as it is: the baseline
 * runs, so a condition it breaks was never a requirement.
 *
 *   const c = analyse(trainPy)
 *   c.violated({ N_HEAD: 3 })   // 'N_EMBD // N_HEAD leaves a remainder (128 // 3)'
 *
 * Pure. The parser understands the arithmetic subset of Python expressions;
 * anything else (calls, attributes, strings, comprehensions) is an unknown
 * value whose inner expressions are still read.
 */

type Tok = { k: 'num', v: number, int: boolean } | { k: 'name', v: string } | { k: 'op', v: string } | { k: 'str' } | { k: 'end' }

interface Line { indent: number, toks: Tok[] }

export interface Value { v: number, int: boolean }

type Node =
  | { t: 'num', v: number, int: boolean }
  | { t: 'name', id: string }
  | { t: 'unknown' }
  | { t: 'bin', op: string, l: Node, r: Node }
  | { t: 'un', op: string, e: Node }
  | { t: 'cmp', ops: string[], es: Node[] }
  | { t: 'bool', op: 'and' | 'or', es: Node[] }
  | { t: 'not', e: Node }
  | { t: 'if', a: Node, c: Node, b: Node }

const OPS = ['**=', '//=', '>>=', '<<=', '**', '//', '==', '!=', '<=', '>=', '->', ':=', '<<', '>>', '+=', '-=', '*=', '/=', '%=', '&=', '|=', '^=', '@=',
  '+', '-', '*', '/', '%', '@', '<', '>', '(', ')', '[', ']', '{', '}', ',', ':', '.', ';', '=', '~', '&', '|', '^']
const KEYWORDS = new Set(['and', 'or', 'not', 'in', 'is', 'if', 'else', 'elif', 'for', 'while', 'def', 'class', 'return', 'import', 'from', 'as',
  'assert', 'lambda', 'with', 'try', 'except', 'finally', 'raise', 'pass', 'break', 'continue', 'global', 'nonlocal', 'del', 'yield', 'await', 'async'])
const NUMBER_RE = /^(?:0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d[\d_]*)?)[jJ]?/
const STRING_START_RE = /^(?:[rRbBuUfF]{0,2})("""|'''|"|')/

/** Logical lines of Python source: comments and strings dropped, brackets and backslashes joined. */
function tokenize (src: string): Line[] {
  const lines: Line[] = []
  let toks: Tok[] = []
  let depth = 0
  let indent = 0
  let atLineStart = true
  let i = 0
  const flush = (): void => {
    if (toks.length > 0) lines.push({ indent, toks })
    toks = []
    atLineStart = true
  }
  while (i < src.length) {
    const c = src[i]!
    if (atLineStart && depth === 0) {
      let j = i
      let w = 0
      while (src[j] === ' ' || src[j] === '\t') { w += src[j] === '\t' ? 8 : 1; j++ }
      indent = w
      i = j
      atLineStart = false
      continue
    }
    if (c === '\n') { i++; if (depth === 0) flush(); continue }
    if (c === '\\' && src[i + 1] === '\n') { i += 2; continue }
    if (c === ' ' || c === '\t' || c === '\r' || c === '\f') { i++; continue }
    if (c === '#') { while (i < src.length && src[i] !== '\n') i++; continue }
    const s = STRING_START_RE.exec(src.slice(i, i + 5))
    if (s != null) {
      const q = s[1]!
      i += s[0].length
      while (i < src.length && !src.startsWith(q, i)) {
        if (src[i] === '\\') i++
        else if (q.length === 1 && src[i] === '\n') break
        i++
      }
      i += q.length
      toks.push({ k: 'str' })
      continue
    }
    if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_]\w*/.exec(src.slice(i, i + 200))!
      toks.push({ k: 'name', v: m[0] })
      i += m[0].length
      continue
    }
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(src[i + 1] ?? ''))) {
      const m = NUMBER_RE.exec(src.slice(i, i + 100))!
      const raw = m[0].replace(/_/g, '')
      const imaginary = /[jJ]$/.test(raw)
      const int = /^(?:0[xXoObB].*|\d+)$/.test(raw)
      const v = int ? Number(raw.replace(/^0[oO]/, '0o').replace(/^0[bB]/, '0b')) : Number(raw)
      toks.push(imaginary || !Number.isFinite(v) ? { k: 'str' } : { k: 'num', v, int })
      i += m[0].length
      continue
    }
    const op = OPS.find(o => src.startsWith(o, i))
    if (op != null) {
      if ('([{'.includes(op)) depth++
      if (')]}'.includes(op)) depth = Math.max(0, depth - 1)
      toks.push({ k: 'op', v: op })
      i += op.length
      continue
    }
    i++ // a character Python would refuse: not ours to judge
  }
  flush()
  return lines
}

/** Everything the parser notices while it reads: integer divisions, divisors, asserts. */
interface Found { floorDivs: Array<{ l: Node, r: Node }>, divisors: Node[], asserts: Node[] }

const CLOSERS: Record<string, string> = { '(': ')', '[': ']', '{': '}' }

class Parser {
  private i = 0
  constructor (private readonly toks: Tok[], private readonly found: Found) {}

  get done (): boolean { return this.i >= this.toks.length }
  private peek (o = 0): Tok { return this.toks[this.i + o] ?? { k: 'end' } }
  private isOp (v: string, o = 0): boolean { const t = this.peek(o); return t.k === 'op' && t.v === v }
  private isKw (v: string): boolean { const t = this.peek(); return t.k === 'name' && t.v === v }

  /** True when the token here can begin an expression. */
  startsExpr (): boolean {
    const t = this.peek()
    if (t.k === 'num' || t.k === 'str') return true
    if (t.k === 'name') return !KEYWORDS.has(t.v) || t.v === 'not' || t.v === 'lambda' || t.v === 'await'
    return t.k === 'op' && ['(', '[', '{', '-', '+', '~'].includes(t.v)
  }

  skip (): void { this.i++ }

  /** Reads expressions and skips what is not one, up to `closer` (or the end), so nothing inside goes unseen. */
  scan (closer?: string): void {
    while (!this.done) {
      if (closer != null && this.isOp(closer)) return
      const t = this.peek()
      if (t.k === 'name' && t.v === 'assert' && closer == null) {
        this.i++
        if (this.startsExpr()) this.found.asserts.push(this.expr())
        continue
      }
      if (this.startsExpr()) { this.expr(); continue }
      if (t.k === 'op' && CLOSERS[t.v] != null) { this.i++; this.scan(CLOSERS[t.v]); this.i++; continue }
      this.i++
    }
  }

  expr (): Node {
    if (this.isKw('lambda')) {
      while (!this.done && !this.isOp(':')) this.i++
      this.i++
      this.expr()
      return { t: 'unknown' }
    }
    const a = this.or()
    if (this.isKw('if')) {
      this.i++
      const c = this.or()
      if (!this.isKw('else')) return { t: 'unknown' }
      this.i++
      return { t: 'if', a, c, b: this.expr() }
    }
    return a
  }

  private or (): Node {
    const es = [this.and()]
    while (this.isKw('or')) { this.i++; es.push(this.and()) }
    return es.length === 1 ? es[0]! : { t: 'bool', op: 'or', es }
  }

  private and (): Node {
    const es = [this.not()]
    while (this.isKw('and')) { this.i++; es.push(this.not()) }
    return es.length === 1 ? es[0]! : { t: 'bool', op: 'and', es }
  }

  private not (): Node {
    if (this.isKw('not')) { this.i++; return { t: 'not', e: this.not() } }
    return this.comparison()
  }

  private comparison (): Node {
    const es = [this.binary(0)]
    const ops: string[] = []
    for (;;) {
      const t = this.peek()
      if (t.k === 'op' && ['<', '>', '==', '>=', '<=', '!='].includes(t.v)) { this.i++; ops.push(t.v) } else if (t.k === 'name' && (t.v === 'in' || t.v === 'is')) {
        this.i++
        if (this.isKw('not')) this.i++
        ops.push('?')
      } else if (t.k === 'name' && t.v === 'not' && this.peek(1).k === 'name' && (this.peek(1) as { v: string }).v === 'in') { this.i += 2; ops.push('?') } else break
      es.push(this.binary(0))
    }
    return ops.length === 0 ? es[0]! : { t: 'cmp', ops, es }
  }

  private static readonly LEVELS = [['|'], ['^'], ['&'], ['<<', '>>'], ['+', '-'], ['*', '/', '//', '%', '@']]

  private binary (level: number): Node {
    if (level >= Parser.LEVELS.length) return this.unary()
    let l = this.binary(level + 1)
    for (;;) {
      const t = this.peek()
      if (t.k !== 'op' || !Parser.LEVELS[level]!.includes(t.v)) return l
      this.i++
      const r = this.binary(level + 1)
      if (t.v === '//') this.found.floorDivs.push({ l, r })
      if (t.v === '//' || t.v === '/' || t.v === '%') this.found.divisors.push(r)
      l = { t: 'bin', op: t.v, l, r }
    }
  }

  private unary (): Node {
    const t = this.peek()
    if (t.k === 'op' && (t.v === '-' || t.v === '+' || t.v === '~')) { this.i++; return { t: 'un', op: t.v, e: this.unary() } }
    if (this.isKw('await')) { this.i++; this.unary(); return { t: 'unknown' } }
    return this.power()
  }

  private power (): Node {
    const base = this.postfix()
    if (this.isOp('**')) { this.i++; return { t: 'bin', op: '**', l: base, r: this.unary() } }
    return base
  }

  private postfix (): Node {
    let n = this.atom()
    for (;;) {
      if (this.isOp('(') || this.isOp('[')) {
        const open = (this.peek() as { v: string }).v
        this.i++
        this.scan(CLOSERS[open])
        this.i++
        n = { t: 'unknown' }
      } else if (this.isOp('.') && this.peek(1).k === 'name') {
        this.i += 2
        n = { t: 'unknown' }
      } else return n
    }
  }

  private atom (): Node {
    const t = this.peek()
    this.i++
    if (t.k === 'num') return { t: 'num', v: t.v, int: t.int }
    if (t.k === 'str') {
      while (this.peek().k === 'str') this.i++
      return { t: 'unknown' }
    }
    if (t.k === 'name') {
      if (t.v === 'True' || t.v === 'False') return { t: 'num', v: t.v === 'True' ? 1 : 0, int: true }
      return KEYWORDS.has(t.v) ? { t: 'unknown' } : { t: 'name', id: t.v }
    }
    if (t.k === 'op' && t.v === '(') {
      // A parenthesised expression, or a tuple or generator: only the first is a value.
      if (this.isOp(')')) { this.i++; return { t: 'unknown' } }
      const inner = this.startsExpr() ? this.expr() : { t: 'unknown' as const }
      if (this.isOp(')')) { this.i++; return inner }
      this.scan(')')
      this.i++
      return { t: 'unknown' }
    }
    if (t.k === 'op' && CLOSERS[t.v] != null) {
      this.scan(CLOSERS[t.v])
      this.i++
      return { t: 'unknown' }
    }
    return { t: 'unknown' }
  }
}

export type Env = Map<string, Value>

/** Python's arithmetic on known values; null where the value is unknown or Python would raise. */
export function evaluate (n: Node, env: Env): Value | null {
  switch (n.t) {
    case 'num': return { v: n.v, int: n.int }
    case 'name': return env.get(n.id) ?? null
    case 'unknown': return null
    case 'un': {
      const e = evaluate(n.e, env)
      if (e == null) return null
      return n.op === '-' ? { v: -e.v, int: e.int } : n.op === '+' ? e : e.int ? { v: ~e.v, int: true } : null
    }
    case 'not': { const e = evaluate(n.e, env); return e == null ? null : { v: e.v === 0 ? 1 : 0, int: true } }
    case 'bool': {
      // Python's and/or return an operand; only truth matters to a condition.
      let last: Value | null = null
      for (const x of n.es) {
        last = evaluate(x, env)
        if (last == null) return null
        if ((n.op === 'and') === (last.v === 0)) return last
      }
      return last
    }
    case 'if': {
      const c = evaluate(n.c, env)
      return c == null ? null : evaluate(c.v !== 0 ? n.a : n.b, env)
    }
    case 'cmp': {
      const vals = n.es.map(e => evaluate(e, env))
      if (vals.some(v => v == null) || n.ops.includes('?')) return null
      for (let k = 0; k < n.ops.length; k++) {
        const a = vals[k]!.v
        const b = vals[k + 1]!.v
        const ok = { '<': a < b, '>': a > b, '==': a === b, '>=': a >= b, '<=': a <= b, '!=': a !== b }[n.ops[k] as '<']
        if (!ok) return { v: 0, int: true }
      }
      return { v: 1, int: true }
    }
    case 'bin': {
      const l = evaluate(n.l, env)
      const r = evaluate(n.r, env)
      if (l == null || r == null) return null
      const int = l.int && r.int
      const out = (v: number, isInt = int): Value | null => Number.isFinite(v) ? { v, int: isInt } : null
      switch (n.op) {
        case '+': return out(l.v + r.v)
        case '-': return out(l.v - r.v)
        case '*': return out(l.v * r.v)
        case '/': return r.v === 0 ? null : out(l.v / r.v, false)
        case '//': return r.v === 0 ? null : out(Math.floor(l.v / r.v))
        case '%': return r.v === 0 ? null : out(l.v - r.v * Math.floor(l.v / r.v))
        case '**': return int && r.v < 0 ? out(l.v ** r.v, false) : out(l.v ** r.v)
        default: return null
      }
    }
  }
}

const mentionsName = (n: Node): boolean => {
  switch (n.t) {
    case 'name': return true
    case 'bin': return mentionsName(n.l) || mentionsName(n.r)
    case 'un': case 'not': return mentionsName(n.e)
    case 'cmp': case 'bool': return n.es.some(mentionsName)
    case 'if': return mentionsName(n.a) || mentionsName(n.b) || mentionsName(n.c)
    default: return false
  }
}

/** Source-like text of an expression, for saying which condition a change breaks. */
export function show (n: Node): string {
  switch (n.t) {
    case 'num': return String(n.v)
    case 'name': return n.id
    case 'unknown': return '…'
    case 'un': return `${n.op}${show(n.e)}`
    case 'not': return `not ${show(n.e)}`
    case 'bin': return `${wrap(n.l)} ${n.op} ${wrap(n.r)}`
    case 'cmp': return n.es.map((e, k) => k === 0 ? show(e) : `${n.ops[k - 1] === '?' ? 'in' : n.ops[k - 1]} ${show(e)}`).join(' ')
    case 'bool': return n.es.map(show).join(` ${n.op} `)
    case 'if': return `${show(n.a)} if ${show(n.c)} else ${show(n.b)}`
  }
}
const wrap = (n: Node): string => n.t === 'bin' || n.t === 'cmp' || n.t === 'bool' ? `(${show(n)})` : show(n)

export interface Condition {
  /** "N_HEAD divides N_EMBD" style text for a person. */
  text: string
  /** true / false, or null when some value in it is not known. */
  holds: (env: Env) => boolean | null
}

export interface Analysis {
  /** Names set once in the file, in order, with what they are set to. */
  assignments: Array<{ name: string, expr: Node }>
  conditions: Condition[]
  /** The values of those names, `overrides` replacing the named ones before later lines read them. */
  env: (overrides?: Record<string, Value>) => Env
  /** The first condition that holds for the file as it is but not with `overrides`, in words; null when none. */
  violated: (overrides: Record<string, Value>) => string | null
}

/** `NAME = expr` at any depth: autoresearch sets its derived sizes under `if __name__ == "__main__":`. */
function assignment (line: Line): { name: string, toks: Tok[] } | null {
  const [first, eq] = line.toks
  if (first?.k !== 'name' || KEYWORDS.has(first.v) || eq?.k !== 'op' || eq.v !== '=') return null
  return { name: first.v, toks: line.toks.slice(2) }
}

const AUG_OPS = new Set(['+=', '-=', '*=', '/=', '//=', '%=', '**=', '>>=', '<<=', '&=', '|=', '^=', '@='])

/** Names set more than once, or updated in place (a loop counter, state): variables, not constants. */
function variables (lines: Line[]): Set<string> {
  const count = new Map<string, number>()
  const out = new Set<string>()
  for (const line of lines) {
    const [first, op] = line.toks
    if (first?.k !== 'name' || op?.k !== 'op') continue
    if (AUG_OPS.has(op.v)) out.add(first.v)
    else if (op.v === '=') count.set(first.v, (count.get(first.v) ?? 0) + 1)
  }
  for (const [name, n] of count) if (n > 1) out.add(name)
  return out
}

export function analyse (source: string): Analysis {
  const found: Found = { floorDivs: [], divisors: [], asserts: [] }
  const assignments: Analysis['assignments'] = []
  const lines = tokenize(source)
  const changing = variables(lines)
  for (const line of lines) {
    const a = assignment(line)
    if (a != null) {
      const p = new Parser(a.toks, found)
      const expr = p.startsExpr() ? p.expr() : { t: 'unknown' as const }
      // `X = 1, 2` is a tuple and `X = Y = 3` a chain: neither is a number we can name.
      const whole = p.done
      p.scan()
      assignments.push({ name: a.name, expr: whole && !changing.has(a.name) ? expr : { t: 'unknown' } })
      continue
    }
    new Parser(line.toks, found).scan()
  }

  const env = (overrides: Record<string, Value> = {}): Env => {
    const e: Env = new Map()
    for (const { name, expr } of assignments) {
      const v = Object.hasOwn(overrides, name) ? overrides[name]! : evaluate(expr, e)
      if (v == null) e.delete(name)
      else e.set(name, v)
    }
    return e
  }

  const conditions: Condition[] = []
  const seen = new Set<string>()
  const add = (text: string, holds: Condition['holds']): void => {
    if (seen.has(text)) return
    seen.add(text)
    conditions.push({ text, holds })
  }
  for (const a of found.asserts) add(`assert ${show(a)}`, env => { const v = evaluate(a, env); return v == null ? null : v.v !== 0 })
  for (const { l, r } of found.floorDivs) {
    // A literal divisor (`steps // 10`) rounds on purpose; a constant one sizes something that must fit.
    if (!mentionsName(r)) continue
    add(`${show(r)} divides ${show(l)}`, env => {
      const a = evaluate(l, env)
      const b = evaluate(r, env)
      if (a == null || b == null || !a.int || !b.int) return null
      return b.v !== 0 && a.v % b.v === 0
    })
  }
  for (const d of found.divisors) {
    if (!mentionsName(d)) continue
    add(`${show(d)} is not zero`, env => { const v = evaluate(d, env); return v == null ? null : v.v !== 0 })
  }

  const base = env()
  const standing = conditions.filter(c => c.holds(base) === true)
  return {
    assignments,
    conditions: standing,
    env,
    violated: overrides => {
      const e = env(overrides)
      return standing.find(c => c.holds(e) === false)?.text ?? null
    }
  }
}

/**
 * For each name, the other names that share a line of code with it: what a
 * change to it can interact with. `x = N_EMBD // N_HEAD` ties N_HEAD to N_EMBD.
 */
export function sharedLines (source: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>()
  for (const line of tokenize(source)) {
    const names = new Set(line.toks.flatMap(t => t.k === 'name' && !KEYWORDS.has(t.v) ? [t.v] : []))
    for (const n of names) {
      const set = out.get(n) ?? new Set<string>()
      for (const m of names) if (m !== n) set.add(m)
      out.set(n, set)
    }
  }
  return out
}

/**
 * The early, explainable refusal: before a candidate this node did not write
 * itself (a peer's, an LLM's, an agent's) runs, the lines it adds are read for
 * obviously dangerous things — network modules, starting processes, native
 * code, eval/exec of strings, paths outside the workspace — and the candidate
 * is refused with a reason a person can act on.
 *
 * This is not the guarantee: code can hide from any reader (getattr chains,
 * importlib on a computed name, bytes decoded at run time). The sandbox is the
 * guarantee (trainer/sandbox); the policy only says early, and in words, what
 * the sandbox would have stopped anyway. Pure: text in, findings out.
 *
 *   const findings = checkPolicy(baseline.files, candidate.files, manifest.policy)
 *   if (findings.length > 0) refuse(policyReason(findings))
 */
import type { PolicyRule, PolicySpec } from './manifest.ts'

export interface Finding {
  /** The rule broken; `deny_imports` for a module the project itself forbids. */
  rule: PolicyRule | 'deny_imports'
  file: string
  /** 1-based line in the candidate. */
  line: number
  /** What was found, in words: "imports socket". */
  what: string
}

interface Pattern { rule: PolicyRule, re: RegExp, what: (m: RegExpExecArray) => string }
type Found = Omit<Finding, 'file' | 'line'>

const NETWORK_MODULES = [
  'socket', 'ssl', 'http', 'urllib', 'urllib2', 'urllib3', 'requests', 'httpx', 'aiohttp', 'ftplib', 'smtplib', 'poplib',
  'imaplib', 'nntplib', 'telnetlib', 'xmlrpc', 'socketserver', 'asyncssh', 'paramiko', 'websocket', 'websockets', 'grpc',
  'zmq', 'pycurl', 'dns', 'scapy', 'webbrowser'
]
const PROCESS_MODULES = ['subprocess', 'pty', 'pexpect', 'sh', 'plumbum']
const NATIVE_MODULES = ['ctypes', '_ctypes', 'cffi', 'torch.utils.cpp_extension']
const DYNAMIC_MODULES = ['importlib', 'builtins', '__builtin__', 'marshal', 'runpy', 'code', 'codeop']

const words = (list: readonly string[]): string => list.map(w => w.replace(/\./g, '\\.')).join('|')

/** `import a.b`, `import x, a`, `from a.b import c`: the module names a line imports. */
const IMPORT_LINE = /^\s*(?:from\s+([\w.]+)\s+import\b|import\s+([\w.\s,]+?)(?:\s+as\s+\w+)?\s*(?:#.*)?$)/

export function importsOf (line: string): string[] {
  const m = IMPORT_LINE.exec(line)
  if (m == null) return []
  if (m[1] != null) return [m[1]]
  return (m[2] ?? '').split(',').map(s => s.trim().split(/\s+as\s+/)[0]!.trim()).filter(s => s !== '')
}

/** True when `mod` is `name` or inside it (`urllib.request` is under `urllib`). */
const under = (mod: string, name: string): boolean => mod === name || mod.startsWith(`${name}.`)

const PATTERNS: Pattern[] = [
  { rule: 'process', re: /\bos\s*\.\s*(system|popen|exec[lv]p?e?|spawn[lv]p?e?|posix_spawnp?|fork|forkpty|setsid|kill|killpg)\s*\(/, what: m => `calls os.${m[1]}` },
  { rule: 'process', re: /\bsubprocess\s*\.\s*\w+/, what: () => 'uses subprocess' },
  { rule: 'native-code', re: /\b(ctypes|cffi)\s*\.\s*\w+/, what: m => `uses ${m[1]}` },
  { rule: 'native-code', re: /\b(load_inline|cpp_extension)\b/, what: m => `compiles native code (${m[1]})` },
  // eval/exec/compile called bare: `torch.compile(...)` and `re.compile(...)` are methods, not this.
  { rule: 'dynamic-code', re: /(?<![\w.])(eval|exec|compile|__import__)\s*\(/, what: m => `calls ${m[1]}()` },
  { rule: 'dynamic-code', re: /\b(importlib|__builtins__|builtins)\b/, what: m => `reaches for ${m[1]}` },
  { rule: 'dynamic-code', re: /\bgetattr\s*\(\s*(os|sys|socket|subprocess|__builtins__|builtins)\b/, what: m => `looks up names on ${m[1]} by string` },
  { rule: 'network', re: /\b(socket|urlopen|create_connection|open_connection)\s*\(/, what: m => `calls ${m[1]}()` },
  { rule: 'outside-paths', re: /\b(expanduser|expandvars|Path\s*\.\s*home|gethome|getpwuid)\b/, what: m => `reaches outside the workspace (${m[1]!.replace(/\s+/g, '')})` },
  { rule: 'outside-paths', re: /\bos\s*\.\s*(chdir|symlink|link|chroot)\s*\(/, what: m => `calls os.${m[1]}` },
  // A quoted absolute, home or parent path: "/etc/x", '~/.ssh', "../../stolen".
  { rule: 'outside-paths', re: /(["'])((?:\/|~\/|\.\.\/)[^"'\s]*)\1/, what: m => `names the path ${clip(m[2]!)}` }
]

function clip (s: string, max = 60): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`
}

/** A line with its `#` comment removed (outside of quotes; good enough for reading, not for parsing). */
export function stripComment (line: string): string {
  let quote: string | null = null
  for (let i = 0; i < line.length; i++) {
    const c = line[i]
    if (quote != null) {
      if (c === '\\') i++
      else if (c === quote) quote = null
    } else if (c === '"' || c === "'") {
      quote = c
    } else if (c === '#') {
      return line.slice(0, i)
    }
  }
  return line
}

function importFinding (mod: string, deny: readonly string[]): Found | null {
  const hit = (list: readonly string[]): string | undefined => list.find(name => under(mod, name))
  if (hit(NETWORK_MODULES) != null) return { rule: 'network', what: `imports ${mod}` }
  if (hit(PROCESS_MODULES) != null) return { rule: 'process', what: `imports ${mod}` }
  if (hit(NATIVE_MODULES) != null) return { rule: 'native-code', what: `imports ${mod}` }
  if (hit(DYNAMIC_MODULES) != null) return { rule: 'dynamic-code', what: `imports ${mod}` }
  if (hit(deny) != null) return { rule: 'deny_imports', what: `imports ${mod}` }
  return null
}

/**
 * What the candidate adds that the policy refuses. A line counts as added when
 * the candidate holds it more often than the baseline does, so moving code
 * around is no finding and a payload pasted among honest edits is.
 */
export function checkPolicy (before: Record<string, string>, after: Record<string, string>, spec: PolicySpec): Finding[] {
  if (!spec.enabled) return []
  const allowed = new Set(spec.allow)
  const findings: Finding[] = []
  for (const [file, text] of Object.entries(after)) {
    const old = new Map<string, number>()
    for (const l of (before[file] ?? '').split('\n')) old.set(l.trim(), (old.get(l.trim()) ?? 0) + 1)
    text.split('\n').forEach((raw, i) => {
      const key = raw.trim()
      const left = old.get(key) ?? 0
      if (left > 0) {
        old.set(key, left - 1)
        return
      }
      const line = stripComment(raw)
      if (line.trim() === '') return
      const found: Found[] = []
      for (const mod of importsOf(line)) {
        const f = importFinding(mod, spec.deny_imports)
        if (f != null) found.push(f)
      }
      for (const p of PATTERNS) {
        const m = p.re.exec(line)
        if (m != null) found.push({ rule: p.rule, what: p.what(m) })
      }
      for (const f of found) {
        if (f.rule === 'deny_imports' || !allowed.has(f.rule)) findings.push({ ...f, file, line: i + 1 })
      }
    })
  }
  return findings
}

const MAX_LISTED = 4

/** One line for the record and the log: the rule, where, and what. */
export function policyReason (findings: readonly Finding[]): string {
  const listed = findings.slice(0, MAX_LISTED).map(f => `${f.file}:${f.line} ${f.what} (${f.rule})`)
  const more = findings.length > MAX_LISTED ? `; and ${findings.length - MAX_LISTED} more` : ''
  return `refused by the project's policy before running: ${listed.join('; ')}${more}. ` +
    'Allow a rule with "policy": {"allow": [...]} in swarm.json if the project needs it.'
}

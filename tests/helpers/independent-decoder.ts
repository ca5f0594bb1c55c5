/**
 * A second decoder of swarm-node gossip, written from PROTOCOL.md alone: it
 * imports nothing from `protocol/` or `node/`, only Node's own crypto. Where
 * it agrees with the reference implementation on the test vectors and on live
 * gossip, PROTOCOL.md says enough for another language. Each rule cites its
 * section.
 *
 *   const { message, id } = await decodeGossip(bytes, { topic, from })   // throws DecodeError
 */
import { createHash, createPublicKey, verify } from 'node:crypto'

export class DecodeError extends Error {
  override name = 'DecodeError'
}
const refuse = (why: string): never => { throw new DecodeError(why) }

// --- §3 canonical JSON -------------------------------------------------------

/** UTF-16 code unit order: JavaScript's own string comparison. */
const byCodeUnits = (a: string, b: string): number => a < b ? -1 : a > b ? 1 : 0

export function canonical (value: unknown, depth = 0): string {
  if (depth > 32) refuse('nested deeper than 32')
  if (value === null) return 'null'
  if (value === true) return 'true'
  if (value === false) return 'false'
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) refuse('non-finite number')
    return Object.is(value, -0) ? '0' : String(value) // Number::toString
  }
  if (typeof value === 'string') {
    if (/\p{Cs}/u.test(value)) refuse('lone surrogate')
    return quote(value)
  }
  if (Array.isArray(value)) return `[${value.map(v => canonical(v, depth + 1)).join(',')}]`
  if (typeof value === 'object') {
    const keys = Object.keys(value).sort(byCodeUnits)
    return `{${keys.map(k => { if (/\p{Cs}/u.test(k)) refuse('lone surrogate'); return `${quote(k)}:${canonical((value as Record<string, unknown>)[k], depth + 1)}` }).join(',')}}`
  }
  return refuse(`${typeof value} has no JSON form`)
}

/** §3 strings: ", \, \b \f \n \r \t, other C0 as \u00xx (lower-case hex), nothing else. */
function quote (s: string): string {
  const short: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t' }
  let out = '"'
  for (const ch of s) {
    const c = ch.codePointAt(0)!
    out += short[ch] ?? (c < 0x20 ? `\\u${c.toString(16).padStart(4, '0')}` : ch)
  }
  return `${out}"`
}

// --- §2 peer ids ---------------------------------------------------------------

const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'

function base58Decode (s: string): Uint8Array {
  let n = 0n
  for (const ch of s) {
    const d = B58.indexOf(ch)
    if (d < 0) refuse(`not base58btc: ${ch}`)
    n = n * 58n + BigInt(d)
  }
  const bytes: number[] = []
  while (n > 0n) { bytes.unshift(Number(n % 256n)); n /= 256n }
  for (const ch of s) { if (ch !== '1') break; bytes.unshift(0) }
  return Uint8Array.from(bytes)
}

const PEER_ID_PREFIX = [0x00, 0x24, 0x08, 0x01, 0x12, 0x20]

/** The 32-byte Ed25519 key of an author: base58btc -> identity multihash of the PublicKey protobuf. */
export function ed25519KeyOf (peerId: string): Uint8Array {
  if (peerId.length > 128) refuse('author over 128 characters')
  const bytes = base58Decode(peerId)
  if (bytes.length !== 38 || PEER_ID_PREFIX.some((b, i) => bytes[i] !== b)) refuse('author is not an Ed25519 peer id (00 24 08 01 12 20 ‖ key)')
  return bytes.subarray(6)
}

// --- §4, §5 ids and signatures -------------------------------------------------

const sha256Hex = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex')

function withoutSig (m: Record<string, unknown>): Record<string, unknown> {
  const { sig: _sig, ...rest } = m
  return rest
}

/** §4: SHA-256 of the canonical JSON without `sig`. */
export function messageIdOf (m: Record<string, unknown>): string {
  return sha256Hex(canonical(withoutSig(m)))
}

/** §4: SHA-256 of the canonical `{ path: text }`. */
export function contentHashOf (files: Record<string, string>): string {
  return sha256Hex(canonical(files))
}

// RFC 8410 SubjectPublicKeyInfo prefix for an Ed25519 key: how Node's crypto takes a raw key.
const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex')
const SIG_RE = /^[A-Za-z0-9+/]{85}[AQgw]==$/

/** §5: Ed25519 over the canonical JSON without `sig`, signature as padded base64. */
export function signatureValid (m: Record<string, unknown>): boolean {
  if (typeof m.sig !== 'string' || !SIG_RE.test(m.sig) || typeof m.author !== 'string') return false
  const key = createPublicKey({ key: Buffer.concat([SPKI_ED25519, ed25519KeyOf(m.author)]), format: 'der', type: 'spki' })
  return verify(null, Buffer.from(canonical(withoutSig(m)), 'utf8'), key, Buffer.from(m.sig, 'base64'))
}

// --- §6, §8 members ------------------------------------------------------------

const HASH = /^[0-9a-f]{64}$/
const TRACK = /^[a-z0-9][a-z0-9-]{0,47}$/
const NOT_ONE_LINE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/
type Check = (v: unknown, name: string) => void

const hash: Check = (v, n) => { if (typeof v !== 'string' || !HASH.test(v)) refuse(`${n}: not a hash`) }
const track: Check = (v, n) => { if (typeof v !== 'string' || !TRACK.test(v)) refuse(`${n}: not a track`) }
const time: Check = (v, n) => { if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 1577836800000 || v >= 7258118400000) refuse(`${n}: not a time`) }
const bpb = (nullable: boolean): Check => (v, n) => { if (!(v === null && nullable) && (typeof v !== 'number' || !(v > 0) || v > 64)) refuse(`${n}: not a bpb`) }
const line = (max: number, nullable = false): Check => (v, n) => {
  if (v === null && nullable) return
  if (typeof v !== 'string' || [...v].length > max || NOT_ONE_LINE.test(v)) refuse(`${n}: not a line of at most ${max}`)
}
const integer = (min: number, max: number): Check => (v, n) => { if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) refuse(`${n}: not an integer in [${min}, ${max}]`) }
const number = (min: number, max: number, nullable = false): Check => (v, n) => { if (!(v === null && nullable) && (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max)) refuse(`${n}: out of range`) }
const boolean: Check = (v, n) => { if (typeof v !== 'boolean') refuse(`${n}: not a boolean`) }
const diff: Check = (v, n) => { if (typeof v !== 'string' || Buffer.byteLength(v, 'utf8') > 49152) refuse(`${n}: not a diff of at most 48 KiB`) }
const oneOf = (...options: string[]): Check => (v, n) => { if (typeof v !== 'string' || !options.includes(v)) refuse(`${n}: not one of ${options.join(', ')}`) }
/** PROTOCOL.md section 6: exactly the listed members, the *optional* ones (in `optional`) only checked when present. */
const exactly = (schema: Record<string, Check>, optional: Record<string, Check> = {}): Check => (v, n) => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) refuse(`${n}: not an object`)
  const o = v as Record<string, unknown>
  for (const k of Object.keys(o)) if (!(k in schema) && !(k in optional)) refuse(`${n}.${k}: unknown member`)
  for (const [k, check] of Object.entries(schema)) { if (!Object.hasOwn(o, k)) refuse(`${n}.${k}: missing`); check(o[k], `${n}.${k}`) }
  for (const [k, check] of Object.entries(optional)) if (Object.hasOwn(o, k)) check(o[k], `${n}.${k}`)
}
const hardware = exactly({ cpu: line(128), cores: integer(1, 4096), ram_gb: number(0, 65536), gpu: line(128, true), gpu_mem_gb: number(0, 65536, true) })
const metrics: Check = (v, n) => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) refuse(`${n}: not an object`)
  const entries = Object.entries(v as object)
  if (entries.length > 32) refuse(`${n}: over 32 members`)
  for (const [k, x] of entries) if (!/^[a-z][a-z0-9_]{0,47}$/.test(k) || typeof x !== 'number' || !Number.isFinite(x)) refuse(`${n}.${k}: not a metric`)
}
const ENVELOPE = { v: (x: unknown) => { if (x !== 1) refuse('v is not 1') }, kind: () => {}, author: line(128), sig: (x: unknown) => { if (typeof x !== 'string' || !SIG_RE.test(x)) refuse('sig: not 88 characters of padded base64') } }

const KINDS: Record<string, Record<string, Check>> = {
  result: { ...ENVELOPE, project: hash, track, parent: hash, child: hash, diff, val_bpb: bpb(true), verified_bpb: bpb(true), status: oneOf('keep', 'discard', 'crash', 'invalid'), reason: line(200), metrics, hardware, agent: line(100), description: line(300), time },
  attestation: { ...ENVELOPE, project: hash, track, result: hash, child: hash, ok: boolean, val_bpb: bpb(true), verified_bpb: bpb(true), hardware, time },
  claim: { ...ENVELOPE, project: hash, track, parent: hash, description: line(300), time, expires: time },
  status: { ...ENVELOPE, project: hash, track, experiment: line(300, true), best_bpb: bpb(true), experiments: integer(0, Number.MAX_SAFE_INTEGER), kept: integer(0, Number.MAX_SAFE_INTEGER), peers: integer(0, Number.MAX_SAFE_INTEGER), time }
}
const OPTIONAL: Record<string, Record<string, Check>> = { result: { merged: hash }, claim: { child: hash } }

function crossRules (m: Record<string, any>): void {
  if (m.kind === 'result' && (m.status === 'keep' || m.status === 'discard') && m.val_bpb === null) refuse(`a ${m.status} needs val_bpb`)
  if (m.kind === 'result' && m.status === 'crash' && (m.val_bpb !== null || m.verified_bpb !== null)) refuse('a crash has no figures')
  if (m.kind === 'attestation' && m.ok === true && m.val_bpb === null) refuse('an ok attestation needs val_bpb')
  if (m.kind === 'claim' && (m.expires <= m.time || m.expires - m.time > 7_200_000)) refuse('a claim lasts (0, 2 h]')
  if (m.kind === 'status' && m.kept > m.experiments) refuse('kept more than it ran')
}

// --- §7 gossip -----------------------------------------------------------------

const TOPIC = /^\/swarm-node\/1\/([0-9a-f]{64})\/results$/

export interface Decoded { message: Record<string, any>, id: string }

/**
 * §7's validation, in its order: size, UTF-8 without BOM, JSON, v and kind,
 * members, canonical bytes, the topic's project, the signature, the publisher.
 */
export async function decodeGossip (bytes: Uint8Array, opts: { topic?: string, project?: string, from?: string } = {}): Promise<Decoded> {
  if (bytes.byteLength > 65536) refuse('over 64 KiB')
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) refuse('byte order mark')
  let text: string
  try { text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes) } catch { return refuse('not UTF-8') }
  let value: unknown
  try { value = JSON.parse(text) } catch { return refuse('not JSON') }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) refuse('not an object')
  const m = value as Record<string, any>
  if (m.v !== 1) refuse('v is not 1')
  const schema = KINDS[m.kind]
  if (schema == null) refuse(`unknown kind ${String(m.kind)}`)
  exactly(schema!, OPTIONAL[m.kind])(m, m.kind)
  crossRules(m)
  if (canonical(m) !== text) refuse('not canonical')
  const project = opts.project ?? (opts.topic != null ? TOPIC.exec(opts.topic)?.[1] ?? refuse('not a results topic') : undefined)
  if (project != null && m.project !== project) refuse('project is not the topic\'s')
  if (!signatureValid(m)) refuse('signature does not verify')
  if (opts.from != null && opts.from !== m.author) refuse('author is not the publisher')
  return { message: m, id: messageIdOf(m) }
}

// --- §4 project id -------------------------------------------------------------

const DEFAULT_OUTPUTS = ['run.log', 'prepare.log', 'results.tsv', 'model.onnx', '__pycache__/']

/** §4: the manifest with every default filled in, and a `--budget` applied. */
export function normaliseManifest (raw: Record<string, any>, budget?: number | null): Record<string, unknown> {
  const budgetS = raw.budget_s ?? 300
  const firstPlace = (xs: string[]): string[] => [...new Set(xs)]
  const sb = raw.sandbox ?? {}
  const policy = raw.policy === undefined || raw.policy === true || raw.policy === false
    ? { enabled: raw.policy !== false, allow: [], deny_imports: [] }
    : { enabled: true, allow: firstPlace(raw.policy.allow ?? []), deny_imports: firstPlace(raw.policy.deny_imports ?? []) }
  const m = {
    name: raw.name,
    description: raw.description ?? '',
    editable: raw.editable ?? ['train.py'],
    prepare: raw.prepare ?? null,
    run: raw.run,
    budget_s: budgetS,
    timeout_s: raw.timeout_s ?? Math.ceil(2 * budgetS + 120),
    grace_s: raw.grace_s ?? null,
    metric: raw.metric ?? 'val_bpb',
    noise_margin: raw.noise_margin ?? 0.02,
    outputs: [...new Set([...DEFAULT_OUTPUTS, ...(raw.outputs ?? [])])],
    python: raw.python ?? null,
    onnx: raw.onnx ?? null,
    sandbox: {
      memory_mb: sb.memory_mb ?? null,
      processes: sb.processes ?? 1024,
      file_size_mb: sb.file_size_mb ?? 16384,
      read_only: sb.read_only ?? [],
      data: sb.data ?? [],
      writable: (sb.writable ?? []).map((p: string) => p.endsWith('/') ? p : `${p}/`),
      env: sb.env ?? []
    },
    policy
  }
  if (budget != null) Object.assign(m, { budget_s: budget, timeout_s: m.grace_s != null ? budget + m.grace_s : Math.max(m.timeout_s, Math.ceil(1.5 * budget + 120)) })
  return m
}

/** §4: SHA-256 of canonical `{ files, manifest, v: 1 }`, files as `{ path, sha256 }` sorted by path. */
export function projectIdOf (manifest: Record<string, unknown>, files: Array<{ path: string, bytes: Uint8Array | string }>): string {
  const listed = files.map(f => ({ path: f.path, sha256: sha256Hex(f.bytes) })).sort((a, b) => byCodeUnits(a.path, b.path))
  return sha256Hex(canonical({ files: listed, manifest, v: 1 }))
}

// --- §1 rendezvous -------------------------------------------------------------

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567'

/** §1: CIDv1, codec raw (0x55), SHA-256 multihash of the namespace's UTF-8; base32 lower case with the prefix `b`. */
export function rendezvousCidOf (namespace: string): { cid: string, hex: string } {
  const bytes = Buffer.concat([Buffer.from([0x01, 0x55, 0x12, 0x20]), createHash('sha256').update(namespace, 'utf8').digest()])
  let out = 'b'
  let bits = 0
  let value = 0
  for (const byte of bytes) {
    value = (value << 8) | byte
    bits += 8
    while (bits >= 5) {
      bits -= 5
      out += BASE32[(value >>> bits) & 31]
    }
    value &= (1 << bits) - 1
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31]
  return { cid: out, hex: bytes.toString('hex') }
}

// --- §9 the DHT best record ----------------------------------------------------

const BEST_KEY = /^\/swarm-best\/([0-9a-f]{64})\/([a-z0-9][a-z0-9-]{0,47})$/
const utf8 = (value: unknown): Uint8Array => new TextEncoder().encode(canonical(value))

/** §4: a relative `/`-separated path of at most 256 UTF-16 code units, no empty, `.` or `..` segment, no `\`, `:` or control character. */
function relativePath (p: string): void {
  if (p.length === 0 || p.length > 256 || p.startsWith('/') || /[\\:\u0000-\u001f\u007f]/.test(p)) refuse(`bad path ${JSON.stringify(p)}`)
  if (p.split('/').some(s => s === '' || s === '.' || s === '..')) refuse(`bad path ${JSON.stringify(p)}`)
}

/**
 * §9: a best record's bytes under `key` (its text, `/swarm-best/<project>/<track>`): size, UTF-8, JSON, members,
 * canonical bytes, the key's project and track, a valid kept result, content that hashes to its child,
 * attestations of exactly that result by distinct peers other than its author, and every signature.
 */
export async function decodeBestRecord (key: string, bytes: Uint8Array): Promise<Record<string, any>> {
  const k = BEST_KEY.exec(key) ?? refuse('not a best-record key')
  if (bytes.byteLength > 524288) refuse('over 512 KiB')
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) refuse('byte order mark')
  let text = ''
  try { text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes) } catch { refuse('not UTF-8') }
  let value: unknown
  try { value = JSON.parse(text) } catch { refuse('not JSON') }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) refuse('not an object')
  const r = value as Record<string, any>
  if (r.v !== 1 || r.kind !== 'best') refuse('not a version-1 best record')
  const anything: Check = () => {}
  exactly({ ...ENVELOPE, project: hash, track, result: anything, content: anything, attestations: anything, time })(r, 'best')
  if (canonical(r) !== text) refuse('not canonical')
  if (r.project !== k[1] || r.track !== k[2]) refuse('stored under another project\'s or track\'s key')
  const resultBytes = utf8(r.result)
  if (resultBytes.byteLength > 65536) refuse('result over 64 KiB')
  const { message: result, id: resultId } = await decodeGossip(resultBytes, { project: r.project })
  if (result.kind !== 'result' || result.status !== 'keep' || result.track !== r.track) refuse('not a keep of the record\'s project and track')
  exactly({ files: anything })(r.content, 'best.content')
  const files = r.content.files
  if (typeof files !== 'object' || files === null || Array.isArray(files)) refuse('content.files: not an object')
  const paths = Object.keys(files)
  if (paths.length < 1 || paths.length > 16) refuse('content: 1 to 16 files')
  for (const p of paths) { relativePath(p); if (typeof files[p] !== 'string') refuse(`content ${p}: not text`) }
  if (contentHashOf(files) !== result.child) refuse('content does not hash to the result\'s child')
  if (!Array.isArray(r.attestations) || r.attestations.length > 32) refuse('attestations: an array of at most 32')
  const attesters = new Set<string>()
  for (const a of r.attestations) {
    const { message } = await decodeGossip(utf8(a), { project: r.project })
    if (message.kind !== 'attestation' || message.result !== resultId || message.child !== result.child || message.track !== r.track) refuse('an attestation of something else')
    if (message.author === result.author || attesters.has(message.author)) refuse('self-attestation, or an attester twice')
    attesters.add(message.author)
  }
  if (!signatureValid(r)) refuse('the record\'s signature does not verify')
  return r
}

/** §8, the figure: `val_bpb` when a number, else `verified_bpb`, else none. */
const figureOf = (m: Record<string, any>): number | null => typeof m.val_bpb === 'number' ? m.val_bpb : typeof m.verified_bpb === 'number' ? m.verified_bpb : null

/** §9: the middle figure, or the mean of the two middle ones. */
function medianOf (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

export type BestRankKey = [number, number, number, number, string, string]

/** §9, the selector: [tier, figure, failed, result time, result id, record id] from the record's own attestations. */
export function bestRankKey (r: Record<string, any>): BestRankKey {
  const ok = (r.attestations as Array<Record<string, any>>).filter(a => a.ok === true).map(figureOf).filter((x): x is number => x != null)
  const failed = (r.attestations as Array<Record<string, any>>).filter(a => a.ok !== true).length
  return [ok.length > 0 ? 0 : 1, ok.length > 0 ? medianOf(ok) : figureOf(r.result) ?? Infinity, failed, r.result.time, messageIdOf(r.result), messageIdOf(r)]
}

const compareKeys = (a: BestRankKey, b: BestRankKey): number => {
  for (let i = 0; i < a.length; i++) {
    const [x, y] = [a[i]!, b[i]!]
    const order = typeof x === 'string' || typeof y === 'string' ? byCodeUnits(String(x), String(y)) : x < y ? -1 : x > y ? 1 : 0
    if (order !== 0) return order
  }
  return 0
}

/** §9: which record the selector keeps, the valid ones best first, and the refused ones. */
export async function rankBestRecords (key: string, records: Uint8Array[]): Promise<{ selected: number, order: number[], refused: number[] }> {
  const valid: Array<{ i: number, key: BestRankKey }> = []
  const refused: number[] = []
  for (const [i, bytes] of records.entries()) {
    try {
      valid.push({ i, key: bestRankKey(await decodeBestRecord(key, bytes)) })
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err
      refused.push(i)
    }
  }
  valid.sort((a, b) => compareKeys(a.key, b.key) || Buffer.compare(records[a.i]!, records[b.i]!) || a.i - b.i)
  const order = valid.map(v => v.i)
  return { selected: order[0] ?? refused[0] ?? -1, order, refused }
}

/**
 * Fuzz material for hostile-peer tests (pure, seeded so a failure replays):
 * random protocol messages that are valid, byte- and value-level mutations of
 * valid ones, random JSON, and stream frames broken every way a length-prefixed
 * reader can be (bad varints, lying lengths, huge lengths, extra frames).
 */
import { contentHash, sha256Hex, type Unsigned, type Message } from '../../protocol/index.ts'

export class Rng {
  private s: number
  constructor (seed: number) { this.s = (seed >>> 0) || 1 }
  /** [0, 1), xorshift32. */
  next (): number {
    let x = this.s
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    this.s = x
    return x / 2 ** 32
  }

  int (n: number): number { return Math.floor(this.next() * n) }
  pick<T> (xs: readonly T[]): T { return xs[this.int(xs.length)]! }
  bytes (n: number): Uint8Array { return Uint8Array.from({ length: n }, () => this.int(256)) }
  chance (p: number): boolean { return this.next() < p }
}

const NASTY_STRINGS = [
  '', ' ', 'a', 'x'.repeat(301), 'x'.repeat(70_000), '\x1b]0;PWNED\x07\x1b[2J\x1b[32mKEEP\x1b[0m', '\u202eevil', 'line\nbreak', '\u0000',
  'ünïcødé ✓ 漢字 🎉', '\ud800', '../../etc/passwd', '__proto__', 'constructor', '{"v":1}', '%s%n', '1e309'
]
const NASTY_NUMBERS = [0, -0, -1, 1, 0.5, 1e-300, 1e308, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 2, -1e15, 64, 64.0001, 2.3, 1.5e12, 7e12]

/** A random JSON value, nested at most `depth`. */
export function randomJson (r: Rng, depth = 4): unknown {
  switch (r.int(depth > 0 ? 7 : 5)) {
    case 0: return null
    case 1: return r.chance(0.5)
    case 2: return r.pick(NASTY_NUMBERS)
    case 3: return r.pick(NASTY_STRINGS)
    case 4: return r.int(1000)
    case 5: return Array.from({ length: r.int(5) }, () => randomJson(r, depth - 1))
    default: return Object.fromEntries(Array.from({ length: r.int(5) }, () => [r.pick(['v', 'kind', 'author', 'sig', 'project', 'time', 'hash', 'since', 'limit', 'track', r.pick(NASTY_STRINGS)]), randomJson(r, depth - 1)]))
  }
}

/** An unsigned message body that passes the schema, with random (but legal) values. */
export function randomBody (r: Rng, project: string, now: number): Unsigned<Message> {
  const hw = { cpu: r.pick(['AMD EPYC', 'ünïcødé cpu', 'x'.repeat(128)]), cores: 1 + r.int(64), ram_gb: 1 + r.int(512), gpu: r.chance(0.3) ? 'NVIDIA H100' : null, gpu_mem_gb: null }
  const time = now - r.int(3_600_000)
  const hash = sha256Hex(String(r.next()))
  const track = r.pick(['cpu', 'gpu-h100', 'a'.repeat(48)])
  const bpb = (): number => 0.5 + r.next() * 3
  switch (r.int(4)) {
    case 0: {
      const status = r.pick(['keep', 'discard', 'crash', 'invalid'] as const)
      return {
        v: 1, kind: 'result', project, track, parent: hash, child: contentHash({ 'train.py': String(r.next()) }),
        diff: 'd'.repeat(r.int(2000)), val_bpb: status === 'crash' ? null : bpb(), verified_bpb: status !== 'crash' && r.chance(0.5) ? bpb() : null, status,
        reason: r.pick(['', 'out of memory', 'ü'.repeat(200)]), metrics: { training_seconds: r.int(1000) }, hardware: hw, agent: 'fuzz',
        description: r.pick(['fuzz', 'ü'.repeat(300), '漢字 change']), time
      }
    }
    case 1:
    {
      const ok = r.chance(0.5)
      return { v: 1, kind: 'attestation', project, track, result: hash, child: sha256Hex(String(r.next())), ok, val_bpb: ok || r.chance(0.8) ? bpb() : null, verified_bpb: null, hardware: hw, time }
    }
    case 2:
      return { v: 1, kind: 'claim', project, track, parent: hash, description: 'fuzz claim', time, expires: time + 1 + r.int(7_000_000) }
    default: {
      const experiments = r.int(1000)
      return { v: 1, kind: 'status', project, track, experiment: r.chance(0.5) ? 'fuzz' : null, best_bpb: r.chance(0.5) ? bpb() : null, experiments, kept: r.int(experiments + 1), peers: r.int(100), time }
    }
  }
}

/** A mutation of `bytes`: flips, inserts, deletes, truncations, splices, duplications. */
export function mutateBytes (r: Rng, bytes: Uint8Array): Uint8Array {
  const b = Array.from(bytes)
  const rounds = 1 + r.int(4)
  for (let i = 0; i < rounds; i++) {
    const at = r.int(b.length + 1)
    switch (r.int(7)) {
      case 0: if (b.length > 0) b[at % b.length]! ^= 1 << r.int(8); break
      case 1: b.splice(at, 0, ...r.bytes(1 + r.int(8))); break
      case 2: b.splice(at, 1 + r.int(16)); break
      case 3: b.length = at; break
      case 4: b.splice(at, 0, ...b.slice(0, r.int(b.length + 1))); break
      case 5: b.splice(at, 0, ...new TextEncoder().encode(r.pick(NASTY_STRINGS).slice(0, 64))); break
      default: if (b.length > 0) b[at % b.length] = r.pick([0x00, 0x22, 0x5c, 0x7b, 0x7d, 0x1b, 0xff, 0xc3])
    }
  }
  return Uint8Array.from(b)
}

/** A JSON-level mutation of an object: a field dropped, retyped, or set to a nasty value. */
export function mutateValue (r: Rng, value: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...value }
  const keys = Object.keys(out)
  switch (r.int(4)) {
    case 0: if (keys.length > 0) delete out[r.pick(keys)]; break
    case 1: if (keys.length > 0) out[r.pick(keys)] = randomJson(r, 2); break
    case 2: out[r.pick(NASTY_STRINGS) || 'extra'] = randomJson(r, 1); break
    default: if (keys.length > 0) out[r.pick(keys)] = r.pick([...NASTY_NUMBERS, ...NASTY_STRINGS])
  }
  return out
}

/** An unsigned LEB128 varint, as length prefixes are written. */
export function uvarint (n: number): Uint8Array {
  const out: number[] = []
  let x = n
  do {
    let byte = x % 128
    x = Math.floor(x / 128)
    if (x > 0) byte |= 0x80
    out.push(byte)
  } while (x > 0)
  return Uint8Array.from(out)
}

const concat = (parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let at = 0
  for (const p of parts) { out.set(p, at); at += p.byteLength }
  return out
}

export const frame = (payload: Uint8Array): Uint8Array => concat([uvarint(payload.byteLength), payload])

export type FramingCase = 'valid' | 'mutated-payload' | 'random-payload' | 'two-frames' | 'short-length' | 'long-length' | 'huge-length' | 'bad-varint' | 'empty-frame' | 'garbage' | 'nothing'

export const FRAMING_CASES: readonly FramingCase[] = ['valid', 'mutated-payload', 'random-payload', 'two-frames', 'short-length', 'long-length', 'huge-length', 'bad-varint', 'empty-frame', 'garbage', 'nothing']

/** Bytes to write on a request stream for `kind`, built around a valid request payload. */
export function requestBytes (r: Rng, kind: FramingCase, valid: Uint8Array): Uint8Array {
  switch (kind) {
    case 'valid': return frame(valid)
    case 'mutated-payload': return frame(mutateBytes(r, valid))
    case 'random-payload': return frame(r.chance(0.5) ? r.bytes(r.int(1100)) : new TextEncoder().encode(JSON.stringify(randomJson(r))))
    case 'two-frames': return concat([frame(valid), frame(mutateBytes(r, valid))])
    case 'short-length': return concat([uvarint(Math.max(0, valid.byteLength - 1 - r.int(5))), valid])
    case 'long-length': return concat([uvarint(valid.byteLength + 1 + r.int(100)), valid])
    case 'huge-length': return concat([uvarint(r.pick([1025, 1 << 20, 2 ** 31, 2 ** 40])), r.bytes(r.int(64))])
    case 'bad-varint': return Uint8Array.from([...Array.from({ length: 10 + r.int(6) }, () => 0xff), 0x01])
    case 'empty-frame': return uvarint(0)
    case 'garbage': return r.bytes(1 + r.int(256))
    case 'nothing': return new Uint8Array(0)
  }
}

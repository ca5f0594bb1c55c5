/**
 * Canonical encoding, hashes and names: the things two machines must compute
 * byte for byte the same.
 */
import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  BEST_KEY_PREFIX, FETCH_PROTOCOL, KAD_PROTOCOL, LEADERBOARD_PROTOCOL, ProtocolError, SYNC_PROTOCOL, bestKey,
  contentHash, encode, encodeToString, parseBestKey, parseTopic, projectId, protocolId, sha256Hex, topicFor
} from '../protocol/index.ts'

const sha = (text: string): string => createHash('sha256').update(text).digest('hex')
const decodeText = (bytes: Uint8Array): string => new TextDecoder().decode(bytes)

/**
 * Reference canonical form, written independently of the encoder: sorted keys
 * (default sort = UTF-16 code units), JSON.stringify for every leaf. Built as a
 * string because JS objects list integer-like keys first whatever the order.
 */
function reference (value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(reference).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>
    return `{${Object.keys(obj).sort().map((k) => `${JSON.stringify(k)}:${reference(obj[k])}`).join(',')}}`
  }
  return JSON.stringify(value)
}
/** The same value with every object's keys inserted in reverse order. */
function reverseKeys (value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reverseKeys)
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).reverse().map((k) => [k, reverseKeys((value as Record<string, unknown>)[k])]))
  }
  return value
}

const json = fc.jsonValue({ maxDepth: 4 })

describe('canonical encoding', () => {
  it('sorts keys by UTF-16 code units, not code points', () => {
    // U+1F600 is D83D DE00 in UTF-16: before U+FFFF by code units, after it by code points.
    expect(encodeToString({ '\uffff': 1, '😀': 2, b: 3, B: 4, a: 5 })).toBe('{"B":4,"a":5,"b":3,"😀":2,"\uffff":1}')
  })

  it('writes numbers in the shortest round-trip form', () => {
    expect(encodeToString([1e21, 0.1 + 0.2, 5e-324, 100, 1.5e-7, -0])).toBe('[1e+21,0.30000000000000004,5e-324,100,1.5e-7,0]')
  })

  it('matches the reference form (sorted keys, JSON.stringify) for any JSON value', () => {
    fc.assert(fc.property(json, (value) => {
      expect(encodeToString(value)).toBe(reference(value))
    }))
  })

  it('round-trips: encode(parse(encode(x))) == encode(x)', () => {
    fc.assert(fc.property(json, (value) => {
      const bytes = encode(value)
      expect(encode(JSON.parse(decodeText(bytes)))).toEqual(bytes)
    }))
  })

  it('ignores key insertion order', () => {
    fc.assert(fc.property(json, (value) => {
      expect(encode(reverseKeys(value))).toEqual(encode(value))
    }))
  })

  it('writes no whitespace outside strings', () => {
    expect(encodeToString({ a: [1, { b: 'x y' }], c: null })).toBe('{"a":[1,{"b":"x y"}],"c":null}')
  })

  it('sorts integer-like keys as strings (JS objects list them first)', () => {
    expect(encodeToString({ b: 1, 10: 2, 9: 3, '': 4 })).toBe('{"":4,"10":2,"9":3,"b":1}')
  })
})

describe('contentHash', () => {
  it('is the sha256 of the canonical files map, whatever the insertion order', () => {
    const files = { 'train.py': 'x = 1\n', 'model/config.py': 'd = 2\n' }
    const reordered = { 'model/config.py': 'd = 2\n', 'train.py': 'x = 1\n' }
    expect(contentHash(files)).toBe(contentHash(reordered))
    expect(contentHash(files)).toBe(sha('{"model/config.py":"d = 2\\n","train.py":"x = 1\\n"}'))
    expect(contentHash({ ...files, 'train.py': 'x = 2\n' })).not.toBe(contentHash(files))
  })

  it('refuses unsafe paths and non-text values', () => {
    expect(() => contentHash({ '../x.py': '' })).toThrow(expect.objectContaining({ code: 'bad-path' }))
    expect(() => contentHash({ 'a.py': 1 as unknown as string })).toThrow(expect.objectContaining({ code: 'bad-field' }))
  })
})

describe('projectId', () => {
  const manifest = { name: 'nanochat', editable: ['train.py'], run: 'uv run train.py', budget_s: 300, metric: 'val_bpb' }
  const files = [
    { path: 'prepare.py', sha256: sha('prepare') },
    { path: 'program.md', sha256: sha('program') },
    { path: 'data/val.bin', sha256: sha('val tokens') }
  ]

  it('is sha256 of canonical { v, manifest, files sorted by path }', () => {
    const sorted = [files[2], files[0], files[1]]
    const expected = sha(`{"files":${JSON.stringify(sorted)},"manifest":${reference(manifest)},"v":1}`)
    expect(projectId({ manifest, files })).toBe(expected)
  })

  it('does not depend on file order or manifest key order', () => {
    fc.assert(fc.property(fc.shuffledSubarray(files, { minLength: 3, maxLength: 3 }), (shuffled) => {
      expect(projectId({ manifest: reverseKeys(manifest) as Record<string, unknown>, files: shuffled })).toBe(projectId({ manifest, files }))
    }))
  })

  it('changes when a file hash, a file set or the budget changes', () => {
    const id = projectId({ manifest, files })
    expect(projectId({ manifest, files: [{ ...files[0]!, sha256: sha('prepare v2') }, files[1]!, files[2]!] })).not.toBe(id)
    expect(projectId({ manifest, files: files.slice(1) })).not.toBe(id)
    expect(projectId({ manifest: { ...manifest, budget_s: 600 }, files })).not.toBe(id)
  })

  it('refuses duplicate, absolute and escaping paths and malformed hashes', () => {
    const bad = (f: Array<{ path: string, sha256: string }>, code: string): void => {
      expect(() => projectId({ manifest, files: f })).toThrow(expect.objectContaining({ code }))
    }
    bad([...files, { path: 'prepare.py', sha256: sha('again') }], 'bad-path')
    bad([{ path: '/etc/passwd', sha256: sha('x') }], 'bad-path')
    bad([{ path: 'data/../../x', sha256: sha('x') }], 'bad-path')
    bad([{ path: 'C:x', sha256: sha('x') }], 'bad-path')
    bad([{ path: 'x', sha256: sha('x').toUpperCase() }], 'bad-hash')
    expect(() => projectId({ manifest: { budget: NaN }, files })).toThrow(ProtocolError)
  })
})

describe('names on the network', () => {
  const project = sha256Hex('p')

  it('builds one results topic per project and parses it back', () => {
    expect(topicFor(project)).toBe(`/swarm-node/1/${project}/results`)
    expect(parseTopic(topicFor(project))).toBe(project)
    expect(() => topicFor('nope')).toThrow(expect.objectContaining({ code: 'bad-hash' }))
    expect(() => parseTopic(`/swarm-node/1/${project}/other`)).toThrow(expect.objectContaining({ code: 'bad-key' }))
  })

  it('builds DHT keys under the swarm-best prefix and parses them back', () => {
    const key = bestKey(project, 'gpu-h100')
    expect(decodeText(key)).toBe(`/swarm-best/${project}/gpu-h100`)
    expect(decodeText(key).split('/')[1]).toBe(BEST_KEY_PREFIX)
    expect(parseBestKey(key)).toEqual({ project, track: 'gpu-h100' })
    for (const bad of [`/swarm-best/${project}`, `/swarm-best/${project}/cpu/x`, `/pk/${project}/cpu`, `/swarm-best/${project}/CPU`, `/swarm-best/${project.slice(1)}/cpu`]) {
      expect(() => parseBestKey(new TextEncoder().encode(bad))).toThrow(expect.objectContaining({ code: 'bad-key' }))
    }
    const invalidUtf8 = new Uint8Array([...key.subarray(0, key.length - 1), 0xff])
    expect(() => parseBestKey(invalidUtf8)).toThrow(expect.objectContaining({ code: 'bad-key' }))
    expect(() => bestKey(project, 'a/b')).toThrow(expect.objectContaining({ code: 'bad-field' }))
  })

  it('builds stream protocol ids from prefix, name and version', () => {
    expect([FETCH_PROTOCOL, SYNC_PROTOCOL, LEADERBOARD_PROTOCOL, KAD_PROTOCOL])
      .toEqual(['/swarm-node/fetch/1.0.0', '/swarm-node/sync/1.0.0', '/swarm-node/leaderboard/1.0.0', '/swarm-node/kad/1.0.0'])
    expect(protocolId('fetch', '2.0.0')).toBe('/swarm-node/fetch/2.0.0')
  })
})

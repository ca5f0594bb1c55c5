import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterAll, describe, expect, it } from 'vitest'
import { contentHash, encodeMessage, messageId, parseMessage, signMessage, type ResultMsg } from '../protocol/index.ts'
import { attestationBody, oneLine, resultBody, wireDiff, wireMetrics } from '../node/swarm/outgoing.ts'
import type { ExperimentRecord } from '../trainer/results-log.ts'
import { existsSync } from 'node:fs'
import { appendFile, mkdir, open as openFile, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { SwarmStore, type StoreLimits } from '../node/swarm/store.ts'
import { readLines } from '../node/swarm/store/lines.ts'
import { cleanupFixtures, tempDir } from './helpers/fixtures.ts'
import { FILES, T0, attestationBody as attBody, claimBody, makeBest, makeKeys, peerOf, resultBody as rBody, statusBody } from './protocol-fixtures.ts'
import type { AttestationMsg, ClaimMsg, StatusMsg } from '../protocol/index.ts'

const PROJECT = 'c'.repeat(64)
const HW = { cpu: 'x', cores: 2, ram_gb: 8, gpu: null, gpu_mem_gb: null }
afterAll(cleanupFixtures)

function record (over: Partial<ExperimentRecord> = {}): ExperimentRecord {
  return {
    id: 'main-2', seq: 2, commit: 'f'.repeat(40), parent: 'e'.repeat(40), status: 'keep', val_bpb: 2.1, verified_bpb: 2.1004, memory_gb: 0,
    description: 'LR 3e-3 -> 6e-3', reason: '', proposer: 'mutation', track: 'cpu', started_at: Date.UTC(2026, 0, 1), finished_at: Date.UTC(2026, 0, 1, 0, 5),
    metrics: { val_bpb: 2.1, num_params_M: 0.5, device: 'cpu', training_seconds: 60, first_run: 2.1 },
    child: contentHash({ 'train.py': 'b' }), parent_content: contentHash({ 'train.py': 'a' }), decision_bpb: 2.09, baseline_bpb: 2.3,
    ...over
  }
}

describe('outgoing messages', () => {
  it('turn loop records into valid, bounded protocol messages', async () => {
    const key = await generateKeyPair('Ed25519')
    const body = resultBody(record(), { project: PROJECT, track: 'cpu', hardware: HW, diff: '--- a\n+++ b\n' })!
    const signed = await signMessage(body, key) as ResultMsg
    expect(parseMessage(encodeMessage(signed))).toEqual(signed)
    expect(signed.val_bpb).toBe(2.09)
    expect(signed.metrics).toMatchObject({ num_params_m: 0.5, baseline_bpb: 2.3, training_seconds: 60 })
    expect(signed.metrics).not.toHaveProperty('device')
    const crash = await signMessage(resultBody(record({ status: 'crash', val_bpb: null, verified_bpb: null, decision_bpb: null, reason: 'exit code 1:\nTraceback' }), { project: PROJECT, track: 'cpu', hardware: HW, diff: '' })!, key) as ResultMsg
    expect(crash.val_bpb).toBeNull()
    expect(crash.reason).toBe('exit code 1: Traceback')
    expect(resultBody(record({ status: 'baseline' }), { project: PROJECT, track: 'cpu', hardware: HW, diff: '' })).toBeNull()
    const att = await signMessage(attestationBody(record(), { result: messageId(signed) }, true, { project: PROJECT, track: 'cpu', hardware: HW }), key)
    expect(parseMessage(encodeMessage(att))).toEqual(att)
  })
  it('cut what is too long', () => {
    const big = 'x\n'.repeat(40_000)
    const d = wireDiff(big)
    expect(Buffer.byteLength(d)).toBeLessThanOrEqual(48 * 1024)
    expect(d).toMatch(/diff truncated/)
    expect(wireDiff('small\n')).toBe('small\n')
    expect(oneLine('a\tb\n\u202ec', 300)).toBe('a b c')
    expect(oneLine('y'.repeat(400)).length).toBe(300)
    expect(Object.keys(wireMetrics(Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`m${i}`, i]))))).toHaveLength(32)
  })
})

const open = async (dir: string, limits: Partial<StoreLimits> = {}, self?: string): Promise<SwarmStore> => {
  const s = await SwarmStore.open(dir, { limits, self })
  opened.push(s)
  return s
}
const opened: SwarmStore[] = []
afterAll(() => { for (const s of opened) s.close() })

describe('swarm store', () => {
  it('survives a restart, dedups, knows when it first saw a message and serves only intact content', async () => {
    const dir = join(await tempDir('store'), 'p')
    const key = await generateKeyPair('Ed25519')
    const r1 = await signMessage(rBody({ status: 'keep', time: T0 }), key)
    const r2 = await signMessage(rBody({ status: 'discard', time: T0 + 86_400_000, description: 'second' }), key)
    const att = await signMessage(attBody(r1), await generateKeyPair('Ed25519'))
    const s = await open(dir)
    expect(await s.admit(r1, 1000)).toBe('stored')
    expect(await s.admit(r1, 2000)).toBe('duplicate')
    expect(await s.add(r1)).toBe(false)
    expect(await s.add(r2, 3000)).toBe(true)
    expect(await s.add(att, 4000)).toBe(true)
    expect(s.seenAt(messageId(r1))).toBe(1000)
    expect(s.seenAt('f'.repeat(64))).toBeUndefined()
    const hash = await s.putContent(FILES)
    expect(hash).toBe(r1.child)
    s.close()

    const again = await open(dir)
    expect(again.warnings).toEqual([])
    expect(again.results().map(r => messageId(r))).toEqual([messageId(r1), messageId(r2)])
    expect(again.attestations(messageId(r1))).toEqual([att])
    expect(again.attestations('0'.repeat(64))).toEqual([])
    expect(again.get(messageId(r2))).toMatchObject({ id: messageId(r2), msg: r2, received: 3000 })
    expect(again.seenAt(messageId(r1))).toBe(1000)
    expect(again.byChild(r1.child).map(m => m.kind).sort()).toEqual(['attestation', 'result', 'result'])
    expect(await again.getContent(hash)).toEqual(FILES)
    expect(await again.getContent('../../etc/passwd')).toBeNull()
    expect(again.since(T0 + 43_200_000, 10).items.map(m => messageId(m))).toEqual([messageId(r2)])
    expect(again.since(0, 1)).toMatchObject({ more: true })
    expect(again.stats()).toMatchObject({ messages: 3, authors: 2 })
    expect(again.results({ status: 'keep' })).toEqual([r1])
    expect(again.results({ status: 'keep', track: 'gpu-h100' })).toEqual([])
    expect(again.results({ newest: 1 })).toEqual([r2])
  })

  it('pages sync in (time, id) order: any number of messages in one millisecond, none lost or repeated', async () => {
    const dir = await tempDir('store-same-ms')
    const s = await open(dir)
    const keys = await makeKeys()
    const sent = new Set<string>()
    for (let i = 0; i < 250; i++) {
      const r = await signMessage(rBody({ child: contentHash({ 'train.py': `same ms ${i}` }), time: T0 }), keys.a) as ResultMsg
      expect(await s.add(r)).toBe(true)
      sent.add(messageId(r))
    }
    const seen: string[] = []
    let cursor = { since: T0, after: '' }
    for (let page = 0; page < 10; page++) {
      const { items, more } = s.since(cursor.since, 100, cursor.after)
      seen.push(...items.map(m => messageId(m)))
      if (!more) break
      const last = items.at(-1)!
      cursor = { since: last.time, after: messageId(last) }
    }
    expect(seen).toHaveLength(250)
    expect(new Set(seen)).toEqual(sent)
  })

  it('ages out an author\'s old discards, refuses what is over its share, and never its own node\'s words', async () => {
    const dir = join(await tempDir('store'), 'q')
    const [k, other] = await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519')])
    const self = await generateKeyPair('Ed25519')
    const s = await open(dir, { authorMaxDiscards: 3, authorMaxBytes: 8 * 1024, maxBytes: 64 * 1024 }, peerOf(self))
    const told: string[] = []
    s.onAgedOut(gone => told.push(...gone.map(g => g.id)))
    const discards = await Promise.all(Array.from({ length: 5 }, async (_, i) => await signMessage(rBody({ status: 'discard', description: `d${i}`, time: T0 + i * 1000 }), k)))
    for (const d of discards) expect(await s.admit(d)).toBe('stored')
    // The three newest stay; one older than all of them is refused, not stored and aged out at once.
    expect(s.results().map(r => r.description)).toEqual(['d2', 'd3', 'd4'])
    expect(await s.admit(await signMessage(rBody({ status: 'crash', val_bpb: null, description: 'old', time: T0 - 1 }), k))).toBe('stale')
    expect(s.stats().agedOut).toBe(2)
    // Whoever holds these in memory is told which went.
    expect(told).toEqual(discards.slice(0, 2).map(d => messageId(d)))

    // Keeps and attestations stay until the author's share is full; then its new ones are refused.
    const big = 'x'.repeat(1500)
    let outcome = 'stored'
    let keeps = 0
    while (outcome === 'stored') {
      outcome = await s.admit(await signMessage(rBody({ status: 'keep', diff: big, description: `k${keeps}`, time: T0 + 10_000 + keeps }), k))
      if (outcome === 'stored') keeps++
    }
    expect(outcome).toBe('author-quota')
    expect(keeps).toBeGreaterThan(1)
    // Room for keeps was made from the author's discards, never from its keeps.
    expect(s.results().filter(r => r.author === peerOf(k) && r.status === 'keep')).toHaveLength(keeps)
    expect(s.results().filter(r => r.author === peerOf(k) && r.status !== 'keep').length).toBeLessThan(3)
    expect(s.stats().refused['author-quota']).toBe(1)
    // Another author is not held back by the first one's share.
    expect(await s.admit(await signMessage(rBody({ status: 'keep', time: T0 + 99 }), other))).toBe('stored')
    // The node's own words go in whatever the limits.
    for (let i = 0; i < 12; i++) expect(await s.admit(await signMessage(rBody({ status: 'keep', diff: big, description: `mine ${i}`, time: T0 + i }), self))).toBe('stored')
    expect(s.results().filter(r => r.author === peerOf(self))).toHaveLength(12)
  })

  it('stays under its total quota by ageing out the oldest, discards first', async () => {
    const dir = join(await tempDir('store'), 'r')
    const maxBytes = 40 * 1024
    const s = await open(dir, { maxBytes, authorMaxBytes: 8 * 1024 })
    const keys = await Promise.all(Array.from({ length: 30 }, async () => await generateKeyPair('Ed25519')))
    const firstKeep = await signMessage(rBody({ status: 'keep', description: 'first keep', time: T0 }), keys[0]!)
    expect(await s.admit(firstKeep)).toBe('stored')
    const firstDiscard = await signMessage(rBody({ status: 'discard', description: 'first discard', time: T0 }), keys[1]!)
    expect(await s.admit(firstDiscard)).toBe('stored')
    for (const [i, k] of keys.entries()) {
      for (let j = 0; j < 3; j++) {
        const m = await signMessage(rBody({ status: j === 0 ? 'keep' : 'discard', diff: 'y'.repeat(600), description: `${i}.${j}`, time: T0 + 1000 + j }), k)
        expect(await s.admit(m)).toBe('stored')
        expect(s.stats().bytes).toBeLessThanOrEqual(maxBytes)
      }
    }
    // The oldest discard went before the oldest keep did.
    expect(s.get(messageId(firstDiscard))).toBeUndefined()
    expect(s.stats().agedOut).toBeGreaterThan(0)
    // On disk (indexes, page slack) it is a small multiple of the quota; closing folds the WAL in.
    s.close()
    expect(existsSync(join(dir, 'store.db-wal'))).toBe(false)
    expect((await stat(join(dir, 'store.db'))).size).toBeLessThan(maxBytes * 4 + 64 * 1024)
  })

  it('keeps the latest claim and status per author, for a bounded number of authors', async () => {
    const dir = join(await tempDir('store'), 'c')
    const s = await open(dir, { maxLiveAuthors: 4 })
    const keys = await Promise.all(Array.from({ length: 6 }, async () => await generateKeyPair('Ed25519')))
    const now = Date.now()
    for (const k of keys) {
      for (const t of [2, 1, 3]) {
        await s.add(await signMessage(claimBody({ time: now - 10_000 + t, expires: now + 60_000, description: `c${t}` }), k) as ClaimMsg)
        await s.add(await signMessage(statusBody({ time: now - 10_000 + t, experiments: 10 + t }), k) as StatusMsg)
      }
    }
    expect(s.claims(now)).toHaveLength(4)
    expect(s.claims(now).map(c => c.description)).toEqual(['c3', 'c3', 'c3', 'c3'])
    expect(s.statuses().map(x => x.author)).toEqual(keys.slice(2).map(k => peerOf(k)))
    expect(s.claims(now + 120_000)).toEqual([])
  })

  it('keeps best records and the content they name across a restart', async () => {
    const dir = join(await tempDir('store'), 'b')
    const keys = await makeKeys()
    const rec = await makeBest(keys, { attesters: [{ key: keys.b }] })
    const s = await open(dir, { maxContentBytes: 200 })
    await s.putBest(rec)
    // Content over its cap ages out, but never what a best record names.
    for (let i = 0; i < 5; i++) await s.putContent({ 'train.py': `print(${i})\n`.repeat(10) })
    expect(await s.getContent(rec.result.child)).toEqual(rec.content.files)
    s.close()
    const again = await open(dir)
    expect(again.best(rec.track)).toEqual(rec)
    expect(again.bestRecords()).toHaveLength(1)
    await again.dropBest(rec.track)
    expect(again.best(rec.track)).toBeUndefined()
  })
})

describe('swarm store: old stores and damage', () => {
  /** The JSONL layout swarm-node wrote before the database. */
  async function legacyStore (dir: string, messages: Array<{ received: number, msg: object }>): Promise<void> {
    await mkdir(join(dir, 'content'), { recursive: true })
    await mkdir(join(dir, 'best'), { recursive: true })
    const lines = messages.map(({ received, msg }) => `{"received":${received},"msg":${new TextDecoder().decode(encodeMessage(msg as any))}}\n`)
    await writeFile(join(dir, 'messages.jsonl'), lines.join(''))
  }

  it('migrates a JSONL store on first open, skipping torn and corrupt lines with a count', async () => {
    const dir = join(await tempDir('store'), 'legacy')
    const keys = await makeKeys()
    const r1 = await signMessage(rBody({ status: 'keep' }), keys.a)
    const r2 = await signMessage(rBody({ status: 'discard', description: 'second', time: T0 + 1 }), keys.a)
    const a1 = await signMessage(attBody(r1), keys.b) as AttestationMsg
    await legacyStore(dir, [{ received: 11, msg: r1 }, { received: 12, msg: r2 }, { received: 13, msg: a1 }])
    // A torn write and a corrupt line, as a crash or a disk error leaves them.
    await appendFile(join(dir, 'messages.jsonl'), '{"received":1,"msg":{"v":1,"kind":"res')
    const lines = (await readFile(join(dir, 'messages.jsonl'), 'utf8')).split('\n')
    lines.splice(1, 0, 'not json at all')
    await writeFile(join(dir, 'messages.jsonl'), lines.join('\n'))
    await writeFile(join(dir, 'content', `${contentHash(FILES)}.json`), JSON.stringify({ files: FILES }))
    await writeFile(join(dir, 'content', `${contentHash({ 'train.py': 'z' })}.json`), JSON.stringify({ files: { 'train.py': 'tampered' } }))
    const best = await makeBest(keys, { attesters: [{ key: keys.c }] })
    await writeFile(join(dir, 'best', `${best.track}.json`), new TextDecoder().decode((await import('../protocol/index.ts')).encodeBestRecord(best)))

    const s = await open(dir)
    expect(s.results().map(r => messageId(r))).toEqual([messageId(r1), messageId(r2)])
    expect(s.attestations()).toEqual([a1])
    expect(s.seenAt(messageId(r2))).toBe(12)
    expect(s.best(best.track)).toEqual(best)
    expect(await s.getContent(contentHash(FILES))).toEqual(FILES)
    expect(await s.getContent(contentHash({ 'train.py': 'z' }))).toBeNull()
    expect(s.warnings.filter(w => /^messages\.jsonl line \d+ skipped/.test(w))).toHaveLength(2)
    expect(s.warnings.at(-1)).toMatch(/^migrated the store to SQLite: 3 messages \(2 lines skipped\), 2 contents, 1 best records; the old files are in .*migrated/)
    expect(await readdir(join(dir, 'migrated'))).toEqual(['best', 'content', 'messages.jsonl'])
    s.close()
    // Once only: the next open finds nothing to migrate and everything still there.
    const again = await open(dir)
    expect(again.warnings).toEqual([])
    expect(again.results()).toHaveLength(2)
  })

  it('migrates a messages.jsonl over 512 MiB, streaming past a run of garbage', async () => {
    const dir = join(await tempDir('store'), 'huge')
    const keys = await makeKeys()
    const before = await signMessage(rBody({ description: 'before the hole' }), keys.a)
    const after = await signMessage(rBody({ description: 'after the hole', time: T0 + 5 }), keys.b)
    await legacyStore(dir, [{ received: 1, msg: before }])
    // A 600 MiB hole of NUL bytes (sparse: no disk, no time to write), then one more line.
    // Read whole, this file is beyond the longest string V8 can make ("Invalid string length").
    const fh = await openFile(join(dir, 'messages.jsonl'), 'r+')
    const holeEnd = 600 * 1024 * 1024
    const tail = `\n{"received":2,"msg":${new TextDecoder().decode(encodeMessage(after))}}\n`
    await fh.write(tail, holeEnd)
    await fh.close()
    expect((await stat(join(dir, 'messages.jsonl'))).size).toBeGreaterThan(512 * 1024 * 1024)
    const t0 = Date.now()
    const s = await open(dir)
    expect(s.results().map(r => r.description)).toEqual(['before the hole', 'after the hole'])
    expect(s.warnings.find(w => w.startsWith('messages.jsonl line 2 skipped'))).toMatch(/bytes, over/)
    expect(s.warnings.at(-1)).toMatch(/2 messages \(1 lines skipped\)/)
    expect(Date.now() - t0).toBeLessThan(30_000)
  }, 60_000)

  it('moves a damaged database aside with a warning and goes on with what it could read', async () => {
    const dir = join(await tempDir('store'), 'damaged')
    const key = await generateKeyPair('Ed25519')
    const s = await open(dir)
    for (let i = 0; i < 3; i++) await s.add(await signMessage(rBody({ description: `r${i}`, time: T0 + i }), key))
    s.close()
    // Garbage over the header: SQLite no longer recognises the file.
    const fh = await openFile(join(dir, 'store.db'), 'r+')
    await fh.write(Buffer.alloc(100, 0x41), 0)
    await fh.close()
    const again = await open(dir)
    expect(again.warnings).toHaveLength(1)
    expect(again.warnings[0]).toMatch(/^the store database .*store\.db is damaged \(.*\): moved to .*store\.db\.corrupt-.*; \d+ messages and \d+ contents were read back/)
    expect((await readdir(dir)).filter(f => f.startsWith('store.db.corrupt-'))).not.toEqual([])
    // A working store again.
    expect(await again.add(await signMessage(rBody({ description: 'after', time: T0 + 9 }), key))).toBe(true)
  })

  it('skips a damaged row with a count instead of failing', async () => {
    const dir = join(await tempDir('store'), 'row')
    const key = await generateKeyPair('Ed25519')
    const s = await open(dir)
    const good = await signMessage(rBody({ description: 'good' }), key)
    const bad = await signMessage(rBody({ description: 'bad', time: T0 + 1 }), key)
    await s.add(good)
    await s.add(bad)
    s.close()
    const Database = (await import('better-sqlite3')).default
    const db = new Database(join(dir, 'store.db'))
    db.prepare('UPDATE messages SET body = ? WHERE id = ?').run('{"v":1,"kind":"res', messageId(bad))
    db.close()
    const again = await open(dir)
    expect(again.results()).toEqual([good])
    expect(again.get(messageId(bad))).toBeUndefined()
    expect(again.stats().damagedRows).toBeGreaterThan(0)
    expect(again.warnings[0]).toMatch(/damaged and was skipped/)
  })
})

describe('readLines', () => {
  it('yields lines of any file in order and skips an over-long one without holding it', async () => {
    const dir = await tempDir('lines')
    const path = join(dir, 'f')
    await writeFile(path, `a\n${'x'.repeat(5000)}\n\nbé\nlast`)
    const got = []
    for await (const l of readLines(path, 100, { highWaterMark: 7 })) got.push(l)
    expect(got).toEqual([{ n: 1, text: 'a' }, { n: 2, tooLong: 5000 }, { n: 3, text: '' }, { n: 4, text: 'bé' }, { n: 5, text: 'last' }])
  })
})

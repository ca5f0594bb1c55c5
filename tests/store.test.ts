import { generateKeyPair } from '@libp2p/crypto/keys'
import { appendFile, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { contentHash, encodeMessage, messageId, parseMessage, signMessage, type ResultMsg } from '../protocol/index.ts'
import { attestationBody, oneLine, resultBody, wireDiff, wireMetrics } from '../node/swarm/outgoing.ts'
import { SwarmStore } from '../node/swarm/store.ts'
import type { ExperimentRecord } from '../trainer/results-log.ts'
import { cleanupFixtures, tempDir } from './helpers/fixtures.ts'

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

describe('swarm store', () => {
  it('survives a restart, dedups, skips corrupt lines and serves only intact content', async () => {
    const dir = join(await tempDir('store'), 'p')
    const key = await generateKeyPair('Ed25519')
    const r1 = await signMessage(resultBody(record(), { project: PROJECT, track: 'cpu', hardware: HW, diff: '' })!, key) as ResultMsg
    const r2 = await signMessage(resultBody(record({ finished_at: Date.UTC(2026, 0, 2), description: 'second' }), { project: PROJECT, track: 'cpu', hardware: HW, diff: '' })!, key) as ResultMsg
    const s = await SwarmStore.open(dir)
    expect(await s.add(r1)).toBe(true)
    expect(await s.add(r1)).toBe(false)
    expect(await s.add(r2)).toBe(true)
    const hash = await s.putContent({ 'train.py': 'b' })
    expect(hash).toBe(r1.child)

    // A torn write and a corrupt line, as a crash or a disk error leaves them.
    await appendFile(join(dir, 'messages.jsonl'), '{"received":1,"msg":{"v":1,"kind":"res')
    const lines = (await readFile(join(dir, 'messages.jsonl'), 'utf8')).split('\n')
    lines.splice(1, 0, 'not json at all')
    await writeFile(join(dir, 'messages.jsonl'), lines.join('\n'))
    await writeFile(join(dir, 'content', `${contentHash({ 'train.py': 'z' })}.json`), JSON.stringify({ files: { 'train.py': 'tampered' } }))

    const again = await SwarmStore.open(dir)
    expect(again.results().map(r => messageId(r))).toEqual([messageId(r1), messageId(r2)])
    expect(again.warnings).toHaveLength(2)
    expect(await again.getContent(hash)).toEqual({ 'train.py': 'b' })
    expect(await again.getContent(contentHash({ 'train.py': 'z' }))).toBeNull()
    expect(await again.getContent('../../etc/passwd')).toBeNull()
    expect(again.since(Date.UTC(2026, 0, 1, 12), 10).items).toHaveLength(1)
    expect(again.since(0, 1)).toMatchObject({ more: true })
  })
})

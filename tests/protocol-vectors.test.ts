/**
 * protocol/test-vectors.json, the file other implementations check themselves
 * against (PROTOCOL.md, "Test vectors"), checked here twice: against the
 * reference implementation in `protocol/`, and against a decoder written from
 * PROTOCOL.md alone (tests/helpers/independent-decoder.ts). The file must also
 * be exactly what scripts/test-vectors.ts makes: nothing in it has drifted.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { generateKeyPairFromSeed, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterAll, describe, expect, it } from 'vitest'
import {
  ProtocolError, bestKey, contentHash, decodeMessage, encodeToString, encodeUnsigned, messageId, parseBestKey, projectId, rankBestRecord,
  rendezvousCid, selectBestRecord, signMessage, topicFor, validateBestRecord, type Signed
} from '../protocol/index.ts'
import { buildVectors, VECTORS_PATH } from '../scripts/test-vectors.ts'
import { parseManifest, withBudget } from '../trainer/manifest.ts'
import { loadProject } from '../trainer/project.ts'
import { cleanupFixtures, tempDir } from './helpers/fixtures.ts'
import * as indie from './helpers/independent-decoder.ts'

const V = JSON.parse(await readFile(VECTORS_PATH, 'utf8'))
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)
const bytesOf = (v: { text?: string, hex?: string }): Uint8Array => v.hex != null ? Buffer.from(v.hex, 'hex') : utf8(v.text!)
const keyByPeer = new Map<string, { seed_hex: string }>(V.keys.map((k: any) => [k.peer_id, k]))
const GOSSIP_KINDS = new Set(['result', 'attestation', 'claim', 'status'])

afterAll(cleanupFixtures)

describe('protocol/test-vectors.json', () => {
  it('is exactly what scripts/test-vectors.ts generates', async () => {
    expect(JSON.parse(JSON.stringify(await buildVectors()))).toEqual(V)
  })

  it('covers every kind, awkward text and numbers, and refusals of every sort', () => {
    expect(new Set(V.messages.map((m: any) => m.message.kind))).toEqual(new Set(['result', 'attestation', 'claim', 'status', 'best']))
    expect(V.canonical.length).toBeGreaterThanOrEqual(5)
    const codes = new Set(V.invalid.map((i: any) => i.error))
    for (const c of ['not-canonical', 'bad-encoding', 'bad-signature', 'bad-peer-id', 'wrong-project', 'unknown-field', 'bad-field', 'bad-metric', 'too-large', 'unsupported-version']) expect(codes).toContain(c)
  })
})

describe('the reference implementation agrees with the vectors', () => {
  it('canonical JSON: key order by UTF-16 code units, ECMAScript numbers, -0 as 0, JSON.stringify escapes', () => {
    for (const c of V.canonical) {
      const text = encodeToString(JSON.parse(c.input_json))
      expect(text, c.name).toBe(c.canonical)
      expect(Buffer.from(utf8(text)).toString('hex'), c.name).toBe(c.canonical_hex)
    }
    for (const c of V.canonical_refused) expect(() => encodeToString(JSON.parse(c.input_json)), c.name).toThrow(/lone UTF-16 surrogate/)
  })

  it('keys: seed -> Ed25519 key -> protobuf -> identity multihash -> base58btc peer id', async () => {
    for (const k of V.keys) {
      const key = await generateKeyPairFromSeed('Ed25519', Buffer.from(k.seed_hex, 'hex'))
      const peer = peerIdFromPrivateKey(key)
      expect(Buffer.from(key.publicKey.raw).toString('hex')).toBe(k.public_key_hex)
      expect(Buffer.from(publicKeyToProtobuf(key.publicKey)).toString('hex')).toBe(k.public_key_protobuf_hex)
      expect(k.public_key_protobuf_hex).toBe(`08011220${k.public_key_hex}`)
      expect(Buffer.from(peer.toMultihash().bytes).toString('hex')).toBe(`0024${k.public_key_protobuf_hex}`)
      expect(peer.toString()).toBe(k.peer_id)
      expect(k.peer_id).toMatch(/^12D3KooW[1-9A-HJ-NP-Za-km-z]{44}$/)
    }
  })

  it('content hashes, project ids (from a real directory too), topics and DHT keys', async () => {
    for (const h of V.content_hashes) {
      expect(encodeToString(h.files)).toBe(h.canonical)
      expect(contentHash(h.files)).toBe(h.hash)
    }
    for (const p of V.project_ids) {
      const manifest = withBudget(parseManifest(JSON.parse(p.swarm_json)), p.budget_override ?? undefined)
      expect(manifest, p.name).toEqual(p.normalised_manifest)
      expect(encodeToString(p.hashed)).toBe(p.canonical)
      expect(projectId({ manifest: manifest as any, files: p.hashed.files })).toBe(p.project_id)
      // The same files on disk, with things that must not count: outputs, hidden and cache directories.
      const dir = join(await tempDir('vector-project'), 'p')
      const put = async (rel: string, text: string): Promise<void> => { await mkdir(dirname(join(dir, rel)), { recursive: true }); await writeFile(join(dir, rel), text) }
      await put('swarm.json', p.swarm_json)
      for (const f of p.fixed_files) await put(f.path, f.text)
      for (const [path, text] of Object.entries(p.editable_files)) await put(path, text as string)
      const data = (manifest.outputs as string[]).includes('data/') ? ['data/train.bin', 'lib/data/cache.bin'] : []
      for (const out of ['run.log', 'results.tsv', 'lib/__pycache__/x.pyc', '.git/HEAD', 'node_modules/m/index.js', '.gitignore', ...data]) await put(out, 'does not count')
      expect((await loadProject(dir, { budgetS: p.budget_override ?? undefined })).id, p.name).toBe(p.project_id)
    }
    for (const t of V.topics) expect(topicFor(t.project)).toBe(t.topic)
    for (const k of V.dht_keys) {
      expect(Buffer.from(bestKey(k.project, k.track)).toString('hex')).toBe(k.key_hex)
      expect(new TextDecoder().decode(bestKey(k.project, k.track))).toBe(k.key)
      expect(parseBestKey(Buffer.from(k.key_hex, 'hex'))).toEqual({ project: k.project, track: k.track })
    }
  })

  it('messages: signed bytes decode, ids and signatures match, and signing again gives the same signature', async () => {
    for (const v of V.messages) {
      const m = v.message as Signed
      expect(encodeToString(m), v.name).toBe(v.signed_canonical)
      expect(new TextDecoder().decode(encodeUnsigned(m)), v.name).toBe(v.unsigned_canonical)
      expect(messageId(m), v.name).toBe(v.id)
      const { sig: _sig, author: _author, ...body } = m as any
      const key = await generateKeyPairFromSeed('Ed25519', Buffer.from(keyByPeer.get(m.author)!.seed_hex, 'hex'))
      expect((await signMessage(body, key)).sig, v.name).toBe(v.sig)
      if (GOSSIP_KINDS.has(m.kind)) expect(await decodeMessage(utf8(v.signed_canonical), { expectProject: m.project }), v.name).toEqual(m)
      else expect(await validateBestRecord(utf8(v.dht_key), utf8(v.signed_canonical))).toEqual(m)
    }
  })

  it('refuses every invalid payload with the code the vector names', async () => {
    for (const v of V.invalid) {
      const err = await decodeMessage(bytesOf(v), v.expect_project != null ? { expectProject: v.expect_project } : {}).catch((e: unknown) => e)
      expect(err, v.name).toBeInstanceOf(ProtocolError)
      expect((err as ProtocolError).code, `${v.name}: ${(err as Error).message}`).toBe(v.error)
    }
  })

  it('rendezvous CIDs, and best records in the order the DHT selector keeps them, whatever order they come in', async () => {
    for (const r of V.rendezvous) {
      const cid = await rendezvousCid(r.namespace)
      expect(cid.toString(), r.name).toBe(r.cid)
      expect(Buffer.from(cid.bytes).toString('hex'), r.name).toBe(r.cid_hex)
    }
    const B = V.best_ranking
    const key = utf8(B.dht_key)
    const bytes: Uint8Array[] = B.records.map((r: any) => utf8(r.signed_canonical))
    for (const [i, r] of B.records.entries()) {
      expect(encodeToString(r.record), r.name).toBe(r.signed_canonical)
      if (r.rank_key == null) await expect(validateBestRecord(key, bytes[i]!), r.name).rejects.toBeInstanceOf(ProtocolError)
      else expect(JSON.parse(JSON.stringify(rankBestRecord(await validateBestRecord(key, bytes[i]!)))), r.name).toEqual(r.rank_key)
    }
    expect(selectBestRecord(key, bytes)).toBe(B.selected)
    expect(B.order[0]).toBe(B.selected)
    expect(selectBestRecord(key, [...bytes].reverse())).toBe(bytes.length - 1 - B.selected)
    // Each valid record beats every one after it in the vector's order, alone together.
    for (let i = 0; i + 1 < B.order.length; i++) {
      expect(selectBestRecord(key, [bytes[B.order[i + 1]]!, bytes[B.order[i]]!]), `${B.order[i]} over ${B.order[i + 1]}`).toBe(1)
    }
    for (const r of B.refused) expect(selectBestRecord(key, [bytes[r]!, bytes[B.order.at(-1)]!])).toBe(1)
  })
})

describe('a decoder written from PROTOCOL.md alone agrees with the vectors', () => {
  it('canonical JSON, keys, hashes and project ids', () => {
    for (const c of V.canonical) expect(indie.canonical(JSON.parse(c.input_json)), c.name).toBe(c.canonical)
    for (const c of V.canonical_refused) expect(() => indie.canonical(JSON.parse(c.input_json)), c.name).toThrow()
    for (const k of V.keys) {
      expect(Buffer.from(indie.ed25519KeyOf(k.peer_id)).toString('hex')).toBe(k.public_key_hex)
      expect(() => indie.ed25519KeyOf(k.peer_id_cid_spelling_refused)).toThrow()
    }
    for (const h of V.content_hashes) expect(indie.contentHashOf(h.files)).toBe(h.hash)
    for (const p of V.project_ids) {
      const manifest = indie.normaliseManifest(JSON.parse(p.swarm_json), p.budget_override)
      expect(manifest, p.name).toEqual(p.normalised_manifest)
      expect(indie.projectIdOf(manifest, p.fixed_files.map((f: any) => ({ path: f.path, bytes: f.text }))), p.name).toBe(p.project_id)
    }
  })

  it('messages: decoded, verified, ids computed; every invalid payload refused', async () => {
    for (const v of V.messages) {
      const m = v.message
      if (GOSSIP_KINDS.has(m.kind)) {
        const { message, id } = await indie.decodeGossip(utf8(v.signed_canonical), { topic: `/swarm-node/1/${m.project}/results`, from: m.author })
        expect(message, v.name).toEqual(m)
        expect(id, v.name).toBe(v.id)
      } else {
        // The best record and the signed messages inside it.
        for (const signed of [m, m.result, ...m.attestations]) expect(indie.signatureValid(signed), v.name).toBe(true)
        expect(indie.contentHashOf(m.content.files)).toBe(m.result.child)
        expect(m.attestations.every((a: any) => a.result === indie.messageIdOf(m.result))).toBe(true)
      }
      expect(indie.messageIdOf(m)).toBe(v.id)
    }
    for (const v of V.invalid) {
      await expect(indie.decodeGossip(bytesOf(v), v.expect_project != null ? { project: v.expect_project } : {}), v.name).rejects.toThrow(indie.DecodeError)
    }
  })

  it('rendezvous CIDs, and best records validated and ranked as section 9 says', async () => {
    for (const r of V.rendezvous) expect(indie.rendezvousCidOf(r.namespace), r.name).toEqual({ cid: r.cid, hex: r.cid_hex })
    const B = V.best_ranking
    const bytes: Uint8Array[] = B.records.map((r: any) => utf8(r.signed_canonical))
    for (const [i, r] of B.records.entries()) {
      if (r.rank_key == null) await expect(indie.decodeBestRecord(B.dht_key, bytes[i]!), r.name).rejects.toThrow(indie.DecodeError)
      else expect(indie.bestRankKey(await indie.decodeBestRecord(B.dht_key, bytes[i]!)), r.name).toEqual(r.rank_key)
    }
    const ranked = await indie.rankBestRecords(B.dht_key, bytes)
    expect({ ...ranked, refused: [...ranked.refused].sort() }).toEqual({ selected: B.selected, order: B.order, refused: [...B.refused].sort() })
  })
})

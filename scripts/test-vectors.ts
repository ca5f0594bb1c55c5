/**
 * The protocol's test vectors (PROTOCOL.md, "Test vectors"): canonical JSON of
 * awkward values, keys and peer ids, content hashes, project ids, topics, DHT
 * keys, rendezvous CIDs, one signed message of every kind with its canonical
 * bytes, id and signature, messages a decoder must refuse, and a set of best
 * records in the order the DHT selector ranks them. Deterministic: the keys come
 * from fixed seeds and Ed25519 signatures are deterministic, so running this
 * again writes the same file. `tests/protocol-vectors.test.ts` checks the file
 * against the implementation; another implementation checks itself against it.
 *
 *   node --import tsx scripts/test-vectors.ts     # rewrites protocol/test-vectors.json
 */
import { createHash } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { generateKeyPairFromSeed, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { Ed25519PrivateKey } from '@libp2p/interface'
import {
  HUBS_NAMESPACE, bestKey, contentHash, encode, encodeToString, encodeUnsigned, messageId, parseBestRecordForKey, projectId,
  rankBestRecord, rendezvousCid, rendezvousNamespace, selectBestRecord, signMessage, topicFor,
  type AttestationMsg, type BestRecord, type ClaimMsg, type Hardware, type ResultMsg, type Signed, type StatusMsg, type Unsigned
} from '../protocol/index.ts'
import { parseManifest, withBudget } from '../trainer/manifest.ts'

export const VECTORS_PATH = fileURLToPath(new URL('../protocol/test-vectors.json', import.meta.url))

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const sha256 = (s: string | Uint8Array): string => createHash('sha256').update(s).digest('hex')
const T0 = Date.UTC(2026, 2, 1, 12, 0, 0)

async function key (name: string): Promise<{ name: string, key: Ed25519PrivateKey, vector: Record<string, string> }> {
  const seed = createHash('sha256').update(`swarm-node test vector key ${name}`).digest()
  const k = await generateKeyPairFromSeed('Ed25519', seed)
  const peer = peerIdFromPrivateKey(k)
  return {
    name,
    key: k,
    vector: {
      name,
      seed_hex: hex(seed),
      public_key_hex: hex(k.publicKey.raw),
      public_key_protobuf_hex: hex(publicKeyToProtobuf(k.publicKey)),
      peer_id_multihash_hex: hex(peer.toMultihash().bytes),
      peer_id: peer.toString(),
      peer_id_cid_spelling_refused: peer.toCID().toString()
    }
  }
}

/** Values whose canonical form is easy to get wrong, as JSON text in and canonical text out. */
const CANONICAL_INPUTS: Array<[string, string]> = [
  ['whitespace and key order', '{ "b": 1,\n  "a": [ true, false, null ] }'],
  ['keys by UTF-16 code units, not code points: U+FF61 sorts after U+1F600 (D83D DE00)', '{"\uff61":1,"\ud83d\ude00":2,"z":3,"Z":4,"a":5,"aa":6,"":7,"\u00e9":8}'],
  ['numbers: ECMAScript Number::toString', '[1.0, 1E2, 1e21, 1e20, 0.000001, 1e-7, 123e-20, -0, 0.1, 0.30000000000000004, 5e-324, 1.7976931348623157e308, 9007199254740993, -1.5e-9]'],
  ['-0 is 0', '{"x": -0.0}'],
  ['string escapes as JSON.stringify writes them', '["\\u0041\\/", "quote \\" backslash \\\\", "\\b\\f\\n\\r\\t", "\\u0000\\u001f", "\\u007f\\u0080\\u009f", "\\u2028\\u2029", "\\ud83d\\ude00", "caf\\u00e9", "<tag> & \'"]'],
  ['nested objects sort at every level', '{"outer":{"y":{"b":2,"a":1},"x":[{"d":4,"c":3}]}}']
]

/** Values with no canonical form at all. */
const CANONICAL_REFUSED: Array<[string, string]> = [
  ['a lone surrogate cannot be UTF-8', '["\\ud800"]'],
  ['a lone low surrogate either', '{"\\udc00": 1}']
]

const HW: Hardware = { cpu: 'AMD EPYC 7B13', cores: 8, ram_gb: 31.3, gpu: null, gpu_mem_gb: null }
const GPU: Hardware = { cpu: 'Intel Xeon Platinum 8480+', cores: 26, ram_gb: 221.2, gpu: 'NVIDIA H100 80GB HBM3', gpu_mem_gb: 79.6 }

const TRAIN_PY = 'N_LAYER = 2\nN_EMBD = 128\nLEARNING_RATE = 3e-3\n'
const TRAIN_PY_KEPT = 'N_LAYER = 2\nN_EMBD = 128\nLEARNING_RATE = 4.2e-3\n'
const SWARM_JSON = JSON.stringify({
  name: 'brown-bytes', description: 'Byte-level GPT on the Brown corpus', editable: ['train.py'], prepare: '{python} prepare.py', run: '{python} train.py',
  budget_s: 300, timeout_s: 900, metric: 'val_bpb', noise_margin: 0.02, outputs: ['data/', 'run.log', 'model.onnx', 'results.tsv', '__pycache__/']
}, null, 2) + '\n'

/** `files`: the fixed files (they count); `editable`: what else the directory holds that does not count. */
function projectVector (name: string, swarmJson: string, files: Array<{ path: string, text: string }>, editable: Record<string, string>, budget: number | null): Record<string, unknown> {
  const manifest = withBudget(parseManifest(JSON.parse(swarmJson)), budget ?? undefined)
  const hashed = files.map(f => ({ path: f.path, sha256: sha256(f.text) })).sort((a, b) => a.path < b.path ? -1 : a.path > b.path ? 1 : 0)
  const input = { v: 1, manifest, files: hashed }
  const id = projectId({ manifest: manifest as unknown as Record<string, unknown>, files: hashed })
  if (id !== sha256(encode(input))) throw new Error('project id rule drifted')
  return { name, swarm_json: swarmJson, fixed_files: files, editable_files: editable, budget_override: budget, normalised_manifest: manifest, hashed: input, canonical: encodeToString(input), project_id: id }
}

function messageVector (name: string, m: Signed): Record<string, unknown> {
  return {
    name,
    message: m,
    unsigned_canonical: new TextDecoder().decode(encodeUnsigned(m)),
    id: messageId(m),
    sig: m.sig,
    signed_canonical: encodeToString(m)
  }
}

export async function buildVectors (): Promise<Record<string, unknown>> {
  const alice = await key('alice')
  const bob = await key('bob')
  const carol = await key('carol')
  const sign = async <T extends Signed>(body: Unsigned<T>, k: Ed25519PrivateKey): Promise<T> => await signMessage(body as any, k) as unknown as T

  const harness = [{ path: 'prepare.py', text: 'print("prepare")\n' }, { path: 'program.md', text: '# program\n' }, { path: 'src/tokenizer.py', text: 'VOCAB = 256\n' }]
  const project = projectVector('a project like the default one', SWARM_JSON, harness, { 'train.py': TRAIN_PY }, null)
  const id = project.project_id as string
  const budget30 = projectVector('the same directory under --budget 30', SWARM_JSON, harness, { 'train.py': TRAIN_PY }, 30)
  const minimal = projectVector('a minimal manifest: every default filled in', '{"name":"tiny","run":"python train.py"}', [
    { path: 'lib/util.py', text: 'X = 1\n' }, { path: 'README.md', text: 'hi\n' }, { path: 'Zeta.txt', text: 'z' }, { path: '.env', text: 'hidden files count' }
  ], { 'train.py': 'X = 2\n' }, null)

  const parent = contentHash({ 'train.py': TRAIN_PY })
  const child = contentHash({ 'train.py': TRAIN_PY_KEPT })
  const diff = '--- a/train.py\n+++ b/train.py\n@@ -3 +3 @@\n-LEARNING_RATE = 3e-3\n+LEARNING_RATE = 4.2e-3\n\t# tab, NUL \u0000, line separator \u2028 and "quotes" survive in a diff\n'
  const keep = await sign<ResultMsg>({
    v: 1, kind: 'result', project: id, track: 'cpu', parent, child, diff, val_bpb: 2.4512345678901234, verified_bpb: 2.4512, status: 'keep',
    reason: '', metrics: { baseline_bpb: 2.5, num_steps: 953, tiny: 5e-324, huge: 1e21, neg: -2.5, zero: 0 }, hardware: HW, agent: 'mutation',
    description: 'LEARNING_RATE 3e-3 -> 4.2e-3 "quoted" \\ café 😀 ｡', time: T0
  }, alice.key)
  const crash = await sign<ResultMsg>({
    v: 1, kind: 'result', project: id, track: 'cpu', parent, child: contentHash({ 'train.py': TRAIN_PY.replace('N_EMBD = 128', 'N_EMBD = 130') }),
    diff: '', val_bpb: null, verified_bpb: null, status: 'crash', reason: 'exit code 1: RuntimeError: shape is invalid', metrics: {}, hardware: HW, agent: 'llm:qwen2.5-coder:7b',
    description: 'N_EMBD 128 -> 130', time: T0 + 1
  }, alice.key)
  const att = await sign<AttestationMsg>({
    v: 1, kind: 'attestation', project: id, track: 'cpu', result: messageId(keep), child, ok: true, val_bpb: 2.46, verified_bpb: 2.46, hardware: HW, time: T0 + 60_000
  }, bob.key)
  const failed = await sign<AttestationMsg>({
    v: 1, kind: 'attestation', project: id, track: 'gpu-h100', result: messageId(keep), child, ok: false, val_bpb: null, verified_bpb: null, hardware: GPU, time: T0 + 61_000
  }, bob.key)
  const claim = await sign<ClaimMsg>({
    v: 1, kind: 'claim', project: id, track: 'cpu', parent: child, description: 'N_LAYER 2 -> 3', time: T0 + 120_000, expires: T0 + 120_000 + 1_800_000
  }, alice.key)
  const status = await sign<StatusMsg>({
    v: 1, kind: 'status', project: id, track: 'cpu', experiment: 'N_LAYER 2 -> 3', best_bpb: 2.4512, experiments: 12, kept: 3, peers: 4, time: T0 + 121_000
  }, alice.key)
  const idle = await sign<StatusMsg>({
    v: 1, kind: 'status', project: id, track: 'cpu', experiment: null, best_bpb: null, experiments: 0, kept: 0, peers: 0, time: T0 + 122_000
  }, bob.key)
  const best = await sign<BestRecord>({
    v: 1, kind: 'best', project: id, track: 'cpu', result: keep, content: { files: { 'train.py': TRAIN_PY_KEPT } }, attestations: [att], time: T0 + 62_000
  }, bob.key)

  const enc = (s: string): string => hex(new TextEncoder().encode(s))
  const keepText = encodeToString(keep)
  const PLACEHOLDER_SIG = 'A'.repeat(86) + '=='
  const unsignedText = (o: Record<string, unknown>): string => encodeToString({ ...o, sig: PLACEHOLDER_SIG })
  const { sig: _sig, ...keepUnsigned } = keep
  const invalid: Array<Record<string, unknown>> = [
    { name: 'whitespace after a colon', text: keepText.replace('"kind":"result"', '"kind": "result"'), error: 'not-canonical' },
    { name: 'keys out of order', text: keepText.replace(/^\{"agent":("[^"]*"),"author":("[^"]*"),/, '{"author":$2,"agent":$1,'), error: 'not-canonical' },
    { name: 'a key twice (JSON parsers keep one; the bytes are not canonical)', text: keepText.replace('{"agent":', '{"agent":"x","agent":'), error: 'not-canonical' },
    { name: 'a number in another spelling (2.4512 as 2.45120)', text: keepText.replace('"verified_bpb":2.4512', '"verified_bpb":2.45120'), error: 'not-canonical' },
    { name: 'an escape JSON.stringify does not write (\\u0041 for A)', text: keepText.replace('"agent":"mutation"', '"agent":"\\u006dutation"'), error: 'not-canonical' },
    { name: 'a byte order mark', hex: 'efbbbf' + enc(keepText), error: 'bad-encoding' },
    { name: 'invalid UTF-8', hex: enc(keepText).replace(enc('café'), enc('caf') + 'e9'), error: 'bad-encoding' },
    { name: 'a lone surrogate', text: keepText.replace('😀', '\\ud83d'), error: 'bad-encoding' },
    { name: 'a field changed after signing', text: keepText.replace('"num_steps":953', '"num_steps":954'), error: 'bad-signature' },
    { name: 'another message\'s signature', text: keepText.replace(keep.sig, crash.sig), error: 'bad-signature' },
    { name: 'a signature without its padding', text: keepText.replace(keep.sig, keep.sig.slice(0, 86)), error: 'bad-signature' },
    { name: 'a signature in URL-safe base64', text: keepText.replace(keep.sig, keep.sig.replace(/\+/g, '-').replace(/\//g, '_')), error: keep.sig.includes('+') || keep.sig.includes('/') ? 'bad-signature' : 'not-tested' },
    { name: 'the author in its CID spelling', text: keepText.replace(keep.author, alice.vector.peer_id_cid_spelling_refused!), error: 'bad-peer-id' },
    { name: 'a valid message of another project than the topic\'s', text: keepText, expect_project: minimal.project_id, error: 'wrong-project' },
    { name: 'version 2', text: unsignedText({ ...keepUnsigned, v: 2 }), error: 'unsupported-version' },
    { name: 'an unknown kind', text: unsignedText({ ...keepUnsigned, kind: 'gift' }), error: 'bad-kind' },
    { name: 'an unknown field', text: unsignedText({ ...keepUnsigned, note: 'hi' }), error: 'unknown-field' },
    { name: 'a keep without val_bpb', text: unsignedText({ ...keepUnsigned, val_bpb: null }), error: 'bad-field' },
    { name: 'a crash with a val_bpb', text: unsignedText({ ...keepUnsigned, status: 'crash' }), error: 'bad-field' },
    { name: 'val_bpb above 64', text: unsignedText({ ...keepUnsigned, val_bpb: 65 }), error: 'bad-metric' },
    { name: 'val_bpb of 0', text: unsignedText({ ...keepUnsigned, val_bpb: 0 }), error: 'bad-metric' },
    { name: 'a description over two lines', text: unsignedText({ ...keepUnsigned, description: 'one\ntwo' }), error: 'bad-field' },
    { name: 'a description with a bidi override', text: unsignedText({ ...keepUnsigned, description: 'abc\u202edef' }), error: 'bad-field' },
    { name: 'a time in milliseconds that is not an integer', text: unsignedText({ ...keepUnsigned, time: T0 + 0.5 }), error: 'bad-field' },
    { name: 'a hash in upper case', text: unsignedText({ ...keepUnsigned, child: child.toUpperCase() }), error: 'bad-hash' },
    { name: 'over 64 KiB', text: unsignedText({ ...keepUnsigned, diff: 'x'.repeat(64 * 1024) }), error: 'too-large' },
    { name: 'a claim that lasts over two hours', text: unsignedText({ ...(({ sig: _s, ...c }) => c)(claim), expires: claim.time + 2 * 3600_000 + 1 }), error: 'bad-field' },
    { name: 'a status that kept more than it ran', text: unsignedText({ ...(({ sig: _s, ...c }) => c)(status), kept: 13 }), error: 'bad-field' }
  ].filter(v => v.error !== 'not-tested')

  return {
    about: 'Test vectors of the swarm-node wire protocol, version 1 (see PROTOCOL.md). Generated by scripts/test-vectors.ts; checked by tests/protocol-vectors.test.ts. Text fields hold the exact characters; their UTF-8 encoding is the bytes.',
    protocol_version: 1,
    keys: [alice.vector, bob.vector, carol.vector],
    canonical: CANONICAL_INPUTS.map(([name, input]) => {
      const text = encodeToString(JSON.parse(input))
      return { name, input_json: input, canonical: text, canonical_hex: enc(text) }
    }),
    canonical_refused: CANONICAL_REFUSED.map(([name, input]) => ({ name, input_json: input })),
    content_hashes: [
      { name: 'one file', files: { 'train.py': TRAIN_PY }, canonical: encodeToString({ 'train.py': TRAIN_PY }), hash: parent },
      { name: 'two files, any order', files: { 'src/model.py': 'class M: pass\n', 'train.py': 'import src.model\n' }, canonical: encodeToString({ 'src/model.py': 'class M: pass\n', 'train.py': 'import src.model\n' }), hash: contentHash({ 'train.py': 'import src.model\n', 'src/model.py': 'class M: pass\n' }) }
    ],
    project_ids: [project, budget30, minimal],
    topics: [{ project: id, topic: topicFor(id) }],
    dht_keys: [{ project: id, track: 'gpu-h100', key: new TextDecoder().decode(bestKey(id, 'gpu-h100')), key_hex: hex(bestKey(id, 'gpu-h100')) }],
    rendezvous: await rendezvousVectors(id),
    messages: [
      messageVector('result: keep, awkward text and numbers', keep),
      messageVector('result: crash (val_bpb null)', crash),
      messageVector('attestation: reproduced', att),
      messageVector('attestation: not reproduced, another track', failed),
      messageVector('claim', claim),
      messageVector('status: busy', status),
      messageVector('status: idle, nulls', idle),
      { ...messageVector('best record (DHT value), signed by an attester', best), dht_key: new TextDecoder().decode(bestKey(id, 'cpu')) }
    ],
    invalid,
    best_ranking: await rankingVector(id, { alice: alice.key, bob: bob.key, carol: carol.key })
  }
}

/** The CIDs members of a public swarm provide and look up on Amino (PROTOCOL.md section 1). */
async function rendezvousVectors (project: string): Promise<Array<Record<string, unknown>>> {
  const cases: Array<[string, string]> = [
    ['a project\'s public swarm', rendezvousNamespace(project)],
    ['a named public swarm of the project (--swarm my-lab)', rendezvousNamespace(project, 'my-lab')],
    ['the hubs (swarm-node bootstrap nodes)', HUBS_NAMESPACE]
  ]
  return await Promise.all(cases.map(async ([name, namespace]) => {
    const cid = await rendezvousCid(namespace)
    return { name, namespace, cid: cid.toString(), cid_hex: hex(cid.bytes) }
  }))
}

/**
 * Best records under one key, some of them refused, and the order the DHT
 * selector puts them in (PROTOCOL.md section 9): evidence tier first, then the
 * figure (a median over attesters, `val_bpb` before `verified_bpb`), failed
 * attestations, the result's time, the result's id, the record's id.
 * Figures are binary fractions so that a median's mean is exact.
 */
async function rankingVector (project: string, k: { alice: Ed25519PrivateKey, bob: Ed25519PrivateKey, carol: Ed25519PrivateKey }): Promise<Record<string, unknown>> {
  const sign = async <T extends Signed>(body: Unsigned<T>, key: Ed25519PrivateKey): Promise<T> => await signMessage(body as any, key) as unknown as T
  const base = contentHash({ 'train.py': 'LR = 0.001\n' })
  const text = (n: number): string => `LR = 0.00${n}\n`
  const result = async (n: number, by: Ed25519PrivateKey, valBpb: number, verifiedBpb: number | null, time: number, track = 'cpu'): Promise<ResultMsg> => await sign<ResultMsg>({
    v: 1, kind: 'result', project, track, parent: base, child: contentHash({ 'train.py': text(n) }), diff: '', val_bpb: valBpb, verified_bpb: verifiedBpb,
    status: 'keep', reason: '', metrics: { baseline_bpb: 3 }, hardware: HW, agent: 'mutation', description: `LR 0.001 -> 0.00${n}`, time
  }, by)
  const attest = async (r: ResultMsg, by: Ed25519PrivateKey, ok: boolean, valBpb: number | null, verifiedBpb: number | null = valBpb): Promise<AttestationMsg> => await sign<AttestationMsg>({
    v: 1, kind: 'attestation', project, track: r.track, result: messageId(r), child: r.child, ok, val_bpb: valBpb, verified_bpb: verifiedBpb, hardware: HW, time: r.time + 60_000
  }, by)
  const record = async (r: ResultMsg, n: number, by: Ed25519PrivateKey, attestations: AttestationMsg[]): Promise<BestRecord> => await sign<BestRecord>({
    v: 1, kind: 'best', project, track: r.track, result: r, content: { files: { 'train.py': text(n) } }, attestations, time: r.time + 120_000
  }, by)
  // signMessage refuses to sign what a peer would refuse; a refused record is signed by hand.
  const refusedRecord = async (r: ResultMsg, n: number, by: Ed25519PrivateKey, attestations: AttestationMsg[]): Promise<BestRecord> => {
    const body = { v: 1, kind: 'best', project, track: r.track, result: r, content: { files: { 'train.py': text(n) } }, attestations, time: r.time + 120_000, author: peerIdFromPrivateKey(by).toString() }
    return { ...body, sig: Buffer.from(await by.sign(encode(body))).toString('base64') } as unknown as BestRecord
  }

  const r1 = await result(1, k.alice, 2.25, 2.375, T0 + 1000) // a node before the figure rule: val_bpb and verified_bpb differ
  const r2 = await result(2, k.alice, 2, 2, T0 + 2000)
  const r3 = await result(3, k.alice, 2.5, 2.5, T0 + 3000)
  const r4 = await result(4, k.bob, 2.5, 2.5, T0 + 4000)
  const r5 = await result(5, k.carol, 2.25, 2.25, T0 + 2500)
  const r6 = await result(6, k.alice, 2.125, 2.125, T0 + 6000, 'gpu-h100')
  const r3Attested = [await attest(r3, k.bob, true, 2.375, 2.25), await attest(r3, k.carol, true, 2.625)]
  const records: Array<[string, BestRecord]> = [
    ['claimed only: no attestation (val_bpb 2.25 counts, not verified_bpb 2.375)', await record(r1, 1, k.alice, [])],
    ['reproduced by one attester at 2.75, whatever the result claims', await record(r2, 2, k.bob, [await attest(r2, k.bob, true, 2.75)])],
    ['reproduced by two: the median of 2.375 (val_bpb, not its verified_bpb 2.25) and 2.625', await record(r3, 3, k.bob, r3Attested)],
    ['the same result and attestations published by another node: only the record id differs', await record(r3, 3, k.carol, r3Attested)],
    ['reproduced at 2.5 by one, failed by another', await record(r4, 4, k.bob, [await attest(r4, k.alice, true, 2.5), await attest(r4, k.carol, false, 2.875)])],
    ['reproduced at 2.5, and earlier than the others at 2.5', await record(r5, 5, k.alice, [await attest(r5, k.alice, true, 2.5)])],
    ['refused: the result\'s author attests its own result', await refusedRecord(r1, 1, k.bob, [await attest(r1, k.alice, true, 2.25)])],
    ['refused: a record of track gpu-h100 under the cpu key', await record(r6, 6, k.alice, [await attest(r6, k.bob, true, 2.125)])]
  ]
  const key = bestKey(project, 'cpu')
  const bytes = records.map(([, rec]) => encode(rec))
  const valid = (b: Uint8Array): boolean => { try { parseBestRecordForKey(key, b); return true } catch { return false } }
  // The selector's order, best first, by picking the best of what is left (it ranks refused records last).
  const order: number[] = []
  const left = bytes.map((_, i) => i)
  while (left.length > 0) order.push(left.splice(selectBestRecord(key, left.map(i => bytes[i]!)), 1)[0]!)
  return {
    dht_key: new TextDecoder().decode(key),
    records: records.map(([name, rec], i) => ({
      name,
      record: rec,
      signed_canonical: encodeToString(rec),
      rank_key: valid(bytes[i]!) ? rankBestRecord(rec) : null
    })),
    selected: selectBestRecord(key, bytes),
    order: order.filter(i => valid(bytes[i]!)),
    refused: order.filter(i => !valid(bytes[i]!))
  }
}

if (process.argv[1] != null && fileURLToPath(import.meta.url) === process.argv[1]) {
  const vectors = await buildVectors()
  await writeFile(VECTORS_PATH, JSON.stringify(vectors, null, 2) + '\n')
  console.log(`wrote ${VECTORS_PATH}`)
}

/**
 * The LLM proposer through the real loop, the real `openai` client and a
 * scripted OpenAI-compatible server on 127.0.0.1, on the autoresearch-shaped
 * fixture (fake uv, val_bpb a function of the constants). Each test checks
 * what the node sent and what it did.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { simpleGit } from 'simple-git'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { ClaimMsg, ResultMsg } from '../protocol/index.ts'
import { runLoop, type LoopEvent, type SwarmView } from '../trainer/loop.ts'
import { ChatClient, createProposer } from '../trainer/proposers/index.ts'
import type { ExperimentRecord } from '../trainer/results-log.ts'
import { openSession, type Session } from '../trainer/session.ts'
import { startFakeOpenAI, type FakeOpenAI, type Step } from './helpers/fake-openai.ts'
import { cleanupFixtures, fixtureCopy, pathWithFakeUv, tempDir } from './helpers/fixtures.ts'

const HASH = (c: string): string => c.repeat(64)
const PEER = '12D3KooWPeerAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'
const SELF = '12D3KooWSelfBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB'

const sr = (description: string, search: string, replace: string, file = 'train.py'): string =>
  `DESCRIPTION: ${description}\n\n${file}\n\`\`\`python\n<<<<<<< SEARCH\n${search}\n=======\n${replace}\n>>>>>>> REPLACE\n\`\`\`\n`

let servers: FakeOpenAI[] = []
beforeAll(() => { process.env.PATH = pathWithFakeUv() })
afterEach(async () => {
  for (const s of servers) await s.close()
  servers = []
})
afterAll(cleanupFixtures)

interface Run { session: Session, server: FakeOpenAI, records: ExperimentRecord[], logs: string[], line: string }

function result (session: Session, over: Partial<ResultMsg>): ResultMsg {
  return {
    v: 1, kind: 'result', author: PEER, sig: 'x', project: session.project.id, track: session.track, parent: session.baseline.content,
    child: HASH('c'), diff: '', val_bpb: 1.3, verified_bpb: null, status: 'discard', reason: '', metrics: { baseline_bpb: 1.2128 },
    hardware: { cpu: 'x', cores: 1, ram_gb: 1, gpu: null, gpu_mem_gb: null }, agent: 'llm:other', description: 'peer tried something', time: Date.now() - 60_000, ...over
  }
}

async function run (steps: Step[], opts: { maxExperiments: number, swarm?: (s: Session) => SwarmView, timeoutMs?: number, maxRepairs?: number }): Promise<Run> {
  const server = await startFakeOpenAI(steps)
  servers.push(server)
  const dir = await fixtureCopy('autoresearch')
  const session = await openSession({ projectDir: dir, home: await tempDir('home'), runTag: 't' })
  const logs: string[] = []
  const { proposer, line, maxRepairs } = createProposer({ llmBaseUrl: server.url, model: 'fake-model', env: {}, maxRepairs: opts.maxRepairs }, {
    seed: 7, requestTimeoutMs: opts.timeoutMs ?? 5000, maxRetries: 2, backoffMs: 20
  })
  const events: LoopEvent[] = []
  await runLoop({
    session, proposer, maxRepairs, confirm: false, maxExperiments: opts.maxExperiments, swarm: opts.swarm?.(session),
    signal: new AbortController().signal,
    onEvent: e => { events.push(e); if (e.type === 'log') logs.push(e.message) }
  })
  const records = events.filter(e => e.type === 'experiment-end').map(e => (e as { record: ExperimentRecord }).record)
  return { session, server, records, logs, line }
}

const userOf = (server: FakeOpenAI, i: number): string => server.chats()[i]!.body.messages.find((m: any) => m.role === 'user').content

describe('LLM proposer against an OpenAI-compatible server', () => {
  it('keeps a good edit; the prompt holds program.md, the files, the swarm history and the claims', async () => {
    const swarm = (s: Session): SwarmView => ({
      self: SELF,
      results: () => [
        result(s, { description: 'peer: LEARNING_RATE 0.04 -> 0.08', status: 'discard', val_bpb: 1.4128 }),
        result(s, { description: 'peer crash: WINDOW 1e9', status: 'crash', val_bpb: null, reason: 'exit code 1: MemoryError', time: Date.now() - 1000 }),
        result(s, { description: 'from another project', project: HASH('e') }),
        result(s, { description: 'my own gossip', author: SELF })
      ],
      claims: () => [{ v: 1, kind: 'claim', author: PEER, sig: 'x', project: s.project.id, track: s.track, parent: s.baseline.content, description: 'peer is trying WINDOW 512', time: Date.now() - 5000, expires: Date.now() + 600_000 } satisfies ClaimMsg]
    })
    const { session, server, records, line } = await run([{ reply: sr('deeper: DEPTH 4 -> 6', 'DEPTH = 4', 'DEPTH = 6'), usage: { prompt_tokens: 1234, completion_tokens: 56 } }], { maxExperiments: 1, swarm })
    expect(line).toBe(`proposer: llm fake-model at ${server.url} (no key, context 16384 tokens)`)
    expect(records.map(r => r.status)).toEqual(['baseline', 'keep'])
    const kept = records[1]!
    expect(kept.description).toBe('deeper: DEPTH 4 -> 6')
    expect(kept.proposer).toBe('llm:fake-model')
    expect(kept.val_bpb).toBeCloseTo(1.1128, 6)
    const detail = kept.detail as any
    expect(detail.stats).toMatchObject({ tokens_in: 1234, tokens_out: 56, requests: 1, attempts: 1 })
    expect(detail.stats.latency_ms).toBeGreaterThan(0)
    expect(detail.formats).toEqual(['search-replace'])
    expect(await readFile(join(session.project.dir, 'train.py'), 'utf8')).toContain('DEPTH = 6')

    // What the node sent.
    const req = server.chats()[0]!
    expect(req.body.model).toBe('fake-model')
    expect(req.body.max_tokens).toBe(4096)
    expect(req.headers.authorization).toBe('Bearer not-needed')
    expect(req.body.messages[0].role).toBe('system')
    expect(req.body.messages[0].content).toMatch(/<<<<<<< SEARCH/)
    const user = userOf(server, 0)
    expect(user).toContain('Fixture research brief\nLower val_bpb. Only train.py may change.')
    expect(user).toContain('LEARNING_RATE = 0.04\nWINDOW = 128') // the baseline's train.py in full
    expect(user).toContain('current baseline val_bpb: 1.212800')
    expect(user).toMatch(/- \[crash\] "peer crash: WINDOW 1e9" — crash: "exit code 1: MemoryError"; on this baseline, same track/)
    expect(user).toMatch(/- \[discard\] "peer: LEARNING_RATE 0.04 -> 0.08" — val_bpb 1.4128 \(\+0.2000 vs 1.2128\)/)
    expect(user).toMatch(/In flight on other nodes[^]*"peer is trying WINDOW 512" — on this baseline/)
    expect(user).not.toContain('from another project')
    expect(user).not.toContain('my own gossip')
    // Newest first: the crash (1 s ago) before the discard (60 s ago).
    expect(user.indexOf('peer crash')).toBeLessThan(user.indexOf('peer: LEARNING_RATE'))
  })

  it('tells the model why an edit did not match, a prepare.py edit is refused, and the corrected edit runs', async () => {
    const { session, server, records } = await run([
      { reply: sr('depth', 'DEPTH = 5', 'DEPTH = 6') },
      { reply: sr('touch the harness', 'import os', 'import os, sys', 'prepare.py') },
      { reply: sr('lower lr', 'LEARNING_RATE = 0.04', 'LEARNING_RATE = 0.02') }
    ], { maxExperiments: 1 })
    expect(server.chats()).toHaveLength(3)
    const second = server.chats()[1]!.body.messages
    expect(second.at(-2)).toMatchObject({ role: 'assistant', content: expect.stringContaining('DEPTH = 5') })
    expect(second.at(-1).content).toMatch(/not applied: SEARCH block 1 for train\.py does not match the current file exactly/)
    expect(server.chats()[2]!.body.messages.at(-1).content).toMatch(/prepare\.py is not editable: only train\.py may change/)
    expect(records.map(r => r.status)).toEqual(['baseline', 'keep'])
    expect((records[1]!.detail as any).stats.attempts).toBe(3)
    expect((records[1]!.detail as any).rejected).toHaveLength(2)
    expect(await readFile(join(session.project.dir, 'prepare.py'), 'utf8')).not.toContain('import os, sys')
    expect((await simpleGit(session.project.dir).status()).isClean()).toBe(true)
  })

  it('accepts a whole-file replacement and a unified diff', async () => {
    const dir0 = await fixtureCopy('autoresearch')
    const train = await readFile(join(dir0, 'train.py'), 'utf8')
    const whole = `DESCRIPTION: wider window\nFILE: train.py\n\`\`\`python\n${train.replace('WINDOW = 128', 'WINDOW = 256')}\`\`\`\n`
    const diff = 'DESCRIPTION: deeper\n```diff\n--- a/train.py\n+++ b/train.py\n@@ -5,3 +5,3 @@\n-DEPTH = 4\n+DEPTH = 6\n LEARNING_RATE = 0.04\n WINDOW = 256\n```\n'
    const { records } = await run([{ reply: whole }, { reply: diff }], { maxExperiments: 2 })
    expect(records.map(r => [r.status, r.description, (r.detail as any)?.formats?.[0]])).toEqual([
      ['baseline', 'baseline', undefined], ['keep', 'wider window', 'whole-file'], ['keep', 'deeper', 'unified-diff']
    ])
  })

  it('repairs a crash from the tail of run.log, and gives up after maxRepairs', async () => {
    const { server, records } = await run([
      { reply: sr('wider window', 'WINDOW = 128', 'WINDOW = = 256') },
      { reply: sr('fix the typo', 'WINDOW = = 256', 'WINDOW = 256') },
      { reply: sr('deeper', 'DEPTH = 4', 'DEPTH = = 6') },
      { reply: sr('try again', 'DEPTH = = 6', 'DEPTH = = 7') },
      { reply: sr('and again', 'DEPTH = = 7', 'DEPTH = = 8') }
    ], { maxExperiments: 5, maxRepairs: 2 })
    expect(records.map(r => [r.status, r.description])).toEqual([
      ['baseline', 'baseline'], ['crash', 'wider window'], ['keep', 'repair: fix the typo'],
      ['crash', 'deeper'], ['crash', 'repair: try again'], ['crash', 'repair: and again']
    ])
    const repairPrompt = userOf(server, 1)
    expect(repairPrompt).toMatch(/## Tail of run\.log[^]*SyntaxError/)
    expect(repairPrompt).toContain('WINDOW = = 256') // the crashed candidate, to fix
    expect(server.chats()[1]!.body.messages[0].content).toMatch(/crashed.*GIVE UP/s)
    expect(server.chats()).toHaveLength(5)
  })

  it('takes the reply\'s first prose line as the description; a repair without words is described by what its edit does', async () => {
    const block = (search: string, replace: string): string => `train.py\n\`\`\`python\n<<<<<<< SEARCH\n${search}\n=======\n${replace}\n>>>>>>> REPLACE\n\`\`\`\n`
    const { records } = await run([
      // Plain prose first, no DESCRIPTION: label (what models often send).
      { reply: `raise the learning rate a little\n\n${block('LEARNING_RATE = 0.04', 'LEARNING_RATE = 0.05')}` },
      // A lead-in, the edit, then the explanation: the lead-in is not a description.
      { reply: `Sure! Here is the change:\n\n${block('WINDOW = 128', 'WINDOW = = 256')}\nThis doubles the context window.` },
      // The repair says nothing: its edit describes it, not the crash it fixes.
      { reply: block('WINDOW = = 256', 'WINDOW = 256') }
    ], { maxExperiments: 3, maxRepairs: 1 })
    expect(records.map(r => [r.status, r.description])).toEqual([
      ['baseline', 'baseline'], ['discard', 'raise the learning rate a little'], ['crash', 'This doubles the context window'],
      ['keep', 'repair: train.py: "WINDOW = = 256" -> "WINDOW = 256"']
    ])
    expect(records[3]!.detail).toMatchObject({ repairs: 'This doubles the context window', crash: expect.stringMatching(/exit code 1/) })
    expect(records.every(r => !/^(edit of|fix )|repair: fix exit code/.test(r.description))).toBe(true)
  })

  it('retries a 429 and a 500, and records requests, tokens and latency', async () => {
    const { records, logs, server } = await run([
      { status: 429, headers: { 'retry-after-ms': '30' } },
      { status: 500 },
      { reply: sr('lower lr', 'LEARNING_RATE = 0.04', 'LEARNING_RATE = 0.02'), usage: { prompt_tokens: 900, completion_tokens: 40 } }
    ], { maxExperiments: 1 })
    expect(server.chats()).toHaveLength(3)
    expect(logs.some(l => /rate-limit: HTTP 429/.test(l))).toBe(true)
    expect(logs.some(l => /server: HTTP 500/.test(l))).toBe(true)
    expect((records[1]!.detail as any).stats).toMatchObject({ requests: 3, attempts: 1, tokens_in: 900, tokens_out: 40 })
    expect(records[1]!.status).toBe('keep')
  })

  it('gives up on a server that keeps failing and lets the mutation proposer make that experiment', async () => {
    const { records, logs } = await run([{ status: 500 }, { status: 502 }, { status: 503 }], { maxExperiments: 1 })
    expect(records).toHaveLength(2)
    expect(records[1]!.proposer).toBe('mutation')
    expect((records[1]!.detail as any).fallback).toMatchObject({ from: 'llm:fake-model', reason: expect.stringMatching(/could not be reached \(server: HTTP 503/) })
    expect(logs.some(l => /the mutation proposer makes this experiment/.test(l))).toBe(true)
  })

  it('survives a hang past the timeout and a truncated JSON body', async () => {
    const { records, logs, server } = await run([
      { hang: true },
      { truncated: '{"id":"chatcmpl-x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"DESCRIPTION: lo' },
      { reply: sr('lower lr', 'LEARNING_RATE = 0.04', 'LEARNING_RATE = 0.02') }
    ], { maxExperiments: 1, timeoutMs: 1000 })
    expect(server.chats()).toHaveLength(3)
    expect(logs.some(l => /failed \(timeout: no complete reply within 1 s\)/.test(l))).toBe(true)
    expect(logs.some(l => /failed \(malformed: unreadable response/.test(l))).toBe(true)
    expect(records[1]).toMatchObject({ status: 'keep', description: 'lower lr', proposer: 'llm:fake-model' })
    expect((records[1]!.detail as any).stats.latency_ms).toBeGreaterThanOrEqual(1000)
  })

  it('handles a body cut mid-stream, a refusal, an empty reply and a reply cut at the token limit', async () => {
    const { records, server } = await run([
      { cut: '{"id":"chatcmpl-x","choices":[' },
      { reply: '', refusal: "I can't help with that." },
      { reply: '' },
      { reply: 'DESCRIPTION: deeper\ntrain.py\n<<<<<<< SEARCH\nDEPTH = 4\n=======\nDEP', finish: 'length' }
    ], { maxExperiments: 1 })
    const feedback = server.chats().slice(2).map(r => r.body.messages.at(-1).content)
    expect(feedback[0]).toMatch(/you declined \(I can't help with that\.\)/)
    expect(feedback[1]).toMatch(/the reply was empty/)
    // Three replies refused: this experiment falls back to mutation, the loop goes on.
    expect(records[1]!.proposer).toBe('mutation')
    expect((records[1]!.detail as any).fallback.reason).toMatch(/no usable edit in 3 replies \(last: the SEARCH block for train\.py is cut off.*cut at the token limit/)
  })

  it('switches to max_completion_tokens when the server refuses max_tokens (newer OpenAI models)', async () => {
    const server = await startFakeOpenAI([
      { status: 400, body: { error: { message: "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead." } } },
      { reply: 'hello' }
    ])
    servers.push(server)
    const client = new ChatClient({ baseURL: server.url, apiKey: 'k', model: 'm', backoffMs: 10, replyTokens: 100 })
    const reply = await client.chat([{ role: 'user', content: 'hi' }])
    expect(reply.text).toBe('hello')
    expect(server.chats()[0]!.body.max_tokens).toBe(100)
    expect(server.chats()[1]!.body).toMatchObject({ max_completion_tokens: 100 })
    expect(server.chats()[1]!.body.max_tokens).toBeUndefined()
    expect(server.chats()[1]!.headers.authorization).toBe('Bearer k')
  })
})

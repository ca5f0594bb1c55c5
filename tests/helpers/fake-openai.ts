/**
 * An OpenAI-compatible server on 127.0.0.1 for tests: `/v1/chat/completions`
 * answers from a script (a reply, an HTTP error, a hang, a cut-off body), and
 * every request is recorded so a test can check what the node sent.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

export type Step =
  | { reply: string, finish?: string, usage?: { prompt_tokens: number, completion_tokens: number } | null, refusal?: string, delayMs?: number }
  | { status: number, body?: unknown, headers?: Record<string, string> }
  /** Never answers (until the server closes). */
  | { hang: true }
  /** 200, JSON content type, then this text as the whole body (not valid JSON). */
  | { truncated: string }
  /** 200 with a Content-Length larger than what is sent, then the connection is cut. */
  | { cut: string }

export interface RecordedRequest {
  method: string
  url: string
  headers: IncomingMessage['headers']
  body: any
}

export interface FakeOpenAI {
  /** Base URL, `http://127.0.0.1:<port>/v1`. */
  url: string
  requests: RecordedRequest[]
  /** Chat requests only. */
  chats: () => RecordedRequest[]
  push: (...steps: Step[]) => void
  /** Steps not used yet. */
  left: () => number
  close: () => Promise<void>
}

export function completion (content: string, opts: { finish?: string, usage?: { prompt_tokens: number, completion_tokens: number } | null, refusal?: string, model?: string } = {}): unknown {
  return {
    id: 'chatcmpl-test',
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: opts.model ?? 'fake-model',
    choices: [{ index: 0, message: { role: 'assistant', content, refusal: opts.refusal ?? null }, finish_reason: opts.finish ?? 'stop' }],
    ...(opts.usage === null ? {} : { usage: opts.usage ?? { prompt_tokens: 1000 + content.length, completion_tokens: 50, total_tokens: 1050 + content.length } })
  }
}

async function readBody (req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

function json (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers })
  res.end(text)
}

export async function startFakeOpenAI (steps: Step[] = [], opts: { models?: string[] } = {}): Promise<FakeOpenAI> {
  const script = [...steps]
  const requests: RecordedRequest[] = []
  const sockets = new Set<Socket>()
  const server = createServer((req, res) => {
    void (async () => {
      const text = await readBody(req)
      let body: any = text
      try { body = JSON.parse(text) } catch {}
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body })
      if (req.method === 'GET' && req.url === '/v1/models') {
        json(res, 200, { object: 'list', data: (opts.models ?? ['fake-model']).map(id => ({ id, object: 'model', created: 0, owned_by: 'test' })) })
        return
      }
      if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
        json(res, 404, { error: { message: `no route ${req.method} ${req.url}` } })
        return
      }
      const step = script.shift()
      if (step == null) {
        json(res, 500, { error: { message: 'fake server: the script is used up' } })
        return
      }
      if ('hang' in step) return // the socket stays open until close()
      if ('status' in step) {
        json(res, step.status, step.body ?? { error: { message: `scripted ${step.status}`, type: 'test' } }, step.headers)
        return
      }
      if ('truncated' in step) {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(step.truncated)
        return
      }
      if ('cut' in step) {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(step.cut.length + 500) })
        res.write(step.cut, () => setTimeout(() => res.socket?.destroy(), 20))
        return
      }
      if (step.delayMs != null) await new Promise(resolve => setTimeout(resolve, step.delayMs))
      json(res, 200, completion(step.reply, { finish: step.finish, usage: step.usage, refusal: step.refusal, model: body?.model }))
    })()
  })
  server.on('connection', s => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    chats: () => requests.filter(r => r.url === '/v1/chat/completions'),
    push: (...more) => { script.push(...more) },
    left: () => script.length,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}

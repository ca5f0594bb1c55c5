/**
 * One chat completion from any OpenAI-compatible server (OpenAI, Ollama, vLLM,
 * llama.cpp, LM Studio) through the `openai` client, made robust: a deadline
 * over the whole request (headers and body), retries with backoff on timeouts,
 * 429, 5xx, dropped connections and garbled bodies (honouring Retry-After), and
 * the reply checked for shape before anyone reads it. Every failure ends as a
 * typed LlmError; usage and latency are summed over the attempts.
 */
import OpenAI, { APIConnectionError, APIError, APIUserAbortError } from 'openai'
import { DEFAULT_BACKOFF_MS, DEFAULT_MAX_RETRIES, DEFAULT_REPLY_TOKENS, DEFAULT_REQUEST_TIMEOUT_MS, MAX_BACKOFF_MS, MAX_REPLY_CHARS, MAX_TIMEOUT_RETRIES } from './constants.ts'
import type { ChatMessage } from './prompt.ts'

export type LlmErrorKind = 'timeout' | 'rate-limit' | 'server' | 'connection' | 'malformed' | 'http' | 'aborted' | 'config'

export class LlmError extends Error {
  override name = 'LlmError'
  constructor (readonly kind: LlmErrorKind, message: string, readonly status?: number, readonly retryAfterMs?: number) {
    super(message)
  }

  get retryable (): boolean {
    return this.kind !== 'http' && this.kind !== 'aborted' && this.kind !== 'config'
  }
}

export interface ChatClientOptions {
  baseURL: string
  apiKey: string
  /** Asked of the server's /models when absent. */
  model?: string
  timeoutMs?: number
  maxRetries?: number
  backoffMs?: number
  maxBackoffMs?: number
  replyTokens?: number
  /** Told about each retry and its cause. */
  log?: (level: 'info' | 'warn', message: string) => void
}

export interface ChatUsage {
  tokensIn: number
  tokensOut: number
  /** Wall-clock of all requests, retries and backoff included. */
  latencyMs: number
  requests: number
}

export interface ChatReply extends ChatUsage {
  text: string
  /** The model's refusal message (OpenAI's `refusal` field), when it refused. */
  refusal: string | null
  /** `length` means the reply was cut at the token limit. */
  finishReason: string | null
  model: string
}

const sleep = async (ms: number, signal?: AbortSignal): Promise<void> => await new Promise(resolve => {
  const t = setTimeout(done, ms)
  signal?.addEventListener('abort', done, { once: true })
  function done (): void { clearTimeout(t); signal?.removeEventListener('abort', done); resolve() }
})

// A function, not an inline test, so TypeScript does not narrow `aborted` across awaits.
function aborted (signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true
}

function retryAfterMs (headers: Headers | undefined): number | undefined {
  const ms = Number(headers?.get('retry-after-ms'))
  if (Number.isFinite(ms) && ms > 0) return ms
  const raw = headers?.get('retry-after')
  if (raw == null) return undefined
  const s = Number(raw)
  if (Number.isFinite(s)) return Math.max(0, s * 1000)
  const at = Date.parse(raw)
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined
}

/** What went wrong, in one of our kinds. `timedOut`: our own deadline fired. */
export function classify (err: unknown, timedOut: boolean, timeoutMs: number): LlmError {
  if (err instanceof LlmError) return err
  if (timedOut) return new LlmError('timeout', `no complete reply within ${Math.round(timeoutMs / 1000)} s`)
  if (err instanceof APIUserAbortError) return new LlmError('aborted', 'aborted')
  if (err instanceof APIConnectionError) return new LlmError(/timed? ?out/i.test(err.message) ? 'timeout' : 'connection', `connection failed: ${err.message}`)
  if (err instanceof APIError) {
    const status = err.status ?? 0
    const message = `HTTP ${status}: ${String(err.message).slice(0, 300)}`
    if (status === 429) return new LlmError('rate-limit', message, status, retryAfterMs(err.headers))
    if (status >= 500 || status === 408 || status === 409) return new LlmError('server', message, status, retryAfterMs(err.headers))
    return new LlmError('http', message, status)
  }
  const e = err as Error
  if (e?.name === 'AbortError') return new LlmError('aborted', 'aborted')
  // A body cut off mid-stream or not JSON at all: undici's "terminated", JSON.parse's SyntaxError.
  return new LlmError('malformed', `unreadable response: ${String(e?.message ?? e).slice(0, 200)}`)
}

/** The first choice of a completion, or a `malformed` LlmError when it has no such shape. */
export function readCompletion (body: unknown): { text: string, refusal: string | null, finishReason: string | null, tokensIn: number | null, tokensOut: number | null } {
  if (typeof body !== 'object' || body === null) throw new LlmError('malformed', `the server answered ${typeof body === 'string' ? `text, not JSON: ${JSON.stringify(body.slice(0, 120))}` : 'no JSON object'}`)
  const b = body as { choices?: unknown, error?: { message?: unknown }, usage?: { prompt_tokens?: unknown, completion_tokens?: unknown } }
  if (b.error != null) throw new LlmError('server', `the server reported an error: ${String(b.error.message ?? JSON.stringify(b.error)).slice(0, 300)}`)
  const choice = Array.isArray(b.choices) ? b.choices[0] as { message?: { content?: unknown, refusal?: unknown }, finish_reason?: unknown } | undefined : undefined
  if (choice?.message == null || typeof choice.message !== 'object') throw new LlmError('malformed', 'the reply has no choices[0].message')
  const content = choice.message.content
  if (content != null && typeof content !== 'string') throw new LlmError('malformed', 'choices[0].message.content is not text')
  if (typeof content === 'string' && content.length > MAX_REPLY_CHARS) throw new LlmError('malformed', `the reply is ${content.length} characters, over the ${MAX_REPLY_CHARS} limit`)
  const num = (x: unknown): number | null => typeof x === 'number' && Number.isFinite(x) && x >= 0 ? x : null
  return {
    text: content ?? '',
    refusal: typeof choice.message.refusal === 'string' && choice.message.refusal !== '' ? choice.message.refusal : null,
    finishReason: typeof choice.finish_reason === 'string' ? choice.finish_reason : null,
    tokensIn: num(b.usage?.prompt_tokens),
    tokensOut: num(b.usage?.completion_tokens)
  }
}

export class ChatClient {
  readonly baseURL: string
  private readonly client: OpenAI
  private readonly opts: Required<Omit<ChatClientOptions, 'model' | 'log' | 'apiKey' | 'baseURL'>>
  private readonly log: NonNullable<ChatClientOptions['log']>
  private model: string | undefined
  /** Newer OpenAI models refuse `max_tokens`; learnt from the first 400 that says so. */
  private tokenParam: 'max_tokens' | 'max_completion_tokens' = 'max_tokens'

  constructor (o: ChatClientOptions) {
    this.baseURL = o.baseURL
    this.model = o.model
    this.log = o.log ?? (() => {})
    this.opts = {
      timeoutMs: o.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
      maxRetries: o.maxRetries ?? DEFAULT_MAX_RETRIES,
      backoffMs: o.backoffMs ?? DEFAULT_BACKOFF_MS,
      maxBackoffMs: o.maxBackoffMs ?? MAX_BACKOFF_MS,
      replyTokens: o.replyTokens ?? DEFAULT_REPLY_TOKENS
    }
    // Our loop retries (and logs why); the client's own retries would hide that.
    this.client = new OpenAI({ baseURL: o.baseURL, apiKey: o.apiKey, maxRetries: 0, timeout: this.opts.timeoutMs })
  }

  /** The model named or found so far; undefined until /models is asked. */
  get modelName (): string | undefined {
    return this.model
  }

  /** The model in use; asks the server's /models for the first it serves when none was named. */
  async resolveModel (signal?: AbortSignal, log = this.log): Promise<string> {
    if (this.model != null) return this.model
    const { result } = await this.withRetries('list models', async s => {
      const page = await this.client.models.list({ signal: s, timeout: this.opts.timeoutMs })
      const id = page.data.find(m => typeof m?.id === 'string')?.id
      if (id == null) throw new LlmError('config', `${this.baseURL}/models lists no model: name one with --model`)
      return id
    }, signal, log)
    this.model = result
    log('info', `llm: using model ${result} (the first ${this.baseURL}/models lists)`)
    return result
  }

  /** `log` (default: the client's) hears about each retry. */
  async chat (messages: ChatMessage[], signal?: AbortSignal, log = this.log): Promise<ChatReply> {
    const started = Date.now()
    const model = await this.resolveModel(signal, log)
    const { result, requests } = await this.withRetries('chat completion', async s => {
      const body = { model, messages, [this.tokenParam]: this.opts.replyTokens }
      try {
        return readCompletion(await this.client.chat.completions.create(body as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming, { signal: s, timeout: this.opts.timeoutMs }))
      } catch (err) {
        if (err instanceof APIError && err.status === 400 && this.tokenParam === 'max_tokens' && /max_completion_tokens/.test(String(err.message))) {
          this.tokenParam = 'max_completion_tokens'
          throw new LlmError('server', 'the server wants max_completion_tokens instead of max_tokens')
        }
        throw err
      }
    }, signal, log)
    const approxIn = Math.ceil(messages.reduce((n, m) => n + m.content.length, 0) / 3.5)
    return {
      text: result.text,
      refusal: result.refusal,
      finishReason: result.finishReason,
      model,
      // Servers that report no usage get an estimate, so the record is never silent.
      tokensIn: result.tokensIn ?? approxIn,
      tokensOut: result.tokensOut ?? Math.ceil(result.text.length / 3.5),
      latencyMs: Date.now() - started,
      requests
    }
  }

  /** Runs `call` under a deadline, retrying what may pass; throws the last LlmError. */
  private async withRetries<T> (what: string, call: (signal: AbortSignal) => Promise<T>, outer: AbortSignal | undefined, log: NonNullable<ChatClientOptions['log']>): Promise<{ result: T, requests: number }> {
    let timeouts = 0
    for (let attempt = 0; ; attempt++) {
      if (aborted(outer)) throw new LlmError('aborted', 'aborted')
      const deadline = new AbortController()
      const state = { timedOut: false }
      const timer = setTimeout(() => { state.timedOut = true; deadline.abort() }, this.opts.timeoutMs)
      const onAbort = (): void => deadline.abort()
      outer?.addEventListener('abort', onAbort, { once: true })
      try {
        return { result: await call(deadline.signal), requests: attempt + 1 }
      } catch (raw) {
        const err = classify(raw, state.timedOut && !aborted(outer), this.opts.timeoutMs)
        if (!err.retryable || attempt >= this.opts.maxRetries) throw err
        if (err.kind === 'timeout' && ++timeouts > MAX_TIMEOUT_RETRIES) throw err
        const wait = Math.min(err.retryAfterMs ?? this.opts.backoffMs * 2 ** attempt * (0.75 + Math.random() * 0.5), this.opts.maxBackoffMs)
        log('warn', `llm: ${what} failed (${err.kind}: ${err.message}); retry ${attempt + 1}/${this.opts.maxRetries} in ${(wait / 1000).toFixed(1)} s`)
        await sleep(wait, outer)
      } finally {
        clearTimeout(timer)
        outer?.removeEventListener('abort', onAbort)
      }
    }
  }
}

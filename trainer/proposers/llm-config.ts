/**
 * Which proposer a node runs, decided from its flags and environment, and the
 * one line that tells the operator. Pure: the caller reads the key file.
 *
 *   --agent-cmd                      -> the external agent command
 *   --llm-base-url or an API key     -> the LLM (key: --llm-api-key-file, else OPENAI_API_KEY;
 *                                       URL: --llm-base-url, else OPENAI_BASE_URL, else OpenAI's)
 *   neither                          -> the mutation proposer
 */
import { DEFAULT_AGENT_TIMEOUT_S, DEFAULT_CONTEXT_TOKENS, DEFAULT_OPENAI_MODEL, NO_KEY, OPENAI_BASE_URL } from './constants.ts'

export interface ProposerFlags {
  llmBaseUrl?: string
  model?: string
  apiKeyFile?: string
  agentCmd?: string
  agentTimeoutS?: number
  contextTokens?: number
  /** The process environment (OPENAI_API_KEY, OPENAI_BASE_URL). */
  env: Record<string, string | undefined>
}

export type ProposerChoice =
  | { kind: 'mutation', line: string }
  | { kind: 'external', command: string, timeoutS: number, line: string }
  | { kind: 'llm', baseURL: string, apiKey: string, model: string | undefined, contextTokens: number, keySource: string, line: string }

export class ProposerConfigError extends Error {
  override name = 'ProposerConfigError'
}

function nonEmpty (s: string | undefined): string | undefined {
  const t = s?.trim()
  return t === undefined || t === '' ? undefined : t
}

/** `http(s)://host[:port][/path]` without a trailing slash, or a ProposerConfigError. */
export function normalizeBaseUrl (raw: string): string {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new ProposerConfigError(`--llm-base-url ${JSON.stringify(raw)} is not a URL (e.g. http://127.0.0.1:11434/v1)`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ProposerConfigError(`--llm-base-url must be http or https, got ${url.protocol}`)
  if (url.username !== '' || url.password !== '') throw new ProposerConfigError('--llm-base-url must not carry credentials; use --llm-api-key-file or OPENAI_API_KEY')
  return url.toString().replace(/\/+$/, '')
}

/** The key file's content as the key: the first non-empty line. */
export function keyFromFile (text: string, path: string): string {
  const key = text.split(/\r?\n/).map(l => l.trim()).find(l => l !== '')
  if (key === undefined) throw new ProposerConfigError(`the API key file ${path} is empty`)
  return key
}

function positive (name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt
  if (!Number.isFinite(v) || v <= 0) throw new ProposerConfigError(`${name} must be a positive number, got ${v}`)
  return v
}

/** @param keyFileText the content of `flags.apiKeyFile`, read by the caller */
export function chooseProposer (flags: ProposerFlags, keyFileText?: string): ProposerChoice {
  const cmd = nonEmpty(flags.agentCmd)
  if (cmd !== undefined) {
    const timeoutS = positive('--agent-timeout', flags.agentTimeoutS, DEFAULT_AGENT_TIMEOUT_S)
    return { kind: 'external', command: cmd, timeoutS, line: `proposer: external agent \`${cmd}\` (timeout ${timeoutS} s)` }
  }
  const fileKey = flags.apiKeyFile !== undefined ? keyFromFile(keyFileText ?? '', flags.apiKeyFile) : undefined
  const envKey = nonEmpty(flags.env.OPENAI_API_KEY)
  const key = fileKey ?? envKey
  const rawUrl = nonEmpty(flags.llmBaseUrl) ?? nonEmpty(flags.env.OPENAI_BASE_URL)
  if (key === undefined && rawUrl === undefined) {
    return { kind: 'mutation', line: 'proposer: mutation (no LLM configured: set OPENAI_API_KEY or --llm-base-url)' }
  }
  const baseURL = normalizeBaseUrl(rawUrl ?? OPENAI_BASE_URL)
  const model = nonEmpty(flags.model) ?? (baseURL === OPENAI_BASE_URL ? DEFAULT_OPENAI_MODEL : undefined)
  const contextTokens = Math.floor(positive('--llm-context', flags.contextTokens, DEFAULT_CONTEXT_TOKENS))
  const keySource = fileKey !== undefined ? `key from ${flags.apiKeyFile}` : envKey !== undefined ? 'key from OPENAI_API_KEY' : 'no key'
  return {
    kind: 'llm',
    baseURL,
    apiKey: key ?? NO_KEY,
    model,
    contextTokens,
    keySource,
    line: `proposer: llm ${model ?? '(first model the server lists)'} at ${baseURL} (${keySource}, context ${contextTokens} tokens)`
  }
}

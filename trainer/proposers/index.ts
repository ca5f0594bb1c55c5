/**
 * Proposers: where the next experiment comes from. `createProposer` picks one
 * from the node's flags and environment and says which in one line:
 *
 *   const { proposer, line, maxRepairs } = createProposer({ llmBaseUrl: 'http://127.0.0.1:11434/v1', model: 'qwen2.5-coder:7b', env: process.env })
 *   console.log(line)   // proposer: llm qwen2.5-coder:7b at http://127.0.0.1:11434/v1 (no key, context 16384 tokens)
 *   await runLoop({ session, proposer, maxRepairs, ... })
 *
 * An LLM or an agent command is always backed by the mutation proposer: when it
 * fails on an experiment (server down, no usable edit, agent timeout), mutation
 * makes that one, and the loop goes on.
 */
import { readFileSync } from 'node:fs'
import { DEFAULT_MAX_REPAIRS } from './constants.ts'
import { ExternalProposer } from './external.ts'
import { WithFallback } from './fallback.ts'
import { ChatClient } from './llm-client.ts'
import { chooseProposer, ProposerConfigError, type ProposerFlags } from './llm-config.ts'
import { LlmProposer } from './llm.ts'
import { MutationProposer } from './mutation.ts'
import type { Proposer } from './types.ts'

export { ProposerConfigError } from './llm-config.ts'
export { ProposerFailed, WithFallback } from './fallback.ts'
export { LlmProposer } from './llm.ts'
export { ChatClient, LlmError } from './llm-client.ts'
export { ExternalProposer } from './external.ts'
export { MutationProposer } from './mutation.ts'

export interface ProposerConfig extends ProposerFlags {
  /** Fixes tried on a crashed candidate (the loop's maxRepairs); default 2. */
  maxRepairs?: number
}

export interface CreateOptions {
  /** Seed of the mutation proposer (alone or as the fallback). */
  seed?: number
  /** Per-request limit for the LLM, ms (default 300 s). */
  requestTimeoutMs?: number
  /** Retries of one LLM request (default 4). */
  maxRetries?: number
  /** First backoff between retries, ms (default 2000, doubling). */
  backoffMs?: number
  /** Replies per proposal before falling back (default 3). */
  editAttempts?: number
  /** Where the LLM client reports retries (the loop's log). */
  log?: (level: 'info' | 'warn', message: string) => void
  /** Reads the API key file; default readFileSync. */
  readKeyFile?: (path: string) => string
}

export interface CreatedProposer {
  proposer: Proposer
  kind: 'llm' | 'external' | 'mutation'
  /** The one line to print at start. */
  line: string
  maxRepairs: number
}

function readKey (path: string, read: (p: string) => string): string {
  try {
    return read(path)
  } catch (err) {
    throw new ProposerConfigError(`cannot read the API key file ${path}: ${(err as Error).message}`)
  }
}

export function createProposer (config: ProposerConfig, opts: CreateOptions = {}): CreatedProposer {
  const maxRepairs = config.maxRepairs ?? DEFAULT_MAX_REPAIRS
  if (!Number.isInteger(maxRepairs) || maxRepairs < 0) throw new ProposerConfigError(`--max-repairs must be a whole number >= 0, got ${maxRepairs}`)
  const keyText = config.apiKeyFile !== undefined && config.agentCmd === undefined
    ? readKey(config.apiKeyFile, opts.readKeyFile ?? (p => readFileSync(p, 'utf8')))
    : undefined
  const choice = chooseProposer(config, keyText)
  const mutation = new MutationProposer(opts.seed)
  if (choice.kind === 'mutation') return { proposer: mutation, kind: 'mutation', line: choice.line, maxRepairs }
  if (choice.kind === 'external') {
    return { proposer: new WithFallback(new ExternalProposer({ command: choice.command, timeoutS: choice.timeoutS }), mutation), kind: 'external', line: choice.line, maxRepairs }
  }
  const client = new ChatClient({
    baseURL: choice.baseURL,
    apiKey: choice.apiKey,
    model: choice.model,
    timeoutMs: opts.requestTimeoutMs,
    maxRetries: opts.maxRetries,
    backoffMs: opts.backoffMs,
    log: opts.log
  })
  const llm = new LlmProposer({ client, contextTokens: choice.contextTokens, editAttempts: opts.editAttempts })
  return { proposer: new WithFallback(llm, mutation), kind: 'llm', line: choice.line, maxRepairs }
}

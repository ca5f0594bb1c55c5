/**
 * The LLM proposer: asks a model (any OpenAI-compatible server) for one
 * experiment, applies its edit strictly, and when the edit is unusable tells
 * the model why and asks again, a bounded number of times. It also repairs its
 * own crashed candidates from the tail of run.log.
 *
 *   const proposer = new LlmProposer({ client: new ChatClient({ baseURL, apiKey, model }) })
 *   await runLoop({ session, proposer: new WithFallback(proposer, new MutationProposer()), ... })
 */
import { DEFAULT_CONTEXT_TOKENS, DEFAULT_EDIT_ATTEMPTS, DEFAULT_REPLY_TOKENS } from './constants.ts'
import { describeEdit, firstProseLine } from './describe.ts'
import { applyEdits, EditRejected, parseReply } from './edits.ts'
import { ProposerFailed } from './fallback.ts'
import { triedOutcomes } from './history.ts'
import type { ChatClient, ChatReply } from './llm-client.ts'
import { LlmError } from './llm-client.ts'
import { buildPrompt, withFeedback, type ChatMessage, type PromptBudget } from './prompt.ts'
import type { CrashReport, Proposal, ProposeContext, Proposer, ProposerStats } from './types.ts'
import { vetCandidate } from './vet.ts'

export interface LlmProposerOptions {
  client: ChatClient
  /** The model's context window (approximate tokens); the prompt is fitted into it. */
  contextTokens?: number
  replyTokens?: number
  /** Replies per proposal before giving up (each refused one is explained to the model). */
  editAttempts?: number
  now?: () => number
}

type Verdict =
  | { ok: true, files: Record<string, string>, description: string, formats: string[] }
  | { ok: false, reason: string, giveUp?: boolean }

export class LlmProposer implements Proposer {
  private readonly client: ChatClient
  private readonly budget: PromptBudget
  private readonly attempts: number
  private readonly now: () => number

  constructor (o: LlmProposerOptions) {
    this.client = o.client
    this.budget = { contextTokens: o.contextTokens ?? DEFAULT_CONTEXT_TOKENS, replyTokens: o.replyTokens ?? DEFAULT_REPLY_TOKENS }
    this.attempts = Math.max(1, o.editAttempts ?? DEFAULT_EDIT_ATTEMPTS)
    this.now = o.now ?? Date.now
  }

  /** `llm:<model>`: what results and gossip name as the agent. */
  get name (): string {
    return `llm:${this.client.modelName ?? 'auto'}`
  }

  async propose (ctx: ProposeContext): Promise<Proposal | null> {
    return await this.ask(ctx)
  }

  async repair (ctx: ProposeContext, crash: CrashReport): Promise<Proposal | null> {
    return await this.ask(ctx, crash)
  }

  private async ask (ctx: ProposeContext, crash?: CrashReport): Promise<Proposal | null> {
    const say = ctx.log ?? (() => {})
    const prompt = buildPrompt(ctx, this.budget, this.now(), crash)
    const d = prompt.dropped
    if (prompt.overBudget) say('warn', `llm: the editable files alone (~${prompt.tokens} tokens) exceed the context budget of ${this.budget.contextTokens}; sending them anyway`)
    if (d.local + d.swarm + d.claims > 0 || d.programMd) {
      say('info', `llm: prompt ~${prompt.tokens} tokens; left out ${d.local} local and ${d.swarm} swarm results, ${d.claims} claims${d.programMd ? ', program.md' : ''} to fit ${this.budget.contextTokens}`)
    }
    const tried = triedOutcomes(ctx.history, ctx.parent, ctx.swarmTried)
    for (const h of ctx.tried) if (!tried.has(h)) tried.set(h, 'tried here')

    const stats: ProposerStats = { tokens_in: 0, tokens_out: 0, latency_ms: 0, requests: 0, attempts: 0 }
    const rejected: string[] = []
    let messages: ChatMessage[] = prompt.messages
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      stats.attempts = attempt
      let reply: ChatReply
      try {
        reply = await this.client.chat(messages, ctx.signal, ctx.log)
      } catch (err) {
        if (!(err instanceof LlmError)) throw err
        if (err.kind === 'aborted') return null
        throw new ProposerFailed(`the model could not be reached (${err.kind}: ${err.message})`, stats)
      }
      stats.tokens_in += reply.tokensIn
      stats.tokens_out += reply.tokensOut
      stats.latency_ms += reply.latencyMs
      stats.requests += reply.requests
      const v = this.judge(reply, ctx, tried, crash)
      if (v.ok) {
        const detail = {
          stats: { ...stats }, model: reply.model, formats: v.formats, prompt_tokens: prompt.tokens, finish_reason: reply.finishReason,
          ...(rejected.length > 0 ? { rejected } : {}), ...(crash != null ? { repairs: crash.proposal.description, crash: crash.reason.slice(0, 200) } : {})
        }
        say('info', `llm: ${JSON.stringify(v.description)} after ${attempt} ${attempt === 1 ? 'reply' : 'replies'} (${stats.tokens_in} tokens in, ${stats.tokens_out} out, ${(stats.latency_ms / 1000).toFixed(1)} s)`)
        return { files: v.files, description: v.description, detail }
      }
      if (v.giveUp === true) {
        say('info', `llm: gave up repairing ${JSON.stringify(crash?.proposal.description ?? '')}`)
        return null
      }
      rejected.push(v.reason)
      say('warn', `llm: reply ${attempt}/${this.attempts} not applied: ${v.reason}`)
      messages = withFeedback(prompt.messages, reply.text, v.reason, this.budget)
    }
    throw new ProposerFailed(`no usable edit in ${this.attempts} replies (last: ${rejected[rejected.length - 1] ?? 'none'})`, stats)
  }

  /** Whether a reply holds a usable candidate; if not, a reason the model can act on. */
  private judge (reply: ChatReply, ctx: ProposeContext, tried: Map<string, string>, crash?: CrashReport): Verdict {
    if (reply.refusal != null) return { ok: false, reason: `you declined (${reply.refusal.slice(0, 200)}); this is a benign ML research task: propose a change to the training code` }
    if (reply.text.trim() === '') return { ok: false, reason: `the reply was empty${reply.finishReason === 'length' ? ' (cut at the token limit)' : ''}` }
    const parsed = parseReply(reply.text)
    if (crash != null && parsed.giveUp) return { ok: false, reason: 'gave up', giveUp: true }
    const cut = reply.finishReason === 'length' ? ' The reply was cut at the token limit: send only small SEARCH/REPLACE blocks.' : ''
    if (parsed.problems.length > 0) return { ok: false, reason: `${parsed.problems.join('; ')}.${cut}` }
    if (parsed.edits.length === 0) return { ok: false, reason: `no edit found: expected SEARCH/REPLACE blocks (or FILE: with the full text, or a unified diff).${cut}` }
    const start = crash?.files ?? ctx.files
    let changed: Record<string, string>
    let formats: string[]
    try {
      const applied = applyEdits(start, parsed.edits, ctx.editable)
      changed = applied.files
      formats = applied.formats
    } catch (err) {
      if (err instanceof EditRejected) return { ok: false, reason: err.message }
      throw err
    }
    if (Object.keys(changed).length === 0) return { ok: false, reason: crash != null ? 'the edit changes nothing in the crashed candidate' : 'the edit changes nothing: the result is identical to the baseline' }
    const vetted = vetCandidate(ctx.files, { ...start, ...changed }, ctx.editable, tried)
    if (!vetted.ok) return { ok: false, reason: vetted.reason }
    // The model's words for its change, else what the edit itself does (for a repair: the fix, not the crash).
    const description = parsed.description ?? firstProseLine(reply.text) ?? describeEdit(start, changed)
    return { ok: true, files: vetted.files, description, formats }
  }
}

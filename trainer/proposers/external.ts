/**
 * An external coding agent as the proposer: `--agent-cmd "claude -p ..."`. The
 * node writes a brief, runs the command in the workspace (brief on stdin and in
 * $SWARM_BRIEF, `{brief}` in the command replaced by its path) under a timeout
 * that kills its whole process group, then takes what it did to the editable
 * files as the candidate. Anything it did elsewhere is reverted and refused;
 * the workspace is back on the baseline before the loop writes the candidate.
 *
 * The agent reads a brief made of peers' descriptions, so it is steerable by
 * strangers: it runs in the sandbox's agent cage (the project's files
 * writable, git and the data read-only, no node home, no network, no secrets)
 * plus only what the user gave it (--agent-network, --agent-env, --agent-bind).
 */
import { lstat, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runCommand } from '../runner.ts'
import { agentBrief } from './agent-brief.ts'
import { changedOutputs, collectAndRestore, snapshotOutputs } from './agent-guard.ts'
import { AGENT_KILL_GRACE_MS, DEFAULT_AGENT_TIMEOUT_S } from './constants.ts'
import { MAX_DESCRIPTION_CHARS } from './edits.ts'
import { ProposerFailed } from './fallback.ts'
import { triedOutcomes } from './history.ts'
import type { CrashReport, Proposal, ProposeContext, Proposer, ProposerStats } from './types.ts'
import { vetCandidate } from './vet.ts'

export interface ExternalProposerOptions {
  command: string
  timeoutS?: number
  killGraceMs?: number
  now?: () => number
}

const LOG_TAIL_CHARS = 600
const DESCRIPTION_LINE = /^\s*DESCRIPTION\s*:\s*(.+)$/gim

function shellQuote (s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`
}

function oneLine (s: string): string | null {
  const t = s.replace(/\s+/g, ' ').trim()
  if (t === '') return null
  return t.length <= MAX_DESCRIPTION_CHARS ? t : `${t.slice(0, MAX_DESCRIPTION_CHARS - 1)}…`
}

/** The agent's description: its file first, else the last DESCRIPTION: line it printed. */
async function describe (descriptionFile: string, output: string): Promise<string | null> {
  // The agent could leave a link there: only a plain file it wrote is read.
  const plainFile = (await lstat(descriptionFile).catch(() => null))?.isFile() === true
  const fromFile = plainFile ? await readFile(descriptionFile, 'utf8').catch(() => '') : ''
  const first = fromFile.split('\n').find(l => l.trim() !== '')
  if (first != null) return oneLine(first)
  const printed = [...output.matchAll(DESCRIPTION_LINE)].pop()?.[1]
  return printed != null ? oneLine(printed) : null
}

export class ExternalProposer implements Proposer {
  readonly name: string
  private readonly timeoutS: number

  constructor (private readonly o: ExternalProposerOptions) {
    if (o.command.trim() === '') throw new Error('the agent command is empty')
    this.timeoutS = o.timeoutS ?? DEFAULT_AGENT_TIMEOUT_S
    const program = o.command.trim().split(/\s+/)[0]!.split('/').pop()!
    this.name = `agent:${program.slice(0, 40)}`
  }

  async propose (ctx: ProposeContext): Promise<Proposal | null> {
    return await this.run(ctx)
  }

  async repair (ctx: ProposeContext, crash: CrashReport): Promise<Proposal | null> {
    return await this.run(ctx, crash)
  }

  private async run (ctx: ProposeContext, crash?: CrashReport): Promise<Proposal | null> {
    const ws = ctx.workspace
    if (ws == null) throw new ProposerFailed('no workspace to run the agent in')
    const sandbox = ctx.sandbox
    if (sandbox == null) throw new ProposerFailed('no sandbox to run the agent in')
    if (!sandbox.foreignAllowed) throw new ProposerFailed('there is no sandbox here, so the agent does not run (--unsafe-no-sandbox runs it unconfined)')
    const say = ctx.log ?? (() => {})
    // The agent may write in scratch (its description); its log lives where it cannot reach.
    const scratch = await mkdtemp(join(tmpdir(), 'swarm-agent-'))
    const logs = await mkdtemp(join(tmpdir(), 'swarm-agent-log-'))
    const brief = join(scratch, 'brief.md')
    const descriptionFile = join(scratch, 'description.txt')
    const started = Date.now()
    const stats: ProposerStats = { tokens_in: 0, tokens_out: 0, latency_ms: 0, requests: 0, attempts: 1 }
    try {
      await writeFile(brief, agentBrief(ctx, (this.o.now ?? Date.now)(), crash))
      if (crash != null) await ws.writeEditable(crash.files)
      const before = await snapshotOutputs(ws)
      say('info', `${this.name}: running in ${ws.dir} (timeout ${this.timeoutS} s)`)
      // A group, so the brief reaches stdin whatever the command line ends with.
      const command = `{ ${this.o.command.replaceAll('{brief}', shellQuote(brief))}\n} < ${shellQuote(brief)}`
      const env = { SWARM_BRIEF: brief, SWARM_DESCRIPTION_FILE: descriptionFile, SWARM_EDITABLE: ws.editable.join(' '), SWARM_MODE: crash == null ? 'propose' : 'repair' }
      const cage = sandbox.sandbox.agent
      const outcome = await runCommand({
        command,
        cwd: ws.dir,
        env,
        timeoutS: this.timeoutS,
        killGraceMs: this.o.killGraceMs ?? AGENT_KILL_GRACE_MS,
        logPath: join(logs, 'agent.log'),
        signal: ctx.signal,
        launch: await sandbox.launch({
          profile: 'agent', command, cwd: ws.dir, env, readWrite: [scratch, ...cage.binds], envNames: cage.env, vouched: cage.env, network: cage.network
        })
      })
      stats.latency_ms = Date.now() - started
      const outputsMoved = changedOutputs(before, await snapshotOutputs(ws))
      const changes = await collectAndRestore(ws, ctx.parent)
      if (outcome.aborted) return null
      const tail = outcome.tail.slice(-LOG_TAIL_CHARS)
      const agent = { command: this.o.command, exit_code: outcome.exitCode, seconds: Math.round(outcome.elapsedS * 10) / 10, log_tail: tail }
      const fail: (why: string) => never = why => {
        throw new ProposerFailed(`${why}${changes.notes.length > 0 ? ` (${changes.notes.join('; ')})` : ''}`, stats)
      }
      if (outcome.timedOut) fail(`the agent did not finish within ${this.timeoutS} s; it was stopped and its changes reverted`)
      if (outcome.exitCode !== 0) fail(`the agent exited with ${outcome.exitCode ?? outcome.signal}; its changes were reverted. Last output: ${tail.split('\n').filter(l => l.trim() !== '').pop() ?? ''}`)
      const outside = [...changes.outside, ...outputsMoved.map(p => `${p} (run output)`)]
      if (outside.length > 0) fail(`the agent changed files that are not editable: ${outside.slice(0, 10).join(', ')}; reverted and refused`)
      const start = crash?.files ?? ctx.files
      if (ws.editable.every(p => changes.files[p] === start[p])) {
        if (crash != null) return null // it chose not to fix: the crash stands
        fail('the agent changed nothing')
      }
      const tried = triedOutcomes(ctx.history, ctx.parent, ctx.swarmTried)
      for (const h of ctx.tried) if (!tried.has(h)) tried.set(h, 'tried here')
      const vetted = vetCandidate(ctx.files, changes.files, ctx.editable, tried)
      if (!vetted.ok) fail(`the agent's change is refused: ${vetted.reason}`)
      const description = await describe(descriptionFile, outcome.tail) ?? `agent edit of ${Object.keys(vetted.files).join(', ')}`
      say('info', `${this.name}: ${JSON.stringify(description)} in ${agent.seconds} s`)
      return { files: vetted.files, description, detail: { stats, agent, ...(changes.notes.length > 0 ? { notes: changes.notes } : {}) } }
    } finally {
      await rm(scratch, { recursive: true, force: true })
      await rm(logs, { recursive: true, force: true })
    }
  }
}

/**
 * `swarm-node start`: set up the project, join the swarm (unless --offline)
 * and run the research loop until stopped. SIGINT/SIGTERM abort the run in
 * flight (its process group is killed), leave the workspace on the baseline,
 * flush the store and leave the swarm; a second signal exits at once.
 */
import { join, resolve } from 'node:path'
import { adoptionSnapshot, runLoop, type LoopEvent } from '../../trainer/loop.ts'
import { wireHardware } from '../../trainer/hardware.ts'
import { marginInForce } from '../../trainer/noise.ts'
import { createProposer, MutationProposer, ProposerConfigError } from '../../trainer/proposers/index.ts'
import { seedFor } from '../../trainer/proposers/mutation.ts'
import { NoProposer } from '../../trainer/proposers/none.ts'
import type { Proposer } from '../../trainer/proposers/types.ts'
import { Sandbox, sandboxLine } from '../../trainer/sandbox/index.ts'
import { openSession, type Session } from '../../trainer/session.ts'
import { initProject } from '../../trainer/template.ts'
import { startNodeControl, type NodeControl } from '../control/node-control.ts'
import { paths } from '../home.ts'
import { loadOrCreateIdentity, type Identity } from '../identity.ts'
import { loadLimits } from '../limits-file.ts'
import { limitsForBudget } from '../swarm/gossip-check.ts'
import { assembleNode } from '../assemble.ts'
import type { SwarmLibp2p } from '../libp2p.ts'
import type { NetworkFlags } from '../network-config.ts'
import { networkState, reachabilityLine, reportNetwork } from '../network-status.ts'
import type { Output } from '../output.ts'
import { createRenderer } from '../render.ts'
import { renderSwarmEvent } from '../render-swarm.ts'
import { swarmComponents } from '../swarm/components.ts'
import { swarmService, type SwarmEvent, type SwarmService } from '../swarm/service.ts'
import { SwarmStore } from '../swarm/store.ts'

export interface StartOptions extends NetworkFlags {
  project?: string
  budget?: number
  offline?: boolean
  tag: string
  maxExperiments?: number
  confirm: boolean
  /** Noise margins of gain that keep a candidate on one run (0: always confirm). */
  decisive?: number
  measureNoise?: boolean
  noiseRuns?: number
  seed?: number
  proposer: 'auto' | 'mutation' | 'none'
  adopt: boolean
  llmBaseUrl?: string
  model?: string
  llmApiKeyFile?: string
  llmContext?: number
  /** Seconds one LLM request may take (default 300). */
  llmTimeout?: number
  /** Commit the user's uncommitted changes to the project (a fixed swarm.json) instead of refusing to start. */
  commitChanges?: boolean
  agentCmd?: string
  agentTimeout?: number
  agentNetwork?: boolean
  agentEnv?: string[]
  agentBind?: string[]
  /** Where no sandbox works, run foreign code anyway (a warning at every start). */
  unsafeNoSandbox?: boolean
  maxRepairs?: number
  statusInterval?: number
  bestInterval?: number
  /** Port of the control API and dashboard on 127.0.0.1 (default: $SWARM_NODE_CONTROL_PORT, else a free one). */
  controlPort?: number
}

interface Swarm { node: SwarmLibp2p, service: SwarmService, store: SwarmStore }

async function joinSwarm (opts: StartOptions, identity: Identity, home: string, session: Session, out: Output, signal: AbortSignal, onSwarmEvent?: (e: SwarmEvent) => void): Promise<Swarm> {
  // The service (and its trust book) comes after the node; GossipSub and the DHT validator ask it lazily.
  let service: SwarmService | undefined
  // The store first: a bad limits.json or a store it cannot open fails before any network is up.
  const limits = await loadLimits(home)
  const store = await SwarmStore.open(join(home, 'store', session.project.id), { self: identity.peerId, limits: limits.store })
  const { node, plan } = await assembleNode(identity.privateKey, opts, {
    trust: peer => service?.trust.ownScore(peer) ?? 0,
    acceptBest: record => service?.acceptsRecord(record) ?? true,
    projects: [session.project.id]
  })
  for (const w of store.warnings) out.event('log', { level: 'warn', message: w }, `warning: store: ${w}`)
  const m = session.project.manifest
  service = swarmService({
    privateKey: identity.privateKey,
    peerId: identity.peerId,
    project: { id: session.project.id, margin: m.noise_margin, timeoutS: m.timeout_s, editable: m.editable },
    track: session.track,
    hardware: wireHardware(session.hardware),
    store,
    adopt: opts.adopt,
    privateSwarm: plan.private,
    initial: { ...adoptionSnapshot(session), kept: session.history.filter(r => r.status === 'keep').length },
    signal,
    onEvent: e => { renderSwarmEvent(out, e); onSwarmEvent?.(e) },
    // The project's pace sets the allowance (a 1 s project's honest nodes send hundreds a minute); limits.json has the last word.
    gossipLimits: { ...limitsForBudget(m.budget_s), ...limits.gossip },
    statusIntervalMs: opts.statusInterval != null ? opts.statusInterval * 1000 : undefined,
    bestRefreshMs: opts.bestInterval != null ? opts.bestInterval * 1000 : undefined
  })(swarmComponents(node))
  await service.start()
  const addrs = node.getMultiaddrs().map(a => a.toString())
  const net = networkState(node)
  out.event('listening', { peerId: identity.peerId, addrs, private: plan.private, mdns: plan.mdns, bootstrap: plan.bootstrap, amino: plan.amino != null, reachability: net.reachability },
    `listening as ${identity.peerId}${plan.private ? ' (private swarm)' : ''}\n${addrs.map(a => `  ${a}`).join('\n')}\n${reachabilityLine(net)}`)
  reportNetwork(node, out)
  return { node, service, store }
}

export async function start (home: string, opts: StartOptions, out: Output): Promise<number> {
  const identity = await loadOrCreateIdentity(home)
  const projectDir = resolve(opts.project ?? paths.defaultProject(home))
  if (opts.project === undefined && await initProject(projectDir)) {
    out.event('log', { message: `created the default project in ${projectDir}` }, `created the default project in ${projectDir}`)
  }
  if (opts.offline === true && (opts.bootstrap?.length ?? 0) + (opts.listen?.length ?? 0) > 0) {
    return out.fail('--offline cannot be combined with --listen or --bootstrap', 2)
  }

  const controller = new AbortController()
  let signals = 0
  const onSignal = (sig: NodeJS.Signals): void => {
    signals++
    if (signals > 1) process.exit(130)
    out.event('log', { message: `${sig}: stopping (the run in flight is killed, the workspace returns to the baseline)` }, `\n${sig}: stopping…`)
    controller.abort()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  let standing: () => string = () => ''
  const render = createRenderer(out, process.stderr.isTTY === true, () => standing())
  let swarm: Swarm | null = null
  let control: NodeControl | null = null
  try {
    // The cage first: what a killed node left running goes, and the user hears what protects them.
    const sandbox = await Sandbox.open({
      home,
      unsafe: opts.unsafeNoSandbox === true,
      agent: { network: opts.agentNetwork === true, env: opts.agentEnv ?? [], binds: (opts.agentBind ?? []).map(p => resolve(p)) }
    })
    for (const line of await sandbox.reapStale()) out.event('log', { level: 'warn', message: line }, `warning: ${line}`)
    const sandboxStatus = sandbox.status()
    out.event('sandbox', { ...sandboxStatus, line: sandboxLine(sandboxStatus) }, sandboxLine(sandboxStatus))
    if (!sandbox.foreignAllowed && opts.adopt) opts = { ...opts, adopt: false }
    out.event('log', { message: 'setting up' }, `peer ${identity.peerId}\nproject ${projectDir}: setting up (python, hardware, data)…`)
    const session = await openSession({
      projectDir,
      home,
      runTag: opts.tag,
      budgetS: opts.budget,
      commitChanges: opts.commitChanges,
      signal: controller.signal,
      onLog: message => render.onEvent({ type: 'log', level: 'info', message }),
      sandbox
    })
    if (controller.signal.aborted) return 0
    const m = session.project.manifest
    let proposer: Proposer = new NoProposer()
    let proposerLine = 'proposer: none (this node only reproduces what the swarm finds)'
    let maxRepairs = opts.maxRepairs
    if (opts.proposer === 'mutation') {
      proposer = new MutationProposer(opts.seed ?? seedFor(identity.peerId))
      proposerLine = 'proposer: mutation (random search over the constants of the editable files)'
    } else if (opts.proposer === 'auto') {
      try {
        const made = createProposer({ llmBaseUrl: opts.llmBaseUrl, model: opts.model, apiKeyFile: opts.llmApiKeyFile, agentCmd: opts.agentCmd, agentTimeoutS: opts.agentTimeout, maxRepairs: opts.maxRepairs, contextTokens: opts.llmContext, env: process.env }, {
          seed: opts.seed ?? seedFor(identity.peerId),
          requestTimeoutMs: opts.llmTimeout != null ? opts.llmTimeout * 1000 : undefined,
          log: (level, message) => render.onEvent({ type: 'log', level, message })
        })
        proposer = made.proposer
        proposerLine = made.line
        maxRepairs = made.maxRepairs
        if (made.kind !== 'mutation' && !sandbox.foreignAllowed) {
          // The LLM's or agent's edits are code this node did not write: without a cage they do not run.
          proposer = new MutationProposer(opts.seed ?? seedFor(identity.peerId))
          proposerLine = `proposer: mutation (the ${made.kind === 'llm' ? 'LLM' : 'agent'} is configured, but its candidates do not run without a sandbox; --unsafe-no-sandbox runs them)`
        }
      } catch (err) {
        if (err instanceof ProposerConfigError) return out.fail(err.message, 2)
        throw err
      }
    }
    if (opts.proposer === 'none' && !sandbox.foreignAllowed) proposerLine += '; with no sandbox adoption is off, so this node has nothing to run'
    out.event('session', { peerId: identity.peerId, project: session.project.id, name: m.name, track: session.track, hardware: session.hardware, python: session.python, budget_s: m.budget_s, branch: session.workspace.branch, baseline: session.baseline.value, proposer: proposer.name },
      `project ${m.name} ${session.project.id.slice(0, 12)}  track ${session.track}  budget ${m.budget_s}s  branch ${session.workspace.branch}\n` +
      `python ${session.python}  hardware ${session.hardware.cpu} x${session.hardware.cores}${session.hardware.gpu != null ? `, ${session.hardware.gpu}` : ''}\n` +
      (session.baseline.value != null ? `resuming from baseline ${session.baseline.value.toFixed(6)} (${session.baseline.commit.slice(0, 7)})` : 'measuring the baseline first') +
      `\n${proposerLine}`)
    if (opts.offline !== true) swarm = await joinSwarm(opts, identity, home, session, out, controller.signal, e => control?.swarmEvent(e))
    // The control API and dashboard (offline nodes too): what `status`, `peers`, `results` and `leaderboard` ask.
    control = await startNodeControl({ home, out, peerId: identity.peerId, session, proposer: proposer.name, swarm, port: opts.controlPort, tty: process.stderr.isTTY === true })

    standing = () => liveSummary(session, swarm)

    // Gossip follows the loop in order; a failed publish is reported, never fatal.
    let chain: Promise<void> = Promise.resolve()
    const onEvent = (e: LoopEvent): void => {
      render.onEvent(e)
      control?.loopEvent(e)
      const service = swarm?.service
      if (service != null) chain = chain.then(() => service.onLoopEvent(e)).catch(err => out.event('log', { level: 'warn', message: `publish failed: ${err.message}` }, `warning: publish failed: ${err.message}`))
    }
    const store = swarm?.store
    const tried = swarm?.service.tried
    await runLoop({
      session,
      proposer,
      inbox: swarm?.service.inbox,
      swarm: store != null && tried != null ? { results: () => store.results(), claims: () => store.claims(), self: identity.peerId, tried: parent => tried.tried(parent), crashes: () => tried.crashes(), outcomes: () => tried.outcomes(), ranOn: parent => tried.ranOn(parent) } : undefined,
      maxRepairs,
      signal: controller.signal,
      onEvent,
      confirm: opts.confirm,
      decisive: opts.decisive,
      maxExperiments: opts.maxExperiments,
      measureNoise: opts.measureNoise,
      noiseRuns: opts.noiseRuns
    }).catch(async (err: unknown) => {
      // A baseline that never ran takes back what setting up committed: no broken manifest stays in the user's history.
      if (session.baseline.value == null) {
        const undone = await session.workspace.abandonSetup().catch(() => null)
        if (undone != null && err instanceof Error) err.message += `\n${undone}`
      }
      throw err
    })
    await chain
    render.clear()
    const kept = session.history.filter(r => r.status === 'keep').length
    out.event('stopped', { experiments: session.history.length, kept, baseline: session.baseline.value }, `stopped. baseline ${session.baseline.value?.toFixed(6) ?? '-'} at ${session.baseline.commit.slice(0, 7)}; ${kept} kept of ${session.history.length} recorded`)
    return 0
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    await control?.stop().catch(() => {})
    if (swarm != null) {
      await swarm.service.stop().catch(() => {})
      await Promise.resolve(swarm.node.stop()).catch(() => {})
      // Folds the WAL into the database file; a kill before this loses nothing either.
      swarm.store.close()
    }
  }
}

/** The node's standing in a few words, for the live line on a terminal. */
function liveSummary (session: Session, swarm: Swarm | null): string {
  const f = (x: number | null | undefined): string => x == null ? '-' : x.toFixed(4)
  const kept = session.history.filter(r => r.status === 'keep').length
  const best = swarm?.service.board({ track: session.track, limit: 1 })[0]
  const adopted = session.history.findLast(r => r.origin != null && r.status === 'keep')
  return [
    swarm != null ? `${swarm.node.getPeers().length} peers` : 'offline',
    `base ${f(session.baseline.value)} ±${f(marginInForce(session).margin)}`,
    swarm != null ? `swarm ${f(best?.val_bpb)}` : '',
    `${session.history.length} done/${kept} kept`,
    adopted != null ? `adopted #${adopted.seq}` : ''
  ].filter(x => x !== '').join(' · ')
}

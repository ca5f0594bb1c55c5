/**
 * `swarm-node start`: set up the project, join the swarm (unless --offline)
 * and run the research loop until stopped. SIGINT/SIGTERM abort the run in
 * flight (its process group is killed), leave the workspace on the baseline,
 * flush the store and leave the swarm; a second signal exits at once.
 */
import { join, resolve } from 'node:path'
import { BEST_KEY_PREFIX, selectBestRecord, validateBestRecord } from '../../protocol/index.ts'
import { runLoop, type LoopEvent } from '../../trainer/loop.ts'
import { MutationProposer } from '../../trainer/proposers/mutation.ts'
import { NoProposer } from '../../trainer/proposers/none.ts'
import type { Proposer } from '../../trainer/proposers/types.ts'
import { openSession } from '../../trainer/session.ts'
import { initProject } from '../../trainer/template.ts'
import { paths } from '../home.ts'
import { loadOrCreateIdentity, type Identity } from '../identity.ts'
import { createSwarmLibp2p, type SwarmLibp2p } from '../libp2p.ts'
import { planNetwork, type NetworkFlags } from '../network-config.ts'
import type { Output } from '../output.ts'
import { createRenderer } from '../render.ts'
import { renderSwarmEvent } from '../render-swarm.ts'
import { readSwarmKey } from '../swarm-key.ts'
import { SwarmService } from '../swarm/service.ts'
import { SwarmStore } from '../swarm/store.ts'

export interface StartOptions extends NetworkFlags {
  project?: string
  budget?: number
  offline?: boolean
  tag: string
  maxExperiments?: number
  confirm: boolean
  seed?: number
  proposer: 'mutation' | 'none'
  adopt: boolean
  statusInterval?: number
  bestInterval?: number
}

interface Swarm { node: SwarmLibp2p, service: SwarmService }

async function joinSwarm (opts: StartOptions, identity: Identity, home: string, session: Awaited<ReturnType<typeof openSession>>, out: Output): Promise<Swarm> {
  const plan = planNetwork(opts)
  const swarmKey = opts.swarmKey != null ? await readSwarmKey(opts.swarmKey) : undefined
  const node = await createSwarmLibp2p({
    privateKey: identity.privateKey,
    listen: plan.listen,
    bootstrap: plan.bootstrap,
    swarmKey,
    mdns: plan.mdns,
    local: plan.local,
    dhtValidators: { [BEST_KEY_PREFIX]: async (key, value) => { await validateBestRecord(key, value) } },
    dhtSelectors: { [BEST_KEY_PREFIX]: selectBestRecord }
  })
  const store = await SwarmStore.open(join(home, 'store', session.project.id))
  for (const w of store.warnings) out.event('log', { level: 'warn', message: w }, `warning: store: ${w}`)
  const service = new SwarmService({
    node,
    privateKey: identity.privateKey,
    peerId: identity.peerId,
    session,
    store,
    adopt: opts.adopt,
    onEvent: e => renderSwarmEvent(out, e),
    statusIntervalMs: opts.statusInterval != null ? opts.statusInterval * 1000 : undefined,
    bestRefreshMs: opts.bestInterval != null ? opts.bestInterval * 1000 : undefined
  })
  await service.start()
  const addrs = node.getMultiaddrs().map(a => a.toString())
  out.event('listening', { peerId: identity.peerId, addrs, private: plan.private, mdns: plan.mdns, bootstrap: plan.bootstrap },
    `listening as ${identity.peerId}${plan.private ? ' (private swarm)' : ''}\n${addrs.map(a => `  ${a}`).join('\n')}`)
  return { node, service }
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
  const render = createRenderer(out, process.stderr.isTTY === true)
  let swarm: Swarm | null = null
  try {
    out.event('log', { message: 'setting up' }, `peer ${identity.peerId}\nproject ${projectDir}: setting up (python, hardware, data)…`)
    const session = await openSession({
      projectDir,
      home,
      runTag: opts.tag,
      budgetS: opts.budget,
      signal: controller.signal,
      onLog: message => render.onEvent({ type: 'log', level: 'info', message })
    })
    if (controller.signal.aborted) return 0
    const m = session.project.manifest
    const proposer: Proposer = opts.proposer === 'none' ? new NoProposer() : new MutationProposer(opts.seed)
    out.event('session', { peerId: identity.peerId, project: session.project.id, name: m.name, track: session.track, hardware: session.hardware, python: session.python, budget_s: m.budget_s, branch: session.workspace.branch, baseline: session.baseline.value, proposer: proposer.name },
      `project ${m.name} ${session.project.id.slice(0, 12)}  track ${session.track}  budget ${m.budget_s}s  branch ${session.workspace.branch}\n` +
      `python ${session.python}  hardware ${session.hardware.cpu} x${session.hardware.cores}${session.hardware.gpu != null ? `, ${session.hardware.gpu}` : ''}\n` +
      (session.baseline.value != null ? `resuming from baseline ${session.baseline.value.toFixed(6)} (${session.baseline.commit.slice(0, 7)})` : 'measuring the baseline first') +
      `\nproposer: ${proposer.name === 'mutation' ? 'mutation (no LLM configured)' : proposer.name}`)
    if (opts.offline !== true) swarm = await joinSwarm(opts, identity, home, session, out)

    // Gossip follows the loop in order; a failed publish is reported, never fatal.
    let chain: Promise<void> = Promise.resolve()
    const onEvent = (e: LoopEvent): void => {
      render.onEvent(e)
      const service = swarm?.service
      if (service != null) chain = chain.then(() => service.onLoopEvent(e)).catch(err => out.event('log', { level: 'warn', message: `publish failed: ${err.message}` }, `warning: publish failed: ${err.message}`))
    }
    await runLoop({ session, proposer, inbox: swarm?.service.inbox, signal: controller.signal, onEvent, confirm: opts.confirm, maxExperiments: opts.maxExperiments })
    await chain
    render.clear()
    const kept = session.history.filter(r => r.status === 'keep').length
    out.event('stopped', { experiments: session.history.length, kept, baseline: session.baseline.value }, `stopped. baseline ${session.baseline.value?.toFixed(6) ?? '-'} at ${session.baseline.commit.slice(0, 7)}; ${kept} kept of ${session.history.length} recorded`)
    return 0
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    if (swarm != null) {
      await swarm.service.stop().catch(() => {})
      await Promise.resolve(swarm.node.stop()).catch(() => {})
    }
  }
}

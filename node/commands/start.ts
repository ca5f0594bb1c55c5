/**
 * `swarm-node start`: set up the project and run the research loop until
 * stopped. SIGINT/SIGTERM abort the run in flight (its process group is
 * killed) and leave the workspace on the baseline; a second signal exits at once.
 */
import { resolve } from 'node:path'
import { MutationProposer } from '../../trainer/proposers/mutation.ts'
import { runLoop } from '../../trainer/loop.ts'
import { openSession } from '../../trainer/session.ts'
import { initProject } from '../../trainer/template.ts'
import { paths } from '../home.ts'
import { loadOrCreateIdentity } from '../identity.ts'
import type { Output } from '../output.ts'
import { createRenderer } from '../render.ts'

export interface StartOptions {
  project?: string
  budget?: number
  offline?: boolean
  tag: string
  maxExperiments?: number
  confirm: boolean
  seed?: number
}

export async function start (home: string, opts: StartOptions, out: Output): Promise<number> {
  if (opts.offline !== true) {
    return out.fail('joining a swarm is not implemented yet: run `swarm-node start --offline` to research alone', 2)
  }
  const identity = await loadOrCreateIdentity(home)
  const projectDir = resolve(opts.project ?? paths.defaultProject(home))
  if (opts.project === undefined && await initProject(projectDir)) {
    out.event('log', { message: `created the default project in ${projectDir}` }, `created the default project in ${projectDir}`)
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
    out.event('session', { project: session.project.id, name: m.name, track: session.track, hardware: session.hardware, python: session.python, budget_s: m.budget_s, branch: session.workspace.branch, baseline: session.baseline.value },
      `project ${m.name} ${session.project.id.slice(0, 12)}  track ${session.track}  budget ${m.budget_s}s  branch ${session.workspace.branch}\n` +
      `python ${session.python}  hardware ${session.hardware.cpu} x${session.hardware.cores}${session.hardware.gpu != null ? `, ${session.hardware.gpu}` : ''}\n` +
      (session.baseline.value != null ? `resuming from baseline ${session.baseline.value.toFixed(6)} (${session.baseline.commit.slice(0, 7)})` : 'measuring the baseline first') +
      '\nproposer: mutation (no LLM configured)')
    await runLoop({
      session,
      proposer: new MutationProposer(opts.seed),
      signal: controller.signal,
      onEvent: render.onEvent,
      confirm: opts.confirm,
      maxExperiments: opts.maxExperiments
    })
    render.clear()
    const kept = session.history.filter(r => r.status === 'keep').length
    out.event('stopped', { experiments: session.history.length, kept, baseline: session.baseline.value }, `stopped. baseline ${session.baseline.value?.toFixed(6) ?? '-'} at ${session.baseline.commit.slice(0, 7)}; ${kept} kept of ${session.history.length} recorded`)
    return 0
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

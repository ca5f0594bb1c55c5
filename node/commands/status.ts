/** `swarm-node status`: what the running node is doing, asked over its control API. */
import { requireNode } from '../control/client.ts'
import { bpb, duration, shortPeer } from '../control/format.ts'
import { countsPhrase } from '../control/records.ts'
import { safeLine } from '../sanitize.ts'
import type { NodeState } from '../control/view.ts'
import { describeMargin } from '../../trainer/noise.ts'
import type { Output } from '../output.ts'
import { runClock } from '../render.ts'
import { evidenceLabel } from '../swarm/leaderboard.ts'

function bestLine (s: NodeState): string {
  // Offline there is no swarm: the best known is this node's own keep, and saying "-" would read as "nothing".
  if (s.offline) return `${s.best == null ? 'nothing kept yet' : `${bpb(s.best.val_bpb)} (this node's own)`} on ${s.track}  (offline: no swarm to compare with)`
  return `${s.best == null ? 'none known yet' : `${bpb(s.best.val_bpb)} by ${shortPeer(s.best.author)} (${evidenceLabel({ ...s.best, failed: 0 })}, ${s.best.attestations} attestation${s.best.attestations === 1 ? '' : 's'})`} on ${s.track}`
}
import { networkLine } from '../network-status.ts'

function describe (s: NodeState, dashboard: string): string {
  const hw = s.hardware.gpu != null ? s.hardware.gpu : `${s.hardware.cpu} x${s.hardware.cores}`
  const e = s.experiment
  const now = e == null
    ? 'idle (between experiments, or waiting for the swarm)'
    : `#${e.seq} ${e.kind}: ${safeLine(e.description)}${e.elapsed_s != null ? `  ${runClock(e.elapsed_s, e.budget_s)}` : ''}`
  return [
    `node      ${s.peerId}  pid ${s.pid}  up ${duration((Date.now() - s.started) / 1000)}`,
    `project   ${s.project.name} ${s.project.id.slice(0, 12)}  ${s.project.dir}`,
    `track     ${s.track}  (${hw})  budget ${s.budget_s}s  branch ${s.branch}  proposer ${s.proposer}`,
    `swarm     ${s.offline ? 'offline (researching alone)' : `${s.peers} peer${s.peers === 1 ? '' : 's'}`}`,
    ...(s.network != null ? [`network   ${networkLine(s.network)}`] : []),
    `baseline  ${bpb(s.baseline.value)} at ${s.baseline.commit.slice(0, 7)}   ${countsPhrase({ recorded: s.baselines + s.experiments, baselines: s.baselines, experiments: s.experiments, kept: s.kept })}`,
    `margin    ${s.margin != null ? describeMargin(s.margin) : '-'}`,
    `best      ${bestLine(s)}`,
    `now       ${now}`,
    `sandbox   ${s.sandbox == null ? '-' : s.sandbox.confined ? `bubblewrap; limits: ${s.sandbox.limitsLine}` : s.sandbox.line}`,
    `dashboard ${dashboard}`
  ].join('\n')
}

export async function status (home: string, _opts: unknown, out: Output): Promise<number> {
  const node = await requireNode(home)
  const s = await node.get<NodeState>('/api/status')
  out.result({ ...s, control: { url: node.url, dashboard: node.dashboard } }, describe(s, node.dashboard))
  return 0
}

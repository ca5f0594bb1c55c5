/**
 * `swarm-node leaderboard`: the best results per project and hardware track.
 * With a node running it answers (from its store, or by asking its swarm for
 * another project); without one, this command joins the swarm for at most
 * `--timeout` seconds with a throwaway identity, reads the DHT and asks peers.
 */
import { detectHardware, trackFor } from '../../trainer/hardware.ts'
import { findNode } from '../control/client.ts'
import { EXIT_UNREACHABLE } from '../control/constants.ts'
import { age, bpb, hardwareShort, shortPeer, signed, table } from '../control/format.ts'
import { resolveProject, type ProjectRef } from '../control/project-ref.ts'
import { askSwarmBriefly } from '../control/swarm-query.ts'
import type { BoardAnswer, NodeState } from '../control/view.ts'
import type { NetworkFlags } from '../network-config.ts'
import type { Output } from '../output.ts'
import { evidenceLabel, type LeaderboardRow } from '../swarm/leaderboard.ts'

/** A hung nvidia-smi must not eat the --timeout. */
const HARDWARE_PROBE_MS = 2000

export interface LeaderboardOptions extends NetworkFlags {
  project?: string
  track?: string
  limit?: number
  /** Also rows of authors caught lying. */
  all?: boolean
  /** Seconds, for the swarm path. */
  timeout: number
}

function render (rows: LeaderboardRow[], title: (project: string, track: string) => string): string {
  const groups = new Map<string, LeaderboardRow[]>()
  for (const r of rows) {
    const k = `${r.project}\u0000${r.track}`
    groups.set(k, [...(groups.get(k) ?? []), r])
  }
  const parts: string[] = []
  for (const list of groups.values()) {
    const t = table(['rank', 'val_bpb', 'evidence', 'delta', 'atts', 'author', 'hardware', 'age', 'description'],
      list.map(r => [String(r.rank), bpb(r.val_bpb), evidenceLabel(r), signed(r.delta), String(r.attestations), shortPeer(r.author), hardwareShort(r.hardware), age(r.time), r.description]),
      ['r', 'r', 'l', 'r', 'r', 'l', 'l', 'r', 'l'])
    parts.push(`${title(list[0]!.project, list[0]!.track)}\n${t}`)
  }
  return parts.join('\n\n') + '\n(evidence: verified here = measured by this node; reproduced by N = the median of N peers this node trusts; claimed = the author\'s word only, ranked below both. atts: peers that attested it, trusted or not. delta: vs the first baseline of the track)'
}

export async function leaderboard (home: string, opts: LeaderboardOptions, out: Output): Promise<number> {
  const q = { track: opts.track, limit: opts.limit, all: opts.all === true ? 1 : undefined }
  const node = await findNode(home)
  let answer: BoardAnswer & { connected?: number }
  let project: ProjectRef
  if (node != null) {
    const state = await node.get<NodeState>('/api/status')
    project = opts.project == null ? state.project : await resolveProject(home, opts.project)
    if (project.id === state.project.id) project = state.project
    answer = await node.get<BoardAnswer>('/api/leaderboard', { project: project.id, ...q }, (opts.timeout + 5) * 1000)
  } else {
    project = await resolveProject(home, opts.project)
    // The DHT is keyed by track: this machine's is worth asking even when no peer names it.
    const here = trackFor(await detectHardware({ timeoutMs: HARDWARE_PROBE_MS }))
    const res = await askSwarmBriefly(opts, project.id, { track: opts.track, limit: opts.limit, all: opts.all, tracks: [here] }, opts.timeout * 1000, home)
    if (res.connected === 0) {
      return out.fail(`no node runs with the home ${home}, and no peer of the swarm answered within ${opts.timeout}s: pass --bootstrap <multiaddr> of a swarm member (or a bootstrap node), use mDNS on the same LAN, or start a node with \`swarm-node start\``, EXIT_UNREACHABLE)
    }
    answer = { source: 'swarm', project: project.id, rows: res.rows, asked: res.asked, answered: res.answered, refused: res.refused, connected: res.connected, errors: res.errors }
  }
  const name = project.name != null ? `${project.name} (${project.id.slice(0, 12)})` : project.id.slice(0, 12)
  const from = answer.source === 'node' ? 'from the running node' : `from the swarm (${answer.answered ?? 0} of ${answer.asked ?? 0} peers answered)`
  const text = answer.rows.length === 0
    ? `no kept results for project ${name}${opts.track != null ? ` on track ${opts.track}` : ''} yet (${from})`
    : render(answer.rows, (p, t) => `${p === project.id ? name : p.slice(0, 12)}  track ${t}  ${from}`)
  out.result({ ...answer, project: { ...project } }, text)
  return 0
}

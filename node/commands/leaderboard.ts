/**
 * `swarm-node leaderboard`: the best results per project and hardware track.
 * With a node running it answers (from its store, or by asking its swarm for
 * another project). Without one, what this home already knows is printed at
 * once; then the command joins the swarm for at most `--timeout` seconds with
 * a throwaway identity, reads the DHT and asks peers, and prints what the
 * swarm adds (`--offline` stops after the first part).
 */
import { detectHardware, trackFor } from '../../trainer/hardware.ts'
import { findNode } from '../control/client.ts'
import { EXIT_UNREACHABLE } from '../control/constants.ts'
import { age, bpb, hardwareShort, shortPeer, signed, table } from '../control/format.ts'
import { readLocalBoard } from '../control/local-board.ts'
import { resolveProject, type ProjectRef } from '../control/project-ref.ts'
import { askSwarmBriefly } from '../control/swarm-query.ts'
import type { BoardAnswer, NodeState } from '../control/view.ts'
import type { NetworkFlags } from '../network-config.ts'
import type { Output } from '../output.ts'
import { evidenceLabel, rankRows, type LeaderboardRow } from '../swarm/leaderboard.ts'

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
  /** Without a running node: only what this home knows, no swarm. */
  offline?: boolean
}

const FOOTNOTE = '(evidence: verified here = measured by this node; reproduced by N = the median of N peers this node trusts; claimed = the author\'s word only, ranked below both. atts: peers that attested it, trusted or not. delta: vs the first baseline of the track)'

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
  return parts.join('\n\n') + '\n' + FOOTNOTE
}

const nameOf = (project: ProjectRef): string => project.name != null ? `${project.name} (${project.id.slice(0, 12)})` : project.id.slice(0, 12)

function board (rows: LeaderboardRow[], project: ProjectRef, track: string | undefined, from: string): string {
  if (rows.length === 0) return `no kept results for ${nameOf(project)}${track != null ? ` on track ${track}` : ''} yet (${from})`
  return render(rows, (p, t) => `${p === project.id ? nameOf(project) : p.slice(0, 12)}  track ${t}  ${from}`)
}

/** Same results, same figures and attestations: the swarm told us nothing new. */
const sameBoard = (a: LeaderboardRow[], b: LeaderboardRow[]): boolean =>
  a.length === b.length && a.every((r, i) => r.result === b[i]!.result && r.val_bpb === b[i]!.val_bpb && r.attestations === b[i]!.attestations)

/** The swarm's rows plus this node's own keeps that no peer has heard of, ranked together. */
function withOwnKeeps (swarm: LeaderboardRow[], own: LeaderboardRow[], limit?: number): LeaderboardRow[] {
  const known = new Set(swarm.map(r => `${r.track}/${r.child}`))
  const strip = ({ rank: _rank, ...row }: LeaderboardRow): Omit<LeaderboardRow, 'rank'> => row
  return rankRows([...swarm, ...own.filter(r => !known.has(`${r.track}/${r.child}`))].map(strip), limit)
}

export async function leaderboard (home: string, opts: LeaderboardOptions, out: Output): Promise<number> {
  const q = { track: opts.track, limit: opts.limit, all: opts.all === true ? 1 : undefined }
  const node = await findNode(home)
  if (node != null) {
    const state = await node.get<NodeState>('/api/status')
    let project = opts.project == null ? state.project : await resolveProject(home, opts.project)
    if (project.id === state.project.id) project = { ...project, ...state.project }
    const answer = await node.get<BoardAnswer>('/api/leaderboard', { project: project.id, ...q }, (opts.timeout + 5) * 1000)
    const from = answer.source === 'node' ? 'from the running node' : `from the swarm (${answer.answered ?? 0} of ${answer.asked ?? 0} peers answered)`
    out.result({ ...answer, project: { ...project } }, board(answer.rows, project, opts.track, from))
    return 0
  }

  const project = await resolveProject(home, opts.project)
  const hardware = await detectHardware({ timeoutMs: HARDWARE_PROBE_MS })
  const local = await readLocalBoard(home, project.id, { track: opts.track, limit: opts.limit, all: opts.all }, hardware)
  const localFrom = `from ${local.from}`
  const localDoc = { rows: local.rows, from: local.from }
  // What the home knows is shown before the swarm is asked, which takes seconds.
  if (!out.json && (local.rows.length > 0 || opts.offline === true)) process.stdout.write(board(local.rows, project, opts.track, localFrom) + '\n')
  if (opts.offline === true) {
    if (out.json) out.result({ source: 'local', project: { ...project }, rows: local.rows, local: localDoc }, '')
    return 0
  }
  if (!out.json) process.stderr.write(`asking the swarm (up to ${opts.timeout} s; --offline skips this)…\n`)
  // The DHT is keyed by track: this machine's is worth asking even when no peer names it.
  const res = await askSwarmBriefly(opts, project.id, { track: opts.track, limit: opts.limit, all: opts.all, tracks: [trackFor(hardware)] }, opts.timeout * 1000, home)
  if (res.connected === 0) {
    const why = `no peer of the swarm answered within ${opts.timeout}s: pass --bootstrap <multiaddr> of a swarm member (or a bootstrap node), use mDNS on the same LAN, or start a node with \`npx swarm-node start\``
    if (local.rows.length === 0) return out.fail(`no node runs with the home ${home}, this home knows no kept results for ${nameOf(project)}, and ${why}`, EXIT_UNREACHABLE)
    if (out.json) out.result({ source: 'local', project: { ...project }, rows: local.rows, local: localDoc, asked: 0, answered: 0, connected: 0, errors: res.errors }, '')
    else process.stderr.write(`${why}\n(the board above is what this home knows)\n`)
    return 0
  }
  // The swarm was ranked with this home's store as evidence already; keeps only in the results log join by the same rule.
  const rows = local.source === 'log' ? withOwnKeeps(res.rows, local.rows, opts.limit) : res.rows
  const from = `from the swarm (${res.answered} of ${res.asked} peers answered)${local.rows.length > 0 ? ' and this home' : ''}`
  const text = local.rows.length > 0 && sameBoard(rows, local.rows)
    ? `the swarm adds nothing (${res.answered} of ${res.asked} peers answered)`
    : board(rows, project, opts.track, from)
  out.result({ source: 'swarm', project: { ...project }, rows, local: localDoc, asked: res.asked, answered: res.answered, refused: res.refused, connected: res.connected, errors: res.errors }, text)
  return 0
}

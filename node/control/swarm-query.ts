/**
 * Asking the swarm for a project's leaderboard: every connected peer that
 * speaks the `leaderboard` protocol is asked for its view, the DHT for the
 * signed best record of each track heard of, and the answers merged. A
 * command with no local node first joins briefly with a throwaway identity.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PeerId } from '@libp2p/interface'
import { LEADERBOARD_PROTOCOL } from '../../protocol/index.ts'
import type { SwarmLibp2p } from '../libp2p.ts'
import { assembleNode } from '../assemble.ts'
import type { NetworkFlags } from '../network-config.ts'
import { getBestRecords } from '../swarm/dht-best.ts'
import type { LeaderboardQuery, LeaderboardRow } from '../swarm/leaderboard.ts'
import { leaderboardFrom } from '../swarm/protocols.ts'
import { mergeBoards } from './board.ts'

const TRACK_RE = /^[a-z0-9][a-z0-9-]{0,47}$/
/** Rows asked of each peer: more than any --limit, since boards are merged before cutting. */
const ROWS_PER_PEER = 100
const POLL_MS = 200
/** Once one peer can answer, others found within this long are asked too. */
const MORE_PEERS_GRACE_MS = 1500
const STOP_TIMEOUT_MS = 3000

export interface SwarmBoard {
  rows: LeaderboardRow[]
  /** Peers asked, peers that answered, best records read from the DHT. */
  asked: number
  answered: number
  records: number
  errors: string[]
}

/** Connected peers whose identify says they serve leaderboards. */
async function boardPeers (node: SwarmLibp2p): Promise<PeerId[]> {
  const out: PeerId[] = []
  for (const p of node.getPeers()) {
    const info = await node.peerStore.get(p).catch(() => null)
    if (info?.protocols.includes(LEADERBOARD_PROTOCOL) === true) out.push(p)
  }
  return out
}

export async function askSwarm (node: SwarmLibp2p, project: string, q: LeaderboardQuery & { tracks?: string[] }, signal: AbortSignal): Promise<SwarmBoard> {
  const peers = await boardPeers(node)
  // The canonical encoder refuses undefined fields: name the track only when there is one.
  const ask = q.track != null ? { track: q.track, limit: ROWS_PER_PEER } : { limit: ROWS_PER_PEER }
  const answers = await Promise.allSettled(peers.map(async p => await leaderboardFrom(node, p, project, ask, signal)))
  const lists: unknown[][] = []
  const errors: string[] = []
  answers.forEach((a, i) => {
    if (a.status === 'fulfilled') lists.push(a.value)
    else errors.push(`${peers[i]!.toString().slice(-8)}: ${String(a.reason?.message ?? a.reason)}`)
  })
  // The DHT is keyed by track: ask for those named, and those the peers' rows mention.
  const tracks = new Set<string>(q.track != null ? [q.track] : (q.tracks ?? []))
  if (q.track == null) {
    for (const l of lists) for (const r of l) if (typeof (r as LeaderboardRow)?.track === 'string' && TRACK_RE.test((r as LeaderboardRow).track)) tracks.add((r as LeaderboardRow).track)
  }
  const records = (await Promise.all([...tracks].map(async t => await getBestRecords(node, project, t, signal).catch(() => [])))).flat()
  return { rows: mergeBoards(lists, records, project, q), asked: peers.length, answered: lists.length, records: records.length, errors }
}

/** Resolves once a peer can answer (plus a short grace for more), or when `signal` fires. */
async function waitForPeers (node: SwarmLibp2p, signal: AbortSignal): Promise<void> {
  let firstAt: number | null = null
  while (!signal.aborted) {
    if ((await boardPeers(node)).length > 0) firstAt ??= Date.now()
    if (firstAt != null && Date.now() - firstAt >= MORE_PEERS_GRACE_MS) return
    await new Promise(resolve => setTimeout(resolve, POLL_MS))
  }
}

/**
 * Joins the swarm for at most `timeoutMs` with a fresh key (the operator's
 * identity stays with their node), asks it for the board, and leaves. About
 * two thirds of the time may go to finding peers, the rest to asking them.
 */
export async function askSwarmBriefly (flags: NetworkFlags, project: string, q: LeaderboardQuery & { tracks?: string[] }, timeoutMs: number): Promise<SwarmBoard & { connected: number }> {
  // Port 0 unless told: a one-off query must not take the port a node would use.
  // In a public swarm it meets the project's nodes by rendezvous, looking only: a one-off query announces nothing.
  const { node } = await assembleNode(await generateKeyPair('Ed25519'), { ...flags, port: flags.port ?? 0 }, { projects: [project], announce: false })
  const deadline = AbortSignal.timeout(timeoutMs)
  try {
    await waitForPeers(node, AbortSignal.any([deadline, AbortSignal.timeout(Math.round(timeoutMs * 0.66))]))
    const connected = node.getPeers().length
    if (connected === 0) return { rows: [], asked: 0, answered: 0, records: 0, errors: [], connected }
    return { ...await askSwarm(node, project, q, deadline), connected }
  } finally {
    await Promise.race([Promise.resolve(node.stop()).catch(() => {}), new Promise(resolve => setTimeout(resolve, STOP_TIMEOUT_MS).unref())])
  }
}

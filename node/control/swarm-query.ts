/**
 * Asking the swarm for a project's leaderboard: every connected peer that
 * speaks the `leaderboard` protocol is asked for the signed results and
 * attestations behind its board, the DHT for the signed best record of each
 * track heard of, and the asker ranks all of it by its own evidence (rows
 * from peers are never believed). A command with no local node first joins
 * briefly with a throwaway identity; its evidence then comes from the home's
 * own store of the project, when it has one.
 */
import { access, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { LEADERBOARD_PROTOCOL, type AttestationMsg, type ResultMsg } from '../../protocol/index.ts'
import type { SwarmLibp2p } from '../libp2p.ts'
import { assembleNode } from '../assemble.ts'
import { paths } from '../home.ts'
import type { NetworkFlags } from '../network-config.ts'
import { swarmComponents, type SwarmComponents } from '../swarm/components.ts'
import { FOREIGN_PROJECT_MARGIN, LEADERBOARD_MAX_ROWS } from '../swarm/constants.ts'
import { getBestRecords } from '../swarm/dht-best.ts'
import type { LeaderboardQuery, LeaderboardRow } from '../swarm/leaderboard.ts'
import { leaderboardFrom } from '../swarm/protocols.ts'
import { SwarmStore } from '../swarm/store.ts'
import { TrustBook } from '../swarm/trust.ts'
import { boardFromEvidence, type AskerView } from './board.ts'

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
  /** Frames of answers that were not valid signed messages of this project: refused, never shown. */
  refused: number
  errors: string[]
}

/** Connected peers whose identify says they serve leaderboards. */
async function boardPeers (c: SwarmComponents): Promise<PeerId[]> {
  const out = new Map<string, PeerId>()
  for (const conn of c.connectionManager.getConnections()) {
    const p = conn.remotePeer
    const info = await c.peerStore.get(p).catch(() => null)
    if (info?.protocols.includes(LEADERBOARD_PROTOCOL) === true) out.set(p.toString(), p)
  }
  return [...out.values()]
}

/** `local`: signed messages the asker holds already (a home's store), ranked with the answers. */
export async function askSwarm (node: SwarmLibp2p, project: string, q: LeaderboardQuery & { tracks?: string[] }, view: AskerView, signal: AbortSignal, local: Array<ResultMsg | AttestationMsg> = []): Promise<SwarmBoard> {
  const c = swarmComponents(node)
  const peers = await boardPeers(c)
  // The canonical encoder refuses undefined fields: name the track only when there is one.
  const ask = q.track != null ? { track: q.track, limit: LEADERBOARD_MAX_ROWS } : { limit: LEADERBOARD_MAX_ROWS }
  const answers = await Promise.allSettled(peers.map(async p => await leaderboardFrom(c, p, project, ask, signal)))
  const messages: Array<ResultMsg | AttestationMsg> = [...local]
  const errors: string[] = []
  let answered = 0
  let refused = 0
  answers.forEach((a, i) => {
    if (a.status === 'fulfilled') {
      answered++
      messages.push(...a.value.messages)
      refused += a.value.rejected
    } else {
      errors.push(`${peers[i]!.toString().slice(-8)}: ${String(a.reason?.message ?? a.reason)}`)
    }
  })
  // The DHT is keyed by track: ask for those named, and those the signed results mention.
  const tracks = new Set<string>(q.track != null ? [q.track] : (q.tracks ?? []))
  if (q.track == null) for (const m of messages) if (m.kind === 'result') tracks.add(m.track)
  const records = (await Promise.all([...tracks].map(async t => await getBestRecords(c.dht, project, t, signal).catch(() => [])))).flat()
  return { rows: boardFromEvidence(messages, records, project, view, q), asked: peers.length, answered, records: records.length, refused, errors }
}

/** Resolves once a peer can answer (plus a short grace for more), or when `signal` fires. */
async function waitForPeers (node: SwarmLibp2p, signal: AbortSignal): Promise<void> {
  let firstAt: number | null = null
  const c = swarmComponents(node)
  while (!signal.aborted) {
    if ((await boardPeers(c)).length > 0) firstAt ??= Date.now()
    if (firstAt != null && Date.now() - firstAt >= MORE_PEERS_GRACE_MS) return
    await new Promise(resolve => setTimeout(resolve, POLL_MS))
  }
}

/**
 * What a home that is not running a node knows of `project`: its store's
 * results and attestations, and whom to believe (its identity's own
 * measurements and the trust they earned). Nothing when it never followed it.
 */
export async function homeView (home: string, project: string, fallbackSelf: string): Promise<AskerView & { messages: Array<ResultMsg | AttestationMsg> }> {
  const dir = join(home, 'store', project)
  let self = fallbackSelf
  try {
    self = peerIdFromPrivateKey(privateKeyFromProtobuf(await readFile(paths.identity(home)))).toString()
  } catch {
    // No identity in this home: nothing was measured "here" either.
  }
  if (!(await access(dir).then(() => true, () => false))) return { self, messages: [] }
  const store = await SwarmStore.open(dir)
  const known = new TrustBook({ self, margin: FOREIGN_PROJECT_MARGIN })
  const messages = [...store.results(), ...store.attestations()]
  for (const m of messages) known.add(m)
  return { self, known, messages }
}

/**
 * Joins the swarm for at most `timeoutMs` with a fresh key (the operator's
 * identity stays with their node), asks it for the board, and leaves. About
 * two thirds of the time may go to finding peers, the rest to asking them.
 * `home`: rank by what that home's store of the project has seen.
 */
export async function askSwarmBriefly (flags: NetworkFlags, project: string, q: LeaderboardQuery & { tracks?: string[] }, timeoutMs: number, home?: string): Promise<SwarmBoard & { connected: number }> {
  const key = await generateKeyPair('Ed25519')
  const throwaway = peerIdFromPrivateKey(key).toString()
  const view = home != null ? await homeView(home, project, throwaway) : { self: throwaway }
  // Port 0 unless told: a one-off query must not take the port a node would use.
  // In a public swarm it meets the project's nodes by rendezvous, looking only: a one-off query announces nothing.
  const { node } = await assembleNode(key, { ...flags, port: flags.port ?? 0 }, { projects: [project], announce: false })
  const deadline = AbortSignal.timeout(timeoutMs)
  try {
    await waitForPeers(node, AbortSignal.any([deadline, AbortSignal.timeout(Math.round(timeoutMs * 0.66))]))
    const connected = node.getPeers().length
    if (connected === 0) return { rows: [], asked: 0, answered: 0, records: 0, refused: 0, errors: [], connected }
    return { ...await askSwarm(node, project, q, view, deadline, 'messages' in view ? view.messages : []), connected }
  } finally {
    await Promise.race([Promise.resolve(node.stop()).catch(() => {}), new Promise(resolve => setTimeout(resolve, STOP_TIMEOUT_MS).unref())])
  }
}

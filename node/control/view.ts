/**
 * What a running node shows of itself through the control API: its state,
 * peers, history, the swarm's results for the chart and the leaderboard,
 * read from the session and the swarm parts `start` holds. It also turns loop
 * and swarm events into feed events and remembers the experiment in flight.
 */
import { claimedFigure, figureOf, messageId, type EvidenceKind, type ResultMsg } from '../../protocol/index.ts'
import { wireHardware, type Hardware } from '../../trainer/hardware.ts'
import type { LoopEvent } from '../../trainer/loop.ts'
import { marginInForce, type MarginInForce } from '../../trainer/noise.ts'
import type { ExperimentRecord } from '../../trainer/results-log.ts'
import type { Session } from '../../trainer/session.ts'
import { sandboxLine, type SandboxStatus } from '../../trainer/sandbox/index.ts'
import type { SwarmLibp2p } from '../libp2p.ts'
import { networkState, peerLinks, type NetworkState } from '../network-status.ts'
import type { Link } from '../reachability/index.ts'
import type { LeaderboardQuery, LeaderboardRow } from '../swarm/leaderboard.ts'
import type { SwarmEvent, SwarmService } from '../swarm/service.ts'
import type { SwarmStore } from '../swarm/store.ts'
import { localBoard } from './board.ts'
import { MAX_CHART_RESULTS, PROGRESS_EVERY_MS, SWARM_QUERY_TIMEOUT_MS } from './constants.ts'
import type { Feed } from './feed.ts'
import { countRecords, filterRecords, type RecordFilter } from './records.ts'
import { askSwarm } from './swarm-query.ts'

export interface SwarmParts { node: SwarmLibp2p, service: SwarmService, store: SwarmStore }

export interface NodeParts {
  peerId: string
  session: Session
  proposer: string
  swarm: SwarmParts | null
}

export interface Experiment { seq: number, kind: string, description: string, started: number, elapsed_s: number | null, budget_s: number | null, last_line: string }

export interface NodeState {
  peerId: string
  pid: number
  started: number
  offline: boolean
  project: { id: string, name: string, dir: string }
  track: string
  hardware: Hardware
  budget_s: number
  branch: string
  proposer: string
  addrs: string[]
  peers: number
  experiment: Experiment | null
  baseline: { value: number | null, commit: string }
  /** Counted like `results` counts (records.ts): the baseline apart from the experiments. */
  baselines: number
  /** What a candidate must beat the baseline by: max(noise_margin, 2σ measured). */
  margin: MarginInForce
  experiments: number
  kept: number
  /** The swarm's best on this node's track, as this node ranks it (the top of its leaderboard). */
  best: { val_bpb: number | null, author: string, attestations: number, result: string, evidence: EvidenceKind, reproducers: number } | null
  /** The cage runs go through, and which limits are in force (cgroup or prlimit). */
  sandbox: SandboxStatus & { line: string }
  /** Reachability, relays and rendezvous (null when offline). */
  network: NetworkState | null
}

export interface PeerInfo {
  peer: string
  addrs: string[]
  direction: string
  /** Its latest heartbeat, when one arrived. */
  status: { track: string, experiment: string | null, best_bpb: number | null, experiments: number, kept: number, time: number } | null
  trust: number
  /** The best link to it: direct or relayed, and over which transport. */
  link: Link | null
}

/** A swarm result reduced to what the chart and the feed draw. */
export interface ChartResult { id: string, author: string, track: string, status: string, val_bpb: number | null, description: string, time: number }

/** `refused`: frames of peers' answers that were not valid signed messages of the project (never shown). */
export interface BoardAnswer { source: 'node' | 'swarm', project: string, rows: LeaderboardRow[], asked?: number, answered?: number, refused?: number, errors?: string[] }

const ids = new WeakMap<ResultMsg, string>()
function idOf (r: ResultMsg): string {
  let id = ids.get(r)
  if (id == null) ids.set(r, id = messageId(r))
  return id
}

function chartResult (r: ResultMsg): ChartResult {
  return { id: idOf(r), author: r.author, track: r.track, status: r.status, val_bpb: claimedFigure(r), description: r.description, time: r.time }
}

function countsOf (history: ExperimentRecord[]): Pick<NodeState, 'baselines' | 'experiments' | 'kept'> {
  const { baselines, experiments, kept } = countRecords(history)
  return { baselines, experiments, kept }
}

function sandboxState (s: Session): NodeState['sandbox'] {
  const status = s.sandbox.status()
  return { ...status, line: sandboxLine(status) }
}

export class NodeView {
  readonly started = Date.now()
  private current: Experiment | null = null
  private lastProgress = 0

  constructor (private readonly parts: NodeParts, private readonly feed: Feed) {}

  private get session (): Session { return this.parts.session }

  /** Feeds a loop event to the feed (progress at most once a second). */
  onLoop (e: LoopEvent): void {
    switch (e.type) {
      case 'experiment-start':
        this.current = { seq: e.seq, kind: e.kind, description: e.description, started: Date.now(), elapsed_s: null, budget_s: null, last_line: '' }
        this.feed.publish('experiment-start', { seq: e.seq, kind: e.kind, description: e.description })
        return
      case 'progress':
        if (this.current != null) Object.assign(this.current, { elapsed_s: e.elapsedS, budget_s: e.budgetS ?? null, last_line: e.lastLine.slice(0, 200) })
        if (Date.now() - this.lastProgress < PROGRESS_EVERY_MS) return
        this.lastProgress = Date.now()
        this.feed.publish('progress', { seq: e.seq, kind: e.kind, elapsed_s: e.elapsedS, budget_s: e.budgetS ?? null }, false)
        return
      case 'experiment-end':
        this.current = null
        this.feed.publish('experiment-end', { record: e.record, baseline: e.baselineAfter, val_bpb: figureOf(e.record) })
        return
      case 'log':
      case 'idle':
        this.feed.publish('log', { level: e.type === 'log' ? e.level : 'info', message: e.type === 'log' ? e.message : e.reason })
    }
  }

  /** Feeds a swarm event; a received result comes with what the chart needs. */
  onSwarm (e: SwarmEvent): void {
    if (e.type === 'published' && e.kind === 'status') return
    const stored = e.type === 'received' && e.kind === 'result' ? this.parts.swarm?.store.get(e.id)?.msg : undefined
    this.feed.publish('swarm', { event: e, ...(stored?.kind === 'result' ? { result: chartResult(stored) } : {}) })
  }

  state (): NodeState {
    const s = this.session
    const swarm = this.parts.swarm
    // The same rule and evidence as the leaderboard: the best is its first row.
    const top = this.board({ track: s.track, limit: 1 })[0]
    const best = top != null ? { val_bpb: top.val_bpb, author: top.author, attestations: top.attestations, result: top.result, evidence: top.evidence, reproducers: top.reproducers } : null
    return {
      peerId: this.parts.peerId,
      pid: process.pid,
      started: this.started,
      offline: swarm == null,
      project: { id: s.project.id, name: s.project.manifest.name, dir: s.project.dir },
      track: s.track,
      hardware: s.hardware,
      budget_s: s.project.manifest.budget_s,
      branch: s.workspace.branch,
      proposer: this.parts.proposer,
      addrs: swarm?.node.getMultiaddrs().map(a => a.toString()) ?? [],
      peers: swarm?.node.getPeers().length ?? 0,
      experiment: this.current,
      baseline: { value: s.baseline.value, commit: s.baseline.commit },
      margin: marginInForce(s),
      ...countsOf(s.history),
      best,
      sandbox: sandboxState(s),
      network: swarm != null ? networkState(swarm.node) : null
    }
  }

  peers (): PeerInfo[] {
    const swarm = this.parts.swarm
    if (swarm == null) return []
    const byPeer = new Map<string, PeerInfo>()
    const links = peerLinks(swarm.node)
    for (const c of swarm.node.getConnections()) {
      const peer = c.remotePeer.toString()
      const info = byPeer.get(peer) ?? { peer, addrs: [], direction: c.direction, status: null, trust: swarm.service.trust.score(peer), link: links.get(peer) ?? null }
      info.addrs.push(c.remoteAddr.toString())
      byPeer.set(peer, info)
    }
    for (const st of swarm.store.statuses()) {
      const info = byPeer.get(st.author)
      if (info != null) info.status = { track: st.track, experiment: st.experiment, best_bpb: st.best_bpb, experiments: st.experiments, kept: st.kept, time: st.time }
    }
    return [...byPeer.values()].sort((a, b) => a.peer.localeCompare(b.peer))
  }

  results (f: RecordFilter): ExperimentRecord[] {
    return filterRecords(this.session.history, f)
  }

  /** Every result of the swarm this node stored (its own included), newest last, for the chart. */
  swarmResults (): ChartResult[] {
    const swarm = this.parts.swarm
    if (swarm == null) return []
    return swarm.store.results().slice(-MAX_CHART_RESULTS).map(chartResult)
  }

  /** This node's project: from the store, or for an offline node its own keeps. */
  private board (q: LeaderboardQuery): LeaderboardRow[] {
    const s = this.session
    const swarm = this.parts.swarm
    const project = s.project.id
    return swarm != null
      ? swarm.service.board(q)
      : localBoard(s.history, { project, peerId: this.parts.peerId, hardware: wireHardware(s.hardware) }, q)
  }

  /** This project's board from the store; another project's from the swarm this node is in. */
  async leaderboard (q: LeaderboardQuery, signal?: AbortSignal): Promise<BoardAnswer> {
    const s = this.session
    const swarm = this.parts.swarm
    const project = q.project ?? s.project.id
    if (project === s.project.id) return { source: 'node', project, rows: this.board(q) }
    if (swarm == null) throw new Error(`this node is offline and only knows its own project ${s.project.id.slice(0, 12)}`)
    const deadline = AbortSignal.timeout(SWARM_QUERY_TIMEOUT_MS)
    // Another project's board, ranked by what this node has seen of its peers.
    const res = await askSwarm(swarm.node, project, q, { self: this.parts.peerId, known: swarm.service.trust }, signal != null ? AbortSignal.any([signal, deadline]) : deadline)
    return { source: 'swarm', project, rows: res.rows, asked: res.asked, answered: res.answered, refused: res.refused }
  }
}

/**
 * The leaderboard this home knows without asking anyone: what its node stored
 * from the swarm (`<home>/store/<project id>/`), or, for a home that only ever
 * researched offline, its own kept results. Ranked by the same functions the
 * running node uses; nothing here decides an order of its own.
 */
import { readFile, stat } from 'node:fs/promises'
import { privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { wireHardware, type Hardware } from '../../trainer/hardware.ts'
import { ResultsLog } from '../../trainer/results-log.ts'
import { paths } from '../home.ts'
import type { LeaderboardQuery, LeaderboardRow } from '../swarm/leaderboard.ts'
import { boardFromEvidence, localBoard } from './board.ts'
import { experimentsPath } from './local-results.ts'
import { homeView } from './swarm-query.ts'

export interface LocalBoard {
  rows: LeaderboardRow[]
  /** Where the rows come from, in words: "this home's store (12 results)". */
  from: string
  /** `store`: what this home's node heard from the swarm; `log`: only its own results log. */
  source: 'store' | 'log' | 'none'
}

const exists = async (p: string): Promise<boolean> => await stat(p).then(() => true, () => false)

/** The home's peer id, without creating an identity where there is none. */
async function homePeerId (home: string): Promise<string | null> {
  try {
    return peerIdFromPrivateKey(privateKeyFromProtobuf(await readFile(paths.identity(home)))).toString()
  } catch {
    return null
  }
}

export async function readLocalBoard (home: string, project: string, q: LeaderboardQuery, hardware: Hardware): Promise<LocalBoard> {
  const peerId = await homePeerId(home)
  // The home's store, ranked under the trust its own measurements earned: the rule a running node applies.
  const view = await homeView(home, project, peerId ?? 'no-identity')
  const results = view.messages.filter(m => m.kind === 'result' && m.project === project).length
  if (results > 0) {
    return { rows: boardFromEvidence(view.messages, [], project, view, q), from: `this home's store (${results} result${results === 1 ? '' : 's'} heard)`, source: 'store' }
  }
  const log = experimentsPath(home, project)
  if (peerId == null || !(await exists(log))) return { rows: [], from: 'this home (nothing recorded)', source: 'none' }
  const history = await new ResultsLog({ tsvPath: '', jsonlPath: log }).readAll()
  return { rows: localBoard(history, { project, peerId, hardware: wireHardware(hardware) }, q), from: 'this home\'s own results log', source: 'log' }
}

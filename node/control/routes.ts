/**
 * The control API's questions, from URL to JSON (no HTTP here): query
 * parameters are checked and turned into typed filters, and a bad one is a
 * 400 with a sentence, never a guess.
 */
import { HASH_PATTERN, TRACK_PATTERN } from '../../protocol/index.ts'
import type { LeaderboardQuery } from '../swarm/leaderboard.ts'
import { RECORD_STATUSES, isRecordStatus, type RecordFilter } from './records.ts'

/** What the server asks of the node; `NodeView` is the real one, tests pass fakes. */
export interface ControlSource {
  state: () => unknown
  peers: () => unknown
  results: (f: RecordFilter) => unknown
  swarmResults: () => unknown
  leaderboard: (q: LeaderboardQuery, signal: AbortSignal) => Promise<unknown>
}

export class BadRequest extends Error {}

function int (params: URLSearchParams, name: string, min: number, max: number): number | undefined {
  const v = params.get(name)
  if (v == null) return undefined
  const n = Number(v)
  if (!Number.isInteger(n) || n < min || n > max) throw new BadRequest(`${name} must be an integer ${min}..${max}`)
  return n
}

export function recordFilter (params: URLSearchParams): RecordFilter {
  const status = params.get('status') ?? undefined
  if (status != null && !isRecordStatus(status)) throw new BadRequest(`status must be one of ${RECORD_STATUSES.join(', ')}`)
  return { status, limit: int(params, 'limit', 1, 1_000_000), since: int(params, 'since', 0, Number.MAX_SAFE_INTEGER) }
}

export function boardQuery (params: URLSearchParams): LeaderboardQuery {
  const project = params.get('project') ?? undefined
  const track = params.get('track') ?? undefined
  if (project != null && !HASH_PATTERN.test(project)) throw new BadRequest('project must be a 64-hex project id')
  if (track != null && !TRACK_PATTERN.test(track)) throw new BadRequest('track must look like cpu or gpu-h100')
  return { project, track, limit: int(params, 'limit', 1, 100), all: flag(params, 'all') }
}

/** A yes/no parameter: `1`/`true` or `0`/`false`; absent is no. */
function flag (params: URLSearchParams, name: string): boolean {
  const v = params.get(name)
  if (v == null || v === '0' || v === 'false') return false
  if (v === '1' || v === 'true' || v === '') return true
  throw new BadRequest(`${name} must be 1 or 0`)
}

/** The JSON answer to GET `path`, or undefined when there is no such route. */
export async function answer (source: ControlSource, path: string, params: URLSearchParams, signal: AbortSignal): Promise<unknown> {
  switch (path) {
    case '/api/status': return source.state()
    case '/api/peers': return { peers: source.peers() }
    case '/api/results': return { records: source.results(recordFilter(params)) }
    case '/api/chart': return { results: source.swarmResults() }
    case '/api/leaderboard': return await source.leaderboard(boardQuery(params), signal)
    default: return undefined
  }
}

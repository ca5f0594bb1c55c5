/**
 * One line per swarm event for the operator (or one JSON object with --json).
 * Each is one clean line: peers' words inside it (reasons, notes, error text)
 * can neither style the terminal nor start a line of their own.
 */
import type { SwarmEvent } from './swarm/service.ts'
import type { Output } from './output.ts'
import { safeLine } from './sanitize.ts'

const short = (id: string): string => id.length > 12 ? id.slice(-8) : id
const fig = (x: number | null): string => x == null ? '-' : x.toFixed(4)

function text (e: SwarmEvent): string | null {
  switch (e.type) {
    case 'published': return e.kind === 'status' ? null : `→ published ${e.kind} ${e.id.slice(0, 8)}${'recipients' in e && e.recipients != null ? ` to ${e.recipients} peers` : ''}`
    case 'received': return e.kind === 'status' ? null : `← ${e.kind} ${e.id.slice(0, 8)} from ${short(e.author)}`
    case 'rejected': return `✗ rejected gossip from ${short(e.from)}: ${e.reason}`
    case 'adoption-queued': return `↻ will reproduce ${e.result.slice(0, 8)} by ${short(e.author)} (claims ${fig(e.claimed)})`
    case 'attested': return `${e.ok ? '✓ reproduced' : '✗ did not reproduce'} ${e.result.slice(0, 8)} by ${short(e.author)}: ${e.reason}`
    case 'best': return `★ best on ${e.track}: ${fig(e.val_bpb)} (${e.evidence === 'verified' ? 'verified here' : e.evidence}, ${e.attestations} attestations, from ${e.source})`
    case 'adoption-dropped': return `✗ dropped ${e.result.slice(0, 8)} by ${short(e.author)}: ${e.reason}`
    case 'synced': return `⇄ synced ${e.added} messages from ${short(e.peer)}${e.rejected > 0 ? `, ${e.rejected} refused` : ''}`
    case 'trust': return `trust in ${short(e.peer)} is now ${e.score}${e.distrusted ? ' (its results are ignored)' : ''}`
    case 'peer': return null
    case 'note': return e.message
  }
}

export function renderSwarmEvent (out: Output, e: SwarmEvent): void {
  const t = text(e)
  const { type, ...data } = e
  if (out.json) out.event(`swarm:${type}`, data, '')
  else if (t != null) out.event(`swarm:${type}`, data, safeLine(t))
}

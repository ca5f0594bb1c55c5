/**
 * What `swarm-node start` adds to a running node for the operator: the
 * control API and dashboard, fed by the loop's and the swarm's events.
 *
 * @example
 * ```ts
 * const control = await startNodeControl({ home, out, peerId, session, proposer: 'mutation', swarm })
 * onLoopEvent = e => { control.loopEvent(e) }
 * await control.stop()
 * ```
 */
import type { LoopEvent } from '../../trainer/loop.ts'
import type { Session } from '../../trainer/session.ts'
import type { Output } from '../output.ts'
import type { SwarmEvent } from '../swarm/service.ts'
import { CONTROL_PORT_ENV } from './constants.ts'
import { controlPath } from './control-file.ts'
import { Feed } from './feed.ts'
import { startControlServer } from './server.ts'
import { NodeView, type SwarmParts } from './view.ts'

export interface NodeControlInit {
  home: string
  out: Output
  peerId: string
  session: Session
  proposer: string
  swarm: SwarmParts | null
  /** Default: $SWARM_NODE_CONTROL_PORT, else 0 (a free port). */
  port?: number
  /** A person watches the terminal: print the dashboard link with its token. */
  tty?: boolean
}

export interface NodeControl {
  url: string
  loopEvent: (e: LoopEvent) => void
  swarmEvent: (e: SwarmEvent) => void
  stop: () => Promise<void>
}

function envPort (): number | undefined {
  const v = process.env[CONTROL_PORT_ENV]
  if (v == null || v === '') return undefined
  const n = Number(v)
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${CONTROL_PORT_ENV}=${v}: expected a port number 0..65535`)
  return n
}

export async function startNodeControl (init: NodeControlInit): Promise<NodeControl> {
  const feed = new Feed()
  const view = new NodeView({ peerId: init.peerId, session: init.session, proposer: init.proposer, swarm: init.swarm }, feed)
  const server = await startControlServer({ home: init.home, source: view, feed, port: init.port ?? envPort() })
  // The token stays out of logs; a terminal shows the link, since its reader can read the home anyway.
  init.out.event('control', { url: server.url, port: server.port, file: controlPath(init.home) },
    init.tty === true
      ? `dashboard ${server.dashboard}`
      : `control API on ${server.url} (\`npx swarm-node status\` prints the dashboard link)`)
  return {
    url: server.url,
    loopEvent: e => { view.onLoop(e) },
    swarmEvent: e => { view.onSwarm(e) },
    stop: server.stop
  }
}

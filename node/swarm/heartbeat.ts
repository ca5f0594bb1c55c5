/**
 * The node's heartbeat: a signed status message on the topic every
 * STATUS_INTERVAL_MS (what it runs, its best, its counts), so peers and
 * `peers` see who is alive and doing what. `stop` clears the timer.
 */
import type { Logger } from '@libp2p/interface'
import type { Component, SwarmComponents } from './components.ts'
import { STATUS_INTERVAL_MS } from './constants.ts'

export interface HeartbeatInit {
  /** Signs and publishes one status message. */
  beat: () => Promise<void>
  onError?: (err: Error) => void
  intervalMs?: number
}

export class Heartbeat implements Component {
  readonly [Symbol.toStringTag] = 'swarm-node/heartbeat'
  private readonly log: Logger
  private timer?: ReturnType<typeof setInterval>

  constructor (components: SwarmComponents, private readonly init: HeartbeatInit) {
    this.log = components.logger.forComponent('swarm-node:heartbeat')
  }

  isStarted (): boolean { return this.timer != null }

  start (): void {
    if (this.timer != null) return
    this.timer = setInterval(() => {
      this.init.beat().catch(err => {
        if (this.timer == null) return
        this.log('heartbeat failed - %e', err)
        this.init.onError?.(err)
      })
    }, this.init.intervalMs ?? STATUS_INTERVAL_MS)
    this.timer.unref?.()
  }

  stop (): void {
    clearInterval(this.timer)
    this.timer = undefined
  }
}

export function heartbeat (init: HeartbeatInit): (components: SwarmComponents) => Heartbeat {
  return components => new Heartbeat(components, init)
}

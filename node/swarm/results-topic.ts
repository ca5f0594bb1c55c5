/**
 * The project's GossipSub topic: subscribed with peer scoring on, every
 * inbound message checked (gossip-check.ts) and handed to `accept` before it
 * is forwarded, and our own messages published. `stop` removes the validator
 * and unsubscribes.
 */
import { TopicValidatorResult, type Message as GossipMessage } from '@libp2p/gossipsub'
import type { Logger } from '@libp2p/interface'
import { encodeMessage, topicFor, type Message } from '../../protocol/index.ts'
import { setTopicScoreParams, topicScoreParams } from '../libp2p.ts'
import type { Component, SwarmComponents } from './components.ts'
import { checkGossip, type GossipGate } from './gossip-check.ts'

export interface ResultsTopicInit {
  project: string
  /** Rate limits before the checks (gossip-check.ts); without one, every message is checked. */
  gate?: GossipGate
  /**
   * A message that passed the checks: store it and act on it. True means new
   * and wanted (forward it); false means a duplicate or unwanted (drop it quietly).
   */
  accept: (m: Message) => Promise<boolean>
  /** A message that failed the checks, and why (the sender's score pays for it). */
  onRejected?: (from: string, reason: string) => void
  /** Peer scoring could not be set up; the topic still works. */
  onNote?: (message: string) => void
}

export class ResultsTopic implements Component {
  readonly [Symbol.toStringTag] = 'swarm-node/results-topic'
  readonly topic: string
  private readonly log: Logger
  private started = false

  constructor (private readonly components: SwarmComponents, private readonly init: ResultsTopicInit) {
    this.topic = topicFor(init.project)
    this.log = components.logger.forComponent('swarm-node:results-topic')
  }

  isStarted (): boolean { return this.started }

  start (): void {
    if (this.started) return
    const { pubsub } = this.components
    pubsub.topicValidators.set(this.topic, async (peer, msg) => await this.validate(peer.toString(), msg))
    try { setTopicScoreParams(pubsub, this.topic, topicScoreParams()) } catch (err: any) { this.init.onNote?.(`peer scoring for the topic is off: ${err.message}`) }
    pubsub.subscribe(this.topic)
    this.started = true
  }

  stop (): void {
    if (!this.started) return
    this.started = false
    const { pubsub } = this.components
    pubsub.topicValidators.delete(this.topic)
    pubsub.unsubscribe(this.topic)
  }

  /** Publishes a signed message; resolves to the number of peers it went to. */
  async publish (m: Message): Promise<number> {
    const res = await this.components.pubsub.publish(this.topic, encodeMessage(m))
    return res.recipients.length
  }

  /** Reject what is malformed or forged (GossipSub lowers the sender's score), ignore what is stale or unwanted. */
  private async validate (peer: string, msg: GossipMessage): Promise<TopicValidatorResult> {
    const v = this.init.gate != null ? await this.init.gate.check(peer, msg) : await checkGossip(msg, this.init.project)
    if (!v.ok) {
      if (v.reject && v.report !== false) this.init.onRejected?.(v.from, v.reason)
      return v.reject ? TopicValidatorResult.Reject : TopicValidatorResult.Ignore
    }
    try {
      return await this.init.accept(v.message) ? TopicValidatorResult.Accept : TopicValidatorResult.Ignore
    } catch (err) {
      this.log.error('accepting a message failed - %e', err)
      return TopicValidatorResult.Ignore
    }
  }
}

export function resultsTopic (init: ResultsTopicInit): (components: SwarmComponents) => ResultsTopic {
  return components => new ResultsTopic(components, init)
}

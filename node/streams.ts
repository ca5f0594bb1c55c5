/**
 * Length-prefixed request/response over libp2p 3 streams.
 *
 * Wire format (every frame is a varint length + bytes, as `lpStream` writes):
 *   client -> server: one frame, the request; then the client closes its
 *                     writable end.
 *   server -> client: zero or more DATA frames (0x00 + payload), then END
 *                     (0x01), or at any point one ERROR frame (0x02 + UTF-8
 *                     JSON `{ code, message }`); then the server closes.
 * An explicit END tells a complete answer from a connection that died midway.
 *
 * Frames longer than the reader's cap abort the stream: the length prefix is
 * checked before the payload is read, and the read buffer itself is bounded.
 *
 * @example
 * ```ts
 * await handleRequests(node, FETCH_PROTOCOL, { maxRequestBytes: 128, timeoutMs: 10_000 },
 *   async (req, peer, signal) => lookUp(req))
 * const [content] = await request(node, peerId, FETCH_PROTOCOL, hash, { maxResponseBytes: 512 * 1024, timeoutMs: 10_000 })
 * ```
 */
import { lpStream } from '@libp2p/utils'
import { concat } from 'uint8arrays/concat'
import { fromString as utf8Bytes } from 'uint8arrays/from-string'
import { toString as utf8Text } from 'uint8arrays/to-string'
import type { Libp2p, PeerId, Stream, Connection, Logger } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import {
  RATE_LIMIT_MAX_PEERS, STREAM_DEFAULT_MAX_FRAMES, STREAM_MAX_ERROR_BYTES, STREAM_MAX_INBOUND_PER_CONNECTION,
  STREAM_MAX_OUTBOUND_PER_CONNECTION, STREAM_TOTAL_RATE_FACTOR
} from './constants.ts'
import { TokenBuckets } from './rate-limit.ts'
import { safeLine } from './sanitize.ts'

const DATA = 0x00
const END = 0x01
const ERROR = 0x02
/** Varint length prefix (<= 10 bytes) + the kind byte, per frame. */
const FRAME_OVERHEAD = 11

export const STREAM_ERROR_CODES = [
  'timeout', // our deadline passed (or the server's, when `remote`)
  'aborted', // the caller's signal fired
  'too-large', // a frame over the reader's cap
  'too-many-frames', // more response frames than the caller allows
  'rate-limited', // the server refuses: too many requests from us
  'protocol', // malformed frames, missing END, unknown frame kind
  'closed', // the stream or connection went away
  'dial', // could not open the stream
  'internal', // the handler failed (details stay on the server)
  'not-found', 'bad-request' // for handlers to throw
] as const
export type StreamErrorCode = typeof STREAM_ERROR_CODES[number]
/**
 * Codes only the asking side can know (the network or the asker ended the
 * exchange, the peer said nothing); in a peer's ERROR frame they read as `protocol`.
 */
export const LOCAL_ONLY_CODES: readonly string[] = ['closed', 'dial', 'aborted']

export class StreamError extends Error {
  override readonly name = 'StreamError'
  /** True when the peer sent this error in an ERROR frame. */
  readonly remote: boolean
  constructor (readonly code: StreamErrorCode, message: string, opts: { remote?: boolean, cause?: unknown } = {}) {
    super(message, { cause: opts.cause })
    this.remote = opts.remote === true
  }
}

export interface ProtocolHandlerInit {
  /** Requests over this size abort the stream unread. */
  maxRequestBytes: number
  /** A handler frame over this size is replaced by a `too-large` error (a bug on our side). */
  maxResponseBytes?: number
  /** Whole exchange, reading the request to sending END. */
  timeoutMs: number
  /**
   * Requests per peer and minute (a minute's worth at once), and for all peers
   * together `totalPerMinute` (default STREAM_TOTAL_RATE_FACTOR times the
   * per-peer rate): fresh peer ids are free, the handler's work is not.
   */
  rateLimit?: { perPeerPerMinute: number, totalPerMinute?: number }
  maxInboundStreams?: number
  /** Also serve over limited (relayed) links; small exchanges only, a relay cuts them off at its data limit. */
  runOnLimitedConnection?: boolean
}

export type RequestHandler = (req: Uint8Array, peerId: string, signal: AbortSignal) => Promise<Uint8Array | Uint8Array[]>

type StreamNode = Pick<Libp2p, 'handle' | 'dialProtocol' | 'logger'>

/** Register `handler` for `protocolId`. A handler error never escapes: the peer gets an ERROR frame. */
export async function handleRequests (node: StreamNode, protocolId: string, init: ProtocolHandlerInit, handler: RequestHandler): Promise<void> {
  const log = node.logger.forComponent(`swarm-node:streams:${protocolId}`)
  const limiter = init.rateLimit != null ? requestLimiter(init.rateLimit) : undefined
  await node.handle(protocolId, (stream, connection) => {
    serve(stream, connection, init, handler, limiter, log)
      .catch(err => { log.error('serving %p failed - %e', connection.remotePeer, err) })
  }, {
    maxInboundStreams: init.maxInboundStreams ?? STREAM_MAX_INBOUND_PER_CONNECTION,
    maxOutboundStreams: STREAM_MAX_OUTBOUND_PER_CONNECTION,
    runOnLimitedConnection: init.runOnLimitedConnection === true
  })
}

/** Null when `peer` may make a request now, else the sentence to refuse it with. */
type RequestLimiter = (peer: string) => string | null

function requestLimiter (rate: { perPeerPerMinute: number, totalPerMinute?: number }): RequestLimiter {
  // Bursts of a minute's worth, refilled evenly over the minute.
  const perPeer = new TokenBuckets({ burst: rate.perPeerPerMinute, perMinute: rate.perPeerPerMinute }, RATE_LIMIT_MAX_PEERS)
  const total = rate.totalPerMinute ?? rate.perPeerPerMinute * STREAM_TOTAL_RATE_FACTOR
  const all = new TokenBuckets({ burst: total, perMinute: total }, 1)
  return peer => {
    if (!perPeer.has(peer)) return 'too many requests, slow down'
    if (!all.take('all')) return 'too many requests from everyone, try again later'
    perPeer.take(peer)
    return null
  }
}

async function serve (stream: Stream, connection: Connection, init: ProtocolHandlerInit, handler: RequestHandler, limiter: RequestLimiter | undefined, log: Logger): Promise<void> {
  const peer = connection.remotePeer.toString()
  const signal = AbortSignal.timeout(init.timeoutMs)
  const lp = lpStream(stream, { maxDataLength: init.maxRequestBytes, maxBufferSize: init.maxRequestBytes + FRAME_OVERHEAD })
  const sendError = async (code: StreamErrorCode, message: string): Promise<void> => {
    await lp.write(errorFrame(code, message), { signal })
    await stream.close({ signal })
  }
  try {
    const refused = limiter?.(peer)
    if (refused != null) {
      log('rate limit: refusing %s (%s)', peer, refused)
      await sendError('rate-limited', refused)
      return
    }
    const req = (await withSignal(lp.read({ signal }), signal)).subarray()
    let frames: Uint8Array[]
    try {
      const res = await withSignal(handler(req, peer, signal), signal)
      frames = Array.isArray(res) ? res : [res]
    } catch (err) {
      if (signal.aborted) throw err
      // Handlers throw StreamError for answers the peer should see (not-found…); anything else stays here.
      if (err instanceof StreamError) {
        await sendError(err.code, err.message)
      } else {
        log.error('handler failed for %s - %e', peer, err)
        await sendError('internal', 'the handler failed')
      }
      return
    }
    const tooBig = init.maxResponseBytes != null ? frames.find(f => f.byteLength > init.maxResponseBytes!) : undefined
    if (tooBig != null) {
      log.error('handler answered %d bytes, over maxResponseBytes %d', tooBig.byteLength, init.maxResponseBytes)
      await sendError('too-large', 'response over the server limit')
      return
    }
    for (const f of frames) await lp.write(concat([Uint8Array.of(DATA), f]), { signal })
    await lp.write(Uint8Array.of(END), { signal })
    await stream.close({ signal })
  } catch (err) {
    // Protocol violations, our deadline, a vanished peer: no polite answer, just drop the stream.
    const e = toStreamError(err, signal)
    log('stream from %s aborted: %s', peer, e.message)
    if (e.code === 'timeout') {
      // Best effort: a client with a longer deadline learns why.
      try { await lp.write(errorFrame('timeout', 'server deadline passed'), { signal: AbortSignal.timeout(500) }) } catch {}
    }
    stream.abort(e)
  }
}

export interface RequestOptions {
  /** Cap per DATA frame. */
  maxResponseBytes: number
  /** DATA frames accepted; default 1. */
  maxFrames?: number
  /** Whole exchange, dial included. */
  timeoutMs: number
  signal?: AbortSignal
  /** May go over a limited (relayed) link when that is all there is. */
  runOnLimitedConnection?: boolean
}

/** Send one request and collect the DATA frames of the answer. Throws StreamError. */
export async function request (node: StreamNode, peer: PeerId | Multiaddr, protocolId: string, req: Uint8Array, opts: RequestOptions): Promise<Uint8Array[]> {
  const deadline = AbortSignal.timeout(opts.timeoutMs)
  const signal = opts.signal != null ? AbortSignal.any([opts.signal, deadline]) : deadline
  const maxFrames = opts.maxFrames ?? STREAM_DEFAULT_MAX_FRAMES
  let stream: Stream
  try {
    stream = await node.dialProtocol(peer, protocolId, { signal, runOnLimitedConnection: opts.runOnLimitedConnection === true })
  } catch (err) {
    const e = toStreamError(err, signal, deadline)
    throw e.code === 'timeout' || e.code === 'aborted' ? e : new StreamError('dial', `cannot open ${protocolId}: ${(err as Error).message}`, { cause: err })
  }
  // The read buffer may hold every frame the caller accepts, never more.
  const frameCap = Math.max(opts.maxResponseBytes + 1, STREAM_MAX_ERROR_BYTES)
  const lp = lpStream(stream, { maxDataLength: frameCap, maxBufferSize: (maxFrames + 1) * (frameCap + FRAME_OVERHEAD) })
  try {
    await lp.write(req, { signal })
    await stream.close({ signal })
    const out: Uint8Array[] = []
    while (true) {
      const frame = (await withSignal(lp.read({ signal }), signal)).subarray()
      const kind = frame[0]
      if (kind === END && frame.byteLength === 1) return out
      if (kind === ERROR) throw parseErrorFrame(frame)
      if (kind !== DATA) throw new StreamError('protocol', `unknown frame kind ${String(kind)}`)
      if (frame.byteLength - 1 > opts.maxResponseBytes) throw new StreamError('too-large', `response frame of ${frame.byteLength - 1} bytes is over ${opts.maxResponseBytes}`)
      if (out.length >= maxFrames) throw new StreamError('too-many-frames', `more than ${maxFrames} response frames`)
      out.push(frame.subarray(1))
    }
  } catch (err) {
    const e = toStreamError(err, signal, deadline)
    stream.abort(e)
    throw e
  }
}

function errorFrame (code: StreamErrorCode, message: string): Uint8Array {
  const body = utf8Bytes(JSON.stringify({ code, message: message.slice(0, 200) }))
  return concat([Uint8Array.of(ERROR), body])
}

function parseErrorFrame (frame: Uint8Array): StreamError {
  try {
    const { code, message } = JSON.parse(utf8Text(frame.subarray(1)))
    if (typeof code === 'string' && typeof message === 'string') {
      // The peer's words end up in notes and on the terminal: one clean line, and only codes we know.
      // 'closed', 'dial' and 'aborted' describe this side's own link and signal; a server cannot send them.
      const known = (STREAM_ERROR_CODES as readonly string[]).includes(code) && !LOCAL_ONLY_CODES.includes(code) ? code as StreamErrorCode : 'protocol'
      return new StreamError(known, `peer: ${safeLine(message, 200)}`, { remote: true })
    }
  } catch {}
  return new StreamError('protocol', 'malformed error frame')
}

/** Map whatever a stream operation threw onto our codes. */
function toStreamError (err: unknown, signal: AbortSignal, deadline?: AbortSignal): StreamError {
  if (err instanceof StreamError) return err
  const e = err as Error | undefined
  if (signal.aborted) {
    const timedOut = deadline != null ? deadline.aborted : (signal.reason as Error | undefined)?.name === 'TimeoutError'
    return timedOut
      ? new StreamError('timeout', 'deadline passed', { cause: err })
      : new StreamError('aborted', 'aborted by the caller', { cause: err })
  }
  switch (e?.name) {
    case 'InvalidDataLengthError':
    case 'InvalidDataLengthLengthError':
    case 'StreamBufferError':
      return new StreamError('too-large', e.message, { cause: err })
    case 'InvalidMessageLengthError':
      return new StreamError('protocol', e.message, { cause: err })
    case 'UnexpectedEOFError':
      return new StreamError('protocol', 'stream ended before the answer was complete', { cause: err })
    default:
      return new StreamError('closed', e?.message ?? String(err), { cause: err })
  }
}

/** Reject as soon as `signal` aborts, even when `p` would never settle (a hung handler). */
async function withSignal<T> (p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) throw signal.reason
  let onAbort: (() => void) | undefined
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => { reject(signal.reason) }
    signal.addEventListener('abort', onAbort, { once: true })
  })
  aborted.catch(() => {}) // an abort after `p` settled is nobody's business
  try {
    return await Promise.race([p, aborted])
  } finally {
    signal.removeEventListener('abort', onAbort!)
  }
}

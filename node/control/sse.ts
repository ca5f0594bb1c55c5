/**
 * `/api/events`: the feed as Server-Sent Events. A client first gets the kept
 * events it has not seen (after `Last-Event-ID`, or all kept ones), then live
 * ones; a comment every few seconds keeps idle connections open.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { SSE_HEARTBEAT_MS } from './constants.ts'
import type { Feed, FeedEvent } from './feed.ts'
import { safeJson } from '../sanitize.ts'

// safeJson: peers' words in the feed reach browsers and terminals (curl) with no control character raw.
const frame = (e: FeedEvent): string => `id: ${e.id}\nevent: ${e.type}\ndata: ${safeJson(e)}\n\n`

export function serveEvents (req: IncomingMessage, res: ServerResponse, feed: Feed, headers: Record<string, string>): () => void {
  res.writeHead(200, { ...headers, 'Content-Type': 'text/event-stream; charset=utf-8', Connection: 'keep-alive' })
  const last = Number(req.headers['last-event-id'])
  res.write('retry: 2000\n\n')
  for (const e of feed.recent(Number.isInteger(last) ? last : undefined)) res.write(frame(e))
  const unsubscribe = feed.subscribe(e => { res.write(frame(e)) })
  const beat = setInterval(() => { res.write(': alive\n\n') }, SSE_HEARTBEAT_MS)
  beat.unref()
  const close = (): void => {
    clearInterval(beat)
    unsubscribe()
    if (!res.writableEnded) res.end()
  }
  res.on('close', close)
  return close
}

/**
 * The lines of a file of any size, read in chunks: at most one line (up to
 * `maxLineBytes`) is in memory at a time, and a longer "line" (a torn write,
 * a run of NUL bytes, garbage) is skipped to the next newline and reported,
 * never buffered. This is what lets a JSONL file over 512 MiB (more than a
 * JavaScript string can hold) be read at all.
 */
import { createReadStream } from 'node:fs'

export type Line =
  | { n: number, text: string, tooLong?: undefined }
  | { n: number, text?: undefined, tooLong: number }

const NL = 0x0a

export async function * readLines (path: string, maxLineBytes: number, opts: { highWaterMark?: number } = {}): AsyncGenerator<Line> {
  let parts: Buffer[] = []
  let size = 0
  /** Bytes of the current line when it went over the cap (then it is skipped, not kept). */
  let skipping = 0
  let n = 0
  const end = (): Line | null => {
    n++
    if (skipping > 0) {
      const line: Line = { n, tooLong: skipping + size }
      skipping = 0; parts = []; size = 0
      return line
    }
    const text = Buffer.concat(parts, size).toString('utf8')
    parts = []; size = 0
    return { n, text }
  }
  for await (const chunk of createReadStream(path, { highWaterMark: opts.highWaterMark ?? 1024 * 1024 }) as AsyncIterable<Buffer>) {
    let at = 0
    while (at < chunk.length) {
      const nl = chunk.indexOf(NL, at)
      const stop = nl === -1 ? chunk.length : nl
      if (skipping > 0) {
        skipping += stop - at
      } else if (size + (stop - at) > maxLineBytes) {
        skipping = size + (stop - at)
        parts = []; size = 0
      } else if (stop > at) {
        parts.push(chunk.subarray(at, stop))
        size += stop - at
      }
      if (nl === -1) break
      yield end()!
      at = nl + 1
    }
  }
  if (size > 0 || skipping > 0) yield end()!
}

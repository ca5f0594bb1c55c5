/**
 * How a command speaks: a human sentence, or with `--json` one JSON document
 * (results) or one JSON object a line (events), so scripts can read it.
 *
 * Everything written passes through node/sanitize.ts: text loses escape
 * sequences and control characters (a peer's words can carry them), JSON
 * escapes what JSON.stringify leaves raw. Nothing a peer, a run or an LLM said
 * reaches the terminal as a command to it.
 */
import { safeJson, safeText } from './sanitize.ts'

export class Output {
  constructor (readonly json: boolean, private readonly stdout = process.stdout, private readonly stderr = process.stderr) {}

  /** The command's answer. */
  result (data: unknown, text: string): void {
    this.stdout.write(this.json ? safeJson(data) + '\n' : safeText(text) + '\n')
  }

  /** A line of progress or news; JSON lines carry a type and a time. */
  event (type: string, data: Record<string, unknown>, text: string): void {
    if (this.json) this.stdout.write(safeJson({ type, time: new Date().toISOString(), ...data }) + '\n')
    else this.stderr.write(safeText(text) + '\n')
  }

  /** Prints the error and returns the exit code to use. */
  fail (message: string, code = 1): number {
    if (this.json) this.stdout.write(safeJson({ error: message }) + '\n')
    else this.stderr.write(`swarm-node: ${safeText(message)}\n`)
    return code
  }
}

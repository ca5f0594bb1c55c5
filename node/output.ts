/**
 * How a command speaks: a human sentence, or with `--json` one JSON document
 * (results) or one JSON object a line (events), so scripts can read it.
 */
export class Output {
  constructor (readonly json: boolean, private readonly stdout = process.stdout, private readonly stderr = process.stderr) {}

  /** The command's answer. */
  result (data: unknown, text: string): void {
    this.stdout.write(this.json ? JSON.stringify(data) + '\n' : text + '\n')
  }

  /** A line of progress or news; JSON lines carry a type and a time. */
  event (type: string, data: Record<string, unknown>, text: string): void {
    if (this.json) this.stdout.write(JSON.stringify({ type, time: new Date().toISOString(), ...data }) + '\n')
    else this.stderr.write(text + '\n')
  }

  /** Prints the error and returns the exit code to use. */
  fail (message: string, code = 1): number {
    if (this.json) this.stdout.write(JSON.stringify({ error: message }) + '\n')
    else this.stderr.write(`swarm-node: ${message}\n`)
    return code
  }
}

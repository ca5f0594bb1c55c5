/**
 * The JSON-lines protocol of the test peer processes: one command a line on
 * stdin, one answer a line on stdout (carrying the command's id), and `onClose`
 * when stdin ends (the parent went away).
 */
import { createInterface } from 'node:readline'

export const print = (obj: Record<string, unknown>): void => { process.stdout.write(`${JSON.stringify(obj)}\n`) }

export function serveCommands (answer: (cmd: Record<string, any>) => Promise<Record<string, unknown>>, onClose: () => unknown): void {
  createInterface({ input: process.stdin })
    .on('line', line => {
      if (line.trim() === '') return
      let cmd: Record<string, any>
      try { cmd = JSON.parse(line) } catch { print({ type: 'error', error: 'not JSON' }); return }
      answer(cmd)
        .then(res => { print({ ...res, id: cmd.id }) })
        .catch((err: any) => { print({ type: 'error', id: cmd.id, error: `${err?.name}: ${err?.message}` }) })
    })
    .on('close', () => { void onClose() })
}

/** Stops `node` (at most 3 s) and exits, once; also on SIGTERM and SIGINT. */
export function stopper (node: { stop: () => Promise<void> | void }): () => Promise<never> {
  let stopping = false
  const stop = async (): Promise<never> => {
    if (!stopping) {
      stopping = true
      await Promise.race([node.stop(), new Promise(resolve => setTimeout(resolve, 3000))])
    }
    process.exit(0)
  }
  process.on('SIGTERM', () => { void stop() })
  process.on('SIGINT', () => { void stop() })
  return stop
}

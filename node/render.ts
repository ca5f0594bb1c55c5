/**
 * Turns loop events into what the operator sees: a live line with a progress
 * bar on a TTY, plain log lines otherwise, one JSON object a line with --json.
 */
import type { LoopEvent } from '../trainer/loop.ts'
import type { Output } from './output.ts'
import { safeLine } from './sanitize.ts'

function bar (fraction: number, width = 24): string {
  const n = Math.max(0, Math.min(width, Math.round(fraction * width)))
  return '█'.repeat(n) + '░'.repeat(width - n)
}

const fmt = (x: unknown): string => typeof x === 'number' ? x.toFixed(6) : '-'

/**
 * "12s/30s" while training; once the budget is spent the run is evaluating
 * (and exporting), which takes as long as it takes: "30s/30s evaluating"
 * rather than a count past the budget that reads like an overrun.
 */
export function runClock (elapsedS: number, budgetS: number | null | undefined): string {
  if (budgetS == null || !(budgetS > 0)) return `${Math.floor(elapsedS)}s`
  return elapsedS < budgetS ? `${Math.floor(elapsedS)}s/${budgetS}s` : `${budgetS}s/${budgetS}s evaluating (+${Math.floor(elapsedS - budgetS)}s)`
}

/**
 * `summary` adds the node's standing to the live line (peers, baseline, the
 * swarm's best, experiments, the last adoption); it is read at each redraw.
 */
export function createRenderer (out: Output, tty: boolean, summary: () => string = () => ''): { onEvent: (e: LoopEvent) => void, clear: () => void } {
  let live = false
  const clear = (): void => {
    if (live) process.stderr.write('\r\x1b[2K')
    live = false
  }
  const onEvent = (e: LoopEvent): void => {
    switch (e.type) {
      case 'progress': {
        if (out.json || !tty) return
        const budget = e.budgetS ?? 0
        const frac = budget > 0 ? e.elapsedS / budget : 0
        const standing = summary()
        const line = `#${e.seq} ${e.kind} ${bar(frac)} ${runClock(e.elapsedS, budget)}${standing !== '' ? `  ${standing}` : ''}  ${e.lastLine.slice(0, 60)}`
        process.stderr.write('\r\x1b[2K' + safeLine(line).slice(0, (process.stderr.columns ?? 100) - 1))
        live = true
        return
      }
      case 'experiment-start':
        clear()
        out.event('experiment-start', { seq: e.seq, kind: e.kind, description: e.description }, `#${e.seq} ${e.kind}: ${safeLine(e.description)}`)
        return
      case 'experiment-end': {
        clear()
        const r = e.record
        const confirm = r.metrics?.confirm_run
        const runs = typeof confirm === 'number' ? `  confirm ${fmt(confirm)} mean ${fmt(r.decision_bpb)}` : ''
        out.event('experiment-end', { record: r, baselineBefore: e.baselineBefore, baselineAfter: e.baselineAfter },
          `#${r.seq} ${r.status.toUpperCase().padEnd(8)} val_bpb ${fmt(r.val_bpb)} verified ${fmt(r.verified_bpb)}${runs}  baseline ${fmt(e.baselineAfter)}  ${safeLine(r.description)}${r.reason !== '' ? `  (${safeLine(r.reason)})` : ''}`)
        return
      }
      case 'log':
        clear()
        out.event('log', { level: e.level, message: e.message }, `${e.level === 'warn' ? 'warning: ' : ''}${e.message}`)
        return
      case 'idle':
        clear()
        out.event('idle', { reason: e.reason }, e.reason)
    }
  }
  return { onEvent, clear }
}

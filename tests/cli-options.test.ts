/** How flags parse: what the commands receive, without running them. */
import { describe, expect, it } from 'vitest'
import { buildProgram } from '../node/cli.ts'

function parsed (argv: string[]): Record<string, unknown> {
  let got: Record<string, unknown> = {}
  const program = buildProgram(async () => {})
  program.exitOverride()
  for (const c of program.commands) c.exitOverride().configureOutput({ writeErr: () => {} }).action((opts: Record<string, unknown>) => { got = opts })
  program.parse(['node', 'swarm-node', ...argv])
  return got
}

describe('cli options', () => {
  it('leaves mDNS to the network plan unless asked (a private swarm keeps it off)', () => {
    expect(parsed(['start', '--swarm-key', 'k']).mdns).toBeUndefined()
    expect(parsed(['start', '--no-mdns']).mdns).toBe(false)
    expect(parsed(['start', '--swarm-key', 'k', '--mdns']).mdns).toBe(true)
    expect(parsed(['bootstrap', '--swarm-key', 'k']).mdns).toBeUndefined()
    expect(parsed(['leaderboard', '--swarm-key', 'k']).mdns).toBeUndefined()
  })
  it('collects repeatable flags and checks numbers', () => {
    const o = parsed(['start', '--bootstrap', '/ip4/127.0.0.1/tcp/1/p2p/a', '--bootstrap', '/ip4/127.0.0.1/tcp/2/p2p/b', '--max-repairs', '0', '--budget', '60'])
    expect(o.bootstrap).toHaveLength(2)
    expect(o.maxRepairs).toBe(0)
    expect(o.budget).toBe(60)
    expect(o.proposer).toBe('auto')
    expect(() => parsed(['start', '--budget', '-1'])).toThrow()
    expect(() => parsed(['start', '--proposer', 'llm'])).toThrow()
    expect(() => parsed(['start', '--port', '70000'])).toThrow()
  })
})

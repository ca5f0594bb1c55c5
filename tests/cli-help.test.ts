/**
 * README's "Command reference" matches the CLI: every command that
 * `swarm-node --help` lists, and every flag its `--help` shows (global ones
 * included), is named in that section.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { runCli } from './helpers/cli-run.ts'
import { REPO_ROOT } from './helpers/processes.ts'

async function referenceSection (): Promise<string> {
  const readme = await readFile(join(REPO_ROOT, 'README.md'), 'utf8')
  const start = readme.indexOf('\n## Command reference\n')
  expect(start, 'README.md has a "## Command reference" section').toBeGreaterThanOrEqual(0)
  const end = readme.indexOf('\n## ', start + 5)
  return readme.slice(start, end < 0 ? undefined : end)
}

/** The long flags of the option lines of a help text ("  -V, --version", "  --no-mdns  ..."). */
function flags (help: string): string[] {
  const out = new Set<string>()
  for (const line of help.split('\n')) {
    const m = /^ {2}(?:-\w, )?(--[a-z][a-z0-9-]*)/.exec(line)
    if (m != null && m[1] !== '--help') out.add(m[1]!)
  }
  return [...out]
}

const named = (section: string, flag: string): boolean => new RegExp(`(?<![\\w-])${flag}(?![\\w-])`).test(section)

describe('README command reference', () => {
  it('names every command and every flag that --help shows', async () => {
    const section = await referenceSection()
    const top = await runCli(['--help'])
    expect(top.code).toBe(0)
    const commands = top.stdout.slice(top.stdout.indexOf('Commands:')).split('\n').slice(1)
      .map(l => /^ {2}([a-z][a-z-]*)/.exec(l)?.[1]).filter((c): c is string => c != null && c !== 'help')
    expect(commands).toEqual(expect.arrayContaining(['init', 'start', 'leaderboard', 'status', 'peers', 'results', 'plot', 'keygen', 'bootstrap']))
    const missing: string[] = []
    for (const f of flags(top.stdout)) if (!named(section, f)) missing.push(`swarm-node ${f}`)
    const helps = await Promise.all(commands.map(async c => ({ c, res: await runCli([c, '--help']) })))
    for (const { c, res } of helps) {
      expect(res.code, `${c} --help`).toBe(0)
      if (!new RegExp(`\`${c}[\` ]`).test(section)) missing.push(`command ${c}`)
      const found = flags(res.stdout)
      expect(found.length, `${c} --help lists its options`).toBeGreaterThan(0)
      for (const f of found) if (!named(section, f)) missing.push(`${c} ${f}`)
    }
    expect(missing, 'named in --help but not in README.md "## Command reference"').toEqual([])
  }, 60_000)
})

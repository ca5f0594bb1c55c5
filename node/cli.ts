/**
 * The `swarm-node` command line. Each subcommand lives in `commands/`; this
 * file declares them, their flags and their help, and maps errors to exit codes.
 * Command modules are imported when run, so `--help` never loads libp2p or torch glue.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander'
import { readFileSync } from 'node:fs'
import type { BootstrapOptions } from '../bootstrap/node.ts'
import type { StartOptions } from './commands/start.ts'
import { resolveHome } from './home.ts'
import { Output } from './output.ts'

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }

interface Globals { home?: string, json?: boolean }

function positiveNumber (v: string): number {
  const n = Number(v)
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number')
  return n
}

function positiveInt (v: string): number {
  const n = positiveNumber(v)
  if (!Number.isInteger(n)) throw new InvalidArgumentError('expected a positive integer')
  return n
}

function portNumber (v: string): number {
  const n = Number(v)
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number 0..65535')
  return n
}

function collect (v: string, prev: string[]): string[] {
  return [...prev, v]
}

function runTag (v: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$/.test(v)) throw new InvalidArgumentError('use letters, digits, ".", "_" and "-" (at most 40)')
  return v
}

export function buildProgram (run: (fn: (home: string, out: Output) => Promise<number>) => Promise<void>): Command {
  const program = new Command('swarm-node')
    .description('A peer-to-peer research swarm: every node runs the autoresearch loop (edit train.py, train for a fixed budget, measure val_bpb, keep or revert) and shares its results with the swarm.')
    .version(pkg.version, '-V, --version')
    .option('--home <dir>', 'node home: identity, default project, run logs (env SWARM_NODE_HOME, default ~/.swarm-node)')
    .option('--json', 'machine-readable output: one JSON document, or one JSON object per line for long-running commands')
    .showHelpAfterError('(run with --help for usage)')
    .configureHelp({ sortSubcommands: false })

  const globals = (cmd: Command): Globals => cmd.optsWithGlobals() as Globals
  const notYet = (name: string, issue: string) => async (_opts: unknown, cmd: Command) => {
    await run(async (_home, out) => out.fail(`\`${name}\` is not implemented yet (${issue})`, 2))
    void cmd
  }

  program.command('init')
    .description('create the node identity and the default project (byte-level GPT on the Brown corpus) in the home directory')
    .option('--project <dir>', 'create the default project here instead of <home>/project')
    .action(async (opts: { project?: string }) => { await run(async (home, out) => (await import('./commands/init.ts')).init(home, opts, out)) })

  program.command('start')
    .description('run the research loop on a project until stopped (Ctrl-C stops cleanly); --offline researches alone')
    .option('--project <dir>', 'project directory with a swarm.json (default: <home>/project, created on first start)')
    .option('--budget <seconds>', 'training time budget per experiment (overrides swarm.json; changes the project id)', positiveNumber)
    .option('--offline', 'do not join a swarm: research alone, nothing sent or received')
    .option('--tag <tag>', 'run tag: experiments go on the git branch swarm/<tag>', runTag, 'main')
    .option('--max-experiments <n>', 'stop after n experiments (default: run until stopped)', positiveInt)
    .option('--no-confirm', 'keep a candidate after one run instead of confirming it with a second run')
    .addOption(new Option('--seed <n>', 'seed of the mutation proposer (default: time)').argParser(positiveInt))
    .addOption(new Option('--proposer <kind>', 'who proposes changes: mutation (random search over train.py constants) or none (only reproduce what the swarm finds)').choices(['mutation', 'none']).default('mutation'))
    .option('--no-adopt', 'never run code from other peers (results are still shared and received)')
    .option('--listen <multiaddr>', 'address to listen on (repeatable; default /ip4/0.0.0.0/tcp/4011)', collect, [])
    .option('--port <port>', 'TCP port to listen on (default 4011; 0 picks a free one)', portNumber)
    .option('--bootstrap <multiaddr>', 'bootstrap peer /ip4/.../tcp/.../p2p/<id> (repeatable); a private swarm dials only these', collect, [])
    .option('--swarm-key <file>', 'private swarm: pre-shared key from `swarm-node keygen`; peers without it cannot connect')
    .option('--no-mdns', 'do not discover or announce peers on the local network (mDNS)')
    .option('--local', 'treat the swarm as loopback/LAN (allow private addresses); automatic when listening on such addresses')
    .addOption(new Option('--status-interval <seconds>', 'heartbeat interval').argParser(positiveNumber).hideHelp())
    .addOption(new Option('--best-interval <seconds>', 'DHT best-record refresh interval').argParser(positiveNumber).hideHelp())
    .action(async (opts: StartOptions) => {
      await run(async (home, out) => (await import('./commands/start.ts')).start(home, opts, out))
    })

  program.command('leaderboard')
    .description('show the best results per project and hardware track, from the running node or the swarm')
    .action(notYet('leaderboard', 'it needs the swarm layer'))

  program.command('status')
    .description('show what the running node is doing: peers, current experiment, baseline, best')
    .action(notYet('status', 'it needs the control API of a running node'))

  program.command('peers')
    .description('list the peers the running node is connected to')
    .action(notYet('peers', 'it needs the swarm layer'))

  program.command('results')
    .description('show this node\'s experiment history (like results.tsv), with filters')
    .action(notYet('results', 'it needs the control API of a running node'))

  program.command('keygen')
    .description('write a new pre-shared key for a private swarm (libp2p pnet format, mode 0600)')
    .argument('[file]', 'where to write the key', 'swarm.key')
    .option('--force', 'replace an existing key file')
    .action(async (file: string, opts: { force?: boolean }) => { await run(async (_home, out) => (await import('./commands/keygen.ts')).keygen(file, opts, out)) })

  program.command('bootstrap')
    .description('run a bootstrap node: serves the DHT, relays and stores gossip, answers sync; no training; prints its multiaddrs')
    .option('--listen <multiaddr>', 'address to listen on (repeatable; default /ip4/0.0.0.0/tcp/4011)', collect, [])
    .option('--port <port>', 'TCP port to listen on (default 4011; 0 picks a free one)', portNumber)
    .option('--bootstrap <multiaddr>', 'other bootstrap peers to join (repeatable)', collect, [])
    .option('--swarm-key <file>', 'serve a private swarm with this pre-shared key')
    .option('--no-mdns', 'do not discover or announce peers on the local network (mDNS)')
    .option('--local', 'treat the swarm as loopback/LAN (allow private addresses)')
    .option('--max-projects <n>', 'follow at most this many project topics', positiveInt, 64)
    .action(async (opts: BootstrapOptions) => {
      await run(async (home, out) => (await import('../bootstrap/node.ts')).runBootstrap(home, opts, out))
    })

  return program
}

/** Runs the CLI and returns the process exit code. */
export async function main (argv: string[]): Promise<number> {
  let code = 0
  let out = new Output(false)
  const program = buildProgram(async fn => {
    const g = globals(program)
    out = new Output(g.json === true)
    code = await fn(resolveHome(g.home), out)
  })
  program.exitOverride()
  try {
    await program.parseAsync(argv)
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode
    code = out.fail(err instanceof Error ? err.message : String(err))
  }
  return code
}

function globals (program: Command): Globals {
  return program.opts() as Globals
}

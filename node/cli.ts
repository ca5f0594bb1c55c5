/**
 * The `swarm-node` command line. Each subcommand lives in `commands/`; this
 * file declares them, their flags and their help, and maps errors to exit codes.
 * Command modules are imported when run, so `--help` never loads libp2p or torch glue.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander'
import { readFileSync } from 'node:fs'
import { TRACK_PATTERN } from '../protocol/constants.ts'
import { SWARM_NAME_PATTERN } from '../protocol/rendezvous.ts'
import type { BootstrapOptions } from '../bootstrap/node.ts'
import type { LeaderboardOptions } from './commands/leaderboard.ts'
import type { PlotCommandOptions } from './commands/plot.ts'
import type { ResultsOptions } from './commands/results.ts'
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

function nonNegativeNumber (v: string): number {
  const n = Number(v)
  if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a number >= 0')
  return n
}

function nonNegativeInt (v: string): number {
  const n = Number(v)
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number >= 0')
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

function trackName (v: string): string {
  if (!TRACK_PATTERN.test(v)) throw new InvalidArgumentError('a track looks like cpu, gpu-h100 or apple-m2')
  return v
}

function swarmName (v: string): string {
  if (!SWARM_NAME_PATTERN.test(v)) throw new InvalidArgumentError('use 1-64 letters, digits, ".", "_" and "-"')
  return v
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
    .configureHelp({ sortSubcommands: false, showGlobalOptions: true })
    .addHelpText('after', '\nExit status: 0 done, 1 failed, 2 usage error, 3 no node is running (status, peers), 4 no peer of the swarm could be reached and the home knows no kept result either (leaderboard).')


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
    .option('--decisive <margins>', 'keep on one run a candidate this many noise margins better than the baseline (default 4; 0 = always confirm)', nonNegativeNumber)
    .option('--measure-noise', 'run the baseline again at start and set the noise margin from the spread (the first baseline always does)')
    .option('--noise-runs <n>', 'runs of the baseline when measuring the noise (default 3; 1 = keep swarm.json\'s noise_margin)', positiveInt)
    .addOption(new Option('--seed <n>', 'seed of the mutation proposer (default: from the peer id)').argParser(positiveInt))
    .addOption(new Option('--proposer <kind>', 'who proposes changes: auto (the LLM or agent command when configured, else mutation), mutation (random search over train.py constants) or none (only reproduce what the swarm finds)').choices(['auto', 'mutation', 'none']).default('auto'))
    .option('--no-adopt', 'never run code from other peers (results are still shared and received)')
    .option('--commit-changes', 'commit your uncommitted changes to the project (e.g. a fixed swarm.json) on the experiment branch instead of refusing to start; taken back if the baseline fails')
    .option('--listen <multiaddr>', 'address to listen on (repeatable; default /ip4/0.0.0.0/tcp/4011)', collect, [])
    .option('--port <port>', 'TCP port to listen on (default 4011; 0 picks a free one)', portNumber)
    .option('--bootstrap <multiaddr>', 'bootstrap peer /ip4/.../tcp/.../p2p/<id> (repeatable); a private swarm dials only these', collect, [])
    .option('--swarm-key <file>', 'private swarm: pre-shared key from `swarm-node keygen`; peers without it cannot connect')
    .option('--mdns', 'discover and announce peers on the local network (mDNS; default on, off in a private swarm)')
    .option('--no-mdns', 'do not discover or announce peers on the local network (mDNS)')
    .option('--local', 'treat the swarm as loopback/LAN (allow private addresses); automatic when every listen and bootstrap address is one')
    .option('--swarm <name>', 'a named public swarm: meet (by rendezvous on the public DHT) only the nodes of this project that give the same name', swarmName)
    .option('--amino-bootstrap <multiaddr>', 'public DHT (Amino) bootstrap peer /ip4/.../tcp/.../p2p/<id> instead of the built-in list (repeatable; env SWARM_NODE_PUBLIC_BOOTSTRAP, empty = none)', collect, [])
    .option('--no-upnp', 'do not ask the home router to forward our port (UPnP)')
    .option('--llm-base-url <url>', 'OpenAI-compatible endpoint, e.g. http://127.0.0.1:11434/v1 (default: $OPENAI_BASE_URL, else OpenAI\'s when OPENAI_API_KEY is set)')
    .option('--model <name>', 'model to ask (default: gpt-4.1-mini on OpenAI; elsewhere the first model the server lists)')
    .option('--llm-api-key-file <path>', 'file holding the API key (default: $OPENAI_API_KEY; local servers need none)')
    .option('--llm-context <tokens>', 'the model\'s context window; the prompt is trimmed to fit (default 16384)', positiveInt)
    .option('--llm-timeout <seconds>', 'seconds one LLM request may take before it is retried, then the mutation proposer makes the experiment (default 300)', positiveNumber)
    .option('--agent-cmd <command>', 'run this coding agent in the workspace for each experiment instead of an LLM; brief on stdin, in $SWARM_BRIEF and as {brief}; only its edits to the editable files count')
    .option('--agent-timeout <seconds>', 'seconds the agent may work on one experiment (default 1800)', positiveNumber)
    .option('--agent-network', 'give the agent\'s sandbox the host network (a hosted model needs it; runs never get one)')
    .option('--agent-env <name>', 'pass this environment variable into the agent\'s sandbox, e.g. ANTHROPIC_API_KEY (repeatable; runs never get it)', collect, [])
    .option('--agent-bind <path>', 'let the agent read and write this folder, e.g. ~/.claude (repeatable)', collect, [])
    .option('--unsafe-no-sandbox', 'where no sandbox can run (no bubblewrap, no user namespaces, macOS), run peers\' results and LLM or agent candidates anyway, with your full rights')
    .option('--max-repairs <n>', 'fixes the proposer may try on its own crashed candidate (default 2; 0 = none)', nonNegativeInt)
    .option('--control-port <port>', 'port of the control API and dashboard on 127.0.0.1 (default: $SWARM_NODE_CONTROL_PORT, else a free one)', portNumber)
    .addOption(new Option('--status-interval <seconds>', 'heartbeat interval').argParser(positiveNumber).hideHelp())
    .addOption(new Option('--best-interval <seconds>', 'DHT best-record refresh interval').argParser(positiveNumber).hideHelp())
    .action(async (opts: StartOptions) => {
      await run(async (home, out) => (await import('./commands/start.ts')).start(home, opts, out))
    })

  program.command('leaderboard')
    .description('show the best results per project and hardware track: from the running node, or (when none runs) by joining the swarm for at most --timeout seconds')
    .option('--project <dir|name|id>', 'project directory, name (e.g. brown-bytes) or id (a prefix will do) (default: the running node\'s project, else the newest run of <home>/project)')
    .option('--track <track>', 'only this hardware track, e.g. cpu or gpu-h100 (default: every track)', trackName)
    .option('--limit <n>', 'rows per track', positiveInt, 10)
    .option('--all', 'also show rows of authors this node caught lying (ranked last); hidden by default')
    .option('--timeout <seconds>', 'without a running node: leave the swarm after this long, answered or not', positiveNumber, 15)
    .option('--offline', 'without a running node: show only what this home knows, do not ask the swarm')
    .option('--listen <multiaddr>', 'without a running node: address to listen on while asking (repeatable; default a free TCP port)', collect, [])
    .option('--port <port>', 'without a running node: TCP port to listen on while asking (default 0, a free one)', portNumber)
    .option('--bootstrap <multiaddr>', 'without a running node: peer to ask through, /ip4/.../tcp/.../p2p/<id> (repeatable)', collect, [])
    .option('--swarm-key <file>', 'without a running node: ask a private swarm with this pre-shared key')
    .option('--mdns', 'without a running node: look for peers on the local network (mDNS; default on, off in a private swarm)')
    .option('--no-mdns', 'without a running node: do not look for peers on the local network (mDNS)')
    .option('--local', 'without a running node: treat the swarm as loopback/LAN (allow private addresses)')
    .option('--swarm <name>', 'without a running node: ask the named public swarm (rendezvous name, as given to start)', swarmName)
    .option('--amino-bootstrap <multiaddr>', 'without a running node: public DHT (Amino) bootstrap peer instead of the built-in list (repeatable; env SWARM_NODE_PUBLIC_BOOTSTRAP)', collect, [])
    .action(async (opts: LeaderboardOptions) => {
      await run(async (home, out) => (await import('./commands/leaderboard.ts')).leaderboard(home, opts, out))
    })

  program.command('status')
    .description('show what the running node is doing: peers, current experiment, baseline, the swarm\'s best, the dashboard link (exit status 3 when no node runs)')
    .action(async () => { await run(async (home, out) => (await import('./commands/status.ts')).status(home, {}, out)) })

  program.command('peers')
    .description('list the peers the running node is connected to, with their latest heartbeat (exit status 3 when no node runs)')
    .action(async () => { await run(async (home, out) => (await import('./commands/peers.ts')).peers(home, {}, out)) })

  program.command('results')
    .description('show this node\'s experiment history (like results.tsv), with filters; from the running node, or the results log when none runs')
    .option('--project <dir|name|id>', 'project directory, name (e.g. brown-bytes) or id (a prefix will do) (default: the running node\'s project, else the newest run of <home>/project)')
    .addOption(new Option('--status <status>', 'only experiments with this outcome').choices(['keep', 'discard', 'crash', 'invalid', 'baseline', 'adopted', 'restored']))
    .option('--limit <n>', 'only the newest n (after the other filters)', positiveInt)
    .option('--since <when>', 'only experiments finished since a duration ago (30m, 2h, 7d) or a date (2026-03-01)')
    .action(async (opts: ResultsOptions) => { await run(async (home, out) => (await import('./commands/results.ts')).results(home, opts, out)) })

  program.command('plot')
    .description('write the progress chart (val_bpb per experiment, kept ones joined as the running best) to an SVG file, from the local results')
    .option('--out <file>', 'where to write the SVG', 'progress.svg')
    .option('--project <dir|name|id>', 'project directory, name (e.g. brown-bytes) or id (a prefix will do) (default: the running node\'s project, else the newest run of <home>/project)')
    .action(async (opts: PlotCommandOptions) => { await run(async (home, out) => (await import('./commands/plot.ts')).plot(home, opts, out)) })

  program.command('keygen')
    .description('write a new pre-shared key for a private swarm (libp2p pnet format, mode 0600)')
    .argument('[file]', 'where to write the key', 'swarm.key')
    .option('--force', 'replace an existing key file')
    .action(async (file: string, opts: { force?: boolean }) => { await run(async (_home, out) => (await import('./commands/keygen.ts')).keygen(file, opts, out)) })

  program.command('bootstrap')
    .description('run a bootstrap node: serves the DHT, relays and stores gossip, answers sync, relays connections for nodes behind NATs; no training; prints its multiaddrs')
    .option('--listen <multiaddr>', 'address to listen on (repeatable; default /ip4/0.0.0.0/tcp/4011)', collect, [])
    .option('--port <port>', 'TCP port to listen on (default 4011; 0 picks a free one)', portNumber)
    .option('--bootstrap <multiaddr>', 'other bootstrap peers to join (repeatable)', collect, [])
    .option('--swarm-key <file>', 'serve a private swarm with this pre-shared key')
    .option('--mdns', 'discover and announce peers on the local network (mDNS; default on, off in a private swarm)')
    .option('--no-mdns', 'do not discover or announce peers on the local network (mDNS)')
    .option('--local', 'treat the swarm as loopback/LAN (allow private addresses)')
    .option('--swarm <name>', 'serve a named public swarm (rendezvous name, as given to start)', swarmName)
    .option('--amino-bootstrap <multiaddr>', 'public DHT (Amino) bootstrap peer instead of the built-in list (repeatable; env SWARM_NODE_PUBLIC_BOOTSTRAP, empty = none)', collect, [])
    .option('--no-upnp', 'do not ask the home router to forward our port (UPnP)')
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
  // Subcommands copy settings when declared, so each needs its own override to reach our exit codes.
  for (const c of [program, ...program.commands]) c.exitOverride()
  try {
    await program.parseAsync(argv)
  } catch (err) {
    // Help and --version exit 0; a wrong flag or argument is a usage error.
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2
    code = out.fail(err instanceof Error ? err.message : String(err), exitCodeOf(err))
  }
  return code
}

/** Errors that know their exit status carry it as `exitCode` (2 usage, 3 no running node, ...). */
function exitCodeOf (err: unknown): number {
  const code = (err as { exitCode?: unknown } | null)?.exitCode
  return typeof code === 'number' && Number.isInteger(code) && code > 0 ? code : 1
}

function globals (program: Command): Globals {
  return program.opts() as Globals
}

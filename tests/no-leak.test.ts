/**
 * Nothing a test starts reaches outside loopback and the test's own
 * namespaces: no connection, no DNS query. Nodes run, as the test helpers
 * start them (SWARM_NODE_PUBLIC_BOOTSTRAP set, empty), inside a namespace
 * whose only way out is a default route to a sink namespace; nftables in the
 * node's namespace counts and drops every packet to port 53 (wherever it
 * goes, loopback included) and every packet to any address but loopback and
 * the namespace's own subnet. A canary (a DNS lookup, a dial of an outside
 * address) first proves the watch sees what it must.
 *
 * Under watch: a loopback swarm (bootstrap node and trainer, as every swarm
 * test runs them) and a public-mode trainer (listening on all interfaces, so
 * it runs the Amino DHT, rendezvous, AutoNAT, the relay transport and DCUtR),
 * plus a `leaderboard` query that joins the public swarm briefly.
 *
 * Needs root, iproute2 and nftables; skips with the reason otherwise.
 */
import { spawn } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cleanupFixtures, fixtureCopy, pathWithFakeUv, tempDir } from './helpers/fixtures.ts'
import { Netns, netnsUnavailable, sh } from '../scripts/netns.ts'
import { REPO_ROOT } from './helpers/processes.ts'
import { BIN, CliProc, LOOPBACK, baselineDone, sleep, stopAll } from './helpers/swarm-procs.ts'

const unavailable = await netnsUnavailable()
if (unavailable != null) console.log(`no-leak: skipped: ${unavailable}`)

const net = new Netns('snpl')
const SUBNET = '10.9.0.0/24'
const NODE_IP = '10.9.0.2'

afterAll(async () => {
  await stopAll()
  await net.destroy()
  await cleanupFixtures()
})

interface Watch { dns: number, leak: number, leaked: string[] }

async function watch (ns: string): Promise<Watch> {
  const rules = JSON.parse(await net.exec(ns, ['nft', '-j', 'list', 'table', 'inet', 'snp_watch'])).nftables as any[]
  const counter = (name: string): number => rules.find(r => r.counter?.name === name)?.counter.packets ?? 0
  const set = rules.find(r => r.set?.name === 'leaked')?.set
  const leaked = (set?.elem ?? []).map((e: any) => typeof e === 'string' ? e : JSON.stringify(e))
  return { dns: counter('dns'), leak: counter('leak'), leaked }
}

/** Runs `node -e script` inside `ns` and waits for it. */
async function nodeIn (ns: string, script: string): Promise<void> {
  await sh('ip', ['netns', 'exec', ns, process.execPath, '-e', script]).catch(() => {})
}

describe.skipIf(unavailable != null)('no traffic outside loopback and the test\'s namespaces', () => {
  let ns = ''
  beforeAll(async () => {
    await net.clear()
    ns = await net.ns('node')
    const sink = await net.ns('sink')
    await net.link(ns, 'snplv', sink, 'snplvs')
    await net.exec(ns, ['ip', 'addr', 'add', `${NODE_IP}/24`, 'dev', 'snplv'])
    await net.exec(sink, ['ip', 'addr', 'add', '10.9.0.1/24', 'dev', 'snplvs'])
    // A way out, so that an attempt to go anywhere produces a packet for the watch to see.
    await net.exec(ns, ['ip', 'route', 'add', 'default', 'via', '10.9.0.1'])
    await net.exec(ns, ['nft', [
      'add table inet snp_watch',
      'add counter inet snp_watch dns',
      'add counter inet snp_watch leak',
      'add set inet snp_watch leaked { type ipv4_addr; flags dynamic; size 1024; }',
      'add chain inet snp_watch out { type filter hook output priority filter; policy accept; }',
      'add rule inet snp_watch out udp dport 53 counter name dns drop',
      'add rule inet snp_watch out tcp dport 53 counter name dns drop',
      'add rule inet snp_watch out oifname "lo" accept',
      `add rule inet snp_watch out ip daddr ${SUBNET} accept`,
      'add rule inet snp_watch out meta nfproto ipv4 add @leaked { ip daddr } counter name leak drop',
      'add rule inet snp_watch out counter name leak drop'
    ].join('; ')])
  })

  it('the watch sees a DNS lookup and a dial outside', async () => {
    const before = await watch(ns)
    await nodeIn(ns, 'require("dns").lookup("swarm-node-canary.invalid", () => process.exit(0)); setTimeout(() => process.exit(0), 3000)')
    await nodeIn(ns, 'const s = require("net").connect(4001, "11.0.0.9"); s.on("error", () => {}); setTimeout(() => process.exit(0), 1500)')
    const after = await watch(ns)
    expect(after.dns, 'the canary DNS query was seen').toBeGreaterThan(before.dns)
    expect(after.leak, 'the canary dial was seen').toBeGreaterThan(before.leak)
    expect(after.leaked).toContain('11.0.0.9')
  }, 30_000)

  it('a public node does dial the public list it is given (a canary list here), and the watch sees it', async () => {
    const before = await watch(ns)
    const id = '12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo'
    const canary = `/dnsaddr/swarm-node-canary.invalid/p2p/${id} /ip4/11.0.0.9/tcp/4001/p2p/${id}`
    const pub = new CliProc('leak-canary', ['--home', await tempDir('leak-canary'), '--json', 'bootstrap', '--listen', '/ip4/0.0.0.0/tcp/0', '--no-mdns', '--no-upnp'],
      { netns: ns, env: { SWARM_NODE_PUBLIC_BOOTSTRAP: canary } })
    await pub.waitFor(e => e.type === 'listening', 30_000, 'listening')
    const deadline = Date.now() + 20_000
    let now = before
    while (Date.now() < deadline) {
      now = await watch(ns)
      if (now.dns > before.dns && now.leaked.includes('11.0.0.9')) break
      await sleep(250)
    }
    await pub.stop()
    expect(now.dns, 'it resolved the /dnsaddr/ entry').toBeGreaterThan(before.dns)
    expect(now.leaked, 'it dialled the /ip4/ entry').toContain('11.0.0.9')
  }, 60_000)

  it('loopback swarms, a public-mode node and a leaderboard query send nothing outside', async () => {
    const before = await watch(ns)
    const home = async (n: string): Promise<string> => await tempDir(`leak-${n}`)
    // As tests/helpers/swarm-procs.ts starts them: loopback, mDNS off.
    const boot = new CliProc('leak-boot', ['--home', await home('boot'), '--json', 'bootstrap', '--listen', LOOPBACK, '--no-mdns'], { netns: ns })
    const bootAddr = (await boot.waitFor(e => e.type === 'listening', 30_000, 'listening')).addrs[0] as string
    const local = new CliProc('leak-local', ['--home', await home('local'), '--json', 'start', '--project', await fixtureCopy('autoresearch'), '--listen', LOOPBACK, '--no-mdns', '--bootstrap', bootAddr, '--seed', '12'], { netns: ns })
    // Public mode: all interfaces, so Amino, rendezvous, AutoNAT, relay and DCUtR all run.
    const pub = new CliProc('leak-public', ['--home', await home('public'), '--json', 'start', '--project', await fixtureCopy('autoresearch'), '--listen', '/ip4/0.0.0.0/tcp/0', '--no-mdns', '--no-upnp', '--proposer', 'none'], { netns: ns })
    const started = await pub.waitFor(e => e.type === 'listening', 60_000, 'listening')
    expect(started.amino).toBe(true)
    await Promise.all([local, pub].map(async p => await p.waitFor(baselineDone, 60_000, 'baseline')))
    await local.waitFor(e => e.type === 'experiment-end' && e.record.status !== 'baseline', 30_000, 'an experiment')
    // A one-off leaderboard joins the public swarm briefly, with a throwaway identity.
    const board = await runIn(ns, ['--home', await home('board'), '--json', 'leaderboard', '--project', await fixtureCopy('autoresearch'), '--timeout', '5', '--no-mdns'])
    expect([0, 4]).toContain(board)
    // Long enough for rendezvous lookups, AutoNAT's and the relay search's walks to have run.
    await sleep(5000)
    await stopAll()
    const after = await watch(ns)
    expect(after.leaked, 'addresses outside that were tried').toEqual(before.leaked)
    expect(after.dns - before.dns, 'DNS queries').toBe(0)
    expect(after.leak - before.leak, 'packets to outside addresses').toBe(0)
  }, 150_000)
})

async function runIn (ns: string, args: string[]): Promise<number | null> {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, BIN, ...args], { cwd: REPO_ROOT, env: { ...process.env, PATH: pathWithFakeUv() }, stdio: 'ignore' })
  const timer = setTimeout(() => { child.kill('SIGKILL') }, 30_000)
  const code = await new Promise<number | null>(resolve => child.once('close', resolve))
  clearTimeout(timer)
  return code
}

/**
 * Simulated hosts for network tests and benchmarks (tests/nat-traversal,
 * tests/no-leak, `bench:gossip --netns`): Linux network namespaces
 * joined by veth pairs, a bridge standing in for "the internet", home routers
 * that masquerade (nftables) for the host behind them, and `tc netem` delays.
 * Needs root, iproute2 and nftables; `netnsUnavailable()` says why not.
 *
 *   const net = new Netns('snpn')            // every name starts with the prefix
 *   await net.clear()                        // leftovers of an earlier crashed run
 *   await net.internet()
 *   const dht = await net.publicHost('dht', '11.0.0.2')
 *   const a = await net.behindNat('a', '11.0.0.11', 1)   // a.host is 10.0.1.2 behind router 11.0.0.11
 *   spawn('ip', ['netns', 'exec', dht, ...command])
 *   await net.destroy()                      // also in afterAll, also after a failure
 *
 * Every namespace, veth and bridge carries the prefix (which must start with
 * `snp`), so runs of different tests never touch each other's, nor anything
 * of the machine's. Nothing here routes out of the namespaces: the "internet"
 * is a bridge inside a namespace of its own, with no link to the host, and its
 * addresses (11.0.0.0/24, public-looking so that libp2p treats them as the
 * internet) exist only there.
 */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** The internet's subnet and the home networks behind the routers (10.0.<n>.0/24). */
export const INTERNET_PREFIX = '11.0.0'

/** Why namespaces cannot be made here, or null when they can. */
export async function netnsUnavailable (): Promise<string | null> {
  if (process.platform !== 'linux') return 'network namespaces need Linux'
  if (process.getuid?.() !== 0) return 'network namespaces need root'
  for (const [cmd, pkg] of [['ip', 'iproute2'], ['nft', 'nftables'], ['tc', 'iproute2']] as const) {
    try { await run(cmd, ['-V']) } catch (err: any) {
      if (err?.code === 'ENOENT') return `${cmd} is not installed (Debian package ${pkg})`
    }
  }
  const probe = `snp-probe-${process.pid}`
  try {
    await run('ip', ['netns', 'add', probe])
    await run('ip', ['netns', 'del', probe])
  } catch (err: any) {
    return `cannot create a network namespace: ${String(err?.stderr ?? err?.message).trim()}`
  }
  return null
}

export async function sh (cmd: string, args: string[]): Promise<string> {
  try {
    return (await run(cmd, args, { maxBuffer: 16 * 1024 * 1024 })).stdout
  } catch (err: any) {
    throw new Error(`${cmd} ${args.join(' ')}: ${String(err?.stderr ?? err?.message).trim()}`)
  }
}

/** `ip netns exec <ns> <command...>` as argv for spawn. */
export function inNs (ns: string, command: string[]): [string, string[]] {
  return ['ip', ['netns', 'exec', ns, ...command]]
}

export class Netns {
  readonly namespaces: string[] = []
  private readonly bridgeNs: string
  private readonly bridge: string

  constructor (readonly prefix: string) {
    if (!/^snp[a-z0-9]{0,5}$/.test(prefix)) throw new Error(`namespace prefix must start with "snp" and be short (interface names max 15 chars), got ${prefix}`)
    this.bridgeNs = `${prefix}-net`
    this.bridge = `${prefix}br`
  }

  /** Removes every namespace with our prefix (an earlier run that crashed), killing what still runs in it. */
  async clear (): Promise<void> {
    const list = await sh('ip', ['netns', 'list'])
    const ours = list.split('\n').map(l => l.split(' ')[0] ?? '').filter(n => n.startsWith(`${this.prefix}-`))
    for (const ns of ours) await this.deleteNs(ns)
  }

  /** Kills what runs inside our namespaces and deletes them (their veths and bridges go with them). */
  async destroy (): Promise<void> {
    for (const ns of this.namespaces.splice(0).reverse()) await this.deleteNs(ns)
  }

  async exec (ns: string, command: string[]): Promise<string> {
    const [cmd, args] = inNs(ns, command)
    return await sh(cmd, args)
  }

  /** A fresh namespace with loopback up and IPv6 off (no router solicitations or other chatter). */
  async ns (name: string): Promise<string> {
    const ns = `${this.prefix}-${name}`
    await sh('ip', ['netns', 'add', ns])
    this.namespaces.push(ns)
    await this.exec(ns, ['ip', 'link', 'set', 'lo', 'up'])
    await this.exec(ns, ['sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1'])
    return ns
  }

  /** The internet: a bridge in a namespace of its own. */
  async internet (): Promise<void> {
    await this.ns('net')
    await this.exec(this.bridgeNs, ['ip', 'link', 'add', this.bridge, 'type', 'bridge'])
    await this.exec(this.bridgeNs, ['ip', 'link', 'set', this.bridge, 'up'])
  }

  /** A veth pair between two namespaces, both ends up. */
  async link (nsA: string, ifA: string, nsB: string, ifB: string): Promise<void> {
    for (const i of [ifA, ifB]) if (i.length > 15 || !i.startsWith('snp')) throw new Error(`bad interface name ${i}`)
    await sh('ip', ['link', 'add', 'name', ifA, 'netns', nsA, 'type', 'veth', 'peer', 'name', ifB, 'netns', nsB])
    await this.exec(nsA, ['ip', 'link', 'set', ifA, 'up'])
    await this.exec(nsB, ['ip', 'link', 'set', ifB, 'up'])
  }

  /** Plugs namespace `ns` into the internet bridge as `ip`/`prefixLen`; returns the interface name in `ns`. */
  async plug (ns: string, short: string, ip: string, prefixLen = 24): Promise<string> {
    const inside = `${this.prefix}${short}`
    const port = `${this.prefix}${short}p`
    await this.link(ns, inside, this.bridgeNs, port)
    await this.exec(this.bridgeNs, ['ip', 'link', 'set', port, 'master', this.bridge])
    await this.exec(ns, ['ip', 'addr', 'add', `${ip}/${prefixLen}`, 'dev', inside])
    return inside
  }

  /** A host on the internet with a public address. */
  async publicHost (name: string, ip: string, prefixLen = 24): Promise<{ ns: string, ip: string, iface: string }> {
    const ns = await this.ns(name)
    const iface = await this.plug(ns, name, ip, prefixLen)
    return { ns, ip, iface }
  }

  /**
   * A home: a router on the internet at `wanIp` that masquerades (nftables,
   * as a home router's NAT does) for one host at 10.0.<n>.2 behind it.
   * `symmetric` picks a random source port per connection (a strict NAT);
   * otherwise Linux keeps the host's port where it can.
   */
  async behindNat (name: string, wanIp: string, n: number, opts: { symmetric?: boolean } = {}): Promise<{ ns: string, router: string, ip: string, wanIp: string, iface: string }> {
    const router = await this.ns(`${name}-gw`)
    const wan = await this.plug(router, `${name}w`, wanIp)
    const ns = await this.ns(name)
    const lanRouter = `${this.prefix}${name}l`
    const iface = `${this.prefix}${name}h`
    await this.link(router, lanRouter, ns, iface)
    await this.exec(router, ['ip', 'addr', 'add', `10.0.${n}.1/24`, 'dev', lanRouter])
    await this.exec(router, ['sysctl', '-qw', 'net.ipv4.ip_forward=1'])
    await this.exec(router, ['nft', [
      'add table ip snp_nat',
      'add chain ip snp_nat snat_out { type nat hook postrouting priority srcnat; }',
      `add rule ip snp_nat snat_out oifname "${wan}" masquerade${opts.symmetric === true ? ' random' : ''}`,
      // Only answers to what the home sent come in: nothing is forwarded to the host unasked.
      'add chain ip snp_nat home_in { type filter hook forward priority filter; policy drop; }',
      `add rule ip snp_nat home_in iifname "${lanRouter}" accept`,
      'add rule ip snp_nat home_in ct state established,related accept'
    ].join('; ')])
    await this.exec(ns, ['ip', 'addr', 'add', `10.0.${n}.2/24`, 'dev', iface])
    await this.exec(ns, ['ip', 'route', 'add', 'default', 'via', `10.0.${n}.1`])
    return { ns, router, ip: `10.0.${n}.2`, wanIp, iface }
  }

  /** One-way delay on `iface` in `ns` (netem): two hosts with d1 and d2 see an RTT of d1 + d2. */
  async delay (ns: string, iface: string, ms: number): Promise<void> {
    await this.exec(ns, ['tc', 'qdisc', 'replace', 'dev', iface, 'root', 'netem', 'delay', `${ms}ms`, 'limit', '100000'])
  }

  /** Deletes one of our namespaces now. */
  async remove (ns: string): Promise<void> {
    const at = this.namespaces.indexOf(ns)
    if (at >= 0) this.namespaces.splice(at, 1)
    await this.deleteNs(ns)
  }

  private async deleteNs (ns: string): Promise<void> {
    try {
      const pids = (await sh('ip', ['netns', 'pids', ns])).split('\n').map(Number).filter(p => Number.isInteger(p) && p > 0)
      for (const pid of pids) { try { process.kill(pid, 'SIGKILL') } catch {} }
    } catch {}
    try { await sh('ip', ['netns', 'del', ns]) } catch {}
  }
}

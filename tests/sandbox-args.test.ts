/**
 * The sandbox's rules as pure functions: which parts of the workspace a
 * profile may write, the bubblewrap arguments and their order (the node's home
 * masked wherever a bind would show it), the environment allow-list, and the
 * limits' command prefixes.
 */
import { describe, expect, it } from 'vitest'
import { parseMountinfo, parseProcCgroup } from '../trainer/sandbox/cgroup.ts'
import { sandboxEnv } from '../trainer/sandbox/env.ts'
import { describeLimits, prlimitArgs, resolveLimits, systemdRunArgs } from '../trainer/sandbox/limits.ts'
import { bwrapArgs, workspaceView, type BwrapPlan, type Kind } from '../trainer/sandbox/mounts.ts'

const OUTPUTS = ['data/', 'run.log', 'prepare.log', 'results.tsv', 'model.onnx', '__pycache__/', 'ckpt/', '*.tmp']
const existing = new Map<string, Kind>([['.git', 'dir'], ['train.py', 'file'], ['prepare.py', 'file'], ['data', 'dir'], ['run.log', 'file'], ['__pycache__', 'dir'], ['swarm.json', 'file']])
const rules = { existing, editable: ['train.py'], outputs: OUTPUTS, writable: ['ckpt/'] }

describe('workspaceView', () => {
  it('run: the workspace read-only but for the model it writes and its writable folders; data, git, logs read-only', () => {
    const v = workspaceView('run', rules)
    expect(v.root).toBe('ro')
    expect(v.overrides).toEqual([{ path: 'ckpt', mode: 'rw' }, { path: 'model.onnx', mode: 'rw' }])
    expect(v.createDirs).toEqual(['ckpt'])
    expect(v.createFiles).toEqual(['model.onnx'])
  })

  it('prepare: may write the data folders too', () => {
    const v = workspaceView('prepare', rules)
    expect(v.overrides).toContainEqual({ path: 'data', mode: 'rw' })
    expect(v.overrides.some(o => o.path === '__pycache__')).toBe(false)
  })

  it('agent: the project writable, git and every output read-only', () => {
    const v = workspaceView('agent', rules)
    expect(v.root).toBe('rw')
    expect(v.overrides).toEqual([
      { path: '.git', mode: 'ro' }, { path: '__pycache__', mode: 'ro' }, { path: 'data', mode: 'ro' }, { path: 'run.log', mode: 'ro' }
    ])
  })

  it('hides the workspace\'s bytecode caches from every profile: no run imports a planted .pyc', () => {
    for (const profile of ['run', 'prepare', 'agent'] as const) {
      const v = workspaceView(profile, { ...rules, pycaches: ['__pycache__', 'src/__pycache__'] })
      expect(v.overrides).toEqual(expect.arrayContaining([{ path: '__pycache__', mode: 'hide' }, { path: 'src/__pycache__', mode: 'hide' }]))
    }
    const a = bwrapArgs(plan({ workspace: { dir: '/w', view: workspaceView('run', { ...rules, pycaches: ['__pycache__'] }) } }))
    expect(a.join(' ')).toContain('--tmpfs /w/__pycache__ --remount-ro /w/__pycache__')
  })

  it('never binds over a link: a linked output is left to the read-only root', () => {
    const v = workspaceView('run', { ...rules, existing: new Map([...existing, ['model.onnx', 'symlink' as Kind]]) })
    expect(v.overrides.some(o => o.path === 'model.onnx')).toBe(false)
    expect(v.createFiles).toEqual([])
  })
})

const plan = (o: Partial<BwrapPlan> = {}): BwrapPlan => ({
  userns: true,
  disableUserns: true,
  network: false,
  home: '/home/u',
  nodeHome: '/home/u/.swarm-node',
  system: [{ path: '/usr' }, { path: '/bin', symlink: 'usr/bin' }],
  etc: ['/etc/passwd'],
  sys: ['/sys/devices/system/cpu'],
  gpu: null,
  readOnly: ['/home/u/.local/bin', '/home/u/.swarm-node/keys'],
  readWrite: [],
  files: [],
  workspace: { dir: '/home/u/.swarm-node/project', view: workspaceView('run', rules) },
  chdir: '/home/u/.swarm-node/project',
  env: { PATH: '/usr/bin', HOME: '/home/u' },
  infoFd: 3,
  command: ['/bin/sh', '-c', 'python3 train.py'],
  ...o
})

/** The flag/source pairs in order, for reading. */
function binds (args: string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < args.length; i++) {
    if (['--ro-bind', '--bind', '--dev-bind', '--ro-bind-try', '--tmpfs', '--symlink', '--remount-ro'].includes(args[i]!)) out.push(`${args[i]} ${args[i + 1]}`)
  }
  return out
}

describe('bwrapArgs', () => {
  it('cages: all namespaces, no network, caps dropped, dies with its parent, a root that stays read-only', () => {
    const a = bwrapArgs(plan())
    expect(a.slice(0, 9)).toEqual(['--unshare-all', '--unshare-user', '--disable-userns', '--die-with-parent', '--new-session', '--cap-drop', 'ALL', '--proc', '/proc'])
    expect(a).not.toContain('--share-net')
    expect(a.indexOf('--remount-ro')).toBeGreaterThan(a.lastIndexOf('--bind'))
    expect(a.slice(a.indexOf('--'))).toEqual(['--', '/bin/sh', '-c', 'python3 train.py'])
    expect(a.slice(a.indexOf('--clearenv'), a.indexOf('--info-fd'))).toEqual(['--clearenv', '--setenv', 'PATH', '/usr/bin', '--setenv', 'HOME', '/home/u'])
  })

  it('shows nothing of the node home but the workspace, which is bound after the home is masked', () => {
    const b = binds(bwrapArgs(plan()))
    expect(b).not.toContain('--ro-bind /home/u/.swarm-node/keys')
    expect(b.indexOf('--tmpfs /home/u')).toBeLessThan(b.indexOf('--ro-bind /home/u/.local/bin'))
    expect(b.indexOf('--ro-bind /home/u/.swarm-node/project')).toBeLessThan(b.indexOf('--bind /home/u/.swarm-node/project/model.onnx'))
    // A bound folder above the node home would show it: then the home is masked again.
    const wide = binds(bwrapArgs(plan({ readOnly: ['/srv'], nodeHome: '/srv/node', workspace: null, chdir: '/' })))
    expect(wide.indexOf('--tmpfs /srv/node')).toBeGreaterThan(wide.indexOf('--ro-bind /srv'))
  })

  it('hands a GPU through: devices, the driver\'s /proc entry, /sys read-only', () => {
    const a = bwrapArgs(plan({ gpu: { devices: ['/dev/nvidia0', '/dev/nvidiactl', '/dev/nvidia-uvm'], procDriver: '/proc/driver/nvidia' }, sys: ['/sys'] }))
    const b = binds(a)
    expect(b).toEqual(expect.arrayContaining(['--dev-bind /dev/nvidia0', '--dev-bind /dev/nvidiactl', '--dev-bind /dev/nvidia-uvm', '--ro-bind /proc/driver/nvidia', '--ro-bind-try /sys']))
    expect(a.indexOf('/proc/driver/nvidia')).toBeGreaterThan(a.indexOf('--proc'))
  })

  it('shares the network only when asked (an agent, by the user), and works where bwrap cannot make a user namespace', () => {
    expect(bwrapArgs(plan({ network: true }))).toContain('--share-net')
    const setuid = bwrapArgs(plan({ userns: false }))
    expect(setuid).not.toContain('--unshare-user')
    expect(setuid).not.toContain('--disable-userns')
    // bubblewrap before 0.8 knows no --disable-userns.
    const old = bwrapArgs(plan({ disableUserns: false }))
    expect(old).toContain('--unshare-user')
    expect(old).not.toContain('--disable-userns')
  })

  it('refuses a home that would hide part of the system', () => {
    expect(() => bwrapArgs(plan({ home: '/usr/local/home' }))).toThrow(/would hide part of the system/)
    expect(() => bwrapArgs(plan({ home: '/' }))).toThrow()
  })
})

describe('sandboxEnv', () => {
  const from = { PATH: '/usr/bin', LANG: 'C.UTF-8', LC_ALL: 'C', OPENAI_API_KEY: 'sk-x', GITHUB_TOKEN: 'g', SWARM_NODE_HOME: '/h', AWS_SECRET_ACCESS_KEY: 's', CUDA_VISIBLE_DEVICES: '0', RANDOM_THING: 'r', ANTHROPIC_API_KEY: 'a' }
  it('passes the allow-list only, never secrets, whatever is asked', () => {
    const env = sandboxEnv({ from, home: '/home/u', names: ['RANDOM_THING', 'OPENAI_API_KEY'], set: { SWARM_TIME_BUDGET: '60', MY_TOKEN: 't' } })
    expect(env).toEqual({
      PATH: '/usr/bin', LANG: 'C.UTF-8', LC_ALL: 'C', CUDA_VISIBLE_DEVICES: '0', RANDOM_THING: 'r',
      HOME: '/home/u', TMPDIR: '/tmp', PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1', SWARM_TIME_BUDGET: '60'
    })
  })
  it('passes a key only where the user vouched for it (--agent-env)', () => {
    const env = sandboxEnv({ from, home: '/h', names: ['ANTHROPIC_API_KEY'], vouched: ['ANTHROPIC_API_KEY'] })
    expect(env.ANTHROPIC_API_KEY).toBe('a')
    expect(env.OPENAI_API_KEY).toBeUndefined()
  })
})

describe('limits', () => {
  const l = resolveLimits({ memory_mb: 256, processes: 64, file_size_mb: 8 }, 16 * 1024 ** 3)
  it('turns the manifest into bytes and counts, three quarters of the machine by default', () => {
    expect(l).toEqual({ memoryBytes: 256 * 1024 ** 2, processes: 64, fileSizeBytes: 8 * 1024 ** 2 })
    expect(resolveLimits({ memory_mb: null, processes: 1024, file_size_mb: 1 }, 16 * 1024 ** 3).memoryBytes).toBe(12 * 1024 ** 3)
  })
  it('builds the prefixes', () => {
    expect(prlimitArgs('/usr/bin/prlimit', l, { nproc: true, memory: true })).toEqual(['/usr/bin/prlimit', `--data=${256 * 1024 ** 2}:${256 * 1024 ** 2}`, `--fsize=${8 * 1024 ** 2}:${8 * 1024 ** 2}`, '--nproc=64:64', '--core=0', '--'])
    expect(prlimitArgs('p', l, { nproc: false, memory: false }).join(' ')).not.toMatch(/nproc|data/)
    expect(systemdRunArgs('systemd-run', l)).toEqual(expect.arrayContaining(['--user', '--scope', `MemoryMax=${256 * 1024 ** 2}`, 'TasksMax=64']))
  })
  it('says when the process limit cannot hold', () => {
    expect(describeLimits('prlimit', l, { root: true, userns: true })).toMatch(/the kernel exempts root/)
    expect(describeLimits('cgroup', l, { root: true, userns: true })).toBe('cgroup, made by the node (memory 256 MiB, 64 processes, files up to 8 MiB)')
  })
})

describe('cgroup discovery', () => {
  it('reads v1 and v2 mounts and this process\'s cgroups', () => {
    const mounts = parseMountinfo([
      '39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids',
      '35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
      '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
      '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755'
    ].join('\n'))
    expect(mounts.map(m => [m.type, m.point])).toEqual([['cgroup', '/sys/fs/cgroup/pids'], ['cgroup', '/sys/fs/cgroup/memory'], ['cgroup2', '/sys/fs/cgroup/unified']])
    const own = parseProcCgroup('8:pids:/\n4:memory:/process_api/abc\n0::/user.slice\n')
    expect([own.get('pids'), own.get('memory'), own.get('')]).toEqual(['/', '/process_api/abc', '/user.slice'])
  })
})

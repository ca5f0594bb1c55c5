// The swarm model's copy of the landscape's surface must give landscape.py's own values and crashes.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { trueBpb } from '../scripts/model-swarm/surface.ts'
import { applyMutation, findConstants, neighbours, rng } from '../trainer/proposers/mutation.ts'

const PROJECT = new URL('../projects/landscape/', import.meta.url).pathname
const START = readFileSync(join(PROJECT, 'train.py'), 'utf8')
const dir = mkdtempSync(join(tmpdir(), 'model-surface-'))
afterAll(() => { rmSync(dir, { recursive: true, force: true }) })

/** A walk of `steps` random one-constant changes from the landscape's start. */
function walk (random: () => number, steps: number): string {
  let text = START
  for (let s = 0; s < steps; s++) {
    const constants = findConstants('train.py', text)
    const c = constants[Math.floor(random() * constants.length)]!
    const to = neighbours(c)
    if (to.length > 0) text = applyMutation(text, c, to[Math.floor(random() * to.length)]!)
  }
  return text
}

describe('the swarm model\'s landscape surface', () => {
  it('agrees with landscape.py on random train.py files, crashes included', () => {
    const random = rng(20261202)
    const files = Array.from({ length: 120 }, (_, i) => {
      const file = join(dir, `train-${i}.py`)
      writeFileSync(file, walk(random, 1 + (i % 30)))
      return file
    })
    const out = execFileSync('python3', [join(PROJECT, 'landscape.py'), ...files], { encoding: 'utf8' }).trim().split('\n')
    expect(out).toHaveLength(files.length)
    let crashes = 0
    for (const [i, line] of out.entries()) {
      const ours = trueBpb(readFileSync(files[i]!, 'utf8'))
      if (line.startsWith('crash')) {
        crashes++
        expect(ours, line).toBeNull()
      } else {
        expect(ours).not.toBeNull()
        expect(ours!).toBeCloseTo(Number(line.split('\t')[0]), 5)
      }
    }
    // The walks reach both kinds: values that vary and constants the harness refuses.
    expect(crashes).toBeGreaterThan(0)
    expect(crashes).toBeLessThan(files.length)
  })
})

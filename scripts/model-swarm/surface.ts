/**
 * The landscape's loss surface (projects/landscape/landscape.py), written again
 * in TypeScript so the swarm model can score tens of thousands of candidates a
 * second. landscape.py stays the one authority: tests/model-surface.test.ts
 * checks that this copy gives its values and its crashes on random train.py
 * files, so a change to the harness that is not made here fails a test.
 */
import { findConstants } from '../../trainer/proposers/mutation.ts'

export const OPTIMUM_BPB = 0.9
export const TARGET_BPB = 1.15
export const NOISE_SIGMA = 0.006

const O = { N_LAYER: 6, N_EMBD: 256, N_HEAD: 4, BATCH_SIZE: 32, LEARNING_RATE: 0.004, WARMUP_STEPS: 40, WEIGHT_DECAY: 0.1, DROPOUT: 0.05 }
const T = {
  ADAM_BETA1: 0.9, ADAM_BETA2: 0.95, GRAD_CLIP: 1.0, INIT_STD: 0.02, WARMDOWN_FRAC: 0.4, LABEL_SMOOTHING: 0.0, ROPE_BASE: 10000,
  MLP_RATIO: 4, ADAM_EPS: 1e-8, LOGIT_SOFTCAP: 30.0, Z_LOSS: 1e-4, EMBED_LR_MULT: 1.0
}
const NAMES = [...Object.keys(O), ...Object.keys(T), 'QK_NORM']
const POSITIVE_INTS = ['N_LAYER', 'N_EMBD', 'N_HEAD', 'BATCH_SIZE', 'WARMUP_STEPS', 'ROPE_BASE', 'MLP_RATIO']
const POSITIVE = ['LEARNING_RATE', 'WEIGHT_DECAY', 'DROPOUT', 'GRAD_CLIP', 'INIT_STD', 'WARMDOWN_FRAC', 'ADAM_EPS', 'LOGIT_SOFTCAP', 'Z_LOSS', 'EMBED_LR_MULT']
const FRACTIONS = ['DROPOUT', 'ADAM_BETA1', 'ADAM_BETA2', 'WARMDOWN_FRAC']
const lg = Math.log2

/** The noiseless val_bpb of a train.py, or null where landscape.py's check() refuses it (a crash). */
export function trueBpb (text: string): number | null {
  const c: Record<string, number> = {}
  for (const k of findConstants('train.py', text)) c[k.name] = typeof k.value === 'boolean' ? (k.value ? 1 : 0) : k.value
  if (NAMES.some(n => c[n] === undefined)) return null
  if (POSITIVE_INTS.some(n => !Number.isInteger(c[n]) || c[n]! < 1)) return null
  if (POSITIVE.some(n => !(c[n]! > 0))) return null
  if (!(c.LABEL_SMOOTHING! >= 0 && c.LABEL_SMOOTHING! < 1)) return null
  if (FRACTIONS.some(n => !(c[n]! > 0 && c[n]! < 1))) return null
  if (c.N_EMBD! % c.N_HEAD! !== 0 || c.LEARNING_RATE! > 0.1) return null
  const size = lg(c.N_LAYER!) + 2 * lg(c.N_EMBD!) - (lg(O.N_LAYER) + 2 * lg(O.N_EMBD))
  const batch = lg(c.BATCH_SIZE! / O.BATCH_SIZE)
  const terms: Array<[number, number]> = [
    [0.010, size],
    [0.020, lg(c.N_EMBD! / c.N_LAYER!) - lg(O.N_EMBD / O.N_LAYER)],
    [0.020, lg(c.N_EMBD! / c.N_HEAD!) - lg(O.N_EMBD / O.N_HEAD)],
    [0.015, batch],
    [0.030, lg(c.LEARNING_RATE! / O.LEARNING_RATE) - 0.5 * batch + 0.5 * lg(c.N_EMBD! / O.N_EMBD)],
    [0.010, lg(c.WARMUP_STEPS! / O.WARMUP_STEPS) - lg(c.LEARNING_RATE! / O.LEARNING_RATE)],
    [0.020, lg(c.WEIGHT_DECAY! / O.WEIGHT_DECAY) + lg(c.LEARNING_RATE! / O.LEARNING_RATE)],
    [0.005, lg(c.WEIGHT_DECAY! / O.WEIGHT_DECAY)],
    [0.008, lg(c.DROPOUT! / O.DROPOUT) - 0.5 * size],
    [0.010, lg((1 - c.ADAM_BETA1!) / (1 - T.ADAM_BETA1))],
    [0.010, lg((1 - c.ADAM_BETA2!) / (1 - T.ADAM_BETA2))],
    [0.006, lg(c.GRAD_CLIP! / T.GRAD_CLIP)],
    [0.010, lg(c.INIT_STD! / T.INIT_STD)],
    [0.008, lg(c.WARMDOWN_FRAC! / T.WARMDOWN_FRAC)],
    [0.360, Math.sqrt(c.LABEL_SMOOTHING!)],
    [0.002, lg(c.ROPE_BASE! / T.ROPE_BASE)],
    [0.020, lg(c.MLP_RATIO! / T.MLP_RATIO)],
    [0.001, lg(c.ADAM_EPS! / T.ADAM_EPS)],
    [0.006, lg(c.LOGIT_SOFTCAP! / T.LOGIT_SOFTCAP)],
    [0.004, lg(c.Z_LOSS! / T.Z_LOSS)],
    [0.020, c.QK_NORM === 1 ? 0 : 1],
    [0.010, lg(c.EMBED_LR_MULT! / T.EMBED_LR_MULT)]
  ]
  return OPTIMUM_BPB + terms.reduce((s, [w, e]) => s + w * e * e, 0)
}

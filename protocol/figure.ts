/**
 * The figure an experiment stands for, written once. A run prints val_bpb
 * (reported); where the project exports a model the node re-measures it
 * (verified); a keep survives a confirming run and is decided on the mean of
 * both runs (decision). The figure is the decision, else the verified, else
 * the reported value: the same number the loop compared when it kept the
 * change, after a restart, on the wire, in rankings and on screen.
 *
 * On the wire (Result and Attestation), `val_bpb` carries the author's
 * figure by this rule and `verified_bpb` the same figure when the node
 * re-measured every run behind it itself (null otherwise). Nodes before this
 * rule already sent the decision figure as `val_bpb` but the first run's
 * verified figure as `verified_bpb`; reading `val_bpb` first gives both the
 * figure their author decided on.
 */

/** Where a figure can come from; any field may be missing or null. */
export interface Figures {
  decision_bpb?: number | null
  verified_bpb?: number | null
  val_bpb?: number | null
}

const usable = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x > 0

/** The figure rule: decision, else verified, else reported; null when there is none (a crash). */
export function figureOf (f: Figures): number | null {
  for (const x of [f.decision_bpb, f.verified_bpb, f.val_bpb]) if (usable(x)) return x
  return null
}

/** A signed Result's or Attestation's figure: its `val_bpb` is its author's decision figure. */
export function claimedFigure (m: { readonly val_bpb: number | null, readonly verified_bpb: number | null }): number | null {
  return figureOf({ decision_bpb: m.val_bpb, verified_bpb: m.verified_bpb })
}

/**
 * The two wire fields for a local experiment (the inverse of `claimedFigure`):
 * `val_bpb` the figure, `verified_bpb` the same figure when the runs behind it
 * were verified by this node (a verified first run means every run was: the
 * keep rule marks a run that fails verification invalid).
 */
export function wireFigures (f: Figures): { val_bpb: number | null, verified_bpb: number | null } {
  const figure = figureOf(f)
  return { val_bpb: figure, verified_bpb: usable(f.verified_bpb) ? figure : null }
}

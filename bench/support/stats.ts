/** Small, dependency-free statistics for the benchmarks. Every figure is a median: robust to the odd GC pause. */

/** The q-quantile (0 ≤ q ≤ 1) with linear interpolation between the two nearest samples. */
export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) throw new Error('quantile of no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const pos = (sorted.length - 1) * Math.min(1, Math.max(0, q));
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export function median(samples: readonly number[]): number {
  return quantile(samples, 0.5);
}

/** "median 21.4 ms (p10 20.9, p90 23.0, n=40)": the spread, for the notes under the table. */
export function describe(samples: readonly number[], unit = 'ms'): string {
  const f = (x: number) => x.toFixed(1);
  return `median ${f(median(samples))} ${unit} (p10 ${f(quantile(samples, 0.1))}, p90 ${f(quantile(samples, 0.9))}, n=${samples.length})`;
}

/**
 * The order in which to measure `k` contenders in round `round`: a rotation, so over k rounds each one
 * goes first, second, … equally often and they share whatever noise the machine has at that moment.
 */
export function rotation<T>(items: readonly T[], round: number): T[] {
  const k = items.length;
  const shift = round % k;
  return [...items.slice(shift), ...items.slice(0, shift)];
}

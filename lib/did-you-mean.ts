/**
 * "Did you mean": the one rule for every name a person types — CLI commands, flags and actions, and config
 * keys — so a typo is answered the same way everywhere.
 */

/**
 * The edit distance with adjacent transpositions (optimal string alignment, "Damerau–Levenshtein"):
 * `jsno` → `json` is one edit, as a person would count it.
 */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The known name closest to what was typed, when it is close enough to be the intended one: within
 * about a third of its length in edits, or what was typed is the start of exactly one name (`--dry`).
 */
export function didYouMean(input: string, known: readonly string[]): string | undefined {
  const typed = input.toLowerCase();
  let best: { name: string; distance: number } | undefined;
  for (const name of known) {
    const distance = editDistance(typed, name.toLowerCase());
    if (!best || distance < best.distance) best = { name, distance };
  }
  if (best && best.distance > 0 && best.distance <= Math.max(1, Math.floor(typed.length / 3)) && best.distance < typed.length) return best.name;
  const prefixed = typed.length >= 3 ? known.filter((k) => k.toLowerCase().startsWith(typed)) : [];
  return prefixed.length === 1 ? prefixed[0] : undefined;
}

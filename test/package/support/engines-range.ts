/**
 * The small part of npm's range syntax that `engines.node` uses here: caret ranges (`^20.19.0`)
 * joined by `||`. Anything else is refused, so a range this cannot read fails the test instead of
 * being half-understood.
 */
function caretRanges(range: string): [number, number, number][] {
  return range.split('||').map((part) => {
    const match = /^\^(\d+)\.(\d+)\.(\d+)$/.exec(part.trim());
    if (match === null) throw new Error(`not a caret range: ${part.trim()}`);
    return [Number(match[1]), Number(match[2]), Number(match[3])];
  });
}

function parseVersion(version: string): [number, number, number] {
  const match = /^v?(\d+)\.(\d+)\.(\d+)$/.exec(version);
  if (match === null) throw new Error(`not a version: ${version}`);
  return [Number(match[1]), Number(match[2]), Number(match[3])];
}

/** Whether a Node version (`22.12.0` or `v22.12.0`) lies in a `^a.b.c || ^d.e.f` range. */
export function satisfiesEngines(version: string, range: string): boolean {
  const [major, minor, patch] = parseVersion(version);
  return caretRanges(range).some(
    ([low, lowMinor, lowPatch]) =>
      major === low && (minor > lowMinor || (minor === lowMinor && patch >= lowPatch)),
  );
}

/** The major lines a caret-range union admits, ascending. */
export function supportedLines(range: string): number[] {
  return caretRanges(range)
    .map(([major]) => major)
    .toSorted((a, b) => a - b);
}

/**
 * A parser of numeric command-line options for the dev scripts: `--<name>` must be a number (an
 * integer if asked) of at least `min`; anything else ends the script through `fail`.
 */
export function numberOption(
  fail: (message: string) => never,
): (name: string, value: string, integer: boolean, min: number) => number {
  return (name, value, integer, min) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < min || (integer && !Number.isInteger(n)))
      fail(`--${name} must be ${integer ? 'an integer' : 'a number'} ≥ ${min}, got '${value}'`);
    return n;
  };
}

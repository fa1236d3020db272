import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { satisfiesEngines, supportedLines } from './support/engines-range.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const manifest = JSON.parse(readFileSync(`${root}/package.json`, 'utf8')) as {
  engines: { node: string };
  scripts: Record<string, string>;
};
const matrix = readFileSync(`${root}/scripts/node-matrix.sh`, 'utf8');

/** The `line version integrity` rows pinned in scripts/node-matrix.sh. */
function pinnedNodes(): { line: number; version: string }[] {
  return [...matrix.matchAll(/^(\d+) (\d+\.\d+\.\d+) sha512-\S+$/gm)].map((match) => ({
    line: Number(match[1]),
    version: match[2]!,
  }));
}

describe('the Node lines the package states and tests', () => {
  it('engines.node names exactly the lines the matrix runs', () => {
    expect(manifest.engines.node).toBe('^20.19.0 || ^22.12.0 || ^24.0.0');
    const pins = pinnedNodes();
    expect(pins.map((pin) => pin.line)).toEqual(supportedLines(manifest.engines.node));
    expect(/^lines=\$\{NODE_MATRIX_LINES:-20 22 24\}$/m.test(matrix)).toBe(true);
    for (const pin of pins) expect(satisfiesEngines(pin.version, manifest.engines.node)).toBe(true);
  });

  it('the range helper rejects what engines excludes', () => {
    const range = manifest.engines.node;
    for (const outside of [
      '18.20.4',
      '20.18.3',
      '21.7.3',
      '22.11.0',
      '23.11.1',
      '25.0.0',
      '26.1.0',
    ]) {
      expect(satisfiesEngines(outside, range), outside).toBe(false);
    }
    for (const inside of ['20.19.0', '22.12.0', '24.0.0', '24.22.3']) {
      expect(satisfiesEngines(inside, range), inside).toBe(true);
    }
  });

  it('runs on a Node that engines admits, and on the one the matrix meant', () => {
    expect(satisfiesEngines(process.versions.node, manifest.engines.node)).toBe(true);
    // Set by scripts/node-matrix.sh: proves a run counted for Node 22 really ran on it.
    const expected = process.env['KMS_EXPECTED_NODE_VERSION'];
    if (expected !== undefined) expect(process.version).toBe(expected);
  });

  it('npm runs the matrix from a documented script', () => {
    expect(manifest.scripts['test:node-matrix']).toBe('bash scripts/node-matrix.sh');
    expect(readFileSync(`${root}/.ci/run`, 'utf8')).toContain('npm run -s test:node-matrix');
  });
});

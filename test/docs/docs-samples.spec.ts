// Keeps docs/MIGRATING-FROM-NODE-VAULT.md and docs/RUNBOOK.md from rotting:
// - every ```ts block is a contiguous run of lines of the spec that executes it (imports of the
//   package are checked by name against its entries instead);
// - every error class, error code, unavailable reason and identifier they name in inline code
//   exists in the code (lib/, sample/, or node-vault's own source for the migration guide).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string): string => readFileSync(join(root, path), 'utf8');

/** Every .ts file under a directory of the repository, concatenated. */
function sourcesUnder(dir: string): string {
  const texts: string[] = [];
  const walk = (path: string): void => {
    for (const entry of readdirSync(join(root, path))) {
      const child = join(path, entry);
      if (statSync(join(root, child)).isDirectory()) walk(child);
      else if (child.endsWith('.ts') || child.endsWith('.js')) texts.push(read(child));
    }
  };
  walk(dir);
  return texts.join('\n');
}

interface Sample {
  readonly line: number;
  readonly lines: readonly string[];
}

/** The ```ts blocks of a markdown text (indented ones inside list items included). */
function tsBlocks(markdown: string): Sample[] {
  const samples: Sample[] = [];
  let current: { line: number; lines: string[] } | undefined;
  markdown.split('\n').forEach((text, index) => {
    const trimmed = text.trim();
    if (current === undefined) {
      if (trimmed === '```ts') current = { line: index + 1, lines: [] };
    } else if (trimmed === '```') {
      samples.push(current);
      current = undefined;
    } else {
      current.lines.push(text);
    }
  });
  expect(current, 'an unclosed code block').toBeUndefined();
  return samples;
}

/** Lines without indentation, blank lines dropped: formatting may differ, code may not. */
function normalized(lines: readonly string[]): string[] {
  return lines.map((line) => line.trim()).filter((line) => line.length > 0);
}

function containsRun(haystack: readonly string[], needle: readonly string[]): boolean {
  if (needle.length === 0) return true;
  for (let start = 0; start + needle.length <= haystack.length; start += 1) {
    if (needle.every((line, offset) => haystack[start + offset] === line)) return true;
  }
  return false;
}

const PACKAGE_ENTRIES: Readonly<Record<string, string>> = {
  '@ascetic-ddd/nestjs-kms': 'lib/index.ts',
  '@ascetic-ddd/nestjs-kms/testing': 'lib/testing/index.ts',
};

interface SplitSample {
  /** Import statements, each as its normalized lines. */
  readonly imports: readonly (readonly string[])[];
  readonly body: readonly string[];
}

/** Splits a sample's normalized lines into its import statements and the rest. */
function splitImports(lines: readonly string[]): SplitSample {
  const imports: string[][] = [];
  const body: string[] = [];
  let statement: string[] | undefined;
  for (const line of lines) {
    if (statement === undefined && line.startsWith('import ')) statement = [];
    if (statement === undefined) {
      body.push(line);
      continue;
    }
    statement.push(line);
    if (/from '[^']+';$/.test(line)) {
      imports.push(statement);
      statement = undefined;
    }
  }
  expect(statement, 'an unterminated import statement').toBeUndefined();
  return { imports, body };
}

/** The names an import statement of the package takes, `type` markers dropped. */
function importedNames(statement: readonly string[]): { from: string; names: string[] } {
  const text = statement.join(' ');
  const from = /from '([^']+)';$/.exec(text)?.[1] ?? '';
  const braces = /\{([^}]*)\}/.exec(text)?.[1] ?? '';
  const names = braces
    .split(',')
    .map((name) => name.trim().replace(/^type\s+/, ''))
    .filter((name) => name.length > 0);
  return { from, names };
}

function exportsName(entrySource: string, name: string): boolean {
  return new RegExp(`(?:export|,|\\{)\\s*(?:type\\s+)?${name}\\b`).test(entrySource);
}

/** Inline code spans outside fenced blocks. */
function inlineCode(markdown: string): string[] {
  const withoutBlocks = markdown.replace(/^\s*```[\s\S]*?^\s*```/gm, '');
  return [...withoutBlocks.matchAll(/`([^`\n]+)`/g)].map((match) => match[1] ?? '');
}

const DOCS = [
  {
    doc: 'docs/MIGRATING-FROM-NODE-VAULT.md',
    spec: 'test/docs/migration-guide.spec.ts',
    // Identifiers may also be node-vault's own (the calls being replaced).
    sources: () =>
      [
        sourcesUnder('lib'),
        sourcesUnder('sample'),
        read('test/docs/migration-guide.spec.ts'),
        sourcesUnder('node_modules/node-vault/src'),
        read('node_modules/node-vault/README.md'),
      ].join('\n'),
  },
  {
    doc: 'docs/RUNBOOK.md',
    spec: 'test/docs/runbook.spec.ts',
    sources: () =>
      [sourcesUnder('lib'), sourcesUnder('sample'), read('test/docs/runbook.spec.ts')].join('\n'),
  },
] as const;

describe.each(DOCS)('$doc', ({ doc, spec, sources }) => {
  const markdown = read(doc);
  const specLines = normalized(read(spec).split('\n'));

  it('has TypeScript samples, each one run by its spec', () => {
    const samples = tsBlocks(markdown);
    expect(samples.length).toBeGreaterThanOrEqual(2);
    for (const sample of samples) {
      const { imports, body } = splitImports(normalized(sample.lines));
      expect(
        containsRun(specLines, body),
        `${doc}:${sample.line}: this sample is not a contiguous excerpt of ${spec}`,
      ).toBe(true);
      for (const statement of imports) {
        const { from, names } = importedNames(statement);
        const entry = PACKAGE_ENTRIES[from];
        if (entry === undefined) {
          expect(
            containsRun(specLines, statement),
            `${doc}:${sample.line}: ${statement.join(' ')} is not imported so by ${spec}`,
          ).toBe(true);
          continue;
        }
        const entrySource = read(entry);
        for (const name of names) {
          expect(exportsName(entrySource, name), `${doc}: ${name} is not exported by ${from}`).toBe(
            true,
          );
        }
      }
    }
  });

  it('names only error classes, codes and unavailable reasons that exist', () => {
    const errors = read('lib/errors/index.ts');
    const classes = new Set(markdown.match(/\b(?:Kms[A-Za-z]*Error|KekNotFoundError)\b/g) ?? []);
    expect(classes.size).toBeGreaterThan(3);
    for (const name of classes) {
      expect(exportsName(errors, name), `${doc}: no error class ${name}`).toBe(true);
    }
    const errorSources = sourcesUnder('lib/errors');
    for (const code of new Set(markdown.match(/\bKMS_[A-Z_]+\b/g) ?? [])) {
      expect(errorSources.includes(`'${code}'`), `${doc}: no error code ${code}`).toBe(true);
    }
    const union = read('lib/errors/kms-unavailable.error.ts');
    const reasons = new Set(
      [...markdown.matchAll(/reason: '([a-z-]+)'/g)].map((match) => match[1] ?? ''),
    );
    expect(reasons.size).toBeGreaterThan(0);
    for (const reason of reasons) {
      expect(union.includes(`| '${reason}'`), `${doc}: no unavailable reason '${reason}'`).toBe(
        true,
      );
    }
  });

  it('names only identifiers (options, methods, classes) that exist in the code', () => {
    const code = sources();
    const identifiers = new Set(
      inlineCode(markdown)
        .map((span) => /^([A-Za-z_$][\w$]*)(?:\(.*\))?$/.exec(span)?.[1])
        .filter((name): name is string => name !== undefined && /[a-z][A-Z]|^[A-Z]/.test(name)),
    );
    expect(identifiers.size).toBeGreaterThan(10);
    for (const name of identifiers) {
      expect(new RegExp(`\\b${name}\\b`).test(code), `${doc}: \`${name}\` is not in the code`).toBe(
        true,
      );
    }
  });
});

import type { Reporter, TestModule } from 'vitest/node';

/**
 * Prints the plain closing line CI reads: `N passed, N failed, N skipped`.
 * Skipped and todo tests are reported separately and never counted as passes. A file that
 * failed outside its tests (it did not load, a hook threw) counts as one more failure, even
 * when its tests were marked skipped or passed.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(
    testModules: ReadonlyArray<TestModule>,
    unhandledErrors: ReadonlyArray<unknown>,
  ): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const testModule of testModules) {
      let failedTests = 0;
      for (const test of testModule.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') passed += 1;
        else if (state === 'failed') failedTests += 1;
        else skipped += 1;
      }
      failed += failedTests;
      if (failedTests === 0 && failedOutsideTests(testModule)) failed += 1;
    }
    failed += unhandledErrors.length;
    process.stdout.write(`\n${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}

function failedOutsideTests(testModule: TestModule): boolean {
  if (testModule.state() === 'failed' || testModule.errors().length > 0) return true;
  for (const suite of testModule.children.allSuites()) {
    if (suite.state() === 'failed' || suite.errors().length > 0) return true;
  }
  return false;
}

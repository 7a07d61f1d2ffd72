// "Explain this cell": which cells it is for, which errors it quotes and which language it fences the code in.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { canExplain, cellErrorsOf, explainCellSource, explainLanguage } from '../lib/transcript.js';

const usageError = {
  output_type: 'stream', name: 'stderr',
  text: ['UsageError: unrecognized arguments: --tempreature 0.2\n'],
};

test('a UsageError printed to stderr is quoted as the cell error, like a traceback', () => {
  const errors = cellErrorsOf([{ output_type: 'stream', name: 'stdout', text: 'hi\n' }, usageError]);
  assert.deepEqual(errors, [{ ename: 'UsageError', evalue: 'unrecognized arguments: --tempreature 0.2',
    traceback: ['UsageError: unrecognized arguments: --tempreature 0.2'] }]);
  const source = explainCellSource('%%glm --tempreature 0.2\nhi', 'python', errors);
  assert.match(source, /why it fails/);
  assert.match(source, /The error:\n```\nUsageError: unrecognized arguments: --tempreature 0\.2\n```/);
});

test('stderr that names no error (a warning, a progress bar) is not quoted; error outputs still are', () => {
  const errors = cellErrorsOf([
    { output_type: 'stream', name: 'stderr', text: 'Loading weights: 100%\n' },
    { output_type: 'stream', name: 'stdout', text: 'ValueError: printed, not raised\n' },
    { output_type: 'error', ename: 'ZeroDivisionError', evalue: 'division by zero',
      traceback: ['\u001b[31mZeroDivisionError\u001b[0m'] },
  ]);
  assert.deepEqual(errors.map(e => e.ename), ['ZeroDivisionError']);
});

test('a long stderr error is cut to its last lines like a traceback, colour codes out', () => {
  const lines = Array.from({ length: 100 }, (_, i) => `line ${i}`);
  const [error] = cellErrorsOf([{ output_type: 'stream', name: 'stderr',
    text: `\u001b[31mmodule.CustomError: boom\u001b[0m\n${lines.join('\n')}\n` }]);
  assert.equal(error.ename, 'module.CustomError');
  const source = explainCellSource('x', 'python', [error]);
  assert.match(source, /line 99\n```$/);
  assert.doesNotMatch(source, /line 59\n/);
  assert.doesNotMatch(source, /\u001b/);
});

test('an empty or blank cell has nothing to explain', () => {
  for (const source of ['', '  \n\t\n', null, undefined]) {
    assert.equal(canExplain(source), false, JSON.stringify(source));
  }
  assert.equal(canExplain('x = 1'), true);
});

test("code is fenced in the notebook's language, python where it is unknown", () => {
  assert.equal(explainLanguage('code', 'R', 'python'), 'r');
  assert.equal(explainLanguage('code', '', 'julia'), 'julia');
  assert.equal(explainLanguage('code', undefined, undefined), 'python');
  assert.equal(explainLanguage('code', 'two words\n```', undefined), 'python');
  assert.equal(explainLanguage('markdown', 'R', 'R'), 'markdown');
  assert.equal(explainLanguage('raw', 'R', 'R'), '');
  assert.match(explainCellSource('x <- 1', explainLanguage('code', 'R'), []), /```r\nx <- 1\n```/);
});

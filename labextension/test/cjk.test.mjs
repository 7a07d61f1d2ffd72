// CJK-friendly emphasis (src/cjk.ts, compiled to lib/) through marked, the parser JupyterLab renders markdown with.
// Each expectation is what the Python renderer (glm_nb/render/markdown_cjk.py) gives for the same source.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { marked } from 'marked';

import { cjkFriendlyEmphasis, JOINER, withoutJoiners } from '../lib/cjk.js';

const drawn = source => withoutJoiners(marked.parseInline(cjkFriendlyEmphasis(source), { gfm: true }));
const json = path => JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8'));

test('the marked these tests parse with is the one JupyterLab renders with', () => {
  const pinned = json('../package.json').devDependencies.marked;
  const lab = json('../node_modules/@jupyterlab/markedparser-extension/package.json').dependencies.marked;

  assert.match(pinned, /^\d+\.\d+\.\d+$/, 'pin marked exactly, to the version JupyterLab uses');
  assert.equal(json('../node_modules/marked/package.json').version, pinned, 'run `npm install` in labextension/');
  assert.equal(lab.replace(/^\^/, ''), pinned, `JupyterLab asks for marked ${lab}: pin that version`);
});

test('a run after CJK punctuation closes before a CJK letter, and opens before CJK punctuation', () => {
  assert.equal(marked.parseInline('**注意：**这是', { gfm: true }), '**注意：**这是'); // plain marked: literal
  assert.equal(drawn('**注意：**这是'), '<strong>注意：</strong>这是');
  assert.equal(drawn('这是**「引用」**的'), '这是<strong>「引用」</strong>的');
  assert.equal(drawn('*注意：*这是'), '<em>注意：</em>这是');
  assert.equal(drawn('한국어 **주의:**이것'), '한국어 <strong>주의:</strong>이것');
});

test('a strikethrough reads by the same rules', () => {
  assert.equal(drawn('~~删除：~~这是'), '<del>删除：</del>这是');
  assert.equal(drawn('这是~~「旧的」~~新的'), '这是<del>「旧的」</del>新的');
});

test('`_` and `__` beside CJK punctuation read as CommonMark reads them, which is what the amendment says', () => {
  // a `_` run with a letter on one side and punctuation on the other stays text: the amendment keeps that rule
  assert.equal(drawn('__注意：__这是'), '__注意：__这是');
  assert.equal(drawn('这是__「引用」__的'), '这是__「引用」__的');
  assert.equal(drawn('_注意：_这是'), '_注意：_这是');
  assert.equal(drawn('「__注意__」'), '「<strong>注意</strong>」');
  assert.equal(drawn('__注意：__ 这是'), '<strong>注意：</strong> 这是');
});

test('a `_` emphasis that ends where a `*` run starts stays emphasis', () => {
  assert.equal(drawn('_小心_**注意：**这是'), '<em>小心</em><strong>注意：</strong>这是');
  assert.equal(drawn('_Note：_**注意**这是'), '<em>Note：</em><strong>注意</strong>这是');
  assert.equal(drawn('**注意：**_这是_'), '<strong>注意：</strong><em>这是</em>');
});

test('what CommonMark already reads, or the amendment leaves alone, is not changed', () => {
  for (const source of ['中文**加粗**中文', '**Note:**this', '__注意：__这是', '\\*\\*注意：\\*\\*这是', '无强调。']) {
    assert.equal(cjkFriendlyEmphasis(source), source);
  }
  assert.equal(drawn('\\*\\*注意：\\*\\*这是'), '**注意：**这是'); // escaped: literal, as written
});

test('no joiner goes into code, and one the model wrote there is taken out: the code reads as written', () => {
  assert.ok(!cjkFriendlyEmphasis('`**注意：**这是` **注意：**这是').startsWith(`\`**注意：${JOINER}`));
  assert.equal(drawn('`**注意：**这是` **注意：**这是'), '<code>**注意：**这是</code> <strong>注意：</strong>这是');
  assert.equal(drawn(`\`a${JOINER}b\` 中`), '<code>ab</code> 中');
});

test('a `~` beside a `*` run gets a joiner only where the run pairs: marked pairs part of a run it lets open', () => {
  // marked takes the `~` for a letter, the Python renderer for punctuation: the `*` could close to both, but pairs
  // with nothing (the `**` before it would make three), so marked must not be let close it
  assert.equal(drawn('x**「*~a这'), 'x**「*~a这');
  assert.equal(drawn('x~**「*这'), 'x~**「*这');
  assert.equal(drawn('x*」*~」这'), 'x<em>」</em>~」这');
  assert.equal(drawn('x **中~」**~~这'), 'x <strong>中~」</strong>~~这');
});

test('a `_` run keeps its joiner-free end only where it closes emphasis, not wherever an earlier `_` opens', () => {
  assert.equal(drawn('x*：__*注意*「__*这'), 'x<em>：__</em>注意<em>「__</em>这'); // the `*` ends the first `__`
  assert.equal(drawn('x：__」_*这'), 'x：__」_*这'); // `__` and `_`, both able to open and close: 2 + 1 is 3
});

test('runs pair within their own block: a `_` left open in one paragraph is not closed in the next', () => {
  // paragraph by paragraph, the second `_` closes nothing, so the `**` after it gets its joiner to close
  const source = 'x _a\n\n**注意_**中';
  const html = withoutJoiners(marked.parse(cjkFriendlyEmphasis(source), { gfm: true }));
  assert.equal(html, '<p>x _a</p>\n<p><strong>注意_</strong>中</p>\n');
});

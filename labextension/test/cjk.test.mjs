// CJK-friendly emphasis (src/cjk.ts, compiled to lib/) through marked, the parser JupyterLab renders markdown with.
// Each expectation is what the Python renderer (glm_nb/render/markdown_cjk.py) gives for the same source.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { marked } from 'marked';

import { cjkFriendlyEmphasis, JOINER, withoutJoiners } from '../lib/cjk.js';

const drawn = source => withoutJoiners(marked.parseInline(cjkFriendlyEmphasis(source), { gfm: true }));

test('a run after CJK punctuation closes before a CJK letter, and opens before CJK punctuation', () => {
  assert.equal(marked.parseInline('**注意：**这是', { gfm: true }), '**注意：**这是'); // plain marked: literal
  assert.equal(drawn('**注意：**这是'), '<strong>注意：</strong>这是');
  assert.equal(drawn('这是**「引用」**的'), '这是<strong>「引用」</strong>的');
  assert.equal(drawn('*注意：*这是'), '<em>注意：</em>这是');
  assert.equal(drawn('한국어 **주의:**이것'), '한국어 <strong>주의:</strong>이것');
});

test('what CommonMark already reads, or the amendment leaves alone, is not changed', () => {
  for (const source of ['中文**加粗**中文', '**Note:**this', '__注意：__这是', '\\*\\*注意：\\*\\*这是', '无强调。']) {
    assert.equal(cjkFriendlyEmphasis(source), source);
  }
  assert.equal(drawn('\\*\\*注意：\\*\\*这是'), '**注意：**这是'); // escaped: literal, as written
});

test('a joiner that lands in code is taken out again: the code reads as written', () => {
  assert.ok(cjkFriendlyEmphasis('`**注意：**这是`').includes(JOINER));
  assert.equal(drawn('`**注意：**这是`'), '<code>**注意：**这是</code>');
});

// Inline HTML kept to its block (src/tags.ts, compiled to lib/): a tag the model opens mid-line and leaves open is
// text, so a reply drawn whole (as JupyterLab's marked and sanitizer draw it) draws what its blocks draw apart.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Sanitizer } from '@jupyterlab/apputils/lib/sanitizer.js';
import { marked } from 'marked';

import { splitAnswer } from '../lib/answer.js';
import { confineTags } from '../lib/tags.js';

// JupyterLab's latex.ts (which takes math out before tags are read) looks at `navigator`, which Node 20 lacks
globalThis.navigator ??= { appName: 'node' };
const sanitizer = new Sanitizer(); // JupyterLab's, as the mime renderer is given it
const draw = source => sanitizer.sanitize(marked.parse(source, { gfm: true })).replace(/\n+/g, '');

/** The markdown of `text` drawn whole, and its blocks drawn apart, as the view draws them (their sources). */
function drawings(text) {
  const [piece] = splitAnswer(text);
  return {
    whole: draw(piece.blocks.map(block => block.source).join('\n')),
    apart: piece.blocks.map(block => draw(block.source)).join(''),
  };
}

test('a tag left open mid-line swallows no later block: drawn whole, the reply draws what its blocks draw', () => {
  const later = '\n\nNext paragraph.\n\n# A heading\n\n- an item';
  for (const tag of ['<div>', '<div hidden>', '<details>', '<textarea>', '<select>', '<b>', '<div/>']) {
    const text = `Text ${tag} more${later}`;

    const { whole, apart } = drawings(text);

    assert.equal(whole, apart, text);
    assert.match(whole, /<p>Next paragraph.<\/p><h1>A heading<\/h1><ul><li>an item<\/li><\/ul>$/, text);
    assert.ok(whole.startsWith(`<p>Text ${tag.replace('<', '&lt;').replace('>', '&gt;')} more</p>`), whole);
  }
});

test('markdown drawn whole for its context (a reference definition) keeps a tag left open to its block', () => {
  const text = 'See <details> [the docs][d].\n\nStill shown.\n\n[d]: https://example.com';
  const [piece] = splitAnswer(text);

  const drawn = draw(piece.blocks.map(block => block.source).join('\n'));

  assert.equal(piece.blocks.length, 1); // drawn whole: the definition is used before it
  assert.doesNotMatch(drawn, /<details/);
  assert.match(drawn, /<\/p><p>Still shown.<\/p>$/);
});

test('a tag closed in its block, at the start of a line, void or in code is left as written', () => {
  const kept = [
    'Text <div>a</div> b', 'a <b><i>x</b> y', 'a <br> b <img src="x.png"> c', 'x `<div>` y ``a <b> ` c`` z',
    '<div>\n\nan HTML block holds what follows', '```\na <div>\n```', '    indented <div> code', 'a\n</div>',
  ];
  for (const text of kept) {
    assert.equal(confineTags(text), text);
  }
  assert.equal(confineTags('a <span>b <div>c</div>'), 'a &lt;span>b <div>c</div>');
  assert.equal(confineTags('`x` <div> y'), '`x` &lt;div> y'); // after code on its line: mid-line
  assert.equal(confineTags('a <b><i>x</b> <i>y'), 'a <b><i>x</b> &lt;i>y'); // closing <b> closed the first <i>
  assert.equal(confineTags('use List<String> here'), 'use List&lt;String> here'); // no tag, shown as written
  assert.equal(confineTags('```\n<div>\n```\nthen <div>'), '```\n<div>\n```\nthen &lt;div>');
});

test('a block drawn lazily keeps its text as written; only what is drawn from it is confined', () => {
  const [piece] = splitAnswer('A <div> b\n\nC');

  assert.deepEqual(piece.blocks.map(block => block.text), ['A <div> b\n', 'C']);
  assert.deepEqual(piece.blocks.map(block => block.source), ['A &lt;div> b\n', 'C']);
});

test('a forged text of unmatched backticks and unclosed quotes is read in linear time', () => {
  const backticks = Array.from({ length: 500 }, (_, k) => `${'`'.repeat(k + 1)} a <b> `).join(''); // none closes
  const forged = backticks + ' <a b="'.repeat(40_000) + ' x <b>'.repeat(40_000) + '</i>'.repeat(40_000);
  const started = performance.now();

  confineTags(forged);

  assert.ok(performance.now() - started < 1000, `${performance.now() - started} ms`);
});

test('a tag left open that code masking or a quoted `<` would hide is text: no later block is swallowed', () => {
  const cases = [
    'Text <details title="<"> more\n\nNext paragraph is hidden.\n\n<br>\n\nTail', // a `<` in a quoted value
    'A \\`<details> b` more\n\nNext.\n\n<br>', // an escaped backtick opens no code span
    'Text\n    more <details> x\n\nNext paragraph.\n\n<br>', // a paragraph's line, not indented code
    '```a`b <details> x\n\nNext.\n\n<br>', // no fence: a backtick in its info string
    'Text\n    ```\nmore <details> x\n\nNext.\n\n<br>', // no fence: four spaces in, after a paragraph's line
  ];
  for (const text of cases) {
    const { whole, apart } = drawings(text);

    assert.equal(whole, apart, text);
    assert.doesNotMatch(whole, /<details/, text);
    assert.match(whole, /<p>Next[^<]*<\/p><br \/>/, text);
  }
});

test('code in a fence opened on a list item line, in a quote or in a list item, and math, are no tags', () => {
  const kept = [
    '1. ```java\n   List<String> a;\n   ```', '> ~~~\n> List<String> a;\n> ~~~',
    '- a\n\n      ```\n      x <b> y\n      ```',
    '- item\n\n      indented <div> code', '# Title\n    code <div>', '1. item\n   ```\n   code\nList<String> x',
  ];
  for (const text of kept) {
    assert.equal(confineTags(text), text);
  }
  assert.equal(confineTags('Write \\<div> to open a div.'), 'Write \\<div> to open a div.'); // escaped: no tag
  for (const math of ['Inline math $f<T> x$ here.', 'Shown $$\na<b> c\n$$ as a formula; @@0@@ stays.', 'a $x @@0@@ <b>$ & b']) {
    assert.equal(confineTags(math), math); // JupyterLab takes math out before reading tags
  }
  assert.equal(confineTags('No math: \\$ a <b> c $'), 'No math: \\$ a &lt;b> c $');
  const autolinks = 'See <https://example.com/a> and <me@example.com>.';
  assert.equal(confineTags(autolinks), autolinks);
});

// An answer cut into pieces (src/answer.ts, compiled to lib/), and the same cut kept across streaming updates.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { marked } from 'marked';

import { AnswerSplitter, splitAnswer, splitFences } from '../lib/answer.js';

const ANSWERS = [
  // fences opening and closing mid-stream, of both kinds, indented, longer, never closed
  'Intro **注意：**这是\n\n```python\nx = 1\n\ny = 2\n```\n\nAfter the code.\n\n' +
    '~~~~ js\nlet a;\n~~~\nstill code\n~~~~\nEnd',
  '  ```\n  indented\n    more\n  ```\nText\n```\nnever closed\n\nstill code',
  '``` py `x`\nnot a fence\n\n````\n```\ninner\n````\n',
  // artifacts
  'Here is a drawing:\n\n```svg\n<svg viewBox="0 0 10 10"><circle r="5"/></svg>\n```\n\n```html\n<p>hi</p>\n```\n',
  // CJK paragraphs, headings, lists, quotes, tables
  '# 标题\n\n第一段，**注意：**这是。\n\n第二段。\n\n- 一\n- 二\n\n- 三\n\n1. a\n\n2. b\n\n> 引用\n\n| a | b |\n|---|---|\n| 1 | 2 |',
  '1. Step one\n\n   More about it\n\n       code in the item\n\nAfter the list.\r\n\r\nCRLF paragraph.\r\n',
  // what needs the markdown around it: an HTML block, a reference definition coming late
  'Para\n\n<!--\n\nhidden\n-->\n\nAfter',
  'See [the docs][d].\n\nMore text.\n\n[d]: https://example.com\n\nTail',
  // fences in list items (in the item, and one the item's end leaves at the margin), and lists beside fences
  '1. Install:\n   ```bash\n   pip install x\n\n   echo ok\n   ```\n2. Run:\n\n   ~~~py\n   run()\n   ~~~\n\n' +
    'Then:\n\n- a\n  ```\n  in a\n```\nat the margin\n```\n\n- b\n```js\nlet c;\n```\n* c\nlazy\n  ```\n  d\n  ```',
];

const prefixes = text => Array.from({ length: text.length + 1 }, (_, end) => text.slice(0, end));

test('an answer split as it streams, character by character, is split as it would be all at once', () => {
  for (const answer of ANSWERS) {
    const splitter = new AnswerSplitter();
    for (const prefix of prefixes(answer)) {
      assert.deepEqual(splitter.split(prefix), splitAnswer(prefix), JSON.stringify(prefix));
    }
  }
});

test('an answer streamed a few characters at a time, or all appended at once, is split the same', () => {
  const answer = ANSWERS.join('\n\n');
  for (const step of [3, 7, 50]) {
    const splitter = new AnswerSplitter();
    for (let end = 0; end <= answer.length + step; end += step) {
      assert.deepEqual(splitter.split(answer.slice(0, end)), splitAnswer(answer.slice(0, end)));
    }
  }
});

test('a text that is not the last one grown is read afresh', () => {
  const splitter = new AnswerSplitter();
  splitter.split('First paragraph.\n\n```python\nx = 1\n');

  const edited = 'First paragraph!\n\n```python\nx = 2\n```\nlonger than before'; // changed, not only grown
  assert.deepEqual(splitter.split(edited), splitAnswer(edited));
  assert.deepEqual(splitter.split('Other paragraph.\n\nText'), splitAnswer('Other paragraph.\n\nText'));
  assert.deepEqual(splitter.split('Other'), splitAnswer('Other')); // shorter
  assert.deepEqual(splitter.split(''), []);
});

test('what an update finished is the same objects at the next: the view keeps them, drawing them once', () => {
  const splitter = new AnswerSplitter();
  const before = splitter.split('One.\n\nTwo.\n\n```py\nx = 1\n```\n\nThree');

  const after = splitter.split('One.\n\nTwo.\n\n```py\nx = 1\n```\n\nThree and more.\n\nFour');

  assert.equal(after[0].blocks[0], before[0].blocks[0]);
  assert.equal(after[0].blocks[1], before[0].blocks[1]);
  assert.equal(after[1], before[1]);
  assert.notEqual(after[2].blocks[0], before[2].blocks[0]); // the block that grew
  assert.deepEqual(after[2].blocks.map(b => b.text), ['\nThree and more.\n', 'Four']);
});

test('markdown is cut where a paragraph, heading, quote or table starts after a blank line, not in a list', () => {
  const texts = ([piece]) => piece.blocks.map(block => block.text);

  const cut = texts(splitAnswer('# 标题\n\n第一段\n第二行\n\n> 引用'));
  assert.deepEqual(cut, ['# 标题\n', '第一段\n第二行\n', '> 引用']);
  assert.deepEqual(texts(splitAnswer('- a\n\n- b\n\n  more\n\n1. c')), ['- a\n\n- b\n\n  more\n\n1. c']);
  assert.deepEqual(texts(splitAnswer('\n\nText\n\nMore')), ['\n\nText\n', 'More']); // no block of blank lines
  assert.deepEqual(texts(splitAnswer('A\n\n<div>\n\nB')), ['A\n\n<div>\n\nB']); // HTML: kept whole
  assert.deepEqual(texts(splitAnswer('[a][x]\n\nB\n\n[x]: http://x')), ['[a][x]\n\nB\n\n[x]: http://x']);
});

test('markdown cut into blocks draws, block by block, what it draws whole', () => {
  for (const answer of ANSWERS) {
    for (const piece of splitAnswer(answer).filter(p => p.kind === 'markdown')) {
      const whole = marked.parse(piece.blocks.map(block => block.text).join('\n'), { gfm: true });
      const apart = piece.blocks.map(block => marked.parse(block.text, { gfm: true })).join('');
      assert.equal(apart.replace(/\n+/g, '\n'), whole.replace(/\n+/g, '\n'), JSON.stringify(piece.blocks));
    }
  }
});

test('a fenced code block in a list item stays in its item, as CommonMark draws it, not cut out of the list', () => {
  const answer =
    '1. Install it:\n   ```bash\n   pip install x\n   ```\n2. Run it:\n\n   ```py\n   run()\n   ```\n\nDone.';

  const pieces = splitAnswer(answer);

  assert.deepEqual(pieces.map(piece => piece.kind), ['markdown']); // no code piece of its own
  const drawn = pieces[0].blocks.map(block => marked.parse(block.text, { gfm: true })).join('');
  assert.equal(drawn.split('<ol>').length, 2, drawn); // one list, its second item not a list of its own
  assert.match(drawn, /<li><p>Install it:<\/p>\n<pre><code class="language-bash">pip install x\n<\/code><\/pre>/);
  assert.match(drawn, /<li><p>Run it:<\/p>\n<pre><code class="language-py">run\(\)\n<\/code><\/pre>\n<\/li>\n<\/ol>/);
});

test('a fence less indented than the list item text ends the list and is a code block of its own', () => {
  const kinds = text => splitAnswer(text).map(piece => (piece.kind === 'fence' ? `fence:${piece.body}` : 'markdown'));

  assert.deepEqual(kinds('- a\n```\ncode\n```'), ['markdown', 'fence:code']); // at the margin, lazy or not
  assert.deepEqual(kinds('- a\n\n ```\ncode\n```'), ['markdown', 'fence:code']); // one space: not in the item
  assert.deepEqual(kinds('- a\n  ```\n  in\n```\nout\n```'), ['markdown', 'fence:out']); // the item ends its fence
  assert.deepEqual(kinds('- a\n\nText\n  ```\ncode\n  ```'), ['markdown', 'fence:code']); // the list ended
});

test('splitFences gives the markdown between fences whole: its blocks joined', () => {
  const answer = 'A\n\nB\n```\ncode\n```\nC\n\nD';

  assert.deepEqual(splitFences(answer), [
    { kind: 'markdown', text: 'A\n\nB' },
    { kind: 'fence', language: '', body: 'code' },
    { kind: 'markdown', text: 'C\n\nD' },
  ]);
});

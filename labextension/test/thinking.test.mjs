// A streaming thought (src/render.ts, compiled to lib/), drawn with a stand-in DOM (fake-dom.mjs): its finished
// blocks are drawn once and kept, only its growing tail is drawn again, and what it ends as is what the same thought
// draws all at once.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { replaceMath, removeMath } from '@jupyterlab/rendermime/lib/latex.js';
import { marked } from 'marked';

import { splitAnswer } from '../lib/answer.js';
import { cjkFriendlyEmphasis, withoutJoiners } from '../lib/cjk.js';
import { paragraphLines } from '../lib/lines.js';
import { installFakeDom, notifyObservers, serialize } from './fake-dom.mjs';

globalThis.navigator ??= { appName: 'node' }; // removeMath reads it
installFakeDom();
const { TranscriptView } = await import('../lib/render.js');

/** Markdown as JupyterLab's renderer turns it into HTML (its math set aside first), without the sanitizer. */
const html = source => {
  const { text, math } = removeMath(source);
  return replaceMath(marked.parse(text, { gfm: true }), math);
};

/** A view whose markdown is drawn as the HTML above, in a text node, each source it was asked for kept. */
function recordingView() {
  const sources = [];
  const view = new TranscriptView(async (host, source) => {
    sources.push(withoutJoiners(source));
    host.appendChild(host.ownerDocument.createTextNode(html(source)));
  });
  return { view, sources };
}

const record = (thought, finish_reason = null) => ({
  version: 1, kind: 'reply', variant: 'z1', model: 'GLM-Z1', prompt: 'Why?',
  parts: [{ type: 'thinking', text: thought }, { type: 'text', text: 'Because.' }],
  answer: 'Because.', format: 'markdown', finish_reason, thinking_display: 'collapsed', note: '',
});

// One markdown paragraph: its lines apart by single line breaks, inline markdown within and across them
const SOFT_THOUGHT = [
  'The user wants a sort. Let me think.', 'First, **the input**: a list of `int`s, maybe `a[i] < $5`.',
  'Then *emphasis that runs', 'over a line* and a `code', 'span` that does too.',
  'Math $x +', 'y$ spans one as well.',
  '用户问的是**注意：**这是。', 'A [link', 'text](https://example.com) across.', 'snake_case_name stays text.',
  'A hard break  ', 'after two spaces.', 'A <b>tag', 'closed</b> later and <i>one</i> closed (in its line).',
  'Ends here.',
].join('\n');

const THOUGHTS = [
  // code fences with blank lines, `$` and a fence-like line inside; one left open at the end
  'Let me write it.\n\n```python\nx = 1\n\ny = "$5"\n~~~\n\nz = 2\n```\n\nThat runs.\n\n' +
    '~~~~\ncode\n\n~~~\nstill\n~~~~\nAfter.\n\n```js\nlet open;\n\nnever closed',
  // lists, loose and nested, and a paragraph after them
  'Steps:\n\n1. First\n\n   more on it\n\n2. Second\n   - nested\n\n   - loose\n\n' +
    'So the plan holds.\n\n- a\n- b\n\nEnd.',
  // Chinese and Japanese, with CJK emphasis the renderer fixes up
  '用户问的是北京的天气。\n\n**注意：**这是一个问题。\n\n# 标题\n\n' +
    '第一段，*強調：*です。\n\n> 引用**「文字」**的\n\n结束。',
  // math, inline and display, and a `$` that spans a would-be cut
  'We need $x^2 + y^2 = z^2$.\n\n$$\n\\sum_{i=1}^n i = \\frac{n(n+1)}{2}\n$$\n\nAnd $a\n\nb$ is not math.\n\n' +
    '\\begin{align}\na &= b\n\\end{align}\n\nDone with $5 and $6.',
  // emphasis and code spans opened before a blank line and closed after it
  'A **bold start\n\nand its end** here.\n\nAn *open\n\nclose* pair, a `code\n\nspan` too.\n\n' +
    '<= 3 holds, <- an arrow.\n\nOk.',
  // what needs its context: an HTML block, a reference definition
  'Before.\n\n<div>\n\ninside\n\n</div>\n\nAfter [the docs][d].\n\n[d]: https://example.com\n\nTail.',
  // paragraphs apart by single line breaks (one paragraph), with what may and may not be cut between its lines
  SOFT_THOUGHT,
];

// The same pseudo-random cut points each run (mulberry32)
function random(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function cutPoints(text, next) {
  const ends = [];
  for (let end = 0; end < text.length; end += 1 + Math.floor(next() * 12)) {
    ends.push(end);
  }
  return [...ends, text.length];
}

const thinkingOf = view => view.node.querySelector('details');

/** Opens a `<details>` as a click (or the browser's find-in-page) does, and waits for what that draws. */
async function open(box) {
  box.open = true;
  box.dispatchEvent({ type: 'toggle' });
  await new Promise(resolve => setTimeout(resolve, 0));
}

test('a thought cut into blocks draws, block by block, what it draws all at once', () => {
  for (const thought of THOUGHTS) {
    const [piece] = splitAnswer(thought, { fences: 'inline' });
    const draw = text => withoutJoiners(html(cjkFriendlyEmphasis(text)));

    const apart = piece.blocks.map(block => draw(block.text)).join('');

    assert.equal(piece.kind, 'markdown'); // one piece: its fences stay in their blocks
    assert.equal(apart.replace(/\n+/g, '\n'), draw(thought).replace(/\n+/g, '\n'), JSON.stringify(thought));
  }
});

test('a thought streamed at random cut points ends drawn as the same thought drawn at once', async () => {
  const next = random(42);
  for (const thought of [...THOUGHTS, THOUGHTS.join('\n\n')]) {
    for (let run = 0; run < 3; run++) {
      const streamed = recordingView().view;
      for (const end of cutPoints(thought, next)) {
        await streamed.update(record(thought.slice(0, end)));
      }
      await streamed.update(record(thought, 'stop'));
      const atOnce = recordingView().view;

      await atOnce.update(record(thought, 'stop'));
      await open(thinkingOf(streamed)); // a collapsed thought is drawn as markdown once opened
      await open(thinkingOf(atOnce));

      assert.equal(serialize(streamed.node), serialize(atOnce.node), JSON.stringify(thought));
    }
  }
});

test('a streaming thought draws each finished block once, and only its growing tail again', async () => {
  const paragraphs = Array.from({ length: 30 }, (_, i) => `Paragraph ${i}: let me check case ${i} again.`);
  const thought = paragraphs.join('\n\n');
  const { view, sources } = recordingView();

  for (let end = 0; end <= thought.length; end += 9) {
    await view.update(record(thought.slice(0, end)));
  }
  await view.update(record(thought, 'stop'));

  for (const paragraph of paragraphs.slice(0, -1)) {
    const finished = sources.filter(source => source === `${paragraph}\n`); // with the blank line that ended it
    assert.equal(finished.length, 1, `${paragraph} drawn ${finished.length} times once finished`);
  }
  const several = sources.filter(source => source.split('Paragraph').length > 2);
  assert.deepEqual(several, [], 'a finished block drawn again with the tail');
  const characters = sources.reduce((sum, source) => sum + source.length, 0);
  assert.ok(characters < 8 * thought.length, `${characters} characters drawn for a thought of ${thought.length}`);
});

test('a paragraph cut at its line breaks draws, piece by piece in one paragraph, what it draws whole', () => {
  const draw = text => withoutJoiners(html(cjkFriendlyEmphasis(text)));
  const inner = text => draw(text).replace(/^<p>([\s\S]*)<\/p>\n$/, '$1');
  const paragraphs = [SOFT_THOUGHT, SOFT_THOUGHT.replace(/\n/g, '\n   '), 'Only one line.\n', 'a\nb\n\n'];
  for (const paragraph of paragraphs) {
    const [block] = splitAnswer(paragraph, { fences: 'inline' })[0].blocks;

    const pieces = paragraphLines(block) ?? [block];
    const apart = `<p>${pieces.map(piece => inner(piece.source) + (piece.soft ? '\n' : '')).join('')}</p>\n`;

    assert.equal(apart, draw(paragraph), JSON.stringify(pieces.map(piece => piece.text)));
  }
});

test('a paragraph is cut only where nothing inline spans the line break, and only a paragraph is', () => {
  const cut = text => paragraphLines(splitAnswer(text, { fences: 'inline' })[0].blocks[0])?.map(piece => piece.text);

  assert.deepEqual(cut(SOFT_THOUGHT), [
    'The user wants a sort. Let me think.', 'First, **the input**: a list of `int`s, maybe `a[i] < $5`.',
    'Then *emphasis that runs\nover a line* and a `code\nspan` that does too.', 'Math $x +\ny$ spans one as well.',
    '用户问的是**注意：**这是。', 'A [link\ntext](https://example.com) across.', 'snake_case_name stays text.',
    'A hard break  \nafter two spaces.', 'A <b>tag\nclosed</b> later and <i>one</i> closed (in its line).',
    'Ends here.',
  ]);
  assert.equal(cut('One line.'), undefined);
  assert.equal(cut('Title\nunderlined\n---'), undefined); // a heading
  assert.equal(cut('a | b\nc | d'), undefined); // a table, once a delimiter row comes
  assert.equal(cut('Text\n- a list'), undefined);
  assert.equal(cut('- a list\n- of two'), undefined);
  // HTML that runs on over lines is not cut: a processing instruction, a comment, CDATA, a tag not finished
  assert.equal(cut('Run <?php echo 1 -> 2;\nand ends with ?> as usual.\nDone.'), undefined);
  assert.equal(cut('A <!-- note -> x\nends --> here.\nDone.'), undefined);
  assert.equal(cut('A <![CDATA[ x > y\n]]> here.\nDone.'), undefined);
  assert.equal(cut('A <span title="a<b">x\n</span> here.\nDone.'), undefined);
});

test('a paragraph of thousands of lines that no line break may cut is read in linear time', () => {
  const lines = ['A stray ` backtick opens no span here.', ...Array(20_000).fill('and the lines go on and on.')];
  const [block] = splitAnswer(lines.join('\n'), { fences: 'inline' })[0].blocks;
  const started = performance.now();

  const pieces = paragraphLines(block);

  assert.ok(performance.now() - started < 1000, `${performance.now() - started} ms`);
  assert.equal(pieces, null); // its first piece found no end in 24 lines: drawn whole, as the block it is
});

test('a paragraph line of thousands of code spans is read in linear time', () => {
  const text = `${Array(40_000).fill('`a`').join(' ')}\nand the next line.`; // 160 kB: each span closed once
  const [block] = splitAnswer(text, { fences: 'inline' })[0].blocks;
  const started = performance.now();

  const pieces = paragraphLines(block);

  assert.ok(performance.now() - started < 1000, `${performance.now() - started} ms`);
  assert.deepEqual(pieces?.map(piece => piece.soft), [true, false]); // its spans all closed: cut at the break
});

test('a streaming thought of one paragraph of many lines draws only its last line again', async () => {
  const lines = Array.from({ length: 30 }, (_, i) => `Line ${i}: let me check case ${i} again.`);
  const thought = lines.join('\n');
  const { view, sources } = recordingView();

  for (let end = 0; end <= thought.length; end += 9) {
    await view.update(record(thought.slice(0, end)));
  }

  const several = sources.filter(source => source.split('Line').length > 2);
  assert.deepEqual(several, [], 'finished lines drawn again with the tail');
  for (const line of lines.slice(0, -1)) {
    const finished = sources.filter(source => source === line).length;
    assert.ok(finished <= 2, `${line} drawn ${finished} times once finished`); // as the last line, then before one
  }
  const characters = sources.reduce((sum, source) => sum + source.length, 0);
  assert.ok(characters < 8 * thought.length, `${characters} characters drawn for a thought of ${thought.length}`);
});

test('a thought shown open, streamed at random cut points, ends drawn as that thought drawn at once', async () => {
  const next = random(7);
  const shown = (thought, reason) => ({ ...record(thought, reason), thinking_display: 'shown' });
  for (const thought of [SOFT_THOUGHT, `${SOFT_THOUGHT}\n\n${THOUGHTS[1]}\n\n${SOFT_THOUGHT}`]) {
    const streamed = recordingView().view;
    for (const end of cutPoints(thought, next)) {
      await streamed.update(shown(thought.slice(0, end)));
    }
    await streamed.update(shown(thought, 'stop'));
    const atOnce = recordingView().view;

    await atOnce.update(shown(thought, 'stop'));

    assert.equal(serialize(streamed.node), serialize(atOnce.node));
    assert.ok(thinkingOf(atOnce).querySelectorAll('span').length > 5); // drawn in pieces
  }
});

test('a thought keeps its box as it streams: its word count follows, and it closes once the reply ends', async () => {
  const { view } = recordingView();
  await view.update(record('One two.\n\nThree'));
  const box = thinkingOf(view);
  assert.equal(box.open, true); // open while it streams

  await view.update(record('One two.\n\nThree four five.'));
  assert.equal(thinkingOf(view), box); // the same node, not drawn again
  assert.equal(box.querySelector('summary').textContent, 'Thinking (5 words)');

  await view.update(record('One two.\n\nThree four five.', 'stop'));
  assert.equal(thinkingOf(view), box);
  assert.equal(box.open, false); // collapsed, as a finished reply's thought starts
});

test('a thought the user closed while it streamed stays closed; one opened after it ended stays open', async () => {
  const { view } = recordingView();
  await view.update(record('Hmm.'));
  thinkingOf(view).open = false; // the user's click

  await view.update(record('Hmm. Let me see.'));
  await view.update(record('Hmm. Let me see.', 'stop'));
  assert.equal(thinkingOf(view).open, false);

  thinkingOf(view).open = true; // opened to read it
  await view.update(record('Hmm. Let me see.', 'stop'));
  assert.equal(thinkingOf(view).open, true);
});

test('a line that starts with `<` but no tag (`<= n`, `<-`) leaves the blocks apart; a tag keeps them whole', () => {
  const texts = text => splitAnswer(text, { fences: 'inline' })[0].blocks.map(block => block.text);

  assert.deepEqual(texts('A\n\n<= 3 holds\n\n<- back\n\nB'), ['A\n', '<= 3 holds\n', '<- back\n', 'B']);
  assert.deepEqual(texts('A\n\n<div>\n\nB'), ['A\n\n<div>\n\nB']);
  assert.deepEqual(texts('A\n\n</div>\n\nB'), ['A\n\n</div>\n\nB']);
  assert.deepEqual(texts('A\n\n<!-- note -->\n\nB'), ['A\n\n<!-- note -->\n\nB']);
});

test('a saved collapsed thought is kept as its text, not drawn, until it is opened', async () => {
  const thought = 'First **bold** idea.\n\nSecond idea, with `code`.';
  const { view, sources } = recordingView();

  await view.update(record(thought, 'stop'));
  const box = thinkingOf(view);

  assert.equal(box.open, false);
  assert.deepEqual(sources, ['Because.']); // the answer only
  assert.equal(box.querySelector('div[data-glm-nb-lazy]').textContent, 'First **bold** idea.\n'); // found by search
  assert.equal(box.querySelectorAll('div[data-glm-nb-lazy]').length, 2);

  await open(box);

  assert.deepEqual(sources.slice(1), ['First **bold** idea.\n', 'Second idea, with `code`.']);
  assert.equal(box.querySelectorAll('div[data-glm-nb-lazy]').length, 0);
  assert.match(box.textContent, /<strong>bold<\/strong>/);
  await open(box); // opened again: nothing drawn twice
  assert.equal(sources.length, 3);
});

test('a thought the user opened draws text an update puts in it; one shown open is drawn at once', async () => {
  const { view, sources } = recordingView();
  await view.update(record('Old.', 'stop'));
  await open(thinkingOf(view));

  await view.update(record('New.', 'stop')); // the record changed under an opened thought
  await new Promise(resolve => setTimeout(resolve, 0));
  const shown = recordingView();
  await shown.view.update({ ...record('Shown.', 'stop'), thinking_display: 'shown' });

  assert.deepEqual(sources, ['Because.', 'Old.', 'New.']);
  assert.equal(thinkingOf(view).querySelectorAll('div[data-glm-nb-lazy]').length, 0);
  assert.deepEqual(shown.sources, ['Shown.', 'Because.']);
});

test("JupyterLab's search match in a closed thought opens it; it is drawn once the search ends", async () => {
  const { view, sources } = recordingView();
  await view.update(record('A plain **thought**.', 'stop'));
  const box = thinkingOf(view);
  const text = box.querySelector('div[data-glm-nb-lazy]');
  const mark = text.appendChild(text.ownerDocument.createElement('mark')); // as JupyterLab's search marks a match
  mark.className = 'cm-string cm-overlay cm-searching jp-current-match';

  notifyObservers(mark, [{ type: 'attributes', target: mark }]);
  const opened = box.open;
  box.dispatchEvent({ type: 'toggle' }); // as the browser tells of it
  await new Promise(resolve => setTimeout(resolve, 0));

  assert.equal(opened, true);
  assert.deepEqual(sources, ['Because.']); // kept as text while the search holds its marks (a redraw restarts it)

  mark.remove(); // the search closed
  notifyObservers(text, [{ type: 'childList', target: text }]);
  await new Promise(resolve => setTimeout(resolve, 1100)); // the output holds no match for a second

  assert.deepEqual(sources, ['Because.', 'A plain **thought**.']);
  assert.equal(box.open, true);
});

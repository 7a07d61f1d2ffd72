// The extension's pure logic (src/transcript.ts, compiled to lib/), under Node's test runner.
// Run: npm test (tsc first), or through pytest (tests/lab/test_extension_build.py).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  codePieces, explainCellSource, footerText, repliesOf, splitFences, STALE_AFTER_S, staleNote, streamState, stripAnsi,
  wordCount
} from '../lib/transcript.js';

const reply = {
  version: 1, kind: 'reply', variant: 'z1', model: 'nano-GLM', prompt: 'Hi',
  parts: [{ type: 'thinking', text: 'hmm' }, { type: 'tool', name: 'add', arguments: { a: 1 }, status: 'ok',
    result: '2', error: null, duration_s: 0.5, call_id: 'c1' }, { type: 'text', text: 'Two.' }],
  answer: 'Two.', format: 'markdown', artifacts: [],
  usage: { prompt_tokens: 12, reused_prompt_tokens: 4, new_tokens: 9, time_to_first_token_s: 0.0123,
    decode_tokens_per_s: 250.04 },
  sampling: null, finish_reason: 'stop', thinking_display: 'collapsed', note: '',
};

test('a reply record reads back with its parts in order', () => {
  const [r] = repliesOf(reply);
  assert.deepEqual(r.parts.map(p => p.type), ['thinking', 'tool', 'text']);
  assert.equal(r.parts[1].duration_s, 0.5);
  assert.equal(r.thinking_display, 'collapsed');
});

test('a chat export gives one reply per turn; an empty chat gives none', () => {
  assert.equal(repliesOf({ kind: 'chat', turns: [reply, reply] }).length, 2);
  assert.deepEqual(repliesOf({ kind: 'chat', turns: [] }), []);
});

test("a chat's turn that cannot be read is a note in its place; the turns around it still show", () => {
  const replies = repliesOf({ kind: 'chat', turns: [reply, 'junk', { kind: 'reply' }, reply] });

  assert.deepEqual(replies.map(r => r.parts.length), [3, 0, 0, 3]);
  assert.match(replies[1].note, /could not be read.*Open the notebook with the glm-nb version that wrote it/);
  assert.equal(replies[2].note, replies[1].note);
  assert.notEqual(replies[2].finish_reason, null); // not "generating…": nothing will come
});

test('a record that is not a transcript is refused with a reason', () => {
  assert.throws(() => repliesOf('text'), /not a JSON object/);
  assert.throws(() => repliesOf({ kind: 'reply' }), /no parts/);
});

test('unknown part types and wrong field types are dropped, not trusted', () => {
  const [r] = repliesOf({ ...reply, parts: [{ type: 'script', text: 'x' }, { type: 'text', text: 5 }],
    thinking_display: 'weird' });
  assert.deepEqual(r.parts, [{ type: 'text', text: '' }]);
  assert.equal(r.thinking_display, 'collapsed');
});

test('the footer says the same as the Python fallback', () => {
  const [r] = repliesOf(reply);
  assert.equal(footerText(r),
    'nano-GLM · z1 · 9 tokens · first token 12 ms · 250.0 tok/s · prompt 12 (4 cached)');
  const [cut] = repliesOf({ ...reply, variant: 'chat', usage: null, finish_reason: 'cancelled' });
  assert.equal(footerText(cut), 'nano-GLM · ⏹ interrupted');
  const [failed] = repliesOf({ ...reply, variant: 'chat', usage: null, finish_reason: 'error' });
  assert.equal(footerText(failed), 'nano-GLM · ⚠ stopped by an error');
});

test('markdown is cut at its fences, whatever their kind', () => {
  const text = 'Look:\n\n```svg\n<svg/>\n```\nand\n~~~~ html\n<b>x</b>\n~~~~\n';
  assert.deepEqual(splitFences(text), [
    { kind: 'markdown', text: 'Look:\n' },
    { kind: 'fence', language: 'svg', body: '<svg/>' },
    { kind: 'markdown', text: 'and' },
    { kind: 'fence', language: 'html', body: '<b>x</b>' },
  ]);
});

test('a fence closes only on its own character and length; an unclosed one runs to the end', () => {
  const text = '````md\n```py\nx\n```\n````\n```\nopen';
  assert.deepEqual(splitFences(text), [
    { kind: 'fence', language: 'md', body: '```py\nx\n```' },
    { kind: 'fence', language: '', body: 'open' },
  ]);
});

test('explain quotes the source as written, --raw, with the error free of colour codes', () => {
  const source = "d = {'a': 1}\nprint(f'{d}')\n";
  const traceback = ['\u001b[0;31mKeyError\u001b[0m Traceback', "\u001b[0;31mKeyError\u001b[0m: 'b'"];
  const cell = explainCellSource(source, 'python', [{ ename: 'KeyError', evalue: "'b'", traceback }]);
  assert.equal(cell, [
    '%%glm --raw', 'Explain what this cell does, why it fails, and how to fix it.', '',
    '```python', "d = {'a': 1}", "print(f'{d}')", '```', '',
    'The error:', '```', 'KeyError Traceback', "KeyError: 'b'", '```',
  ].join('\n'));
});

test('explain without an error asks only what the cell does; backticks in the source lengthen the fence', () => {
  const cell = explainCellSource('s = """\n```\n"""', 'python', []);
  assert.ok(cell.startsWith('%%glm --raw\nExplain what this cell does.\n\n````python\n'));
  assert.ok(cell.endsWith('\n````'));
});

test('stripAnsi removes colour codes only', () => {
  assert.equal(stripAnsi('\u001b[1;32mok\u001b[0m [1]'), 'ok [1]');
});

// How long it takes is the behaviour here: these took seconds each (minutes for a megabyte), quadratic in the line's
// length, and the page froze meanwhile. Linear, they take milliseconds; the bound leaves room for a busy machine.
test('one long line in an answer, or in a cell to explain, is read in linear time', () => {
  const long = 200_000;
  const line = '```' + 'a'.repeat(long) + '`';
  const spaced = 'a' + ' '.repeat(long) + 'b';
  const started = performance.now();

  assert.deepEqual(splitFences(line), [{ kind: 'markdown', text: line }]);
  assert.equal(splitFences('```' + ' '.repeat(long) + 'x\ny').length, 1);
  assert.ok(explainCellSource(spaced + '  \n', 'python', []).endsWith('```python\n' + spaced + '\n```'));
  assert.ok(performance.now() - started < 10_000, `${performance.now() - started} ms`);  // the old code: ~28 s
});

test('a backtick fence has no backtick in its info string; a tilde fence may', () => {
  assert.deepEqual(splitFences('``` py `x`\nbody'), [{ kind: 'markdown', text: '``` py `x`\nbody' }]);
  assert.deepEqual(splitFences('~~~ Py `x`\nbody\n~~~'), [{ kind: 'fence', language: 'py', body: 'body' }]);
});

test('usage numbers of the wrong type and unknown finish reasons are left out of the footer, not thrown', () => {
  const forged = { ...reply, variant: 'chat', finish_reason: 'constructor',
    usage: { new_tokens: { toString: 1 }, prompt_tokens: '7', decode_tokens_per_s: [1], time_to_first_token_s: {} } };
  const [r] = repliesOf(forged);
  assert.equal(footerText(r), 'nano-GLM');
  assert.equal(footerText(repliesOf({ ...forged, finish_reason: 'toString', usage: 'x' })[0]), 'nano-GLM');
});

test('explain quotes a cell with a hundred thousand runs of backticks in one fence', () => {
  const cell = explainCellSource('`a'.repeat(200_000), 'python', []);
  assert.ok(cell.includes('\n```python\n'));
});

test('a code block shows each invisible character by its code point, and keeps everything else', () => {
  const text = 'ok = 1 # fine\rimport os\r\n\tx = "\u202e\u2066"\u200b + \u3164 \u{e0041}';
  const pieces = codePieces(text);
  assert.deepEqual(pieces.filter(p => p.kind === 'invisible').map(p => p.code),
    ['U+000D', 'U+202E', 'U+2066', 'U+200B', 'U+3164', 'U+E0041']);
  const back = pieces.map(p => (p.kind === 'text' ? p.text : String.fromCodePoint(parseInt(p.code.slice(2), 16))));
  assert.equal(back.join(''), text); // CRLF and the tab stay text
  assert.deepEqual(codePieces('print("hi")\n'), [{ kind: 'text', text: 'print("hi")\n' }]);
});

test('a record of another version is shown as ended, with a note, not as "generating…" forever', () => {
  for (const version of [2, undefined, '1']) {
    const { finish_reason, ...unfinished } = reply;
    const [r] = repliesOf({ ...unfinished, version });
    assert.match(r.note, /another glm-nb version; shown as this version reads it/);
    assert.doesNotMatch(footerText(r), /generating/);
  }
  const [same] = repliesOf({ ...reply, finish_reason: null });
  assert.equal(same.note, '');
  assert.match(footerText(same), /generating…/); // this version's unfinished record: still streaming
  const [chat] = repliesOf({ version: 1, kind: 'chat', turns: [{ ...reply, version: 3, note: 'kept' }] });
  assert.match(chat.note, /reads it\. kept$/);
});

test('a reply saved while it streamed says it may have been interrupted once no update has come for a while', () => {
  const [saved] = repliesOf({ ...reply, variant: 'chat', usage: null, finish_reason: null, updated_at: 1.7e9 });
  assert.equal(saved.updated_at, 1.7e9);

  assert.equal(staleNote(0.1, null), null); // live: updates every 0.1 s
  assert.equal(staleNote(STALE_AFTER_S - 1, null), null); // a long tool call or prefill: still "generating…"
  assert.equal(staleNote(STALE_AFTER_S, null), 'no update for over 2 min'); // no update came here
  assert.equal(staleNote(0, 3 * 3600 + 5), 'no update for over 3 h'); // stamped hours ago: drawn stale at once
  assert.equal(staleNote(0, 3 * 86400), 'no update for over 3 days');
  assert.equal(staleNote(0, -600), null); // a kernel clock ahead of the browser's: live
  assert.equal(footerText(saved, staleNote(0, 7200)),
    'nano-GLM · generating… or interrupted: no update for over 2 h (a reply saved before it ended stays like this)');
  assert.equal(footerText(saved), 'nano-GLM · generating…');
});

test('streamState reads whether the last reply streams and its stamp; a bad record is not streaming', () => {
  const stamped = { ...reply, finish_reason: null, updated_at: 5 };
  assert.deepEqual(streamState(stamped), { streaming: true, updatedAt: 5 });
  assert.deepEqual(streamState(reply), { streaming: false, updatedAt: null });
  const chat = { version: 1, kind: 'chat', turns: [reply, { ...reply, finish_reason: null, updated_at: 'x' }] };
  assert.deepEqual(streamState(chat), { streaming: true, updatedAt: null }); // a forged stamp is no stamp
  assert.deepEqual(streamState('nonsense'), { streaming: false, updatedAt: null });
  assert.deepEqual(streamState({ kind: 'chat', turns: [] }), { streaming: false, updatedAt: null });
});

test('thinking words count each Chinese or Japanese character, as the Python fallback counts them', () => {
  // the same thought as tests/notebook/test_transcript.py: 13 characters (not the commas) and 3 English words
  assert.equal(wordCount('用户问北京的天气，我先查一下。Then GLM answers.'), 16);
  assert.equal(wordCount('ひらがなとカタカナ'), 9);
  assert.equal(wordCount('한국어는 띄어 씁니다'), 3); // Hangul spaces its words
  // Python's whitespace, not JavaScript's: U+001F and U+0085 split, U+FEFF does not
  assert.equal(wordCount('a\u001fb\u0085c \ufeffd\u3000e'), 5);
  assert.equal(wordCount('  \n\t '), 0);
});

test('a research that ran out of turns says so in research words; a chat keeps "tool round limit"', () => {
  const [research] = repliesOf({ ...reply, variant: 'rumination', usage: null, finish_reason: 'round_limit' });
  const [chat] = repliesOf({ ...reply, variant: 'chat', usage: null, finish_reason: 'round_limit' });
  assert.equal(footerText(research), 'nano-GLM · rumination · research turn limit');
  assert.equal(footerText(chat), 'nano-GLM · tool round limit');
});

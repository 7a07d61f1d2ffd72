// Telling a record from the one before (src/json.ts, compiled to lib/): the mime renderer asks on every update of a
// streaming reply, about ten times a second, so the answer must not cost more as the transcript grows.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { sameJson } from '../lib/json.js';

const record = text => ({
  version: 1, kind: 'reply', prompt: 'Hi', finish_reason: null, usage: { new_tokens: text.length },
  parts: [{ type: 'thinking', text: 'hmm' }, { type: 'tool', name: 'add', arguments: { a: [1, { b: null }] } },
    { type: 'text', text }],
});

test('the same record in new objects, its keys in another order, is the same', () => {
  const { version, ...rest } = record('Two.');
  assert.equal(sameJson(record('Two.'), { ...rest, version }), true);
  assert.equal(sameJson(null, null), true);
  assert.equal(sameJson([1, 'a'], [1, 'a']), true);
});

test('any change is one: a character, a number, a key, a type, an array for an object', () => {
  const changed = [
    record('Two!'), // same length: only the characters differ
    { ...record('Two.'), finish_reason: 'stop' },
    { ...record('Two.'), updated_at: 1 },
    { ...record('Two.'), usage: { new_tokens: '4' } },
    { ...record('Two.'), usage: [4] },
    { ...record('Two.'), usage: null },
    { ...record('Two.'), version: undefined }
  ];
  for (const other of changed) {
    assert.equal(sameJson(record('Two.'), other), false, JSON.stringify(other));
    assert.equal(sameJson(other, record('Two.')), false, JSON.stringify(other));
  }
  assert.equal(sameJson({ 0: 'a' }, ['a']), false);
  assert.equal(sameJson({ a: [1] }, { a: [1, 2] }), false);
});

test('a deeply nested forged record is compared without overflowing the stack', () => {
  const chain = end => {
    let deep = end;
    for (let i = 0; i < 200_000; i++) {
      deep = [deep];
    }
    return deep;
  };
  // two chains built apart, so that no level is the same object: the compare walks all 200,000 of them
  assert.equal(sameJson(chain('end'), chain('end')), true);
  assert.equal(sameJson(chain('end'), chain('End')), false);
});

test('a stream of updates is told apart without serializing a record', () => { // no test times anything
  const words = 'word '.repeat(200_000);
  const updates = Array.from({ length: 100 }, (_, i) => record(words.slice(0, (i + 1) * 10_000)));
  const stringify = JSON.stringify;
  JSON.stringify = () => {
    throw new Error('sameJson serialized a record');
  };
  try {
    for (let i = 1; i < updates.length; i++) {
      assert.equal(sameJson(updates[i - 1], updates[i]), false);
      assert.equal(sameJson(updates[i], record(words.slice(0, (i + 1) * 10_000))), true);
    }
  } finally {
    JSON.stringify = stringify;
  }
});

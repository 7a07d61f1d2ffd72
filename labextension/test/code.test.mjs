// An answer's code blocks (src/code.ts, compiled to lib/), drawn with a stand-in DOM (fake-dom.mjs): the block that
// grows while an answer streams keeps its buttons and the focus on them, and "Copy" without the clipboard API gives
// the focus back.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { installFakeDom } from './fake-dom.mjs';

const document = installFakeDom();
const { TranscriptView, INSERT_CELL_EVENT } = await import('../lib/render.js');

const record = (text, finish_reason = null) => ({
  version: 1, kind: 'reply', variant: 'chat', model: 'GLM-4', prompt: 'Code?',
  parts: [{ type: 'text', text }], answer: text, format: 'markdown', finish_reason, note: '',
});

function view() {
  const shown = new TranscriptView(async (host, source) => {
    host.appendChild(host.ownerDocument.createTextNode(source));
  });
  document.body.appendChild(shown.node);
  return shown;
}

const buttonOf = (shown, name) => shown.node.querySelectorAll('button').find(b => b.classList.includes(name));
const codeOf = shown => shown.node.querySelector('code').textContent;
const settle = () => new Promise(resolve => setTimeout(resolve, 0));

test('a code block that grows while the answer streams keeps its buttons and the focus on them', async () => {
  const shown = view();
  await shown.update(record('Here:\n\n```python\nx = 1\n'));
  const [copy, insert] = [buttonOf(shown, 'glm-nb-copy'), buttonOf(shown, 'glm-nb-insert')];
  copy.focus(); // a keyboard user on "Copy"

  await shown.update(record('Here:\n\n```python\nx = 1\ny = 2\n'));
  await shown.update(record('Here:\n\n```python\nx = 1\ny = 2\nz = 3'));

  assert.ok(shown.node.contains(copy) && shown.node.contains(insert), 'the buttons were drawn again');
  assert.equal(document.activeElement, copy);
  assert.equal(codeOf(shown), 'x = 1\ny = 2\nz = 3');
  copy.click();
  await settle();
  assert.deepEqual(document.copied, ['x = 1\ny = 2\nz = 3']); // what the block shows now
});

test('"Insert as cell below" on a block that grew inserts what it shows now', async () => {
  const shown = view();
  const asked = [];
  shown.node.addEventListener(INSERT_CELL_EVENT, event => {
    asked.push(event.detail.source);
    event.preventDefault(); // a notebook answered
  });
  await shown.update(record('```sh\nls\n'));
  const insert = buttonOf(shown, 'glm-nb-insert');

  await shown.update(record('```sh\nls\npwd\n```\n\nDone.', 'stop'));
  insert.click();

  assert.ok(shown.node.contains(insert));
  assert.deepEqual(asked, ['ls\npwd']);
});

test('a code block in place of another shows the new text and copies it', async () => {
  const shown = view();
  await shown.update(record('```python\nold = 1\n```', 'stop'));
  const copy = buttonOf(shown, 'glm-nb-copy');

  await shown.update(record('```python\nnew = 2\n```', 'stop'));
  copy.click();
  await settle();

  assert.equal(codeOf(shown), 'new = 2');
  assert.equal(document.copied.at(-1), 'new = 2');
});

test('"Copy" without the clipboard API copies and leaves the focus on the button, not on the page', async () => {
  const shown = view();
  await shown.update(record('```python\nprint(1)\n```', 'stop'));
  const copy = buttonOf(shown, 'glm-nb-copy');
  assert.equal(globalThis.navigator.clipboard, undefined); // as on a page served over plain http

  copy.click();
  await settle();

  assert.equal(document.copied.at(-1), 'print(1)');
  assert.equal(document.activeElement, copy);
  assert.equal(document.body.querySelectorAll('textarea').length, 0); // the copying box is gone
});

test('"Copy" the browser refuses says what the reader can do instead', async () => {
  const shown = view();
  await shown.update(record('```python\nprint(2)\n```', 'stop'));
  const copy = buttonOf(shown, 'glm-nb-copy');
  const execCommand = document.execCommand;
  document.execCommand = () => false; // the older copy command refused too

  copy.click();
  await settle();
  document.execCommand = execCommand;

  assert.equal(copy.textContent, 'Copy failed: select the code and copy it');
  assert.equal(document.activeElement, copy);
});

/** Draws a list whose item holds a fence as the markdown renderer draws it: `<ol><li><p>…</p><pre><code>`. */
async function drawListWithFence(host, source) {
  const doc = host.ownerDocument;
  const fence = /^ *```(\w*)\n([\s\S]*?)\n *```/m.exec(source);
  const item = host.appendChild(doc.createElement('ol')).appendChild(doc.createElement('li'));
  item.appendChild(doc.createElement('p')).appendChild(doc.createTextNode(source.split('\n')[0]));
  if (fence) {
    const code = item.appendChild(doc.createElement('pre')).appendChild(doc.createElement('code'));
    code.className = `language-${fence[1]}`;
    code.appendChild(doc.createTextNode(fence[2].replace(/^ {3}/gm, '')));
  }
}

test('a fence in a list item gets "Copy" and "Insert", and shows its invisible characters', async () => {
  const shown = new TranscriptView(drawListWithFence);
  document.body.appendChild(shown.node);
  const asked = [];
  shown.node.addEventListener(INSERT_CELL_EVENT, event => {
    asked.push(event.detail.source);
    event.preventDefault();
  });
  const command = 'rm -rf ./build \u202E# harmless\u202C';

  await shown.update(record(`1. Run this:\n   \`\`\`bash\n   ${command}\n   \`\`\`\n2. Done.`, 'stop'));
  buttonOf(shown, 'glm-nb-copy').click();
  buttonOf(shown, 'glm-nb-insert').click();
  await settle();

  const code = shown.node.querySelector('code');
  assert.equal(code.textContent, 'rm -rf ./build ⟨U+202E⟩# harmless⟨U+202C⟩');
  const box = code.parentElement.parentElement;
  assert.ok(box.classList.contains('glm-nb-code') && box.parentElement.localName === 'li');
  assert.equal(box.querySelector('span').textContent, 'bash');
  assert.equal(document.copied.at(-1), command); // the code as written, its invisible characters kept
  assert.deepEqual(asked, [command]);
});

// What sanitized markdown keeps once it is made inert (src/markdown.ts, compiled to lib/), with a stand-in DOM
// (fake-dom.mjs): the markdown renderer here hands over the elements JupyterLab's sanitizer would let through.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { installFakeDom } from './fake-dom.mjs';

installFakeDom();
const { renderSafely } = await import('../lib/markdown.js');

/** What `renderSafely` leaves of links whose attributes are `links` (as the sanitizer passed them). */
async function drawnLinks(links) {
  const host = document.createElement('div');
  const sanitized = async scratch => {
    for (const attributes of links) {
      const link = scratch.ownerDocument.createElement('a');
      Object.entries(attributes).forEach(([name, value]) => link.setAttribute(name, value));
      link.textContent = 'link';
      scratch.appendChild(link);
    }
  };
  await renderSafely(sanitized, host, 'ignored');
  return host.querySelectorAll('a').map(a => Object.fromEntries(a.attributes));
}

test("a link relative to the page is no link: it would open the user's own JupyterLab in another tab", async () => {
  const links = await drawnLinks([{ href: 'page2.md' }, { href: '/lab/tree/secret.ipynb' }, { href: '../api/x' }]);

  assert.deepEqual(links, [{}, {}, {}]);
});

test('an absolute http(s) or mailto link opens in a new tab, no referrer; other schemes are no links', async () => {
  const links = await drawnLinks([
    { href: 'https://example.com/a b' }, { href: 'mailto:a@example.com' }, { href: 'javascript:alert(1)' },
    { href: 'data:text/html,x' }, { href: 'file:///etc/passwd' },
  ]);

  const opened = { target: '_blank', rel: 'noopener noreferrer' };
  assert.deepEqual(links, [
    { href: 'https://example.com/a%20b', ...opened }, { href: 'mailto:a@example.com', ...opened }, {}, {}, {},
  ]);
});

test("a tabindex from the model is dropped: a positive one would go first in the page's Tab order", async () => {
  const [link] = await drawnLinks([{ href: 'https://example.com', tabindex: '1' }]);

  assert.equal(link.tabindex, undefined);
});

test('hidden and inert are dropped: the model cannot hide its text, nor the blocks an HTML block holds', async () => {
  const links = await drawnLinks([{ href: 'https://example.com', hidden: '', inert: '', title: 'kept' }]);

  const opened = { target: '_blank', rel: 'noopener noreferrer' };
  assert.deepEqual(links, [{ href: 'https://example.com/', title: 'kept', ...opened }]);
});

test('a select, its options and a text area become plain boxes: the text in them is shown, not hidden', async () => {
  const host = document.createElement('div');
  const sanitized = async scratch => {
    const doc = scratch.ownerDocument;
    const select = scratch.appendChild(doc.createElement('select'));
    ['shown', 'hidden before'].forEach(text => (select.appendChild(doc.createElement('option')).textContent = text));
    scratch.appendChild(doc.createElement('textarea')).textContent = 'scrolled away';
  };

  await renderSafely(sanitized, host, 'ignored');

  assert.equal(host.querySelectorAll('select, option, textarea').length, 0);
  assert.equal(host.querySelectorAll('div').length, 5); // the scratch box, and one for each control
  assert.equal(host.textContent, 'shownhidden beforescrolled away');
});

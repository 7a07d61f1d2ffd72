// The artifact frames (src/frames.ts, compiled to lib/) as the documents they carry, under Node's test runner with
// a stand-in for the few DOM calls they make. The browser's side (what the sandbox and the policies refuse) is tested
// in chromium by tests/lab/test_browser.py.
import assert from 'node:assert/strict';
import { test } from 'node:test';

const listeners = [];
globalThis.window = { addEventListener: (type, listener) => listeners.push(listener), removeEventListener() {} };
globalThis.document = {
  createElement: () => ({ attributes: {}, style: {}, setAttribute(name, value) { this.attributes[name] = value; } })
};

const { FrameSizer, htmlFrame, svgFrame } = await import('../lib/frames.js');

const ENTITIES = { '&quot;': '"', '&#39;': "'", '&lt;': '<', '&gt;': '>', '&amp;': '&' };
const unescape = text => text.replace(/&(quot|#39|lt|gt|amp);/g, entity => ENTITIES[entity]);

/** The wrapper's document, the inner frame's tag and the model's document inside it. */
function layers(frame) {
  const wrapper = frame.srcdoc;
  const tag = wrapper.match(/<iframe[^>]*>/)[0];
  return { wrapper, tag, inner: unescape(tag.match(/srcdoc="([^"]*)"/)[1]) };
}

const policy = document => document.match(/<meta http-equiv="Content-Security-Policy" content="([^"]*)">/)[1];

const LEAK = `<meta http-equiv="refresh" content="0;url=http://127.0.0.1:9/?s=1"><script>location='x'</script>`;

test('an HTML artifact sits in a wrapper whose policy refuses any navigation of its frame', () => {
  const { wrapper, tag, inner } = layers(htmlFrame(LEAK));

  assert.match(wrapper, /^<meta charset="utf-8"><meta http-equiv="Content-Security-Policy"/); // before the frame
  assert.match(policy(wrapper), /frame-src 'none'/);
  assert.match(policy(wrapper), /default-src 'none'/);
  assert.match(tag, /sandbox="allow-scripts"/);
  assert.ok(!wrapper.replace(/srcdoc="[^"]*"/, '').includes('127.0.0.1')); // the model's page only inside
  assert.ok(inner.includes(LEAK));
  assert.match(policy(inner), /^default-src 'none'/);
});

test('an SVG artifact sits in a wrapper with no script, and neither frame gets scripts', () => {
  const frame = svgFrame(`<svg xmlns="http://www.w3.org/2000/svg" height="50">${LEAK}</svg>`);
  const { wrapper, tag, inner } = layers(frame);

  assert.equal(frame.attributes.sandbox, '');
  assert.match(tag, /sandbox=""/);
  assert.match(policy(wrapper), /frame-src 'none'/);
  assert.ok(!/<script/.test(wrapper.replace(/srcdoc="[^"]*"/, '')));
  assert.ok(inner.includes(LEAK));
  assert.equal(frame.style.height, '360px'); // no DOMParser here: the default height
});

test('no frame, outer or inner, is ever given allow-same-origin', () => {
  for (const frame of [htmlFrame('<p>x</p>'), svgFrame('<svg/>')]) {
    const { tag } = layers(frame);
    assert.ok(['allow-scripts', ''].includes(frame.attributes.sandbox));
    assert.ok(!frame.srcdoc.includes('allow-same-origin') && !tag.includes('allow-same-origin'));
  }
});

test('the model source reaches its frame exactly, whatever quotes and entities it holds', () => {
  const source = `<p title="a'b">&amp; &lt;b&gt; "q" '</p></iframe><script>1</script>`;

  const { inner } = layers(htmlFrame(source));

  assert.ok(inner.includes(source));
});

test('the sizer takes a number only, and only from the window of a frame it made', () => {
  const mine = { contentWindow: {}, style: { height: '360px' } };
  const sizer = new FrameSizer();
  sizer.watch({ querySelectorAll: () => [mine] });
  const send = (source, data) => listeners.at(-1)({ source, data });

  send({}, { glmNbFrameHeight: 100 });
  send(mine.contentWindow, { glmNbFrameHeight: '100' });
  send(mine.contentWindow, 'glmNbFrameHeight');
  assert.equal(mine.style.height, '360px');

  send(mine.contentWindow, { glmNbFrameHeight: 100 });
  assert.equal(mine.style.height, '104px');
  sizer.dispose();
});

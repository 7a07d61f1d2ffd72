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

const { FrameSizer, hasScripts, htmlFrame, svgFrame } = await import('../lib/frames.js');

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

for (const scripts of [false, true]) {
  const name = `an HTML artifact (scripts ${scripts}) sits in a wrapper whose policy refuses any navigation of`
    + ' its frame';
  test(name, () => {
    const { wrapper, tag, inner } = layers(htmlFrame(LEAK, scripts));

    assert.match(wrapper, /^<meta charset="utf-8"><meta http-equiv="Content-Security-Policy"/); // before the frame
    assert.match(policy(wrapper), /frame-src 'none'/);
    assert.match(policy(wrapper), /default-src 'none'/);
    assert.match(tag, scripts ? /sandbox="allow-scripts"/ : /sandbox=""/);
    assert.ok(!wrapper.replace(/srcdoc="[^"]*"/, '').includes('127.0.0.1')); // the model's page only inside
    assert.ok(inner.includes(LEAK));
    assert.match(policy(inner), /^default-src 'none'/);
  });
}

test('an HTML artifact is drawn without its scripts until asked', () => {
  const source = `<p>card</p><script>document.title = 'ran'</script>`;

  const shown = htmlFrame(source);
  const asked = htmlFrame(source, true);

  assert.equal(shown.attributes.sandbox, '');
  assert.match(layers(shown).tag, /sandbox=""/);
  assert.ok(!/script-src/.test(policy(layers(shown).inner)) && !/script-src/.test(policy(layers(shown).wrapper)));
  assert.ok(!/<script/.test(shown.srcdoc.replace(/srcdoc="[^"]*"/, ''))); // nothing of ours runs either
  assert.equal(asked.attributes.sandbox, 'allow-scripts');
  assert.match(layers(asked).tag, /sandbox="allow-scripts"/);
  assert.equal(shown.className, asked.className); // the sizer finds either
});

test('every way a page runs script is seen, and a page without any is not', () => {
  const scripted = [
    '<script>x()</script>',
    '<img src="data:," onerror="x()">',
    '<svg/onload=x()>',
    '<a href=" java\tscript:x()">a</a>',
    '<a href="&#106;avascript:x()">a</a>',
    '<a href="javascript&colon;x()">a</a>',
    '<iframe srcdoc="&lt;script&gt;x()&lt;/script&gt;"></iframe>'
  ];
  for (const source of scripted) {
    assert.ok(hasScripts(source), source);
  }
  assert.ok(!hasScripts('<button style="color:blue">Save</button><table><tr><td>one</td></tr></table>'));
  assert.ok(!hasScripts('&constructor; &#0; &#x110000; <p>a description of JavaScript</p>'));
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
  for (const frame of [htmlFrame('<p>x</p>'), htmlFrame('<p>x</p>', true), svgFrame('<svg/>')]) {
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

test('each frame, and the frame inside its wrapper, is named for a screen reader', () => {
  const named = [
    [htmlFrame('<p>hi</p>'), 'Page from the model'],
    [htmlFrame('<p>hi</p>', true), 'Page from the model, its scripts running'],
    [svgFrame('<svg xmlns="http://www.w3.org/2000/svg"></svg>'), 'Drawing from the model']
  ];
  for (const [frame, title] of named) {
    assert.equal(frame.title, title);
    assert.match(layers(frame).tag, new RegExp(`title="${title}"`));
  }
});

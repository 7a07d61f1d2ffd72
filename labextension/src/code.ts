/**
 * Code blocks with "Copy" and "Insert as cell below". The latter asks the notebook around the output by a DOM event
 * (`INSERT_CELL_EVENT`), which the commands plugin answers, and copies instead where no notebook is there.
 *
 * While an answer streams, its last code block grows at every update. `codeSpec` keeps the block (and so its
 * buttons, a click on them and the keyboard focus) from one update to the next and puts only its new text in.
 */

// with their extensions, for Node to load lib/ as it is (test/code.test.mjs draws with a stand-in DOM)
import { ISpec } from './blocks.js';
import { button, el } from './dom.js';
import { codeText, invisibleMark } from './markdown.js';
import { codePieces } from './transcript.js';

export const INSERT_CELL_EVENT = 'glm-nb-insert-cell';

export interface IInsertCellDetail {
  source: string;
}

// what a button says where the browser refused to copy: what the reader can still do
const COPY_FAILED = 'Copy failed: select the code and copy it';

// The text each code block on screen shows, which its buttons copy or insert: the newest, as the block grows
const bodies = new WeakMap<HTMLElement, string>();

/**
 * A code block kept while its language stays the same: a fence that grows as the answer streams (or any other
 * text in its place) is put into the same block, whose buttons stay the nodes they were.
 */
export function codeSpec(language: string, body: string): ISpec {
  return { key: `code:${language}`, make: () => codeBlock(language, body), update: box => setCode(box, body) };
}

/** A code block with its language, "Copy" and "Insert as cell below". */
export function codeBlock(language: string, body: string): HTMLElement {
  const box = el('div', 'glm-nb-code');
  box.appendChild(codeBar(language, () => bodies.get(box) ?? ''));
  const pre = el('pre', '');
  pre.appendChild(el('code', language ? `language-${language}` : ''));
  box.appendChild(pre);
  setCode(box, body);
  return box;
}

/**
 * The code blocks the markdown under `host` drew itself (a fence in a list item or a quote, indented code) given
 * the bar an answer's fences have: their language, "Copy" and "Insert as cell below", which take the code as the
 * model wrote it (its invisible characters too, which markdown.ts marks).
 */
export function addCodeButtons(host: HTMLElement): void {
  for (const code of Array.from(host.querySelectorAll('code'))) {
    const pre = code.parentElement;
    if (pre?.localName !== 'pre' || pre.parentElement?.classList.contains('glm-nb-code')) {
      continue;
    }
    const language = Array.from(code.classList).find(token => token.startsWith('language-'));
    const box = el('div', 'glm-nb-code');
    pre.replaceWith(box);
    box.append(codeBar(language?.slice('language-'.length) ?? '', () => codeText(code)), pre);
  }
}

/** A code block's bar: its language, "Copy" and "Insert as cell below" of what `source` gives. */
function codeBar(language: string, source: () => string): HTMLElement {
  const bar = el('div', 'glm-nb-code-bar');
  bar.appendChild(el('span', 'glm-nb-code-language', language || 'text'));
  const copy = button('Copy', 'glm-nb-copy', () =>
    copyText(source()).then(ok => flash(copy, ok ? 'Copied' : COPY_FAILED))
  );
  const insert = button('Insert as cell below', 'glm-nb-insert', () => {
    const detail = { source: source() };
    const unanswered = insert.dispatchEvent(
      new CustomEvent<IInsertCellDetail>(INSERT_CELL_EVENT, { bubbles: true, cancelable: true, detail })
    );
    if (unanswered) {
      const failed = `No notebook here; ${COPY_FAILED.toLowerCase()}`;
      void copyText(detail.source).then(ok => flash(insert, ok ? 'No notebook here: copied' : failed));
    } else {
      flash(insert, 'Inserted');
    }
  });
  bar.appendChild(copy);
  bar.appendChild(insert);
  return bar;
}

/** Shows `body` in the code block `box` (drawn by `codeBlock`), if it shows something else. */
function setCode(box: HTMLElement, body: string): void {
  const code = box.querySelector('code');
  if (bodies.get(box) === body || !code) {
    return;
  }
  bodies.set(box, body);
  code.replaceChildren();
  for (const piece of codePieces(body)) {
    if (piece.kind === 'text') {
      code.appendChild(document.createTextNode(piece.text));
    } else {
      // drawn, not hidden: an invisible character in code is one the reader should see before inserting it
      code.appendChild(invisibleMark(document, piece.code));
    }
  }
}

/**
 * Puts `text` on the clipboard; where the clipboard API is missing or refused (a page not served over https, a
 * permission denied), through a hidden text area and the older copy command, after which the focus goes back where
 * it was (the button, for a keyboard user) instead of to the page's body.
 */
export async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return copyBySelection(text);
  }
}

function copyBySelection(text: string): boolean {
  const focused = document.activeElement as HTMLElement | null;
  const area = document.createElement('textarea');
  area.value = text;
  area.readOnly = true; // no on-screen keyboard on a tablet
  area.style.position = 'fixed';
  area.style.opacity = '0';
  document.body.appendChild(area);
  area.select();
  try {
    return document.execCommand('copy');
  } finally {
    area.remove();
    focused?.focus?.({ preventScroll: true });
  }
}

function flash(target: HTMLButtonElement, text: string): void {
  const label = target.dataset.label ?? target.textContent ?? '';
  target.textContent = text;
  window.setTimeout(() => (target.textContent = label), text === COPY_FAILED ? 4000 : 1500); // time to read it
}

/**
 * Model markdown made safe to show in the page: rendered by JupyterLab's sanitizing renderer into an inert
 * document, tamed there (`tame`), and only then moved into the page; and its `#fragment` links, which scroll
 * within their own output. Its CJK emphasis is read as the Python renderer reads it (cjk.ts).
 */

import { cjkFriendlyEmphasis, JOINER, withoutJoiners } from './cjk.js';
import { codePieces } from './transcript.js';

/** Renders markdown into `host`, sanitized (the mime renderer passes JupyterLab's own). */
export type MarkdownRenderer = (host: HTMLElement, source: string) => Promise<void>;

// Markdown is rendered into an element of this inert document first: nothing in it loads (no image, no media)
// until `tame` has turned what would fetch into plain links, and only then is it moved into the page.
let inertDocument: Document | null = null;

export async function renderSafely(markdown: MarkdownRenderer, host: HTMLElement, text: string): Promise<void> {
  inertDocument = inertDocument ?? document.implementation.createHTMLDocument('');
  const scratch = inertDocument.createElement('div');
  await markdown(scratch, cjkFriendlyEmphasis(text));
  dropJoiners(scratch); // first: `tame` judges the links and classes as they will be
  tame(scratch);
  markInvisibles(scratch); // after `tame`, which would take the marks' class off
  host.appendChild(document.importNode(scratch, true));
}

// Elements that fetch a URL once they are in the page (`input type=image` loads its `src`).
const FETCHING = 'img, video, audio, source, track, picture, object, embed, iframe, input[src]';
// What JupyterLab's sanitizer lets through that still acts on the page around it: `id`, `name`, `for` and `form`
// name its elements, `accesskey` takes a keystroke, a positive `tabindex` puts the element first in the whole
// page's Tab order, `data-commandlinker-*` runs a JupyterLab command on a click; `hidden` and `inert` would keep
// the model's text (an HTML block's, and all the markdown it holds) from the reader.
const DROPPED_ATTRIBUTES = new Set([
  'hidden',
  'inert',
  'style',
  'srcset',
  'poster',
  'background',
  'id',
  'name',
  'for',
  'form',
  'accesskey',
  'tabindex'
]);
const LINK_PROTOCOLS = new Set(['http:', 'https:', 'mailto:']);
// Controls whose text the reader would not see as text: a form (its button would submit it to the notebook's own URL
// and reload the page), a select (shows one option, the others hidden), a text area (its text scrolled away in a box)
const UNWRAPPED = 'form, select, optgroup, option, datalist, textarea';

/**
 * Makes sanitized markdown inert in the page. Images and media become links (loading them would make the page fetch
 * a URL the model chose, which a prompt injection could use to leak what it read). A link keeps its URL only for
 * an absolute http(s) or mailto URL, and opens in a new tab without a referrer; a `#fragment` link (a heading's ¶)
 * scrolls within the output. A form, a select and its options, and a text area become plain boxes of their text
 * (`UNWRAPPED`). No inline style, and no class but those the markdown renderer gives code (JupyterLab's own
 * classes, `jp-Dialog` say, would lay the model's text over the page).
 */
function tame(host: HTMLElement): void {
  const doc = host.ownerDocument;
  host.querySelectorAll(FETCHING).forEach(media => {
    const src = media.getAttribute('src') ?? '';
    const label = `[${media.tagName.toLowerCase()}: ${media.getAttribute('alt') || src}]`;
    const url = linkUrl(src);
    const link = doc.createElement(url ? 'a' : 'span');
    if (url) {
      link.setAttribute('href', url);
    }
    link.textContent = label;
    media.replaceWith(link);
  });
  host.querySelectorAll(UNWRAPPED).forEach(form => {
    const box = doc.createElement('div');
    box.append(...Array.from(form.childNodes));
    form.replaceWith(box);
  });
  host.querySelectorAll('*').forEach(node => {
    for (const name of node.getAttributeNames()) {
      const data = name.startsWith('data-') && name !== 'data-jupyter-id';
      if (data || name.startsWith('on') || DROPPED_ATTRIBUTES.has(name)) {
        node.removeAttribute(name);
      }
    }
    const classes = Array.from(node.classList).filter(token => rendererClass(node, token));
    if (classes.length) {
      node.setAttribute('class', classes.join(' '));
    } else {
      node.removeAttribute('class');
    }
  });
  host.querySelectorAll('a, area').forEach(a => {
    const href = a.getAttribute('href') ?? '';
    if (href.trim().startsWith('#')) {
      // a heading's ¶ or a `#section` link: scrolls this output (`followFragment`). It keeps no `href`: resolved
      // against the page, it would open another JupyterLab (a new tab, a middle click, "Open link in new tab").
      a.removeAttribute('href');
      a.removeAttribute('target');
      a.setAttribute(FRAGMENT_ATTRIBUTE, fragmentId(href.trim()));
      a.setAttribute('role', 'link');
      a.setAttribute('tabindex', '0');
      return;
    }
    const url = linkUrl(href);
    if (url) {
      a.setAttribute('href', url);
      a.setAttribute('target', '_blank');
      a.setAttribute('rel', 'noopener noreferrer');
    } else {
      a.removeAttribute('href');
      a.removeAttribute('target');
    }
  });
}

const FRAGMENT_ATTRIBUTE = 'data-glm-nb-fragment';
export const INVISIBLE_MARK = 'glm-nb-invisible';

/**
 * Each invisible character in the code blocks under `host` (a fence in a list item or a quote stays in its
 * markdown) drawn as its code point, as code.ts draws an answer's fences: a bidi control hidden in a command is one
 * the reader should see before running it. Text nodes are split, so the renderer's highlighting stays.
 */
function markInvisibles(host: HTMLElement): void {
  const doc = host.ownerDocument;
  for (const code of Array.from(host.querySelectorAll('code')).filter(c => c.parentElement?.localName === 'pre')) {
    const walker = doc.createTreeWalker(code, NodeFilter.SHOW_TEXT);
    const texts: Text[] = [];
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      texts.push(node as Text);
    }
    for (const text of texts) {
      const pieces = codePieces(text.nodeValue ?? '');
      if (pieces.some(piece => piece.kind === 'invisible')) {
        text.replaceWith(
          ...pieces.map(p => (p.kind === 'text' ? doc.createTextNode(p.text) : invisibleMark(doc, p.code)))
        );
      }
    }
  }
}

/** An invisible character's mark, `⟨U+202E⟩`, which `codeText` reads back as the character. */
export function invisibleMark(doc: Document, code: string): HTMLElement {
  const mark = doc.createElement('span');
  mark.className = INVISIBLE_MARK;
  mark.textContent = `⟨${code}⟩`;
  mark.title = 'An invisible character: "Copy" and "Insert" keep it as it is';
  return mark;
}

/** The text of a code block as the model wrote it: its marks (`invisibleMark`) read back as their characters. */
export function codeText(code: Element): string {
  return Array.from(code.childNodes, node => {
    const mark = node as Element;
    if (mark.localName === 'span' && mark.classList.contains(INVISIBLE_MARK)) {
      return String.fromCodePoint(parseInt((mark.textContent ?? '').slice(3, -1), 16));
    }
    return mark.localName ? codeText(mark) : (node.nodeValue ?? '');
  }).join('');
}

/**
 * The word joiners `cjkFriendlyEmphasis` put in the source out of what was drawn from it: its text (code too) and
 * its attributes (a heading's id; a link's URL, where marked percent-encodes them).
 */
function dropJoiners(host: HTMLElement): void {
  const walker = host.ownerDocument.createTreeWalker(host, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.nodeValue?.includes(JOINER)) {
      node.nodeValue = withoutJoiners(node.nodeValue);
    }
  }
  host.querySelectorAll('*').forEach(node => {
    for (const name of node.getAttributeNames()) {
      const value = node.getAttribute(name) ?? '';
      const kept = withoutJoiners(value).replace(/%E2%81%A0/gi, '');
      if (kept !== value) {
        node.setAttribute(name, kept);
      }
    }
  });
}

/** The heading id a `#fragment` link names (percent-escapes decoded where they decode). */
function fragmentId(href: string): string {
  const raw = href.slice(1);
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/**
 * A click (or Enter) on a fragment link in `root` scrolls to the heading of that id in `root` itself, if there is
 * one (the markdown renderer marks each heading with `data-jupyter-id`); otherwise the link does nothing.
 */
export function followFragment(root: HTMLElement, event: Event): void {
  const link = (event.target as Element | null)?.closest?.(`[${FRAGMENT_ATTRIBUTE}]`);
  if (!link || !root.contains(link)) {
    return;
  }
  event.preventDefault();
  const id = link.getAttribute(FRAGMENT_ATTRIBUTE);
  const headings = Array.from(root.querySelectorAll('[data-jupyter-id]'));
  headings.find(heading => heading.getAttribute('data-jupyter-id') === id)?.scrollIntoView({ block: 'start' });
}

/**
 * `url`, if a link may go there: an absolute http(s) or mailto URL; never javascript: or data:, nor a URL relative to
 * the page (the model cannot know the page: resolved against it, `page2.md` or `/lab` would open the user's own
 * JupyterLab, logged in, in another tab).
 */
function linkUrl(url: string): string | null {
  try {
    const resolved = new URL(url); // no base: a relative URL throws
    return LINK_PROTOCOLS.has(resolved.protocol) ? resolved.href : null;
  } catch {
    return null;
  }
}

/** The classes JupyterLab's markdown renderer itself gives: a code block's language, CodeMirror's highlighting of
 * a code block inside a list or quote (generated `ͼ` names), and the anchor beside a heading. */
function rendererClass(node: Element, token: string): boolean {
  if (node.localName === 'code') {
    return /^language-[\w+#.-]+$/.test(token);
  }
  if (node.localName === 'span') {
    return /^ͼ\w+$/.test(token) && node.closest('code') !== null;
  }
  return node.localName === 'a' && token === 'jp-InternalAnchorLink';
}

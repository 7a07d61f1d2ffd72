/**
 * A transcript record drawn as chat bubbles: the prompt, then the reply's parts in order (collapsible thinking,
 * tool-call cards, the answer), its artifacts in sandboxed frames (an HTML page's scripts only after a click on its
 * "Run scripts"), and the usage footer.
 *
 * Model and tool text reaches the page only as text nodes, through JupyterLab's sanitizing markdown renderer
 * (never as trusted HTML) and then `tame`, or inside a sandboxed frame. Code blocks are drawn here (not by markdown)
 * so each gets "Copy" and "Insert as cell below"; the latter asks the notebook around the output by a DOM event
 * (`INSERT_CELL_EVENT`), which the commands plugin answers, and copies instead where no notebook is there.
 */

import { hasScripts, htmlFrame, svgFrame } from './frames';
import { codePieces, footerText, IReply, IToolPart, Part, repliesOf, Segment, splitFences } from './transcript';

export const INSERT_CELL_EVENT = 'glm-nb-insert-cell';

export interface IInsertCellDetail {
  source: string;
}

/** Renders markdown into `host`, sanitized (the mime renderer passes JupyterLab's own). */
export type MarkdownRenderer = (host: HTMLElement, source: string) => Promise<void>;

/** Draws `data` into a new element; the caller swaps it in. Rejects with a readable message on a bad record. */
export async function renderTranscript(data: unknown, markdown: MarkdownRenderer): Promise<HTMLElement> {
  const replies = repliesOf(data);
  const root = el('div', 'glm-nb-lab-transcript');
  const last = replies[replies.length - 1];
  root.dataset.state = last ? (last.finish_reason ?? 'streaming') : 'empty';
  if (!replies.length) {
    root.appendChild(el('div', 'glm-nb-note', '(empty chat)'));
  }
  const pending: Promise<void>[] = [];
  for (const reply of replies) {
    root.appendChild(turn(reply, markdown, pending));
  }
  await Promise.all(pending);
  return root;
}

function turn(r: IReply, markdown: MarkdownRenderer, pending: Promise<void>[]): HTMLElement {
  const box = el('div', 'glm-nb-turn');
  if (r.prompt) {
    const user = el('div', 'glm-nb-bubble glm-nb-user');
    user.appendChild(el('div', 'glm-nb-user-text', r.prompt));
    box.appendChild(user);
  }
  const bubble = el('div', 'glm-nb-bubble glm-nb-assistant');
  const streaming = r.finish_reason === null;
  const lastText = r.parts.map(p => p.type).lastIndexOf('text');
  r.parts.forEach((part: Part, index) => {
    if (part.type === 'thinking') {
      if (r.thinking_display !== 'hidden') {
        bubble.appendChild(thinking(part.text, streaming || r.thinking_display === 'shown', markdown, pending));
      }
    } else if (part.type === 'tool') {
      bubble.appendChild(toolCard(part));
    } else {
      const answer = el('div', 'glm-nb-answer');
      const format = index === lastText && !streaming ? r.format : 'markdown';
      fillAnswer(answer, part.text, format, !streaming, markdown, pending);
      bubble.appendChild(answer);
    }
  });
  if (r.note) {
    bubble.appendChild(el('div', 'glm-nb-note', r.note));
  }
  bubble.appendChild(el('div', 'glm-nb-footer', footerText(r)));
  box.appendChild(bubble);
  return box;
}

function thinking(text: string, open: boolean, markdown: MarkdownRenderer, pending: Promise<void>[]): HTMLElement {
  const details = el('details', 'glm-nb-thinking') as HTMLDetailsElement;
  details.open = open;
  const words = text.split(/\s+/).filter(Boolean).length;
  details.appendChild(el('summary', '', `Thinking (${words} words)`));
  const body = el('div', 'glm-nb-thinking-body');
  pending.push(renderSafely(markdown, body, text));
  details.appendChild(body);
  return details;
}

function toolCard(card: IToolPart): HTMLElement {
  const failed = card.status !== 'ok' && card.status !== 'running';
  const box = el('div', `glm-nb-tool glm-nb-tool-${failed ? 'failed' : card.status}`);
  const head = el('div', 'glm-nb-tool-head');
  head.appendChild(el('span', 'glm-nb-tool-name', `🔧 ${card.name}`));
  head.appendChild(el('code', 'glm-nb-tool-args', JSON.stringify(card.arguments)));
  const timing = card.duration_s !== null ? ` · ${card.duration_s.toFixed(2)} s` : '';
  head.appendChild(el('span', 'glm-nb-tool-status', `${card.status}${timing}`));
  box.appendChild(head);
  if (card.error) {
    box.appendChild(el('div', 'glm-nb-note', card.error));
  } else if (card.result !== null) {
    const details = el('details', 'glm-nb-tool-result');
    details.appendChild(el('summary', '', 'result'));
    details.appendChild(el('pre', '', card.result));
    box.appendChild(details);
  }
  return box;
}

function fillAnswer(
  host: HTMLElement,
  text: string,
  format: string,
  artifacts: boolean,
  markdown: MarkdownRenderer,
  pending: Promise<void>[]
): void {
  if (format === 'text') {
    host.appendChild(el('pre', 'glm-nb-plain', text));
    return;
  }
  if (format === 'json') {
    host.appendChild(codeBlock('json', prettyJson(text)));
    return;
  }
  let segments: Segment[] = splitFences(text);
  const bare = text.trim();
  if ((format === 'svg' && bare.startsWith('<svg')) || (format === 'html' && bare.startsWith('<'))) {
    if (!segments.some(s => s.kind === 'fence')) {
      segments = [{ kind: 'fence', language: format, body: bare }];
    }
  }
  for (const segment of segments) {
    if (segment.kind === 'markdown') {
      const box = el('div', 'glm-nb-markdown');
      pending.push(renderSafely(markdown, box, segment.text));
      host.appendChild(box);
    } else if (artifacts && (segment.language === 'svg' || segment.language === 'html')) {
      host.appendChild(artifact(segment.language, segment.body));
    } else {
      host.appendChild(codeBlock(segment.language, segment.body));
    }
  }
}

function artifact(kind: 'svg' | 'html', source: string): HTMLElement {
  const box = el('div', `glm-nb-artifact glm-nb-artifact-${kind}`);
  const frame = kind === 'svg' ? svgFrame(source) : htmlFrame(source);
  if (kind === 'html' && hasScripts(source)) {
    box.appendChild(runBar(frame, source));
  }
  box.appendChild(frame);
  const details = el('details', 'glm-nb-artifact-source');
  details.appendChild(el('summary', '', `${kind} source`));
  details.appendChild(codeBlock(kind, source));
  box.appendChild(details);
  return box;
}

const RUN_NOTE = "Runs the model's script, sandboxed away from the notebook; it could send data out.";

/** "Run scripts" above an HTML page drawn without them: the user's click re-creates its frame with scripts. */
function runBar(frame: HTMLIFrameElement, source: string): HTMLElement {
  const bar = el('div', 'glm-nb-run-bar');
  const run = button('Run scripts', 'glm-nb-run-scripts', () => {
    run.disabled = true;
    run.textContent = run.dataset.label = 'Scripts running';
    frame.replaceWith(htmlFrame(source, true));
  });
  bar.appendChild(run);
  bar.appendChild(el('span', 'glm-nb-run-note', RUN_NOTE));
  return bar;
}

/** A code block with its language, "Copy" and "Insert as cell below". */
function codeBlock(language: string, body: string): HTMLElement {
  const box = el('div', 'glm-nb-code');
  const bar = el('div', 'glm-nb-code-bar');
  bar.appendChild(el('span', 'glm-nb-code-language', language || 'text'));
  const copy = button('Copy', 'glm-nb-copy', () =>
    copyText(body).then(ok => flash(copy, ok ? 'Copied' : 'Copy failed'))
  );
  const insert = button('Insert as cell below', 'glm-nb-insert', () => {
    const detail = { source: body };
    const unanswered = insert.dispatchEvent(
      new CustomEvent<IInsertCellDetail>(INSERT_CELL_EVENT, { bubbles: true, cancelable: true, detail })
    );
    if (unanswered) {
      void copyText(body).then(ok => flash(insert, ok ? 'No notebook here: copied' : 'No notebook here'));
    } else {
      flash(insert, 'Inserted');
    }
  });
  bar.appendChild(copy);
  bar.appendChild(insert);
  box.appendChild(bar);
  const pre = el('pre', '');
  const code = el('code', language ? `language-${language}` : '');
  for (const piece of codePieces(body)) {
    if (piece.kind === 'text') {
      code.appendChild(document.createTextNode(piece.text));
    } else {
      // drawn, not hidden: an invisible character in code is one the reader should see before inserting it
      const mark = el('span', 'glm-nb-invisible', `⟨${piece.code}⟩`);
      mark.title = 'An invisible character: "Copy" and "Insert" keep it as it is';
      code.appendChild(mark);
    }
  }
  pre.appendChild(code);
  box.appendChild(pre);
  return box;
}

async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = document.createElement('textarea');
    area.value = text;
    area.style.position = 'fixed';
    area.style.opacity = '0';
    document.body.appendChild(area);
    area.select();
    const ok = document.execCommand('copy');
    area.remove();
    return ok;
  }
}

function flash(target: HTMLButtonElement, text: string): void {
  const label = target.dataset.label ?? target.textContent ?? '';
  target.textContent = text;
  window.setTimeout(() => (target.textContent = label), 1500);
}

// Markdown is rendered into an element of this inert document first: nothing in it loads (no image, no media)
// until `tame` has turned what would fetch into plain links, and only then is it moved into the page.
let inertDocument: Document | null = null;

async function renderSafely(markdown: MarkdownRenderer, host: HTMLElement, text: string): Promise<void> {
  inertDocument = inertDocument ?? document.implementation.createHTMLDocument('');
  const scratch = inertDocument.createElement('div');
  await markdown(scratch, text);
  tame(scratch);
  host.appendChild(document.importNode(scratch, true));
}

// Elements that fetch a URL once they are in the page (`input type=image` loads its `src`).
const FETCHING = 'img, video, audio, source, track, picture, object, embed, iframe, input[src]';
// What JupyterLab's sanitizer lets through that still acts on the page around it: `id`, `name`, `for` and `form`
// name its elements, `accesskey` takes a keystroke, `data-commandlinker-*` runs a JupyterLab command on a click.
const DROPPED_ATTRIBUTES = new Set([
  'style',
  'srcset',
  'poster',
  'background',
  'id',
  'name',
  'for',
  'form',
  'accesskey'
]);
const LINK_PROTOCOLS = new Set(['http:', 'https:', 'mailto:']);

/**
 * Makes sanitized markdown inert in the page. Images and media become links (loading them would make the page fetch
 * a URL the model chose, which a prompt injection could use to leak what it read). A link keeps its URL only for
 * http(s) and mailto, and opens in a new tab without a referrer. A form becomes a plain box (its button would submit
 * it to the notebook's own URL and reload the page). No inline style, and no class but those the markdown renderer
 * gives code (JupyterLab's own classes, `jp-Dialog` say, would lay the model's text over the page).
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
  host.querySelectorAll('form').forEach(form => {
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
    const url = linkUrl(a.getAttribute('href') ?? '');
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

/** `url` resolved against the page, if a link may go there: http(s) or mailto, never javascript: or data:. */
function linkUrl(url: string): string | null {
  try {
    const resolved = new URL(url, document.baseURI);
    return url.trim() && LINK_PROTOCOLS.has(resolved.protocol) ? resolved.href : null;
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

function prettyJson(text: string): string {
  const body = splitFences(text).find(s => s.kind === 'fence');
  const raw = body && body.kind === 'fence' ? body.body : text;
  try {
    return JSON.stringify(JSON.parse(raw), null, 2);
  } catch {
    return raw;
  }
}

function button(label: string, className: string, onClick: () => void): HTMLButtonElement {
  const b = el('button', `glm-nb-button ${className}`, label) as HTMLButtonElement;
  b.type = 'button';
  b.dataset.label = label;
  b.addEventListener('click', event => {
    event.stopPropagation();
    onClick();
  });
  return b;
}

function el(tag: string, className: string, text?: string): HTMLElement {
  const element = document.createElement(tag);
  if (className) {
    element.className = className;
  }
  if (text !== undefined) {
    element.textContent = text;
  }
  return element;
}

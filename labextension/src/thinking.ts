/**
 * A reply's thinking, drawn in a `<details>`: open while the reply streams, its markdown in blocks so that a long
 * thought draws only its growing last block again (render.ts draws the rest of the reply the same way), and a
 * paragraph of many lines (a thought's paragraphs are often apart by a single line break) only its last line.
 *
 * A thought that starts collapsed (a finished reply's, as a saved notebook shows them) holds its blocks as plain
 * text until it is opened (`LAZY`): text the browser's find-in-page and JupyterLab's search still find. A match
 * JupyterLab's search makes current in a closed box (a thought, a tool's result, an artifact's source) opens it
 * (`revealSearchMatches`).
 */

// with their extensions, for Node to load lib/ as it is (test/thinking.test.mjs draws with a stand-in DOM)
import { AnswerSplitter, IBlock } from './answer.js';
import { details, ISpec, leaf, setDefaultOpen } from './blocks.js';
import { el } from './dom.js';
import { ILines, paragraphLines } from './lines.js';
import { MarkdownRenderer, renderSafely } from './markdown.js';
import { wordCount } from './transcript.js';

/**
 * A thought: a `<details>` kept from one update to the next (its label and default state brought up to date), its
 * markdown in blocks that draw alone as they draw together, so that a thought that streams for thousands of words
 * draws only its last block again (fences stay inside their block: a thought's code is drawn as markdown draws it),
 * and a paragraph of many lines only its last line (`paragraphSpec`).
 * A thought that starts collapsed (a finished reply's) holds its blocks as plain text until it is opened (`LAZY`).
 */
export function thinking(text: string, open: boolean, splitter: AnswerSplitter): ISpec {
  const label = `Thinking (${wordCount(text)} words)`;
  const update = (box: HTMLElement) => {
    const summary = box.querySelector('summary');
    if (summary && summary.textContent !== label) {
      summary.textContent = label;
    }
    setDefaultOpen(box as HTMLDetailsElement, open);
  };
  const blocks = splitter.split(text).flatMap(piece => (piece.kind === 'markdown' ? piece.blocks : []));
  const make = () => el('div', `glm-nb-thinking-body ${RENDERED_MARKDOWN}`);
  const draw = open ? (block: IBlock) => paragraphSpec(block) ?? markdownBlock(block) : lazyBlock;
  const body = { key: 'body', make, children: blocks.map(draw) };
  const box = (markdown: MarkdownRenderer) => {
    const node = details('glm-nb-thinking', label, open);
    // a thought opened for a search match keeps its text until the search ends (`revealSearchMatches`)
    node.addEventListener('toggle', () => {
      if (!node.hasAttribute(OPENED_FOR_SEARCH)) {
        void drawLazyBlocks(node, markdown);
      }
    });
    return node;
  };
  return { key: 'thinking', make: box, update, children: [body] };
}

// JupyterLab's own classes for a markdown output, on the box around the model's markdown: its links, code, tables
// and quotes take the theme's look (without them, JupyterLab's `.jp-ThemedContainer a { color: unset }` leaves a
// link looking like the text around it, in either theme)
export const RENDERED_MARKDOWN = 'jp-RenderedHTMLCommon jp-RenderedMarkdown';

/**
 * A block of markdown, drawn alone; kept on screen while its text stays the same. `decorate`, where given, is
 * called on what was drawn before it is shown (an answer's code blocks get their buttons).
 */
export function markdownBlock(block: IBlock, decorate?: (box: HTMLElement) => void): ISpec {
  return leaf(block.key, (markdown, pending) => {
    const box = el('div', '');
    pending.push(renderSafely(markdown, box, block.source).then(() => decorate?.(box)));
    return box;
  });
}

/**
 * A paragraph of several lines (a thought's paragraphs are often apart by one line break alone, which keeps them one
 * paragraph), drawn in pieces cut at its line breaks (lines.ts) so that a growing one draws only its last line
 * again: one `<p>` whose pieces' content sits in a `<span>` each, a soft break after each but the last, as the
 * paragraph drawn whole has it. Null for a block that is not such a paragraph.
 */
function paragraphSpec(block: IBlock): ISpec | null {
  const pieces = paragraphLines(block);
  return pieces && { key: 'paragraph', make: () => el('p', ''), children: pieces.map(linesSpec) };
}

function linesSpec(lines: ILines): ISpec {
  return leaf(lines.key, (markdown, pending) => {
    const span = el('span', '');
    pending.push(drawInline(markdown, span, lines));
    return span;
  });
}

/** Draws the paragraph `lines` make alone into `span`: its content, without the `<p>` around it. */
async function drawInline(markdown: MarkdownRenderer, span: HTMLElement, lines: ILines): Promise<void> {
  const drawn = el('div', '');
  await renderSafely(markdown, drawn, lines.source);
  const paragraphs = drawn.querySelectorAll('p');
  // one paragraph, as lines.ts cuts them; were it anything else, it is shown as drawn rather than lost
  const content = paragraphs.length === 1 ? paragraphs[0] : drawn;
  span.append(...Array.from(content.childNodes));
  if (lines.soft) {
    span.append(document.createTextNode('\n'));
  }
}

/**
 * The attribute of a block of a collapsed thought still held as its plain text. A saved chat's thoughts can run to
 * tens of thousands of words each, and drawing them all as markdown made a notebook slow to open, for text nobody
 * had opened. Kept in the page as text, a collapsed thought is still found by the browser's find-in-page (which
 * opens the `<details>` around a match) and by JupyterLab's search; it is drawn as markdown when it opens.
 */
const LAZY = 'data-glm-nb-lazy';

// The markdown each block of a collapsed thought draws once opened (its text, shown until then, as written)
const lazySources = new WeakMap<HTMLElement, string>();

/** A block of a collapsed thought: its text, drawn as markdown once the thought opens (`drawLazyBlocks`). */
function lazyBlock(block: IBlock): ISpec {
  return leaf(block.key, () => {
    const box = el('div', '', block.text);
    box.setAttribute(LAZY, '');
    lazySources.set(box, block.source);
    return box;
  });
}

/** Draws the blocks of the thought `box` still held as text, if it is open. */
async function drawLazyBlocks(box: HTMLDetailsElement, markdown: MarkdownRenderer): Promise<void> {
  if (!box.open) {
    return;
  }
  const blocks = Array.from(box.querySelectorAll<HTMLElement>(`div[${LAZY}]`));
  blocks.forEach(block => block.removeAttribute(LAZY)); // once: a second toggle while these draw finds none
  await Promise.all(
    blocks.map(async block => {
      const drawn = el('div', '');
      try {
        await renderSafely(markdown, drawn, lazySources.get(block) ?? block.textContent ?? '');
      } catch (error) {
        console.error('glm-nb: a thought stays as plain text, its markdown could not be drawn:', error);
        return;
      }
      block.replaceChildren(...Array.from(drawn.childNodes));
    })
  );
}

/** Draws the text blocks an update put in a thought that is open (one the user opened, whose text then changed). */
export function drawOpenedThoughts(root: HTMLElement, markdown: MarkdownRenderer): void {
  for (const box of Array.from(root.querySelectorAll<HTMLDetailsElement>('details'))) {
    if (box.open && box.className === 'glm-nb-thinking') {
      void drawLazyBlocks(box, markdown);
    }
  }
}

/**
 * JupyterLab's search (Ctrl+F in a notebook) finds text in a closed `<details>` (a thought, a tool's result, an
 * artifact's source) and marks it, unseen: the current match (`mark.jp-current-match`) opens the boxes around it.
 * A thought opened so keeps its text as text (drawing it would change the output, and JupyterLab would start its
 * search over from the first match) until the search has taken its marks away.
 */
const OPENED_FOR_SEARCH = 'data-glm-nb-search';
const SEARCH_MATCH = 'jp-current-match';
// on every match JupyterLab's search marks; never on a model's own <mark> (`tame` keeps none of its classes)
const SEARCH_MARK = 'cm-searching';

/** The thoughts of one output opened for a search, and the timer that draws them once it has ended. */
export interface ISearched {
  boxes: Set<HTMLDetailsElement>;
  timer: number;
}

// How long an output must hold no search match before its thoughts are drawn: JupyterLab takes its marks away and
// puts new ones in when the word searched for changes, and a drawing is a change after which it searches the output
// again and forgets which match was the current one
const SEARCH_OVER_MS = 1000;

/** Opens the boxes around the current search match; draws the thoughts opened so once the search has ended. */
export function revealSearchMatches(
  root: HTMLElement,
  records: MutationRecord[],
  searched: ISearched,
  markdown: MarkdownRenderer
): void {
  for (const record of records) {
    const mark = record.target as HTMLElement;
    if (record.type !== 'attributes' || mark.localName !== 'mark' || !mark.classList.contains(SEARCH_MATCH)) {
      continue;
    }
    for (let box = mark.closest('details'); box && root.contains(box); box = box.parentElement!.closest('details')) {
      if (!box.open) {
        searched.boxes.add(box);
        box.setAttribute(OPENED_FOR_SEARCH, '');
        box.open = true;
      }
    }
  }
  window.clearTimeout(searched.timer);
  if (searched.boxes.size) {
    searched.timer = window.setTimeout(() => drawAfterSearch(root, searched, markdown), SEARCH_OVER_MS);
  }
}

function drawAfterSearch(root: HTMLElement, searched: ISearched, markdown: MarkdownRenderer): void {
  if (Array.from(root.querySelectorAll('mark')).some(mark => mark.classList.contains(SEARCH_MARK))) {
    return; // still searching: the next change that takes the marks away looks again
  }
  for (const box of Array.from(searched.boxes)) {
    searched.boxes.delete(box);
    box.removeAttribute(OPENED_FOR_SEARCH);
    void drawLazyBlocks(box, markdown); // if it is still open
  }
}

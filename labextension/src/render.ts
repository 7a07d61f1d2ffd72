/**
 * A transcript record drawn as chat bubbles: the prompt, then the reply's parts in order (collapsible thinking,
 * tool-call cards, the answer), its artifacts in sandboxed frames (an HTML page's scripts only after a click on its
 * "Run scripts"), and the usage footer.
 *
 * Model and tool text reaches the page only as text nodes, through JupyterLab's sanitizing markdown renderer
 * (never as trusted HTML) and then made inert (markdown.ts), or inside a sandboxed frame. An answer's code blocks
 * are drawn apart from its markdown (code.ts), each with "Copy" and "Insert as cell below". An update redraws only
 * the blocks that changed (blocks.ts): a growing answer or thought, its last block. A thought that starts collapsed
 * is drawn as markdown only once opened, and a search match in a closed box opens it (thinking.ts).
 */

// with their extensions, for Node to load lib/ as it is (test/thinking.test.mjs draws with a stand-in DOM)
import { AnswerSplitter, ISplitOptions, Piece } from './answer.js';
import { details, IDrawn, ISpec, leaf, reconcile } from './blocks.js';
import { addCodeButtons, codeBlock, codeSpec } from './code.js';
import { button, el } from './dom.js';
import { hasScripts, htmlFrame, svgFrame } from './frames.js';
import { followFragment, MarkdownRenderer } from './markdown.js';
import {
  drawOpenedThoughts,
  ISearched,
  markdownBlock,
  RENDERED_MARKDOWN,
  revealSearchMatches,
  thinking
} from './thinking.js';
import { footerText, IReply, IToolPart, Part, repliesOf, splitFences } from './transcript.js';

export { IInsertCellDetail, INSERT_CELL_EVENT } from './code.js';

/**
 * One transcript output, redrawn in place as its record changes: a streaming reply is updated about ten times a
 * second. Each update compares the record, block by block (a turn, a part of a reply, a piece of an answer), with
 * what is on screen and replaces only the blocks that changed: a finished turn, an unchanged part and everything in
 * them (an artifact's frame and its "Run scripts" state, a `<details>` the user opened or closed) stay the same
 * nodes, so nothing the user did snaps back and nothing above the growing text moves.
 */
export class TranscriptView {
  /** The element this view draws into, kept for the life of the output. */
  readonly node = el('div', 'glm-nb-lab-transcript');
  private drawn: IDrawn[] = [];
  // An `AnswerSplitter` for each text or thinking part of each turn (`turn:part:fences`), kept from one update to
  // the next: where a part's text grows, its splitter reads only what was added. Those an update did not ask for
  // are dropped.
  private splitters = new Map<string, AnswerSplitter>();

  constructor(private readonly markdown: MarkdownRenderer) {
    // JupyterLab's search marks a match by a class on a <mark>: the current one opens the boxes it is in
    const searched: ISearched = { boxes: new Set(), timer: 0 };
    new MutationObserver(records => revealSearchMatches(this.node, records, searched, markdown)).observe(this.node, {
      attributes: true,
      attributeFilter: ['class'],
      childList: true,
      subtree: true
    });
    this.node.addEventListener('click', event => followFragment(this.node, event));
    this.node.addEventListener('keydown', event => {
      if (event.key === 'Enter') {
        followFragment(this.node, event);
      }
    });
  }

  /**
   * Draws `data`. `stale`: why a record that claims to be streaming may never be updated again (see
   * `staleNote`), or null. Rejects, leaving the screen as it was, on a record that cannot be read. Call it again
   * only once the last call has settled (the mime renderer queues its updates).
   */
  async update(data: unknown, stale: string | null = null): Promise<void> {
    const replies = repliesOf(data);
    const last = replies[replies.length - 1];
    const splitters = new Map<string, AnswerSplitter>();
    const splitterOf = (turn: number) => (part: number, fences: ISplitOptions['fences']) => {
      const key = `${turn}:${part}:${fences}`;
      const splitter = this.splitters.get(key) ?? new AnswerSplitter({ fences });
      splitters.set(key, splitter);
      return splitter;
    };
    const specs = replies.length
      ? replies.map((reply, index) => turn(reply, stale, splitterOf(index)))
      : [leaf('empty', () => emptyNote())];
    const pending: Promise<void>[] = [];
    const { drawn, commit } = reconcile(this.node, this.drawn, specs, this.markdown, pending);
    await Promise.all(pending); // every new block is complete before any of them is shown
    if (!this.drawn.length) {
      this.node.replaceChildren(); // an error `showError` drew
    }
    commit();
    drawOpenedThoughts(this.node, this.markdown);
    this.drawn = drawn;
    this.splitters = splitters;
    const streaming = last !== undefined && last.finish_reason === null;
    this.node.dataset.state = !last ? 'empty' : streaming ? (stale ? 'stale' : 'streaming') : last.finish_reason!;
    // a screen reader waits for the reply to end instead of reading each update of it
    this.node.setAttribute('aria-busy', String(streaming && !stale));
  }

  /** Replaces everything with `message` (the next `update` draws afresh). */
  showError(message: string): void {
    this.node.replaceChildren(el('div', 'glm-nb-note', message));
    this.node.dataset.state = 'error';
    this.node.setAttribute('aria-busy', 'false');
    this.drawn = [];
  }
}

function emptyNote(): HTMLElement {
  return el('div', 'glm-nb-note', '(empty chat)');
}

/** The `AnswerSplitter` of a reply's text or thinking part, by the part's index and how it cuts fences. */
type SplitterOf = (part: number, fences: ISplitOptions['fences']) => AnswerSplitter;

function turn(r: IReply, stale: string | null, splitterOf: SplitterOf): ISpec {
  const children: ISpec[] = [];
  if (r.prompt) {
    children.push(leaf(`prompt:${r.prompt}`, () => userBubble(r.prompt)));
  }
  const bubble = () => el('div', 'glm-nb-bubble glm-nb-assistant');
  children.push({ key: 'assistant', make: bubble, children: replyBlocks(r, stale, splitterOf) });
  return { key: 'turn', make: () => el('div', 'glm-nb-turn'), children };
}

function userBubble(prompt: string): HTMLElement {
  const user = el('div', 'glm-nb-bubble glm-nb-user');
  user.appendChild(el('div', 'glm-nb-user-text', prompt));
  return user;
}

function replyBlocks(r: IReply, stale: string | null, splitterOf: SplitterOf): ISpec[] {
  const blocks: ISpec[] = [];
  const streaming = r.finish_reason === null;
  const lastText = r.parts.map(p => p.type).lastIndexOf('text');
  r.parts.forEach((part: Part, index) => {
    if (part.type === 'thinking') {
      if (r.thinking_display !== 'hidden') {
        const open = streaming || r.thinking_display === 'shown';
        blocks.push(thinking(part.text, open, splitterOf(index, 'inline')));
      }
    } else if (part.type === 'tool') {
      blocks.push(leaf(`tool:${JSON.stringify(part)}`, () => toolCard(part)));
    } else {
      const format = index === lastText && !streaming ? r.format : 'markdown';
      const children = answerBlocks(part.text, format, !streaming, splitterOf(index, 'apart'));
      blocks.push({ key: `answer:${format}`, make: () => el('div', 'glm-nb-answer'), children });
    }
  });
  if (r.note) {
    blocks.push(leaf(`note:${r.note}`, () => el('div', 'glm-nb-note', r.note)));
  }
  const footer = footerText(r, stale);
  blocks.push(leaf(`footer:${footer}`, () => el('div', 'glm-nb-footer', footer)));
  return blocks;
}

function toolCard(card: IToolPart): HTMLElement {
  const failed = card.status !== 'ok' && card.status !== 'running';
  const box = el('div', `glm-nb-tool glm-nb-tool-${failed ? 'failed' : card.status}`);
  // a screen reader announces the card by what it was (the wrench is drawn, not read out) before its parts
  const seconds = card.duration_s !== null ? card.duration_s.toFixed(2) : null;
  box.setAttribute('role', 'group');
  box.setAttribute('aria-label', `Tool call ${card.name}: ${card.status}${seconds ? `, ${seconds} s` : ''}`);
  const head = el('div', 'glm-nb-tool-head');
  const name = head.appendChild(el('span', 'glm-nb-tool-name'));
  name.appendChild(el('span', '', '🔧 ')).setAttribute('aria-hidden', 'true');
  name.appendChild(document.createTextNode(card.name));
  head.appendChild(el('code', 'glm-nb-tool-args', JSON.stringify(card.arguments)));
  head.appendChild(el('span', 'glm-nb-tool-status', `${card.status}${seconds ? ` · ${seconds} s` : ''}`));
  box.appendChild(head);
  if (card.error) {
    box.appendChild(el('div', 'glm-nb-note', card.error));
  } else if (card.result !== null) {
    const result = details('glm-nb-tool-result', 'result', false);
    result.appendChild(el('pre', '', card.result));
    box.appendChild(result);
  }
  return box;
}

/**
 * An answer's blocks: its markdown between fences (a block of it for each paragraph, heading, list and so on that
 * draws alone, so that a streaming answer draws only its last one again), and each fence as code or (`artifacts`)
 * as an artifact.
 */
function answerBlocks(text: string, format: string, artifacts: boolean, splitter: AnswerSplitter): ISpec[] {
  if (format === 'text') {
    return [leaf(`text:${text}`, () => el('pre', 'glm-nb-plain', text))];
  }
  if (format === 'json') {
    return [leaf(`json:${text}`, () => codeBlock('json', prettyJson(text)))];
  }
  let pieces: Piece[] = splitter.split(text);
  const bare = text.trim();
  if ((format === 'svg' && bare.startsWith('<svg')) || (format === 'html' && bare.startsWith('<'))) {
    if (!pieces.some(s => s.kind === 'fence')) {
      pieces = [{ kind: 'fence', language: format, body: bare }];
    }
  }
  return pieces.map(piece => {
    if (piece.kind === 'markdown') {
      const make = () => el('div', `glm-nb-markdown ${RENDERED_MARKDOWN}`);
      return { key: 'markdown', make, children: piece.blocks.map(b => markdownBlock(b, addCodeButtons)) };
    }
    const { language, body } = piece;
    // a code block is kept as it grows (its buttons with it); an artifact is drawn only once its fence is finished
    if (artifacts && isArtifact(language)) {
      return leaf(artifactKey(piece), () => artifact(language, body));
    }
    return codeSpec(language, body);
  });
}

function isArtifact(language: string): language is 'svg' | 'html' {
  return language === 'svg' || language === 'html';
}

// A finished fence is the same piece from one update to the next: its key is made once, not from its body each time
const artifactKeys = new WeakMap<Piece, string>();

function artifactKey(piece: Piece & { kind: 'fence' }): string {
  const key = artifactKeys.get(piece) ?? `artifact:${JSON.stringify([piece.language, piece.body])}`;
  artifactKeys.set(piece, key);
  return key;
}

function artifact(kind: 'svg' | 'html', source: string): HTMLElement {
  const box = el('div', `glm-nb-artifact glm-nb-artifact-${kind}`);
  const frame = kind === 'svg' ? svgFrame(source) : htmlFrame(source);
  if (kind === 'html' && hasScripts(source)) {
    box.appendChild(runBar(frame, source));
  }
  box.appendChild(frame);
  const sourceBox = details('glm-nb-artifact-source', `${kind} source`, false);
  sourceBox.appendChild(codeBlock(kind, source));
  box.appendChild(sourceBox);
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

function prettyJson(text: string): string {
  const body = splitFences(text).find(s => s.kind === 'fence');
  const raw = body && body.kind === 'fence' ? body.body : text;
  try {
    return JSON.stringify(JSON.parse(raw), null, 2);
  } catch {
    return raw;
  }
}

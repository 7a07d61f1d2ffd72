/**
 * An answer cut into the pieces the view draws (render.ts): its fenced code blocks, and its markdown between them
 * in blocks that draw alone as they draw together. No DOM here, so `node --test` runs it as it is.
 *
 * A streaming reply is drawn again about ten times a second, each time with its text a little longer. Cut afresh,
 * and its markdown drawn afresh, each update would cost in proportion to the whole answer. `AnswerSplitter` keeps
 * what it read: the lines up to the last line break, the pieces they finished, and the state of the open one, so
 * an update reads only the new text; a finished piece is the same object from one update to the next (and so is
 * its `key`), which the view keeps on screen without drawing it again.
 *
 * A fence in a list item is no piece of its own: it stays in the list's markdown, drawn in its item as CommonMark
 * has it (cut out, it ended the list, and the items after it started another).
 *
 * A thought is cut the same way but for its fences (`new AnswerSplitter({ fences: 'inline' })`): the view draws it
 * as markdown alone, so a fence stays in its block's text (no cut inside it) instead of becoming a piece of its own.
 */

// with its extension, for Node to load lib/ as it is
import { confineTags } from './tags.js';

export type Segment = { kind: 'markdown'; text: string } | { kind: 'fence'; language: string; body: string };

/**
 * A block of markdown: lines up to a blank line, after which a new paragraph, heading, quote or table starts. Its
 * `source` is what the view draws: its text with a tag it opens mid-line and leaves open shown as text (tags.ts).
 */
export interface IBlock {
  readonly text: string;
  readonly source: string;
  readonly key: string; // what the view compares: `markdown:` and the text
}

export type Piece =
  | { kind: 'markdown'; blocks: readonly IBlock[] }
  | { kind: 'fence'; language: string; body: string };

// After a blank line, a line at the margin that is not a list item ends whatever came before it (a paragraph, a
// list, a quote, indented code), so what follows draws alone as it draws in place
const BLOCK_START = /^(?![-+*](\s|$)|\d{1,9}[.)](\s|$))\S/;
// A line that may need the markdown around it: an HTML block (some run on past blank lines, and a tag it leaves
// open holds what follows) or a link reference definition (which links anywhere else use): markdown with one is
// kept as one block. Only `<` then a letter, `/`, `!` or `?` starts HTML: a thought's `<= n` keeps its blocks apart.
const NEEDS_CONTEXT = /^ {0,3}(<[A-Za-z/!?]|\[[^\]]*\]:)/;

/**
 * The state at a line break: outside a fence (the markdown so far; `fence`: the fence its last block holds open,
 * where fences stay inline), or inside a fence that is a piece of its own.
 */
type State =
  | {
      kind: 'markdown';
      blocks: IBlock[];
      lines: string[];
      whole: boolean;
      lastBlank: boolean;
      fence: string | null;
      list: number; // the content indent of the outermost list item open (0: none), which a fence in it is inside
    }
  | { kind: 'fence'; fence: string; indent: number; language: string; body: string[] };

/** Fences as pieces of their own (an answer's, drawn with buttons) or kept in their markdown block (a thought's). */
export interface ISplitOptions {
  fences: 'apart' | 'inline';
}

/** An answer's pieces, each update reading only what was added (see the module's docstring). */
export class AnswerSplitter {
  private read = ''; // the text up to (and with) the last line break read
  private pieces: Piece[] = []; // the pieces those lines finished
  private state: State = outside();
  private readonly inline: boolean;

  constructor(options: ISplitOptions = { fences: 'apart' }) {
    this.inline = options.fences === 'inline';
  }

  /** The pieces of `text`: the same as `splitAnswer(text)`, with the finished ones kept from the last call. */
  split(text: string): Piece[] {
    // `===` on a slice, not `startsWith`: V8 compares strings this way several times faster
    if (text.slice(0, this.read.length) !== this.read) {
      [this.read, this.pieces, this.state] = ['', [], outside()]; // not a continuation: read it afresh
    }
    let start = this.read.length;
    for (let end = text.indexOf('\n', start); end >= 0; end = text.indexOf('\n', start)) {
      this.state = readLine(this.state, text.slice(start, end), this.pieces, this.inline);
      start = end + 1;
    }
    this.read = text.slice(0, start);
    const pieces = [...this.pieces];
    finish(readLine(copy(this.state), text.slice(start), pieces, this.inline), pieces);
    return pieces;
  }
}

/** The pieces of `text`, read afresh. */
export function splitAnswer(text: string, options?: ISplitOptions): Piece[] {
  return new AnswerSplitter(options).split(text);
}

/**
 * Markdown cut at its fenced code blocks (``` or ~~~, up to three spaces of indent, closed by a fence of the same
 * character at least as long, or by the end of the text as CommonMark does). The renderer draws `svg` and `html`
 * fences as artifacts and the rest as code with copy / insert buttons.
 */
export function splitFences(markdown: string): Segment[] {
  return splitAnswer(markdown).map(piece =>
    piece.kind === 'fence' ? piece : { kind: 'markdown', text: piece.blocks.map(block => block.text).join('\n') }
  );
}

function outside(): State {
  return { kind: 'markdown', blocks: [], lines: [], whole: false, lastBlank: false, fence: null, list: 0 };
}

/** A copy of `state` that reading the last, unfinished line into can change without changing `state`. */
function copy(state: State): State {
  return state.kind === 'markdown'
    ? { ...state, blocks: [...state.blocks], lines: [...state.lines] }
    : { ...state, body: [...state.body] };
}

/** The state after `line`; a piece it finishes goes to `pieces`. `inline`: fences stay in their markdown block. */
function readLine(state: State, line: string, pieces: Piece[], inline: boolean): State {
  if (state.kind === 'fence') {
    if (closesFence(state.fence, line)) {
      pieces.push({ kind: 'fence', language: state.language, body: state.body.join('\n') });
      return outside();
    }
    state.body.push(state.indent ? line.replace(new RegExp(`^ {0,${state.indent}}`), '') : line);
    return state;
  }
  const blank = line.trim() === '';
  const indent = line.length - line.trimStart().length;
  if (state.fence !== null && (blank || indent >= state.list)) {
    // in a fence kept inline: its lines are code, so none of them starts a block or needs context. A fence in a
    // list item is closed by its own fence line (indented as the item's text is) or a line that ends the item.
    state.lines.push(line);
    state.fence = closesFence(state.fence, line.slice(Math.min(indent, state.list))) ? null : state.fence;
    state.lastBlank = false;
    return state;
  }
  state.fence = null;
  const open = fenceOpening(line);
  state.list = listAfter(state, line, blank, indent);
  // a fence in a list item stays in its markdown block, drawn in the item as CommonMark has it
  if (open && !inline && !(state.list && indent >= state.list)) {
    finish(state, pieces);
    return { kind: 'fence', fence: open.fence, indent, language: open.language, body: [] };
  }
  if (state.lastBlank && BLOCK_START.test(line) && state.lines.some(text => text.trim())) {
    state.blocks.push(block(state.lines));
    state.lines = [];
  }
  state.lines.push(line);
  state.whole ||= NEEDS_CONTEXT.test(line);
  state.lastBlank = blank;
  state.fence = open ? open.fence : null;
  return state;
}

// A line that opens a list item: its indent, its marker and the spaces after it, and whether text follows
const LIST_ITEM = /^( {0,3})([-+*]|\d{1,9}[.)])( *)(\S?)/;
const THEMATIC_BREAK = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
// A line that does not continue a paragraph lazily (CommonMark's lazy continuation lines are paragraph text only)
const INTERRUPTS = /^ {0,3}([#>]|`{3}|~{3}|<)/;

/**
 * The content indent of the outermost list item open after `line` (0: none). A new item at the margin (or less
 * indented than the open item's text) starts one; a nested item leaves it; a line less indented than the item's
 * text ends it, after a blank line or where it cannot be the item's paragraph going on lazily.
 */
function listAfter(state: State & { kind: 'markdown' }, line: string, blank: boolean, indent: number): number {
  const item = LIST_ITEM.exec(line);
  if (item && (item[3] || !item[4]) && !THEMATIC_BREAK.test(line) && (!state.list || indent < state.list)) {
    const spaces = !item[4] || item[3].length > 4 ? 1 : item[3].length; // past four: indented code in the item
    return item[1].length + item[2].length + spaces;
  }
  if (blank || !state.list || indent >= state.list || item) {
    return state.list;
  }
  return state.lastBlank || INTERRUPTS.test(line) || THEMATIC_BREAK.test(line) ? 0 : state.list;
}

/** Whether `line` closes a fence `fence` opened: the same character, at least as many, up to three spaces in. */
function closesFence(fence: string, line: string): boolean {
  return new RegExp(`^ {0,3}${fence[0] === '`' ? '`' : '~'}{${fence.length},}\\s*$`).test(line);
}

/** Puts the piece `state` holds open, as it stands at the end of the text, in `pieces` (blank markdown is none). */
function finish(state: State, pieces: Piece[]): void {
  if (state.kind === 'fence') {
    pieces.push({ kind: 'fence', language: state.language, body: state.body.join('\n') });
    return;
  }
  const blocks = state.lines.length ? [...state.blocks, block(state.lines)] : state.blocks;
  if (!blocks.some(b => b.text.trim())) {
    return;
  }
  pieces.push({ kind: 'markdown', blocks: state.whole ? [joined(blocks)] : blocks });
}

function block(lines: readonly string[]): IBlock {
  const text = lines.join('\n');
  return { text, source: confineTags(text), key: `markdown:${text}` };
}

/** `blocks` as one, drawn whole: each block's tags kept to it as they are when it is drawn alone. */
function joined(blocks: readonly IBlock[]): IBlock {
  const text = blocks.map(b => b.text).join('\n');
  return { text, source: blocks.map(b => b.source).join('\n'), key: `markdown:${text}` };
}

/**
 * The fence a line opens, if it opens one: its backticks or tildes and the first word of its info string (which,
 * after backticks, may hold no backtick). Matched in linear time: a regular expression with two overlapping
 * repeats here took seconds on one long line of a forged answer, and the page froze while it ran.
 */
function fenceOpening(line: string): { fence: string; language: string } | null {
  const open = /^ {0,3}(`{3,}|~{3,})/.exec(line);
  if (!open) {
    return null;
  }
  const info = line.slice(open[0].length);
  if (open[1][0] === '`' && info.includes('`')) {
    return null;
  }
  return { fence: open[1], language: (info.trim().split(/\s/, 1)[0] ?? '').toLowerCase() };
}

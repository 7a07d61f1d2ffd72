/**
 * A paragraph cut at its line breaks, so that a thought the model writes with single line breaks between its
 * paragraphs (one markdown paragraph: they are soft breaks) draws only its growing last line again as it streams,
 * instead of the whole of it at every update (thinking.ts). No DOM here, so `node --test` runs it as it is.
 *
 * Each cut leaves lines that draw alone as they draw in the paragraph: a paragraph of their own whose inline content
 * is theirs in the whole (the view puts the pieces' content in one paragraph, a soft break between them). So a cut
 * goes only before a line indented less than four spaces (no indented code), after a line with no hard break
 * (trailing spaces or `\`), and where nothing inline opened before it could close after it: in the lines since the
 * last cut, brackets and parentheses close (a link's text and destination), every tag opened mid-line closes and
 * none runs on past its line (nor does a comment, a processing instruction or CDATA), `$` comes in pairs (math),
 * there is no escape and no `~`, and code spans and `*` and `_` emphasis pair among themselves (emphasis.ts pairs
 * them as the Python renderer does). A paragraph whose lines could make it something else (a heading underline, a
 * table row, a list, a quote, a fence, an HTML block, a blank line before more text) is not cut at all. Only a
 * thought's paragraphs are drawn so (thinking.ts).
 */

// with their extensions, for Node to load lib/ as it is
import { IBlock } from './answer.js';
import { pairedRuns } from './emphasis.js';
import { confineTags, tagsWhole } from './tags.js';

/** A piece of a paragraph: its lines; `soft`: a line break (drawn as the paragraph draws it) follows it. */
export interface ILines {
  readonly text: string;
  readonly source: string; // what the view draws (tags.ts)
  readonly soft: boolean;
  readonly key: string;
}

// A line that starts a piece (in a paragraph, where `NOT_PARAGRAPH` found no line to start a block): no code
const STARTS_PIECE = /^ {0,3}\S/;
// A line that could make the paragraph (or what follows it) something else: a heading, quote, list item, fence,
// HTML block, thematic break or heading underline; a `|` could make it a table
const NOT_PARAGRAPH = /^ {0,3}([#>]|[-+*](\s|$)|\d{1,9}[.)](\s|$)|```|~~~|<|=+\s*$|-+\s*$|([*_-])(\s*\3){2,}\s*$)|\|/;
const HARD_BREAK = /(\s|\\)$/;
// What may open in one line and close in a later one: an escape or math, a strikethrough (links, HTML: below)
const SPANS_LINES = /[\\~]/;
// A tag (or comment, or autolink) its line does not end: its attributes may go on in the next
const TAG_LEFT_OPEN = /<[A-Za-z/!?][^<>]*$/;
// A piece that finds no place to end within this many lines takes the rest of the paragraph: each place is checked
// against the lines since the last cut, and a paragraph of thousands of lines would cost their square at each update
const MOST_LINES = 24;

const cache = new WeakMap<IBlock, readonly ILines[] | null>();

/** `block`'s pieces, where it is a paragraph cut at one line break or more; null where it is not. */
export function paragraphLines(block: IBlock): readonly ILines[] | null {
  let lines = cache.get(block);
  if (lines === undefined) {
    lines = cutLines(block.text);
    cache.set(block, lines);
  }
  return lines;
}

function cutLines(text: string): ILines[] | null {
  const all = text.split('\n');
  let end = all.length;
  while (end > 1 && all[end - 1].trim() === '') {
    end--; // the blank lines that ended the paragraph stay with its last piece
  }
  const lines = all.slice(0, end);
  if (!STARTS_PIECE.test(lines[0]) || lines.some(line => !line.trim() || NOT_PARAGRAPH.test(line))) {
    return null;
  }
  const pieces: ILines[] = [];
  let start = 0;
  for (let next = 1; next < lines.length && next - start <= MOST_LINES; next++) {
    const piece = lines.slice(start, next).join('\n');
    if (STARTS_PIECE.test(lines[next]) && !HARD_BREAK.test(lines[next - 1]) && keepsToItself(piece)) {
      pieces.push(linesOf(piece, true));
      start = next;
    }
  }
  if (!pieces.length) {
    return null; // one line, or none to cut at: drawn as the block it is
  }
  pieces.push(linesOf(all.slice(start).join('\n'), false));
  return pieces;
}

function linesOf(text: string, soft: boolean): ILines {
  return { text, source: confineTags(text), soft, key: `lines:${soft}:${text}` };
}

/** Whether no inline markdown in `text` is left open for a later line to close (see the module's docstring). */
function keepsToItself(text: string): boolean {
  const prose = withoutCodeSpans(text);
  if (prose === null || SPANS_LINES.test(prose) || (prose.split('$').length - 1) % 2 || !nested(prose)) {
    return false;
  }
  // a tag it leaves open, which a later line may close; HTML that may run on past its line (a processing
  // instruction, a comment, CDATA, a tag its line does not finish)
  const html = /<[A-Za-z/!?]/.test(prose);
  const runsOn = html && (/<[!?]/.test(prose) || !tagsWhole(prose) || TAG_LEFT_OPEN.test(prose));
  if (runsOn || (html && confineTags(prose) !== prose)) {
    return false;
  }
  if (!/[*_]/.test(prose)) {
    return true;
  }
  // emphasis.ts reads code spans itself, and the characters beside a run as they are
  const runs = pairedRuns(Array.from(text)).filter(run => run.opens || run.closes);
  const count = (marker: string) =>
    runs.filter(run => run.marker === marker).reduce((sum, run) => sum + run.end - run.start, 0);
  return runs.every(run => run.opened || run.closed) && count('*') % 2 === 0 && count('_') % 2 === 0;
}

/** Whether the brackets and parentheses of `text` close in it, as a link's text and destination must. */
function nested(text: string): boolean {
  const depth = { '[': 0, '(': 0 };
  for (const char of text.replace(/[^[\]()]/g, '')) {
    const kind = char === '[' || char === ']' ? '[' : '(';
    depth[kind] += char === '[' || char === '(' ? 1 : -1;
    if (depth[kind] < 0) {
      return false;
    }
  }
  return depth['['] === 0 && depth['('] === 0;
}

/** `text` without its code spans (whose `[` or `$` is code), or null where a run of backticks is left open. */
function withoutCodeSpans(text: string): string | null {
  const runs = Array.from(text.matchAll(/`+/g));
  // for each run, the next one as long (-1: none), found in one pass from the end: a text of thousands of code
  // spans, read again at every update of a streaming thought, costs no more than its length
  const nextSame = new Array<number>(runs.length);
  const seen = new Map<number, number>();
  for (let i = runs.length - 1; i >= 0; i--) {
    nextSame[i] = seen.get(runs[i][0].length) ?? -1;
    seen.set(runs[i][0].length, i);
  }
  const out: string[] = [];
  let last = 0;
  for (let i = 0; i < runs.length; i++) {
    const close = nextSame[i];
    if (close < 0) {
      return null;
    }
    out.push(text.slice(last, runs[i].index), ' ');
    last = runs[close].index + runs[close][0].length;
    i = close;
  }
  out.push(text.slice(last));
  return out.join('');
}

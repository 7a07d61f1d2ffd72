/**
 * Inline HTML kept to the block of markdown it is written in (answer.ts cuts markdown into blocks). A tag the model
 * opens mid-line and never closes in its block (`Text <div> more`) is left open by the markdown renderer, and the
 * sanitizer's parser then puts every block drawn after it in the same markdown inside it: drawn whole, the reply
 * nests its later paragraphs in that `<div>` (in a `<details>`, a `<textarea>`, a `<select>`, they vanish), while
 * the same blocks drawn apart, as a streaming reply draws them, close it at the end of its block. Model output is
 * untrusted, so such a tag is shown as the text it is (`&lt;div>`), in both drawings alike. No DOM here, so
 * `node --test` runs it as it is.
 *
 * A tag at the start of a line is left alone: it starts an HTML block (`<div>` on its own line), which may hold
 * the markdown after it on purpose, and answer.ts draws markdown with one whole. Tags in code are no tags: fenced
 * code (in a quote or a list item too), code spans, and indented code. Where it is unsure, a line is read as text:
 * a tag taken for code that is none would be left open.
 */

import { removeMath } from '@jupyterlab/rendermime/lib/latex.js';

// Elements with no content, which no closing tag ends
const VOID = new Set('area base br col embed hr img input link meta source track wbr'.split(' '));
// CommonMark's open and closing tags (spec, 6.6), quoted attribute values included (a `>` in one ends no tag). A
// quoted value stops at a `<`: each match then reads no further than the next tag, however the text is forged (a
// tag with a `<` in a value is then no tag here, and is shown as text).
const TAG =
  /<(\/?)([A-Za-z][A-Za-z0-9-]*)(?:\s+[A-Za-z_:][\w.:-]*(?:\s*=\s*(?:[^\s"'=<>`]+|'[^'<]*'|"[^"<]*"))?)*\s*\/?>/y;
// CommonMark's autolinks (a URI, an email address): no tags, and drawn as links
const AUTOLINK = /<(?:[A-Za-z][A-Za-z0-9+.-]{1,31}:[^\s<>]*|[\w.!#$%&'*+/=?^`{|}~-]+@[A-Za-z0-9.-]+)>/y;
// A fence's opening line, its container's markers (quotes, a list item's marker) taken off: backticks (none in its
// info string) or tildes
const FENCE = /^(`{3,})[^`]*$|^(~{3,})/;
// A line's quote markers and list item markers, which a fence or indented code may follow
const CONTAINER = /^(?: {0,3}> ?| {0,3}(?:[-+*]|\d{1,9}[.)])(?: {1,4}|$))/;

interface IOpenTag {
  readonly name: string;
  readonly at: number; // where its `<` is in the text
  readonly midLine: boolean;
}

/**
 * `text` (one block of markdown) with the `<` of each tag it opens mid-line and leaves open escaped, and of each
 * `<name` mid-line that no whole tag starts (a tag with a `<` in a quoted value, one that code wrongly masked here
 * would otherwise leave the renderer's tag open): shown as text either way. An escaped `\\<` is no tag.
 */
export function confineTags(text: string): string {
  if (!text.includes('<')) {
    return text; // most blocks: nothing to read
  }
  if (!/[$\\]/.test(text)) {
    return confineOutsideMath(text);
  }
  // JupyterLab's renderer takes the math out (`$f<T> x$`) before the markdown is read, and puts it back after: a `<`
  // in it is no tag. Each piece of math (and each `@@n@@` written) becomes `@@n@@` here, and is put back as it was.
  const { text: rest, math } = removeMath(text);
  // a `@@n@@` written is kept as it is; one in math is put back in it too
  const restore = (piece: string): string =>
    piece.replace(/@@(\d+)@@/g, (_, n: string) => {
      const taken = math[Number(n)];
      return /^@@\d+@@$/.test(taken) ? taken : restore(taken.replace(ENTITY, unescape));
    });
  return restore(confineOutsideMath(rest));
}

// What `removeMath` escapes in the math it takes out (`&` first), read back
const ENTITY = /&(amp|lt|gt);/g;
const unescape = (_: string, name: string) => ({ amp: '&', lt: '<', gt: '>' })[name]!;

function confineOutsideMath(text: string): string {
  const prose = maskCode(text);
  const open: IOpenTag[] = [];
  const loose: number[] = []; // where a `<name` starts no whole tag
  const opened = new Map<string, number>(); // how many of each name are open: a closing tag of none costs nothing
  // whether anything, code too, comes before a tag on its line (`x` <div> is no HTML block), read on as tags come
  let [read, lineBlank] = [0, true];
  for (const start of prose.matchAll(/<[A-Za-z/]/g)) {
    for (; read < start.index; read++) {
      lineBlank = text[read] === '\n' || (lineBlank && /\s/.test(text[read]));
    }
    if (escaped(text, start.index)) {
      continue;
    }
    TAG.lastIndex = AUTOLINK.lastIndex = start.index;
    const tag = TAG.exec(prose);
    if (!tag) {
      if (!lineBlank && start[0] !== '</' && !AUTOLINK.test(prose)) {
        loose.push(start.index);
      }
      continue;
    }
    const name = tag[2].toLowerCase();
    if (tag[1] && opened.get(name)) {
      // a closing tag closes the last one of its name and, as the sanitizer's parser has it, those opened after it
      for (let closed = open.pop()!; ; closed = open.pop()!) {
        opened.set(closed.name, opened.get(closed.name)! - 1);
        if (closed.name === name) {
          break;
        }
      }
    } else if (!tag[1] && !VOID.has(name)) {
      open.push({ name, at: tag.index, midLine: !lineBlank });
      opened.set(name, (opened.get(name) ?? 0) + 1);
    }
  }
  const escapes = [...open.filter(t => t.midLine).map(t => t.at), ...loose].sort((a, b) => a - b);
  const pieces: string[] = [];
  let last = 0;
  for (const at of escapes) {
    pieces.push(text.slice(last, at), '&lt;');
    last = at + 1;
  }
  pieces.push(text.slice(last));
  return pieces.join('');
}

/**
 * Whether each `<` in `text` before a letter or `/` starts a whole tag or an autolink: none is left for a later
 * line to finish (lines.ts cuts a paragraph only where none is).
 */
export function tagsWhole(text: string): boolean {
  for (const start of text.matchAll(/<[A-Za-z/]/g)) {
    TAG.lastIndex = AUTOLINK.lastIndex = start.index;
    if (!TAG.test(text) && !AUTOLINK.test(text)) {
      return false;
    }
  }
  return true;
}

/** Whether the character at `at` is escaped: an odd number of backslashes before it. */
function escaped(text: string, at: number): boolean {
  let before = at;
  while (before > 0 && text[before - 1] === '\\') {
    before--;
  }
  return (at - before) % 2 === 1;
}

/**
 * `text` with its code blanked out (each character a space but its line breaks, so that indices and lines stay):
 * fenced code with its fences (one opened in a quote or on a list item's line too), indented code, and code spans.
 * Where it cannot tell, it takes a line for text, whose tags are then read: a tag code hides is one left open.
 */
function maskCode(text: string): string {
  let fence: string | null = null; // the fence open
  let afterText = false; // whether the line before is a paragraph's, which indented code cannot follow
  const items = new Set<number>(); // the content indents of the list items opened so far
  const lines = text.split('\n').map(line => {
    const { inner, indent } = containers(line, items);
    const bare = inner.trimStart();
    const lead = line.length - line.trimStart().length;
    const within = Math.max(0, ...Array.from(items).filter(item => item <= lead));
    // how far in from its container the line's text is: past its markers, or past the list item it is in
    const relative = indent ? inner.length - bare.length : lead - within;
    if (fence !== null) {
      // a fence's line, even one less indented than a list item's fence (JupyterLab's marked keeps it in the code)
      const char = fence[0] === '`' ? '`' : '~';
      fence = new RegExp(`^\\${char}{${fence.length},}\\s*$`).test(bare) ? null : fence;
      afterText = false;
      return ' '.repeat(line.length);
    }
    const opening = relative <= 3 ? FENCE.exec(bare) : null;
    // indented code: four spaces past its container's content, and never right after a paragraph's line
    const indented = !afterText && bare !== '' && !indent && relative >= 4;
    fence = opening ? (opening[1] ?? opening[2]) : null;
    afterText = bare !== '' && !opening && !indented && !/^#{1,6}(\s|$)/.test(bare);
    return opening || indented ? ' '.repeat(line.length) : line;
  });
  return maskSpans(lines.join('\n'));
}

/**
 * `line` without its quote and list item markers, and how many characters they took (0: none); the content
 * indent of a list item it opens is added to `items`.
 */
function containers(line: string, items: Set<number>): { inner: string; indent: number } {
  let inner = line;
  for (let marker = CONTAINER.exec(inner); marker && marker[0]; marker = CONTAINER.exec(inner)) {
    inner = inner.slice(marker[0].length);
    if (!marker[0].includes('>')) {
      items.add(line.length - inner.length);
    }
  }
  return { inner, indent: line.length - inner.length };
}

/**
 * `text` with its code spans blanked out: a run of backticks opens one that the next run as long closes (one with
 * none after it is text; an escaped backtick is text, and the rest of its run opens). Each run is looked at once,
 * so a forged text of unmatched backticks costs no more.
 */
function maskSpans(text: string): string {
  const runs = Array.from(text.matchAll(/`+/g), run => ({ at: run.index, end: run.index + run[0].length }));
  const byLength = new Map<number, number[]>(); // the runs of each length, in order
  runs.forEach((run, index) => {
    const same = byLength.get(run.end - run.at) ?? [];
    same.push(index);
    byLength.set(run.end - run.at, same);
  });
  const passed = new Map<number, number>(); // for each length, how many of its runs are behind
  const out: string[] = [];
  let [last, index] = [0, 0];
  while (index < runs.length) {
    const literal = escaped(text, runs[index].at) ? 1 : 0; // `\\`` opens nothing: its backtick is text
    const length = runs[index].end - runs[index].at - literal;
    const same = byLength.get(length) ?? [];
    let next = passed.get(length) ?? 0;
    while (next < same.length && same[next] <= index) {
      next++;
    }
    passed.set(length, next);
    if (next === same.length) {
      index++; // no run as long after it: text
      continue;
    }
    const [from, to] = [runs[index].at + literal, runs[same[next]].end];
    out.push(text.slice(last, from), text.slice(from, to).replace(/[^\n]/g, ' ')); // its line breaks stay
    [last, index] = [to, same[next] + 1];
  }
  out.push(text.slice(last));
  return out.join('');
}

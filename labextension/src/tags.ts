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
 * code, code spans, and lines indented four spaces or more (which may be indented code; a tag left open there in a
 * deeply nested list item is not caught).
 */

// Elements with no content, which no closing tag ends
const VOID = new Set('area base br col embed hr img input link meta source track wbr'.split(' '));
// CommonMark's open and closing tags (spec, 6.6), quoted attribute values included (a `>` in one ends no tag). A
// quoted value stops at a `<`: each match then reads no further than the next tag, however the text is forged.
const TAG =
  /<(\/?)([A-Za-z][A-Za-z0-9-]*)(?:\s+[A-Za-z_:][\w.:-]*(?:\s*=\s*(?:[^\s"'=<>`]+|'[^'<]*'|"[^"<]*"))?)*\s*\/?>/g;
const FENCE = /^\s*(`{3,}|~{3,})/;

interface IOpenTag {
  readonly name: string;
  readonly at: number; // where its `<` is in the text
  readonly midLine: boolean;
}

/** `text` (one block of markdown) with the `<` of each tag it opens mid-line and leaves open escaped. */
export function confineTags(text: string): string {
  if (!text.includes('<')) {
    return text; // most blocks: nothing to read
  }
  const prose = maskCode(text);
  const open: IOpenTag[] = [];
  const opened = new Map<string, number>(); // how many of each name are open: a closing tag of none costs nothing
  // whether anything, code too, comes before a tag on its line (`x` <div> is no HTML block), read on as tags come
  let [read, lineBlank] = [0, true];
  for (const tag of prose.matchAll(TAG)) {
    for (; read < tag.index; read++) {
      lineBlank = text[read] === '\n' || (lineBlank && /\s/.test(text[read]));
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
  const pieces: string[] = [];
  let last = 0;
  for (const tag of open.filter(t => t.midLine)) {
    pieces.push(text.slice(last, tag.at), '&lt;'); // the stack holds them in the order they came
    last = tag.at + 1;
  }
  pieces.push(text.slice(last));
  return pieces.join('');
}

/**
 * `text` with its code blanked out (each character a space but its line breaks, so that indices and lines stay):
 * fenced code with its fences, lines indented four spaces or more, and code spans.
 */
function maskCode(text: string): string {
  let fence: string | null = null;
  const lines = text.split('\n').map(line => {
    const opening = FENCE.exec(line);
    const code = fence !== null || opening !== null || /^( {4}| *\t)/.test(line);
    if (fence !== null) {
      const char = fence[0] === '`' ? '`' : '~';
      fence = new RegExp(`^\\s*\\${char}{${fence.length},}\\s*$`).test(line) ? null : fence;
    } else if (opening) {
      fence = opening[1];
    }
    return code ? ' '.repeat(line.length) : line;
  });
  return maskSpans(lines.join('\n'));
}

/**
 * `text` with its code spans blanked out: a run of backticks opens one that the next run as long closes (one with
 * none after it is text). Each run is looked at once, so a forged text of unmatched backticks costs no more.
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
    const length = runs[index].end - runs[index].at;
    const same = byLength.get(length)!;
    let next = passed.get(length) ?? 0;
    while (next < same.length && same[next] <= index) {
      next++;
    }
    passed.set(length, next);
    if (next === same.length) {
      index++; // no run as long after it: text
      continue;
    }
    const [from, to] = [runs[index].at, runs[same[next]].end];
    out.push(text.slice(last, from), text.slice(from, to).replace(/[^\n]/g, ' ')); // its line breaks stay
    [last, index] = [to, same[next] + 1];
  }
  out.push(text.slice(last));
  return out.join('');
}

/**
 * Emphasis that reads Chinese, Japanese and Korean right under JupyterLab's markdown renderer (marked), as the
 * Python renderer has it (`glm_nb.render.markdown_cjk`, the CommonMark CJK-friendly amendment:
 * github.com/tats-u/markdown-cjk-friendly). No DOM here, so `node --test` runs it as it is.
 *
 * Plain CommonMark leaves `**注意：**这是` as literal asterisks: a run after punctuation and before a letter cannot
 * close. JupyterLab's parser is shared by every notebook and takes no extension from us, so the source is changed
 * instead: where the amendment lets a `*` run (or a `~~` strikethrough, which the Python renderer reads by the same
 * rules) open or close and CommonMark does not, a word joiner (U+2060: neither space nor punctuation to marked, and
 * invisible) goes between the run and the punctuation that blocks it. The renderer removes every word joiner once
 * the markdown is drawn (`withoutJoiners`), so none stays on the page, in code that one landed in either. The
 * source stays untrusted text; it is sanitized after this as before.
 *
 * A `_` run needs nothing: the amendment's rules for `_` (a run inside a word neither opens nor closes) give the
 * same as CommonMark's wherever they are read, so `__注意：__这是` stays literal in both renderers. But a joiner
 * after a `_` run would keep it from closing, so none goes there where it closes (`UnderscoreClosers`); where that
 * `_` closes and the `*` run after it needs the joiner to close too (`**_a注意_**中`), one character cannot tell
 * marked both, and the `_` wins (the Python renderer draws both).
 */
export const JOINER = '\u2060';

// The amendment's "CJK character": East Asian Wide, Fullwidth or Halfwidth, emoji aside, and all Hangul; the same
// ranges as the Python side's `_is_cjk` gives over every assigned character of Unicode 14.
const CJK = new RegExp(
  '[\\u1100-\\u11ff\\u20a9\\u25fd\\u25fe\\u2e80-\\u303e\\u3041-\\u3247\\u3250-\\u4dbf\\u4e00-\\u9fff' +
    '\\ua000-\\ua4cf\\ua960-\\ua97f\\uac00-\\ud7ff\\uf900-\\ufaff\\ufe10-\\ufe19\\ufe30-\\ufe6f\\uff00-\\uffee' +
    '\\u{16fe0}-\\u{18d08}\\u{1aff0}-\\u{1b2ff}\\u{20000}-\\u{3fffd}]',
  'u'
);
const PUNCTUATION = /[\p{P}\p{S}]/u; // CommonMark's: Unicode punctuation and symbols
// marked, reading GitHub's markdown as JupyterLab has it, takes a `~` beside a `*` run for a letter
const PUNCTUATION_BESIDE_STAR = /(?!~)[\p{P}\p{S}]/u;
const SPACE = /[\t-\r \u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]/; // markdown-it's `isWhiteSpace`

/** `source` with a word joiner wherever the CJK-friendly amendment lets a `*` or `~~` run open or close. */
export function cjkFriendlyEmphasis(source: string): string {
  if (!CJK.test(source)) {
    return source; // the amendment changes nothing without a CJK character
  }
  const chars = Array.from(source); // by code point: CJK Extension B and on are two UTF-16 units
  const underscores = new UnderscoreClosers(chars);
  const out: string[] = [];
  let i = 0;
  while (i < chars.length) {
    if (chars[i] === '\\') {
      out.push(chars[i], chars[i + 1] ?? ''); // an escaped `*` is text, not a run
      i += 2;
      continue;
    }
    if (chars[i] !== '*' && chars[i] !== '~') {
      out.push(chars[i]); // text, or a `_` run: the amendment gives it nothing CommonMark does not
      i++;
      continue;
    }
    const end = runEnd(chars, i);
    const run = chars.slice(i, end).join('');
    const punctuation = run[0] === '*' ? PUNCTUATION_BESIDE_STAR : run === '~~' ? PUNCTUATION : null;
    const before = chars[i - 1] ?? ' '; // the start and end of the text count as space
    const after = chars[end] ?? ' ';
    if (punctuation && opensOnlyAmended(before, after, punctuation)) {
      out.push(run, JOINER); // `after` is the punctuation that kept the run from opening
    } else if (punctuation && opensOnlyAmended(after, before, punctuation) && !underscores.closesAt(i)) {
      out.push(JOINER, run); // and `before` the one that kept it from closing
    } else {
      out.push(run);
    }
    i = end;
  }
  return out.join('');
}

/** Where the run of `*`, `_` or `~` at `start` ends; just past `start` for any other character. */
function runEnd(chars: string[], start: number): number {
  let end = start + 1;
  if ('*_~'.includes(chars[start])) {
    while (chars[end] === chars[start]) {
      end++;
    }
  }
  return end;
}

/**
 * The `_` runs of a text that close emphasis, to keep a joiner from taking that from one: marked closes a `_` run
 * only before space or punctuation, and a joiner stands for a letter. (A `_` run after a joiner still opens: marked
 * asks only that the character before it not be a letter or digit.) So no joiner goes in after a `_` run that can
 * close, by CommonMark's rules (the amendment's give the same for `_`), where a `_` run before it can open.
 */
class UnderscoreClosers {
  private readonly closing = new Set<number>(); // the ends (just past the last character) of runs that can close
  private readonly firstOpener: number = Infinity; // where the first run that can open ends

  constructor(chars: string[]) {
    for (let i = 0; i < chars.length; i = runEnd(chars, i)) {
      if (chars[i] !== '_' || chars[i - 1] === '\\') {
        continue; // an escaped `_` is text (rarely, after an escaped backslash, a run read as text here)
      }
      const end = runEnd(chars, i);
      const before = chars[i - 1] ?? ' ';
      const after = chars[end] ?? ' ';
      const [spaceBefore, spaceAfter] = [SPACE.test(before), SPACE.test(after)];
      const [punctBefore, punctAfter] = [PUNCTUATION.test(before), PUNCTUATION.test(after)];
      const left = !spaceAfter && (!punctAfter || spaceBefore || punctBefore);
      const right = !spaceBefore && (!punctBefore || spaceAfter || punctAfter);
      if (left && (!right || punctBefore)) {
        this.firstOpener = Math.min(this.firstOpener, end);
      }
      if (right && (!left || punctAfter)) {
        this.closing.add(end);
      }
    }
  }

  /** Whether a `_` run ending at `at` can close emphasis that an earlier `_` run opens. */
  closesAt(at: number): boolean {
    return this.closing.has(at) && this.firstOpener < at;
  }
}

/**
 * Whether a run between `before` and `after` is left-flanking (may open) under the amendment but not under
 * CommonMark; with the two swapped, the same for right-flanking (may close). CommonMark: not followed by space,
 * and not followed by punctuation unless preceded by space or punctuation. The amendment: a CJK character on
 * either side counts as neither blocking punctuation after the run nor as a letter before it.
 */
function opensOnlyAmended(before: string, after: string, punctuation: RegExp): boolean {
  if (SPACE.test(after) || !punctuation.test(after) || SPACE.test(before) || punctuation.test(before)) {
    return false; // CommonMark lets it open already, or nothing does
  }
  return CJK.test(after) || CJK.test(before);
}

/** `text` without the word joiners `cjkFriendlyEmphasis` put in (and any the model wrote: they show nothing). */
export function withoutJoiners(text: string): string {
  return text.includes(JOINER) ? text.split(JOINER).join('') : text;
}

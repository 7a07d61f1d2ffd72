/**
 * Emphasis that reads Chinese, Japanese and Korean right under JupyterLab's markdown renderer (marked), as the
 * Python renderer has it (`glm_nb.render.markdown_cjk`, the CommonMark CJK-friendly amendment:
 * github.com/tats-u/markdown-cjk-friendly). No DOM here, so `node --test` runs it as it is.
 *
 * Plain CommonMark leaves `**注意：**这是` as literal asterisks: a run after punctuation and before a letter cannot
 * close. JupyterLab's parser is shared by every notebook and takes no extension from us, so the source is changed
 * instead: where the amendment lets a `*` run open or close and CommonMark does not, a word joiner (U+2060: neither
 * space nor punctuation to marked, and invisible) goes between the run and the punctuation that blocks it. The
 * renderer removes every word joiner once the markdown is drawn (`withoutJoiners`), so none stays on the page,
 * in code that one landed in either. The source stays untrusted text; it is sanitized after this as before.
 * Only `*` runs: a `_` run's rules would still refuse, and `~` is not emphasis.
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
const SPACE = /[\t-\r \u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]/; // markdown-it's `isWhiteSpace`

/** `source` with a word joiner wherever it lets a `*` run open or close as the CJK-friendly amendment does. */
export function cjkFriendlyEmphasis(source: string): string {
  if (!CJK.test(source)) {
    return source; // the amendment changes nothing without a CJK character
  }
  const chars = Array.from(source); // by code point: CJK Extension B and on are two UTF-16 units
  const out: string[] = [];
  let i = 0;
  while (i < chars.length) {
    if (chars[i] === '\\') {
      out.push(chars[i], chars[i + 1] ?? ''); // an escaped `*` is text, not a run
      i += 2;
      continue;
    }
    if (chars[i] !== '*') {
      out.push(chars[i]);
      i++;
      continue;
    }
    let end = i;
    while (chars[end] === '*') {
      end++;
    }
    const before = chars[i - 1] ?? ' '; // the start and end of the text count as space
    const after = chars[end] ?? ' ';
    const run = chars.slice(i, end).join('');
    if (opensOnlyAmended(before, after)) {
      out.push(run, JOINER); // `after` is the punctuation that kept the run from opening
    } else if (opensOnlyAmended(after, before)) {
      out.push(JOINER, run); // and `before` the one that kept it from closing
    } else {
      out.push(run);
    }
    i = end;
  }
  return out.join('');
}

/**
 * Whether a run between `before` and `after` is left-flanking (may open) under the amendment but not under
 * CommonMark; with the two swapped, the same for right-flanking (may close). CommonMark: not followed by space,
 * and not followed by punctuation unless preceded by space or punctuation. The amendment: a CJK character on
 * either side counts as neither blocking punctuation after the run nor as a letter before it.
 */
function opensOnlyAmended(before: string, after: string): boolean {
  if (SPACE.test(after) || !PUNCTUATION.test(after) || SPACE.test(before) || PUNCTUATION.test(before)) {
    return false; // CommonMark lets it open already, or nothing does
  }
  return CJK.test(after) || CJK.test(before);
}

/** `text` without the word joiners `cjkFriendlyEmphasis` put in (and any the model wrote: they show nothing). */
export function withoutJoiners(text: string): string {
  return text.includes(JOINER) ? text.split(JOINER).join('') : text;
}

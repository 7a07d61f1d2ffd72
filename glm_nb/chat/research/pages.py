"""Pages for the research loop: read local documents (.md, .txt, .html, .ipynb) and, through a fetcher the user
supplies, web pages. The main text is what `click` and `open` return to the model (FORMAT.md, "GLM-Z1-Rumination":
"click/open return the page's main text").

Nothing here touches the network by itself: a URL is opened only by calling the `fetch` callable the user passed
(e.g. `lambda url: httpx.get(url).text`); without one, opening a URL is an error the model reads. Local paths are
opened only inside the folders the user allowed (by default, the corpus folder), so a model cannot read
arbitrary files.
"""

from __future__ import annotations

import codecs
import json
import os
import re
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlparse

from ..errors import ChatError

__all__ = [
    "DOCUMENT_SUFFIXES", "MAX_DOCUMENT_BYTES", "Fetcher", "Page", "PageError", "html_to_text", "open_page",
    "open_regular_file", "read_document", "resolve_path",
]  # fmt: skip

DOCUMENT_SUFFIXES = (".md", ".markdown", ".txt", ".html", ".htm", ".ipynb")
# A document is read whole (and a corpus indexes every word of it, ~18x its size in memory): a stray multi-GB log
# in the folder would take the kernel's memory. Larger files are skipped, saying so; a fetched page is cut.
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
Fetcher = Callable[[str], str]  # url -> the page's HTML or text


class PageError(ChatError):
    """A page cannot be opened (no fetcher, outside the allowed folders, unreadable). The research loop shows the
    message to the model, which can try something else."""


@dataclass(frozen=True)
class Page:
    url: str
    title: str
    text: str


def read_document(path: Path, max_bytes: int = MAX_DOCUMENT_BYTES) -> Page:
    """A local document's title and text, by its suffix; one over `max_bytes` is refused. A notebook counts by
    the text of its cells (its outputs, images among them, are not read), so its file may be larger."""
    notebook = path.suffix.lower() == ".ipynb"
    try:
        with open_regular_file(path) as file:
            size = os.fstat(file.fileno()).st_size
            if size > max_bytes * (_NOTEBOOK_OUTPUTS if notebook else 1):
                raise _too_large(path, size, max_bytes)
            raw = _decode(file.read(), path)
    except OSError as e:
        raise PageError(f"cannot read {path}: {e.strerror or e}") from e
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        title, text = html_to_text(raw)
    elif notebook:
        title, text = _notebook_text(raw)
        if len(text.encode()) > max_bytes:
            raise _too_large(path, len(text.encode()), max_bytes, "of text in its cells")
    else:
        title, text = _markdown_title(raw), raw.strip()
    return Page(path.resolve().as_uri(), title or path.stem, text)


def open_regular_file(path: Path) -> BinaryIO:
    """`path` (a link followed) open for reading in binary, if it is a regular file; a named pipe, a device or a
    socket is a PageError. Opened without blocking and then checked (`fstat`), so that a pipe, which `open` and
    `read` would wait on forever for a writer, is refused, and nothing can be put in the file's place in between."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise PageError(
                f"{path} is a pipe, device or socket, not a document file; put the document itself there."
            )
        return os.fdopen(fd, "rb")  # O_NONBLOCK changes nothing for a regular file's reads
    except BaseException:
        os.close(fd)
        raise


_NOTEBOOK_OUTPUTS = 16  # a notebook file may be this many times the limit: its outputs (plots) are not read


def _too_large(path: Path, size: int, limit: int, what: str = "") -> PageError:
    return PageError(
        f"{path.name} is too large to read ({_mib(size)}{' ' + what if what else ''}; documents over "
        f"{_mib(limit)} are left out). Split it into smaller files, or raise the limit with "
        "Rumination(search=LocalCorpus(folder, max_document_bytes=...))."
    )


def open_page(
    target: str,
    *,
    fetch: Fetcher | None,
    roots: Sequence[Path],
    suffixes: Sequence[str] = DOCUMENT_SUFFIXES,
    max_bytes: int = MAX_DOCUMENT_BYTES,
) -> Page:
    """Open a file URI, a local document (one of `suffixes`) inside `roots`, or a URL / domain through `fetch`.
    A local file over `max_bytes` is refused; a fetched page is cut to that many characters."""
    target = target.strip()
    parsed = urlparse(target)
    if parsed.scheme == "file":
        return _open_local(Path(unquote(parsed.path)), roots, suffixes, max_bytes)
    if parsed.scheme not in ("http", "https"):
        local = Path(target).expanduser()
        candidates = [local] if local.is_absolute() else [root / local for root in roots]
        for candidate in candidates:
            # A path outside the folders is refused before looking at it, so even whether it exists is not told.
            if not _inside(candidate, roots) or candidate.exists():
                return _open_local(candidate, roots, suffixes, max_bytes)
        # "docs/x.md" is a path; so is "x.md" when there is no web to ask for a site of that name
        looks_local = fetch is None and Path(target).suffix.lower() in suffixes
        if looks_local or ("/" in target and "." not in target.split("/")[0]):
            raise PageError(f"no document {target!r} in the corpus; search first, then click a result.")
        target = f"https://{target}"  # "example.com" or "example.com/page": FORMAT.md's open takes domains too
    if fetch is None:
        raise PageError(
            f"cannot open {target}: this research session has no web access (no fetcher). Use search and click."
        )
    try:
        content = fetch(target)
    except Exception as e:  # the user's fetcher: whatever it raises is reported to the model, not to the user
        raise PageError(f"fetching {target} failed: {type(e).__name__}: {e}") from e
    content = _fetched_text(content, target)[:max_bytes]
    if re.search(r"<(html|body|p|div|title)\b", content[:5000], re.IGNORECASE):
        title, text = html_to_text(content)
    else:
        title, text = "", content.strip()
    return Page(target, title or target, text)


def _fetched_text(content: object, url: str) -> str:
    """What the user's fetcher returned, as text: a str; bytes decoded; a `requests` or `httpx` response given whole
    (`lambda url: httpx.get(url)`, `.text` left out) read by its `.text`. Anything else is refused, not read as its
    `str` (the model would read "None" or "<Response [200]>" as the page)."""
    if isinstance(content, str):
        return content
    if isinstance(content, (bytes, bytearray)):  # a fetcher that returned the response's bytes
        return _text(bytes(content))
    text = getattr(content, "text", None)
    if isinstance(text, str):
        return text
    raise PageError(
        f"fetching {url} gave {type(content).__name__}, not the page's text: the research's fetcher must return "
        "a str (e.g. fetch=lambda url: httpx.get(url).text)."
    )


def _open_local(path: Path, roots: Sequence[Path], suffixes: Sequence[str], max_bytes: int) -> Page:
    resolved = resolve_path(path)
    if not _inside(resolved, roots):
        raise PageError(f"{path} is outside the folders this research may read.")
    if resolved.suffix.lower() not in suffixes:  # not .env, keys, binaries... that sit in the same folder
        raise PageError(f"{path} is not a document this research reads ({', '.join(suffixes)}).")
    if not resolved.is_file():
        raise PageError(f"{path} does not exist.")
    return read_document(resolved, max_bytes)


def _mib(n: int) -> str:
    """Sizes as the limit is given (16 MiB): 16000 -> '15.6 KiB'."""
    if n < 1024:
        return f"{n} bytes"
    return f"{n / 1024:.1f} KiB" if n < 1024**2 else f"{n / 1024**2:.1f} MiB"


def _inside(path: Path, roots: Sequence[Path]) -> bool:
    resolved = resolve_path(path)
    return any(resolved.is_relative_to(root.resolve()) for root in roots)


def resolve_path(path: Path) -> Path:
    """`path` with `~` and links resolved; a link loop (which Python < 3.13 raises RuntimeError for) is a
    PageError, as any other file that cannot be read."""
    try:
        return path.expanduser().resolve()
    except (RuntimeError, OSError) as e:
        raise PageError(f"{path} is a link that leads back to itself (a loop), not a document.") from e


def _decode(data: bytes, path: Path) -> str:
    """A document's text (see `_text`); binary data is refused. UTF-16 with its byte-order mark (Notepad's
    "Unicode") is text, though its ASCII characters hold zero bytes."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass  # not UTF-16 after all: judged as any other file
    if b"\0" in data[:8192]:
        raise PageError(f"{path} is binary, not text.")
    return _text(data)


def _text(data: bytes) -> str:
    """UTF-8 (a byte-order mark dropped); else the charset an HTML `<meta>` declares; else GBK, Chinese Windows'
    encoding, when the bytes read as Chinese text (`_chinese`); else Windows-1252 (older Western text files)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    for text in (_declared(data), _chinese(data)):
        if text is not None:
            return text
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("utf-8", errors="replace")


# As browsers find it (the HTML standard's prescan): `<meta charset=...>` or `<meta http-equiv content="...;
# charset=...">`, in the first 1024 bytes.
_META_CHARSET = re.compile(rb"""<meta\s[^>]*?charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)
# The WHATWG Encoding standard reads these labels with a GBK decoder (GB18030 is its superset); pages labelled
# gb2312 routinely hold characters only GBK has.
_GBK_LABELS = {"gb2312", "gb_2312", "gb_2312-80", "gbk", "x-gbk", "chinese", "csgb2312", "iso-ir-58"}
_WINDOWS_1252_LABELS = {"iso-8859-1", "iso8859-1", "latin1", "l1", "us-ascii", "ascii"}  # likewise
# What a page may declare: the encodings of the web (WHATWG's list, as Python names them). A label naming any other
# Python codec (unicode_escape, punycode, utf-7, ...) is read as undeclared: untrusted bytes pick no codec of ours.
_WEB_CODECS = frozenset(
    codecs.lookup(name).name
    for name in (
        "utf-8", "gb18030", "big5", "shift_jis", "euc_jp", "iso2022_jp", "euc_kr", "koi8_r", "koi8_u", "cp866",
        "mac_roman", "mac_cyrillic", *(f"iso8859_{n}" for n in (2, 3, 4, 5, 6, 7, 8, 10, 13, 14, 15, 16)),
        *(f"cp{n}" for n in range(1250, 1259)), "cp874",
    )
)  # fmt: skip


def _declared(data: bytes) -> str | None:
    match = _META_CHARSET.search(data[:1024])
    if match is None:
        return None
    label = match.group(1).decode("ascii", "replace").lower()
    if label.startswith("utf-16"):  # bytes that spell out a <meta> are not UTF-16: browsers ignore the label too
        return None
    try:
        codec = "gb18030" if label in _GBK_LABELS else "cp1252" if label in _WINDOWS_1252_LABELS else label
        if codecs.lookup(codec).name not in _WEB_CODECS:
            return None
        return data.decode(codec)
    except (LookupError, UnicodeDecodeError):  # an unknown label, or bytes not in it: read on as undeclared
        return None


def _chinese(data: bytes) -> str | None:
    """`data` as GB18030 (GBK's superset) if it reads as Chinese: no invalid byte, and most characters beyond
    ASCII among GB2312's common ones. Western Windows-1252 text can decode too (an accented letter and the next
    letter make a pair), but into rare characters."""
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        return None
    ascii_chars = len(text.encode("ascii", "ignore"))
    common = (len(text.encode("gb2312", "ignore")) - ascii_chars) // 2  # two bytes each
    return text if common * 2 > len(text) - ascii_chars else None


def _markdown_title(text: str) -> str:
    match = re.search(r"^#\s+(.+?)\s*#*\s*$", text, re.MULTILINE)
    return match.group(1) if match else ""


def _notebook_text(raw: str) -> tuple[str, str]:
    try:
        cells = json.loads(raw).get("cells", [])
    except (ValueError, AttributeError, RecursionError) as e:
        raise PageError(f"not a readable notebook: {e}") from e
    if not isinstance(cells, list):
        raise PageError("not a readable notebook: its 'cells' is not a list.")
    parts, title = [], ""
    for cell in cells:
        if not isinstance(cell, dict):
            continue  # not a cell: nothing to read in it
        source = cell.get("source", "")
        source = "".join(map(str, source)) if isinstance(source, list) else str(source)
        if cell.get("cell_type") == "markdown" and not title:
            title = _markdown_title(source)
        if source.strip():
            parts.append(source.strip())
    return title, "\n\n".join(parts)


class _TextExtractor(HTMLParser):
    # Not "head": its text is only the <title>, and a page whose </head> is left out (HTML allows it) would lose
    # its whole body. A <title> inside a skipped element (an <svg> icon's) is not the page's title.
    _SKIP = {"script", "style", "noscript", "template", "svg"}
    _BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "pre", "table"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self._skipping = 0
        self._in_title = False  # inside the page's <title>
        self._titles = 0  # inside any <title>: its text is never body text

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "title":
            self._titles += 1
            self._in_title = not self._skipping and not self.title
        elif tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._titles = max(0, self._titles - 1)
            self._in_title = False
        elif tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        elif not self._skipping and not self._titles:
            self.parts.append(data)


def html_to_text(html: str) -> tuple[str, str]:
    """(title, main text) of an HTML page: scripts, styles and markup dropped, blocks kept as paragraphs."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = (re.sub(r"[ \t\r\f\v\xa0]+", " ", line).strip() for line in "".join(parser.parts).split("\n"))
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return " ".join("".join(parser.title).split()), text

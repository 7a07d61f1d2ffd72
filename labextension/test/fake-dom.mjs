// A stand-in for the little of the DOM the transcript view (src/render.ts) uses, so that `node --test` can draw
// with it: elements, text nodes, attributes, `<details>`, simple selectors (tag names, `*`, `tag[attribute]`,
// lists of them), a text-node walker, event listeners, the focus. Not a browser: what it draws is compared with
// itself, never with a page. `installFakeDom()` puts `document` and the few globals the view reads on `globalThis`.

class FakeNode {
  constructor(ownerDocument) {
    this.ownerDocument = ownerDocument;
    this.parentNode = null;
    this.childNodes = [];
  }

  appendChild(child) {
    child.parentNode?.removeChild(child);
    child.parentNode = this;
    this.childNodes.push(child);
    return child;
  }

  append(...children) {
    children.forEach(child => this.appendChild(child));
  }

  removeChild(child) {
    this.childNodes = this.childNodes.filter(node => node !== child);
    child.parentNode = null;
    const doc = this.ownerDocument;
    if (doc?.activeElement && child.contains(doc.activeElement)) {
      doc.activeElement = doc.body; // as a browser does when the focused element leaves the page
    }
    return child;
  }

  remove() {
    this.parentNode?.removeChild(this);
  }

  replaceWith(...others) {
    const parent = this.parentNode;
    others.forEach(other => other.parentNode?.removeChild(other));
    parent.childNodes.splice(parent.childNodes.indexOf(this), 1, ...others);
    others.forEach(other => (other.parentNode = parent));
    this.parentNode = null;
    const doc = this.ownerDocument;
    if (doc?.activeElement && this.contains(doc.activeElement)) {
      doc.activeElement = doc.body;
    }
  }

  replaceChildren(...children) {
    this.childNodes.forEach(child => (child.parentNode = null));
    this.childNodes = [];
    this.append(...children);
  }

  contains(node) {
    for (let at = node; at; at = at.parentNode) {
      if (at === this) {
        return true;
      }
    }
    return false;
  }

  get textContent() {
    return this.childNodes.map(child => child.textContent).join('');
  }

  set textContent(text) {
    this.replaceChildren(this.ownerDocument.createTextNode(String(text)));
  }

  /** Every element under this node, in document order. */
  descendants() {
    return this.childNodes.flatMap(child => (child instanceof FakeElement ? [child, ...child.descendants()] : []));
  }

  querySelectorAll(selector) {
    const alternatives = selector.split(',').map(part => parseSelector(part.trim()));
    return this.descendants().filter(node => alternatives.some(matches => matches(node)));
  }

  querySelector(selector) {
    return this.querySelectorAll(selector)[0] ?? null;
  }
}

function parseSelector(text) {
  const parsed = /^([a-z0-9]*|\*)(?:\[([\w-]+)\])?$/i.exec(text);
  if (!parsed) {
    throw new Error(`the fake DOM reads no selector like ${text}`);
  }
  const [, tag, attribute] = parsed;
  return node =>
    (tag === '' || tag === '*' || node.localName === tag.toLowerCase()) &&
    (!attribute || node.hasAttribute(attribute));
}

class FakeText extends FakeNode {
  constructor(ownerDocument, text) {
    super(ownerDocument);
    this.nodeValue = text;
  }

  get textContent() {
    return this.nodeValue;
  }

  set textContent(text) {
    this.nodeValue = String(text);
  }

  clone() {
    return new FakeText(this.ownerDocument, this.nodeValue);
  }
}

class FakeElement extends FakeNode {
  constructor(ownerDocument, tag) {
    super(ownerDocument);
    this.localName = tag.toLowerCase();
    this.tagName = tag.toUpperCase();
    this.attributes = new Map();
    this.dataset = {};
    this.style = {};
    this.listeners = [];
  }

  get className() {
    return this.getAttribute('class') ?? '';
  }

  set className(value) {
    this.setAttribute('class', value);
  }

  get classList() {
    const classes = this.className.split(/\s+/).filter(Boolean);
    classes.contains = name => classes.includes(name);
    return classes;
  }

  get parentElement() {
    return this.parentNode instanceof FakeElement ? this.parentNode : null;
  }

  get isConnected() {
    return this.ownerDocument.contains(this);
  }

  closest(tag) {
    for (let at = this; at; at = at.parentElement) {
      if (at.localName === tag) {
        return at;
      }
    }
    return null;
  }

  setAttribute(name, value) {
    this.attributes.set(name, String(value));
  }

  getAttribute(name) {
    return this.attributes.get(name) ?? null;
  }

  hasAttribute(name) {
    return this.attributes.has(name);
  }

  removeAttribute(name) {
    this.attributes.delete(name);
  }

  getAttributeNames() {
    return [...this.attributes.keys()];
  }

  addEventListener(type, listener) {
    this.listeners.push({ type, listener });
  }

  /** Calls this element's listeners for `event.type`, then (`bubbles`) its parents'; false if one prevented it. */
  dispatchEvent(event) {
    event.target ??= this;
    event.preventDefault ??= () => (event.defaultPrevented = true);
    event.stopPropagation ??= () => (event.stopped = true);
    this.listeners.filter(({ type }) => type === event.type).forEach(({ listener }) => listener(event));
    if (event.bubbles && !event.stopped && this.parentNode instanceof FakeElement) {
      this.parentNode.dispatchEvent(event);
    }
    return !event.defaultPrevented;
  }

  click() {
    this.focus();
    this.dispatchEvent({ type: 'click', bubbles: true });
  }

  focus() {
    this.ownerDocument.activeElement = this;
  }

  select() {
    this.focus();
  }

  clone(deep) {
    const copy = this.ownerDocument.createElement(this.localName);
    this.attributes.forEach((value, name) => copy.setAttribute(name, value));
    Object.assign(copy.dataset, this.dataset);
    copy.open = this.open;
    if (deep) {
      this.childNodes.forEach(child => copy.appendChild(child.clone(true)));
    }
    return copy;
  }
}

class FakeDetails extends FakeElement {
  constructor(ownerDocument) {
    super(ownerDocument, 'details');
    this.open = false;
  }
}

class FakeDocument extends FakeNode {
  constructor() {
    super(null);
    this.ownerDocument = this;
    this.baseURI = 'http://localhost:8888/lab';
    this.implementation = { createHTMLDocument: () => new FakeDocument() };
    this.body = this.appendChild(this.createElement('body'));
    this.activeElement = this.body;
    this.copied = []; // what `execCommand('copy')` copied, in order
  }

  execCommand(command) {
    const area = this.activeElement;
    if (command !== 'copy' || area?.localName !== 'textarea') {
      return false;
    }
    this.copied.push(area.value);
    return true;
  }

  createElement(tag) {
    return tag.toLowerCase() === 'details' ? new FakeDetails(this) : new FakeElement(this, tag);
  }

  createTextNode(text) {
    return new FakeText(this, text);
  }

  importNode(node, deep) {
    const copy = node.clone(deep);
    adopt(copy, this);
    return copy;
  }

  createTreeWalker(root) {
    const texts = [];
    const visit = node =>
      node.childNodes.forEach(child => (child instanceof FakeText ? texts.push(child) : visit(child)));
    visit(root);
    return { nextNode: () => texts.shift() ?? null };
  }
}

function adopt(node, doc) {
  node.ownerDocument = doc;
  node.childNodes.forEach(child => adopt(child, doc));
}

/** An element and what is under it as one string: tags, attributes, dataset, `open`, and text. */
export function serialize(node) {
  if (node instanceof FakeText) {
    return JSON.stringify(node.nodeValue);
  }
  const attributes = [...node.attributes].map(([name, value]) => `${name}=${JSON.stringify(value)}`);
  const data = Object.entries(node.dataset).map(([name, value]) => `data.${name}=${JSON.stringify(value)}`);
  const open = node instanceof FakeDetails ? [`open=${node.open}`] : [];
  const head = [node.localName, ...attributes, ...data, ...open].join(' ');
  return `<${head}>${node.childNodes.map(serialize).join('')}</${node.localName}>`;
}

/** A `MutationObserver` told of nothing the DOM does: a test hands it records (`notifyObservers`). */
class FakeMutationObserver {
  static all = [];

  constructor(callback) {
    this.callback = callback;
    FakeMutationObserver.all.push(this);
  }

  observe(node) {
    this.node = node;
  }
}

/** Calls each observer that watches `node` or a parent of it with `records`. */
export function notifyObservers(node, records) {
  FakeMutationObserver.all.filter(observer => observer.node?.contains(node)).forEach(o => o.callback(records));
}

/** An event as `new CustomEvent(type, { bubbles, cancelable, detail })` makes it. */
class FakeCustomEvent {
  constructor(type, init = {}) {
    Object.assign(this, { type, bubbles: false, cancelable: false, detail: null, defaultPrevented: false }, init);
  }

  preventDefault() {
    this.defaultPrevented = this.defaultPrevented || this.cancelable;
  }

  stopPropagation() {
    this.stopped = true;
  }
}

/**
 * Puts a fresh fake `document` (and `NodeFilter`, `HTMLDetailsElement`, `CustomEvent`) on `globalThis`, and a
 * `navigator` with no clipboard API, as a page served over plain http has.
 */
export function installFakeDom() {
  globalThis.document = new FakeDocument();
  globalThis.NodeFilter = { SHOW_TEXT: 4 };
  globalThis.HTMLDetailsElement = FakeDetails;
  globalThis.CustomEvent = FakeCustomEvent;
  globalThis.MutationObserver = FakeMutationObserver;
  // Node has a `navigator` of its own (with no clipboard either), which a plain assignment cannot replace
  Object.defineProperty(globalThis, 'navigator', { value: { appName: 'node' }, configurable: true });
  globalThis.window ??= { setTimeout, clearTimeout };
  return globalThis.document;
}

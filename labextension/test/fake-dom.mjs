// A stand-in for the little of the DOM the transcript view (src/render.ts) uses, so that `node --test` can draw
// with it: elements, text nodes, attributes, `<details>`, simple selectors (tag names, `*`, `tag[attribute]`,
// lists of them), a text-node walker. Not a browser: what it draws is compared with itself, never with a page.
// `installFakeDom()` puts `document` and the few globals the view reads on `globalThis`.

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
    return child;
  }

  remove() {
    this.parentNode?.removeChild(this);
  }

  replaceWith(other) {
    const parent = this.parentNode;
    other.parentNode?.removeChild(other);
    parent.childNodes[parent.childNodes.indexOf(this)] = other;
    other.parentNode = parent;
    this.parentNode = null;
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
    return this.className.split(/\s+/).filter(Boolean);
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

/** Puts a fresh fake `document` (and `NodeFilter`, `HTMLDetailsElement`) on `globalThis`. */
export function installFakeDom() {
  globalThis.document = new FakeDocument();
  globalThis.NodeFilter = { SHOW_TEXT: 4 };
  globalThis.HTMLDetailsElement = FakeDetails;
  return globalThis.document;
}

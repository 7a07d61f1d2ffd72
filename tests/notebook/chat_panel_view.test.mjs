// The ChatPanel view (glm_nb/widget/chat_panel.js) against a fake anywidget model and a minimal fake DOM.
// Run by tests/notebook/test_chat_panel_view.py through `node --test`.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

class FakeElement {
  constructor(tag) {
    Object.assign(this, { tagName: tag, children: [], className: "", textContent: "", innerHTML: "", value: "" });
    Object.assign(this, { disabled: false, scrollTop: 0, scrollHeight: 100, clientHeight: 100, removed: false });
    this.listeners = {};
  }
  append(...nodes) {
    for (const node of nodes) node.parent?.detach(node);
    for (const node of nodes) node.parent = this;
    this.children.push(...nodes);
  }
  replaceChildren(...nodes) { this.children = []; this.append(...nodes); }
  detach(node) { this.children = this.children.filter((c) => c !== node); }
  addEventListener(name, fn) { (this.listeners[name] ??= []).push(fn); }
  removeEventListener(name, fn) { this.listeners[name] = (this.listeners[name] || []).filter((f) => f !== fn); }
  dispatch(name, event = {}) {
    const full = {
      preventDefault() { this.prevented = true; }, stopPropagation() { this.stopped = true; }, ...event,
    };
    for (const fn of this.listeners[name] || []) fn(full);
    return full;
  }
  click() { this.dispatch("click"); }
  focus() { document.activeElement = this; }
  remove() { this.removed = true; this.parent?.detach(this); this.parent = null; }
  all() { return [this, ...this.children.flatMap((c) => (c instanceof FakeElement ? c.all() : []))]; }
  find(predicate) { return this.all().find(predicate); }
}

globalThis.document = { createElement: (tag) => new FakeElement(tag), activeElement: null };
globalThis.CSS = { escape: (text) => text };
const windowListeners = [];
globalThis.addEventListener = (name, fn) => windowListeners.push([name, fn]);
globalThis.removeEventListener = (name, fn) => {
  const at = windowListeners.findIndex(([n, f]) => n === name && f === fn);
  if (at >= 0) windowListeners.splice(at, 1);
};
FakeElement.prototype.querySelector = function (selector) {
  const id = selector.replace(/^iframe#/, "");
  return this.frames?.[id] ?? null;
};
FakeElement.prototype.querySelectorAll = function (selector) {
  if (selector !== "details") return this.runButtons ?? [];
  // <details> sections, as a browser parses them from each node's HTML (made once per node, as the DOM's are)
  return this.all().flatMap((n) => (n.details ??= [...n.innerHTML.matchAll(/<details[^>]*>/g)]
    .map((m) => ({ open: /\sopen\b/.test(m[0]) }))));
};
FakeElement.prototype.setAttribute = function (name, value) { (this.attributes ??= {})[name] = value; };

class FakeModel {
  constructor(state) { Object.assign(this, { state, sent: [], saved: 0, handlers: {} }); }
  get(name) { return this.state[name]; }
  set(name, value) {  // as Backbone's set: the view's own change is drawn too; `writes` what the view set
    this.writes = [...(this.writes ?? []), name];
    this.change(name, value);
  }
  save_changes() { this.saved += 1; }
  send(message) { this.sent.push(message); }
  on(events, fn) { for (const e of events.split(" ")) (this.handlers[e] ??= []).push(fn); }
  off(events, fn) {
    for (const e of events.split(" ")) this.handlers[e] = (this.handlers[e] || []).filter((f) => f !== fn);
  }
  change(name, value) { this.state[name] = value; for (const fn of this.handlers["change:" + name] || []) fn(); }
  custom(message) { for (const fn of this.handlers["msg:custom"] || []) fn(message, []); }
  handlerCount() { return Object.values(this.handlers).reduce((n, list) => n + list.length, 0); }
}

const source = readFileSync(new URL("../../glm_nb/widget/chat_panel.js", import.meta.url), "utf8");
const { default: view } = await import("data:text/javascript," + encodeURIComponent(source));

function fakeModel(overrides = {}) {
  return new FakeModel({
    turns: [], live: {}, busy: false, variant: "chat", temperature: 0.6, max_tokens: 1024, system: "",
    drop_old_turns: false, tokens_per_s: 0, status: "", model_name: "", live_prompt: "", ...overrides,
  });
}

function mount(overrides = {}, model = fakeModel(overrides)) {
  const el = new FakeElement("div");
  const dispose = view.render({ model, el });
  model.sent = model.sent.filter((m) => m.type !== "view");  // the view's hello (its own test below)
  const pick = (tag, text) => el.find((n) => n.tagName === tag && (text === undefined || n.textContent === text));
  return { model, el, dispose, pick };
}

// The kernel's update for a streaming turn: its message once (live_prompt), its html with each token (live).
function stream(model, prompt, html) {
  if (model.get("live_prompt") !== prompt) model.change("live_prompt", prompt);
  model.change("live", { html });
}

const replies = (el) => el.all().filter((n) => n.className === "glm-nb-reply");

test("turns and the streaming turn are drawn from the model's HTML", () => {
  const { model, el } = mount({ turns: [{ prompt: "Hi", html: "<p>Hello</p>" }] });
  stream(model, "More", "<p>Stre</p>");
  const replies = el.all().filter((n) => n.className === "glm-nb-reply").map((n) => n.innerHTML);
  const prompts = el.all().filter((n) => n.className === "glm-nb-you").map((n) => n.textContent);
  assert.deepEqual(replies, ["<p>Hello</p>", "<p>Stre</p>"]);
  assert.deepEqual(prompts, ["Hi", "More"]);  // the user's text is set as text, never as HTML
});

test("Enter sends and the box empties once the kernel takes it; Shift+Enter does not send", () => {
  const { model, pick } = mount();
  const input = pick("textarea");
  input.value = "line one";
  const shifted = input.dispatch("keydown", { key: "Enter", shiftKey: true });
  assert.equal(model.sent.length, 0);
  assert.equal(shifted.prevented, undefined);
  const plain = input.dispatch("keydown", { key: "Enter", shiftKey: false });
  assert.deepEqual(model.sent, [{ type: "send", text: "line one", view: model.sent[0].view }]);
  assert.match(model.sent[0].view, /^[a-z0-9]+$/);
  assert.equal(plain.prevented, true);
  assert.equal(input.value, "line one");  // kept until the kernel says it took it: a refused message is not lost
  model.custom({ type: "accepted", text: "line one" });
  assert.equal(input.value, "");
});

test("the Enter that picks a Chinese IME candidate does not send, also as Safari reports it", () => {
  const { model, pick } = mount();
  const input = pick("textarea");
  input.value = "北京";
  const composing = input.dispatch("keydown", { key: "Enter", isComposing: true, keyCode: 229 });
  // Safari ends the composition before this keydown: isComposing is false, keyCode 229 says an IME took the key
  const safari = input.dispatch("keydown", { key: "Enter", isComposing: false, keyCode: 229 });
  assert.deepEqual(model.sent, []);
  assert.equal(composing.prevented, undefined);
  assert.equal(safari.prevented, undefined);
  input.dispatch("keydown", { key: "Enter", isComposing: false, keyCode: 13 });
  assert.deepEqual(model.sent.map(({ type, text }) => ({ type, text })), [{ type: "send", text: "北京" }]);
});

test("while busy Send is disabled and Stop sends stop", () => {
  const { model, pick } = mount();
  assert.equal(pick("button", "Stop").disabled, true);
  model.change("busy", true);
  assert.equal(pick("button", "Send").disabled, true);
  assert.equal(pick("button", "Stop").disabled, false);
  pick("button", "Stop").click();
  pick("textarea").value = "ignored while busy";
  pick("button", "Send").click();
  assert.deepEqual(model.sent, [{ type: "stop" }]);
});

test("settings write their traits back to the kernel", () => {
  const { model, pick } = mount();
  const select = pick("select");
  select.value = "z1";
  select.dispatch("change");
  assert.equal(model.get("variant"), "z1");
  assert.ok(model.saved >= 1);
});

test("the Drop old turns box writes its trait and shows the kernel's value", () => {
  const { model, el } = mount();
  const box = el.find((n) => n.tagName === "input" && n.type === "checkbox");
  assert.equal(box.checked, false);
  box.checked = true;
  box.dispatch("change");
  assert.equal(model.get("drop_old_turns"), true);
  model.change("drop_old_turns", false);  // set from Python: panel.drop_old_turns = False
  assert.equal(box.checked, false);
});

test("live speed and status are shown", () => {
  const { model, el } = mount({ model_name: "nano-GLM" });
  model.change("tokens_per_s", 42.25);
  model.change("status", "A reply is still streaming");
  assert.equal(el.find((n) => n.className === "glm-nb-speed").textContent, "nano-GLM · 42.3 tok/s");
  assert.equal(el.find((n) => n.className === "glm-nb-status").textContent, "A reply is still streaming");
});

test("clear and export send their messages", () => {
  const { model, pick } = mount();
  pick("button", "Clear").click();
  pick("button", "Export").click();
  assert.deepEqual(model.sent, [{ type: "clear" }, { type: "export" }]);
});

test("the cleanup removes every listener and the view", () => {
  const { model, el, dispose } = mount();
  const input = el.find((n) => n.tagName === "textarea");
  const root = el.children[0];
  assert.ok(model.handlerCount() > 0);
  dispose();
  assert.equal(model.handlerCount(), 0);
  assert.equal(Object.values(input.listeners).flat().length, 0);
  assert.equal(root.removed, true);
  assert.deepEqual(el.children, []);
});

test("an HTML artifact's frame is sized only by a message from that frame", () => {
  const before = windowListeners.length;
  const { el, dispose } = mount();
  const frame = { contentWindow: {}, style: { height: "360px" } };
  el.children[0].frames = { "glm-nb-frame-1": frame };
  const deliver = (event) => windowListeners.slice(before).forEach(([, fn]) => fn(event));
  deliver({ source: {}, data: { glmNbFrame: "glm-nb-frame-1", height: 9999 } });  // another window: ignored
  assert.equal(frame.style.height, "360px");
  deliver({ source: frame.contentWindow, data: { glmNbFrame: "glm-nb-frame-1", height: 120 } });
  assert.equal(frame.style.height, "124px");
  dispose();
  assert.equal(windowListeners.length, before);
});

test("an HTML artifact's scripts run only after a click on its Run scripts, and stay running on a redraw", () => {
  const { model, el, dispose } = mount();
  const root = el.children[0];
  const history = el.find((n) => n.className === "glm-nb-history");
  const staticFrame = (id) => ({ id, className: "glm-nb-frame", getAttribute: () => "height:360px",
    replaceWith(frame) { root.frames[id] = frame; } });
  const notes = { ".glm-nb-run-note": { hidden: true }, ".glm-nb-run-static": { hidden: false } };
  const button = { hidden: true, disabled: false, textContent: "Run scripts", closest() { return this; },
    dataset: { frame: "glm-nb-frame-2", srcdoc: "<p>the scripted wrapper</p>" },
    parentNode: { querySelector: (selector) => notes[selector] } };
  root.frames = { "glm-nb-frame-2": staticFrame("glm-nb-frame-2") };
  history.runButtons = [button];

  model.change("turns", [{ prompt: "A page", html: "<iframe ...>" }]);
  assert.equal(button.hidden, false);  // shown, with what running means; the note for a static page hidden
  assert.deepEqual([notes[".glm-nb-run-note"].hidden, notes[".glm-nb-run-static"].hidden], [false, true]);
  assert.equal(root.frames["glm-nb-frame-2"].attributes, undefined);  // nothing re-created before the click

  history.dispatch("click", { target: button });
  const frame = root.frames["glm-nb-frame-2"];
  assert.deepEqual(frame.attributes, { style: "height:360px", sandbox: "allow-scripts" });
  assert.equal(frame.srcdoc, "<p>the scripted wrapper</p>");
  assert.equal(frame.id, "glm-nb-frame-2");
  assert.equal(button.disabled, true);

  root.frames["glm-nb-frame-2"] = staticFrame("glm-nb-frame-2");  // a redraw brings the static frame back
  button.disabled = false;
  stream(model, "More", "");
  assert.equal(root.frames["glm-nb-frame-2"].attributes.sandbox, "allow-scripts");
  dispose();
});

test("a message the kernel refused stays in the box", () => {
  const { model, pick } = mount();
  const input = pick("textarea");
  input.value = "typed while a cell's reply ran";
  input.dispatch("keydown", { key: "Enter" });
  model.change("status", "A reply is still streaming: press Stop, or wait for it to finish.");
  assert.equal(input.value, "typed while a cell's reply ran");
  model.custom({ type: "accepted", text: "something else" });  // a send from code: not this text
  assert.equal(input.value, "typed while a cell's reply ran");
});

test("a message that failed before any turn showed it comes back to the box, ahead of what was typed since", () => {
  const { model, pick } = mount();
  const input = pick("textarea");
  input.value = "Explain attention";
  input.dispatch("keydown", { key: "Enter" });
  model.custom({ type: "accepted", text: "Explain attention" });
  assert.equal(input.value, "");

  model.custom({ type: "returned", text: "Explain attention" });  // the model failed to load
  assert.equal(input.value, "Explain attention");
  model.custom({ type: "returned", text: "Explain attention" });  // not twice
  assert.equal(input.value, "Explain attention");
  input.value = "and then";
  model.custom({ type: "returned", text: "First question" });
  assert.equal(input.value, "First question\n\nand then");
});

test("the Model dropdown is disabled while a reply streams", () => {
  const { model, pick } = mount();
  assert.equal(pick("select").disabled, false);
  model.change("busy", true);
  assert.equal(pick("select").disabled, true);
  model.change("busy", false);
  assert.equal(pick("select").disabled, false);
});

test("a field the user is typing in is not rewritten by an update", () => {
  const { model, pick } = mount();
  const [temperature, maxTokens] = pick("div").all().filter((n) => n.type === "number");
  for (const [field, typed] of [[temperature, "0."], [maxTokens, "20"]]) {
    document.activeElement = field;
    field.value = typed;
    model.change("tokens_per_s", 12.5);  // a speed update while the reply streams
    assert.equal(field.value, typed);
  }
  document.activeElement = null;
  model.change("tokens_per_s", 13);
  assert.equal(temperature.value, 0.6);
});

test("temperature out of range is clamped and said; an emptied field keeps the last value", () => {
  const { model, el, pick } = mount();
  const temperature = pick("div").all().find((n) => n.type === "number" && n.max === 2);
  temperature.value = "3";
  temperature.dispatch("change");
  assert.equal(model.get("temperature"), 2);
  assert.equal(temperature.value, 2);
  assert.match(el.find((n) => n.className === "glm-nb-status").textContent, /Temperature is from 0 to 2: set to 2/);
  temperature.value = "";
  temperature.dispatch("change");
  assert.equal(model.get("temperature"), 2);  // not 0, which would be greedy decoding
  assert.equal(temperature.value, 2);
});

test("Export downloads the kernel's page on every click's answer", () => {
  const { model } = mount();
  const clicks = [];
  const created = globalThis.document.createElement;
  const { createObjectURL, revokeObjectURL } = URL;
  Object.assign(URL, { createObjectURL: () => "blob:page", revokeObjectURL: () => {} });
  globalThis.document.createElement = (tag) => {
    const node = created(tag);
    if (tag === "a") node.click = () => clicks.push(node.download);
    return node;
  };
  try {
    model.custom({ type: "download", html: "<!doctype html><p>chat</p>" });
    model.custom({ type: "download", html: "<!doctype html><p>chat</p>" });
  } finally {
    Object.assign(globalThis.document, { createElement: created });
    Object.assign(URL, { createObjectURL, revokeObjectURL });
  }
  assert.deepEqual(clicks, ["glm-nb-chat.html", "glm-nb-chat.html"]);
});

test("a streaming update replaces only the live turn and keeps the finished turns' nodes", () => {
  const { model, el } = mount();
  const history = el.find((n) => n.className === "glm-nb-history");
  model.change("turns", [{ prompt: "One", html: "<p>1</p>" }, { prompt: "Two", html: "<p>2</p>" }]);
  const [first, second] = history.children;
  stream(model, "Three", "<p>3</p>");
  stream(model, "Three", "<p>3 more</p>");
  assert.equal(history.children.length, 3);
  assert.equal(history.children[0], first);  // the same nodes: a running page, an open section stay as they are
  assert.equal(history.children[1], second);
  model.change("turns", [...model.get("turns").map((t) => ({ ...t })), { prompt: "Three", html: "<p>3 done</p>" }]);
  model.change("live", {});
  assert.deepEqual(history.children.slice(0, 2), [first, second]);
  assert.equal(history.children.length, 3);
  model.change("turns", []);  // Clear
  assert.deepEqual(history.children, []);
});

test("a section the reader closed or opened in the streaming turn stays so as tokens arrive", () => {
  const { model, el } = mount();
  const thinking = (words) => `<details class="glm-nb-thinking" open><summary>Thinking</summary>${words}</details>`;
  const result = '<details><summary>result</summary><pre>{"sky": "sunny"}</pre></details>';
  const streaming = () => el.find((n) => n.className === "glm-nb-turn glm-nb-streaming");
  const liveSections = () => streaming().querySelectorAll("details");
  stream(model, "Weather?", thinking("Let me"));
  liveSections()[0].open = false;  // the reader closes the long thought

  stream(model, "Weather?", thinking("Let me check") + result);
  liveSections()[1].open = true;  // and opens the tool's result
  stream(model, "Weather?", thinking("Let me check") + result + thinking("It is sunny"));

  assert.deepEqual(liveSections().map((d) => d.open), [false, true, true]);  // the new thought opens, as drawn
});

test("the history follows a streaming reply only if the user was at its bottom", () => {
  const { model, el } = mount();
  const history = el.find((n) => n.className === "glm-nb-history");
  Object.assign(history, { scrollHeight: 1000, clientHeight: 200, scrollTop: 800 });  // at the bottom
  const append = history.append.bind(history);
  history.append = (...nodes) => { history.scrollHeight += 100; append(...nodes); };  // each update grows it
  stream(model, "Q", "<p>a b</p>");
  assert.equal(history.scrollTop, 1100);  // followed
  history.scrollTop = 100;  // the user scrolls up to read an earlier turn
  stream(model, "Q", "<p>a b c</p>");
  assert.equal(history.scrollTop, 100);
});

test("a finished turn is appended: the earlier turns' nodes are never rebuilt", () => {
  const { model, el } = mount({ turns: [{ prompt: "One", html: "<p>1</p>" }] });
  const history = el.find((n) => n.className === "glm-nb-history");
  const first = history.children[0];
  first.opened = true;  // as a thinking section the reader opened
  stream(model, "Two", "<p>2 so far</p>");

  // the kernel's update: the whole list, as new objects (deserialized), and the live turn emptied
  model.change("turns", [{ prompt: "One", html: "<p>1</p>" }, { prompt: "Two", html: "<p>2</p>" }]);
  model.change("live", {});

  assert.equal(history.children[0], first);
  assert.equal(first.opened, true);
  assert.deepEqual(replies(el).map((n) => n.innerHTML), ["<p>1</p>", "<p>2</p>"]);
  assert.equal(model.writes, undefined);  // nothing set: the view never sends the list back to the kernel
});

test("a drawn view says so once, so the kernel leaves the output's fallbacks alone", () => {
  const model = fakeModel();
  const el = new FakeElement("div");
  view.render({ model, el });
  assert.deepEqual(model.sent, [{ type: "view" }]);
  model.change("turns", [{ prompt: "a", html: "<p>a</p>" }]);
  assert.deepEqual(model.sent, [{ type: "view" }]);
});

test("a finished turn's message is added to the model's own list in place, drawn once and never set", () => {
  const { model, el } = mount({ turns: [{ prompt: "One", html: "<p>1</p>" }] });
  const list = model.get("turns");
  stream(model, "Two", "<p>2 so far</p>");

  model.custom({ type: "turn", index: 1, turn: { prompt: "Two", html: "<p>2</p>" } });

  assert.deepEqual(replies(el).map((n) => n.innerHTML), ["<p>1</p>", "<p>2</p>"]);  // not also as the live turn
  assert.equal(model.get("turns"), list);  // the list "Save widget state" serialises holds it
  assert.deepEqual(list.map((t) => t.prompt), ["One", "Two"]);
  assert.equal(model.writes, undefined);  // a set would go back to the kernel with the next settings change
  model.change("live", {});  // the kernel's update that ends the live turn, just after
  assert.deepEqual(replies(el).map((n) => n.innerHTML), ["<p>1</p>", "<p>2</p>"]);
  stream(model, "Two", "<p>again</p>");  // the next turn, asking the same: drawn
  assert.deepEqual(replies(el).map((n) => n.innerHTML), ["<p>1</p>", "<p>2</p>", "<p>again</p>"]);
});

test("a finished turn assigned as the whole list is not drawn twice while its live update is emptied", () => {
  const { model, el } = mount();
  stream(model, "One", "<p>1 so far</p>");
  model.change("turns", [{ prompt: "One", html: "<p>1</p>" }]);  // a headless-style update, before live's
  assert.deepEqual(replies(el).map((n) => n.innerHTML), ["<p>1</p>"]);
});

test("the model applies finished turns without a view and asks the kernel for any it missed", () => {
  const model = fakeModel({ turns: [{ prompt: "One", html: "<p>1</p>" }] });
  const cleanup = view.initialize({ model });
  assert.deepEqual(model.sent, [{ type: "sync", turns: 1 }]);  // made from the state: it holds one

  model.custom({ type: "turn", index: 1, turn: { prompt: "Two", html: "<p>2</p>" } });
  model.custom({ type: "synced" });  // the kernel's answer, which ends that sync
  model.custom({ type: "turn", index: 1, turn: { prompt: "Two", html: "<p>2</p>" } });  // the catch-up, again
  model.custom({ type: "turn", index: 3, turn: { prompt: "Four", html: "<p>4</p>" } });  // "Three" was missed

  assert.deepEqual(model.get("turns").map((t) => t.prompt), ["One", "Two"]);
  assert.deepEqual(model.sent.slice(1), [{ type: "sync", turns: 2 }]);
  cleanup();
  assert.equal(model.handlerCount(), 0);
});

test("two views of one model both draw a finished turn, which the model holds once", () => {
  const model = fakeModel({ turns: [{ prompt: "One", html: "<p>1</p>" }] });
  const cleanup = view.initialize({ model });
  const first = mount({}, model);
  const second = mount({}, model);

  model.custom({ type: "turn", index: 1, turn: { prompt: "Two", html: "<p>2</p>" } });

  for (const { el } of [first, second]) {
    assert.deepEqual(replies(el).map((n) => n.innerHTML), ["<p>1</p>", "<p>2</p>"]);
  }
  assert.equal(model.get("turns").length, 2);
  cleanup();
});

test("the kernel's answer to a send empties or refills only the box of the view it was typed in", () => {
  const model = fakeModel();
  const first = mount({}, model);
  const second = mount({}, model);
  const [box, other] = [first.pick("textarea"), second.pick("textarea")];
  box.value = other.value = "Explain attention";  // the same question, in both views
  box.dispatch("keydown", { key: "Enter" });
  const view = model.sent[0].view;

  model.custom({ type: "accepted", text: "Explain attention", view });
  assert.deepEqual([box.value, other.value], ["", "Explain attention"]);
  other.value = "";
  model.custom({ type: "returned", text: "Explain attention", view });  // the model failed to load
  assert.deepEqual([box.value, other.value], ["Explain attention", ""]);
});

test("a send the kernel does not answer says why and what to do; an answered one says nothing", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const { model, el, pick, dispose } = mount();
  const status = el.find((n) => n.className === "glm-nb-status");
  const input = pick("textarea");
  input.value = "Hello again";  // in a panel drawn from a saved notebook: nothing behind it answers
  input.dispatch("keydown", { key: "Enter" });
  t.mock.timers.tick(4000);
  assert.equal(status.textContent, "");
  t.mock.timers.tick(1000);
  assert.match(status.textContent, /kernel has not answered yet.*run its cell again/);
  model.custom({ type: "accepted", text: "Hello again", view: model.sent.at(-1).view });  // a cell ended: it took it
  assert.equal(status.textContent, "");

  input.value = "And now?";
  input.dispatch("keydown", { key: "Enter" });
  model.custom({ type: "accepted", text: "And now?", view: model.sent.at(-1).view });
  t.mock.timers.tick(10_000);
  assert.equal(status.textContent, "");
  dispose();
});

// What glm_nb/widget/live_edits.py sends: the stretches that changed, in UTF-16 positions of the old HTML. Here a
// common start and end with the middle replaced, then a second stretch, so that edits come in twos as well.
function liveEdits(old, html) {
  let start = 0;
  while (start < old.length && start < html.length && old[start] === html[start]) start += 1;
  let end = 0;
  while (end < old.length - start && end < html.length - start && old.at(-1 - end) === html.at(-1 - end)) end += 1;
  const middle = Math.floor((start + old.length - end) / 2);
  const newMiddle = Math.min(html.length - end, start + (middle - start));
  const tail = html.length - end;
  return [[start, middle, html.slice(start, newMiddle)], [middle, old.length - end, html.slice(newMiddle, tail)]];
}

test("a streaming turn sent as edits draws what the whole turn draws, and a missed edit asks for the whole", () => {
  const pages = [  // markdown re-rendered: the closing ** changes text drawn before it; a tool card at once; emoji
    '<p>The **rot</p><div class="glm-nb-footer">m · generating…</div>',
    '<p>The <strong>rotary</strong> 🙂 code</p><div class="glm-nb-footer">m · generating… 7 tokens</div>',
    '<details class="glm-nb-thinking" open><summary>Thinking (2 words)</summary>a b</details>'
      + '<p>The <strong>rotary</strong> 🙂 code</p><div class="glm-nb-tool">get_weather</div>'
      + '<div class="glm-nb-footer">m · generating… 9 tokens</div>',
    '<p>注意力 <strong>rotary</strong> 🙂🙂</p><div class="glm-nb-footer">m · generating… 12 tokens</div>',
  ];
  const edited = fakeModel();
  const cleanup = view.initialize({ model: edited });
  const byEdits = mount({}, edited);
  const whole = mount();
  stream(edited, "Q", pages[0]);  // a turn's first update is the trait, as a whole
  edited.state.live.version = 1;
  stream(whole.model, "Q", pages[0]);
  for (const [index, html] of pages.entries()) {
    if (index === 0) continue;
    const old = edited.get("live").html;
    edited.custom({ type: "live", from: index, to: index + 1, edits: liveEdits(old, html), size: html.length });
    stream(whole.model, "Q", html);
    const drawn = (el) => el.all().map((n) => [n.className, n.innerHTML, n.textContent]);
    assert.deepEqual(drawn(byEdits.el), drawn(whole.el));
  }
  assert.equal(replies(byEdits.el).at(-1).innerHTML, pages.at(-1));
  assert.equal(edited.writes, undefined);  // applied in place: never sent back to the kernel

  const before = edited.sent.length;
  edited.custom({ type: "synced" });  // the answer to the sync made with the model
  edited.custom({ type: "live", from: 2, to: 6, edits: [[0, 0, "stale"]], size: 5 });  // it missed version 5
  assert.deepEqual(edited.sent.slice(before), [{ type: "sync", turns: 0 }]);
  edited.custom({ type: "synced" });
  edited.custom({ type: "live", from: 4, to: 5, edits: [[0, 1, "x"]], size: 3 });  // not what it makes: corrupt
  assert.deepEqual(edited.sent.slice(before), [{ type: "sync", turns: 0 }, { type: "sync", turns: 0 }]);
  assert.equal(replies(byEdits.el).at(-1).innerHTML, pages.at(-1));
  edited.custom({ type: "live", from: null, to: 7, edits: [[0, 0, "<p>whole</p>"]], size: 12 });  // the answer
  assert.equal(replies(byEdits.el).at(-1).innerHTML, "<p>whole</p>");
  cleanup();
});

// A panel drawn from a notebook saved while a reply streamed: busy, and a live turn, in its state; no kernel.
function savedMidReply() {
  const model = fakeModel({
    busy: true, live_prompt: "Explain attention", tokens_per_s: 31.5,
    live: { html: '<p>Attention is</p><div class="glm-nb-footer">m · generating… 40 tokens</div>', version: 40 },
  });
  view.initialize({ model });
  return mount({}, model);
}

test("a panel saved mid-reply that no kernel answers shows the reply unfinished, and Send works", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const { model, el, pick, dispose } = savedMidReply();
  assert.equal(pick("button", "Send").disabled, true);  // at first it may be a kernel slow to answer
  t.mock.timers.tick(5000);
  assert.equal(pick("button", "Send").disabled, true);  // not yet: it asks once more first
  const asked = model.sent.filter((m) => m.type === "sync");
  assert.deepEqual(asked, [{ type: "sync", turns: 0 }, { type: "sync", turns: 0 }]);
  t.mock.timers.tick(5000);

  assert.equal(pick("button", "Send").disabled, false);
  assert.equal(pick("button", "Stop").disabled, true);
  assert.equal(el.find((n) => n.className === "glm-nb-turn glm-nb-streaming"), undefined);
  assert.match(replies(el)[0].innerHTML, /m · unfinished 40 tokens/);
  // It cannot tell a notebook saved mid-reply from a kernel busy with a cell, and says what to do in each case
  const note = el.find((n) => n.className === "glm-nb-unfinished").textContent;
  assert.match(note, /if the notebook was saved while it streamed.*run the panel's cell again/);
  assert.match(note, /if the kernel is running a cell, the reply goes on when it answers/);
  pick("textarea").value = "Go on";
  pick("button", "Send").click();  // sent; the kernel's silence then says what to do
  assert.deepEqual(model.sent.at(-1), { type: "send", text: "Go on", view: model.sent.at(-1).view });
  dispose();
});

test("a panel drawn busy that the kernel answers streams on, also when the answer comes late", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const { model, el, pick, dispose } = savedMidReply();
  model.custom({ type: "synced" });
  t.mock.timers.tick(10_000);
  assert.equal(pick("button", "Send").disabled, true);
  assert.ok(el.find((n) => n.className === "glm-nb-turn glm-nb-streaming"));
  dispose();

  const late = savedMidReply();
  t.mock.timers.tick(5000);  // it asks again
  t.mock.timers.tick(5000);
  assert.equal(late.pick("button", "Send").disabled, false);
  late.model.change("live", { html: "<p>Attention is all</p>", version: 41 });  // a kernel busy with a cell, at last
  assert.equal(late.pick("button", "Send").disabled, true);
  assert.equal(late.el.find((n) => n.className === "glm-nb-unfinished"), undefined);
  assert.deepEqual(replies(late.el).map((n) => n.innerHTML), ["<p>Attention is all</p>"]);
  late.dispose();
});

test("a refused send clears the no-answer timer and says why, even where `status` already said so", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const busy = "A reply is still streaming: press Stop, or wait for it to finish.";
  const model = fakeModel({ status: busy });  // another view's send was refused first: the trait will not change
  const mine = mount({}, model);
  const other = mount({}, model);
  const status = mine.el.find((n) => n.className === "glm-nb-status");
  const input = mine.pick("textarea");
  input.value = "Typed here";
  status.textContent = "";
  input.dispatch("keydown", { key: "Enter" });

  model.custom({ type: "refused", reason: busy, view: "not this view" });  // the other view's answer
  t.mock.timers.tick(1000);
  model.custom({ type: "refused", reason: busy, view: model.sent.at(-1).view });
  t.mock.timers.tick(10_000);

  assert.equal(status.textContent, busy);  // not "the kernel has not answered"
  assert.equal(input.value, "Typed here");  // kept, to send once the reply ends
  mine.dispose();
  other.dispose();
});

test("a status the view sets itself is no answer to a send", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const { el, pick, dispose } = mount();  // drawn from a saved notebook: nothing answers
  const status = el.find((n) => n.className === "glm-nb-status");
  const input = pick("textarea");
  input.value = "Hello?";
  input.dispatch("keydown", { key: "Enter" });
  const temperature = pick("div").all().find((n) => n.type === "number" && n.max === 2);
  temperature.value = "5";
  temperature.dispatch("change");  // says "Temperature is from 0 to 2" through the model's status
  t.mock.timers.tick(5000);
  assert.match(status.textContent, /kernel has not answered yet/);
  dispose();
});

test("keys typed in the panel's fields do not reach the notebook's shortcuts; Ctrl or Cmd ones do", () => {
  const { el, pick, dispose } = mount();
  const typedIn = el.all().filter((n) => n.tagName === "textarea"
    || (n.tagName === "input" && n.type !== "checkbox"));
  assert.equal(typedIn.length, 4);  // the message, the system prompt, temperature, max tokens
  for (const field of typedIn) {
    for (const key of [{ key: "Enter", shiftKey: true }, { key: "a" }, { key: "Escape" }]) {
      assert.equal(field.dispatch("keydown", key).stopped, true, `${field.tagName} ${key.key}`);
    }
    for (const key of [{ key: "s", ctrlKey: true }, { key: "s", metaKey: true }]) {  // Save goes to JupyterLab
      assert.equal(field.dispatch("keydown", key).stopped, undefined, `${field.tagName} ${key.key}`);
    }
  }
  const shiftEnter = pick("textarea").dispatch("keydown", { key: "Enter", shiftKey: true });
  assert.equal(shiftEnter.prevented, undefined);  // the browser's newline
  dispose();
});

test("after Send or Stop is clicked, the next message can be typed at once", () => {
  const { model, pick, dispose } = mount();
  const input = pick("textarea");
  input.value = "Hello";
  document.activeElement = pick("button", "Send");
  pick("button", "Send").click();
  assert.equal(document.activeElement, input);  // not the Send button, disabled while the reply streams
  model.change("busy", true);
  document.activeElement = pick("button", "Stop");
  pick("button", "Stop").click();
  assert.equal(document.activeElement, input);  // not Stop, disabled (and so unfocused) once the reply ends
  assert.deepEqual(model.sent.map((m) => m.type), ["send", "stop"]);
  document.activeElement = null;
  dispose();
});

test("Enter while a reply streams keeps the message and says why nothing was sent", () => {
  const { model, el, pick, dispose } = mount({ busy: true });
  const input = pick("textarea");
  input.value = "A follow-up";

  const enter = input.dispatch("keydown", { key: "Enter" });

  assert.deepEqual(model.sent, []);
  assert.equal(enter.prevented, true);  // no newline added to the message either
  assert.equal(input.value, "A follow-up");
  assert.match(el.find((n) => n.className === "glm-nb-status").textContent, /still streaming.*stays in the box/);
  dispose();
});

test("one sync at a time per model: edits that miss their copy while its answer comes ask nothing more", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const model = fakeModel({ live: { html: "<p>a</p>", version: 3 } });
  const cleanup = view.initialize({ model });
  const syncs = () => model.sent.filter((m) => m.type === "sync").length;
  const missed = (to) => model.custom({ type: "live", from: to - 1, to, edits: [[0, 0, "x"]], size: 9 });
  model.custom({ type: "synced" });  // the answer to the first, from a kernel (its snapshot came before it)

  for (let to = 10; to < 30; to += 1) missed(to);  // ~10 edits a second from a copy this model missed
  assert.equal(syncs(), 2);  // the one made, and one gap's: not one per edit
  t.mock.timers.tick(9000);
  missed(30);
  assert.equal(syncs(), 2);  // its answer may still be on its way

  model.custom({ type: "synced" });
  missed(31);
  assert.equal(syncs(), 3);  // answered: the next gap asks again

  t.mock.timers.tick(10_000);  // never answered (a message lost): the next gap asks again, then waits twice as long
  missed(32);
  assert.equal(syncs(), 4);
  t.mock.timers.tick(19_000);
  missed(33);
  assert.equal(syncs(), 4);
  t.mock.timers.tick(1000);
  missed(34);
  assert.equal(syncs(), 5);
  cleanup();
});

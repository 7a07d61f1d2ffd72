// The ChatPanel view (anywidget). State lives in the Python model's traits; this file only draws it and sends
// the user's actions back as messages ({type: "send" | "stop" | "clear" | "export"}, and {type: "view"} once drawn:
// the kernel then leaves the output's fallbacks alone, as updating them would re-create this view); the kernel
// answers every send: {type: "accepted", text, view} (only then is that view's box emptied) or {type: "refused",
// reason, view} (the box keeps it; the reason is shown), one that failed before any turn showed it with {type:
// "returned", text, view}, and Export with {type: "download", html}.
// `live` ({html, version}: the streaming turn) changes with each token, `live_prompt` (its message) once per turn. A
// finished turn comes as {type: "turn", index, turn}, and each update of `live` after a turn's first as only what
// changed, {type: "live", from, to, edits, size} (glm_nb/widget/live_edits.py), once the model has said {type:
// "sync", turns} (initialize, below); until then (and on Clear) the kernel assigns `turns` and `live` as a whole. The
// kernel answers each sync last with {type: "synced"}: a model it never answers was drawn from a saved notebook, or
// its kernel runs a cell (syncs wait for the kernel's main thread; see UNFINISHED below).
// HTML in `turns` and `live` comes from glm_nb.render: model text escaped, SVG sanitized, HTML artifacts inside
// sandboxed iframes (no allow-same-origin) drawn without their scripts. Nothing here evaluates model output. The
// inline scripts of that HTML do not run here (innerHTML), so this view does their job: it shows an artifact's
// "Run scripts" button, and on the user's click re-creates that frame with allow-scripts (only that flag), from the
// wrapper document the button carries as data.

const NO_ANSWER_MS = 5000;
const SYNC_RETRY_MS = 10_000;  // a sync with no answer this long may be sent again (then after 20 s, 40 s, 60 s)
const SYNC_RETRY_MAX_MS = 60_000;
// Said where no kernel has answered a busy model for twice NO_ANSWER_MS (it asked again in between). That may be a
// notebook saved mid-reply, or a kernel whose main thread runs a cell while the reply is silent (a tool running, a
// model loading): the note does not claim to know which, and the next word from a kernel draws the reply as it is.
const UNFINISHED = "No word from the kernel about this reply: if the notebook was saved while it streamed, it ends "
  + "here (run the panel's cell again to chat); if the kernel is running a cell, the reply goes on when it answers.";
const STILL_STREAMING = "A reply is still streaming: your message stays in the box; press Stop, or send it once "
  + "the reply ends.";
const NO_ANSWER = "The kernel has not answered yet. If it is running a cell, your message goes when that cell "
  + "ends; if this panel comes from a saved notebook (or the kernel restarted), run its cell again to chat.";

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function turnNode(turn, streaming) {
  const node = element("div", streaming ? "glm-nb-turn glm-nb-streaming" : "glm-nb-turn");
  node.append(element("div", "glm-nb-you", turn.prompt || ""));
  const answer = element("div", "glm-nb-reply");
  answer.innerHTML = turn.html || "";
  node.append(answer);
  return node;
}

// A finished turn from the kernel, put into the model's own `turns` list in place: that list is what every view
// draws and what "Save widget state" serialises. Never with model.set: a set is queued for the next save_changes
// (a settings change), which would send every turn back to the kernel and the kernel echo them to every view.
// Idempotent (the model and each view apply it): "gap" when turns before it were missed.
function applyTurn(model, { index, turn }) {
  const turns = model.get("turns");
  if (!Array.isArray(turns) || !Number.isInteger(index) || index < 0 || !turn) return "ignored";
  if (index > turns.length) return "gap";
  const old = turns[index];
  if (old && old.prompt === turn.prompt && old.html === turn.html) return "same";
  turns[index] = turn;  // appended, or a changed turn replaced
  return "applied";
}

// The streaming turn's edits, applied to the model's own `live` in place, as a turn is (a set would go back to the
// kernel): each [start, end, text] replaces html.slice(start, end) of the copy `from` names (null: an empty page, a
// snapshot). Idempotent; "gap" when this copy is not the one they apply to, or what they make is not `size` long.
function applyLive(model, { from, to, edits, size }) {
  const live = model.get("live");
  if (!live || typeof live !== "object" || !Number.isInteger(to) || !Array.isArray(edits)) return "ignored";
  if (Number.isInteger(live.version) && live.version >= to) return "same";  // a snapshot older than its copy too
  if (from !== null && (live.version !== from || typeof live.html !== "string")) return "gap";
  const old = from === null ? "" : live.html;
  let html = "";
  let at = 0;
  for (const [start, end, text] of edits) {
    html += old.slice(at, start) + text;
    at = end;
  }
  html += old.slice(at);
  if (html.length !== size) return "gap";
  Object.assign(live, { html, version: to });
  return "applied";
}

// Whether the kernel has said anything to this model (a message, or a trait only it sets): a model drawn from a
// notebook saved mid-reply hears nothing, and its `busy` is true for good.
const heard = new WeakSet();
const KERNEL_TRAITS = "change:busy change:live change:live_prompt change:turns";
// Each model's `sync` (initialize's), for a view that asks the kernel again before it calls a reply unfinished.
const syncs = new WeakMap();

// Once per model, before any view: apply finished turns even where no view is drawn (an output scrolled away or
// cleared still saves them), and tell the kernel how many turns this model holds, so it sends the rest as
// messages (this model was made from the state, and missed those sent while this file loaded).
// One sync at a time: its answer (the whole streaming turn, then {type: "synced"}) may take long to come (a slow
// link, a kernel running a cell), and every edit that arrives meanwhile still does not apply: each asking again
// would be answered with the whole turn again. Where no answer comes (a message lost), the next gap after
// SYNC_RETRY_MS asks again, each wait twice the last. `again`: a view's one question on top, however long ago.
function initialize({ model }) {
  let waiting = null;  // the outstanding sync's timer: while it runs, a gap asks nothing
  let wait = SYNC_RETRY_MS;
  const sync = (again = false) => {
    if (waiting !== null && !again) return;
    clearTimeout(waiting);
    model.send({ type: "sync", turns: (model.get("turns") || []).length });
    waiting = setTimeout(() => {
      waiting = null;
      wait = Math.min(2 * wait, SYNC_RETRY_MAX_MS);
    }, wait);
  };
  const onMessage = (message) => {
    heard.add(model);
    if (message?.type === "synced") {
      clearTimeout(waiting);
      waiting = null;
      wait = SYNC_RETRY_MS;
    }
    const apply = { turn: applyTurn, live: applyLive }[message?.type];
    if (apply && apply(model, message) === "gap") sync();
  };
  const onTrait = () => heard.add(model);
  model.on("msg:custom", onMessage);
  model.on(KERNEL_TRAITS, onTrait);
  syncs.set(model, sync);
  sync();
  return () => {
    clearTimeout(waiting);
    syncs.delete(model);
    model.off("msg:custom", onMessage);
    model.off(KERNEL_TRAITS, onTrait);
  };
}

function labelled(text, input) {
  const label = element("label", "glm-nb-field", text + " ");
  label.append(input);
  return label;
}

function render({ model, el }) {
  const root = element("div", "glm-nb-panel");

  // settings: variant, temperature, max tokens, system prompt, drop old turns; live tok/s; Clear, Export
  const settings = element("div", "glm-nb-settings");
  const variant = element("select");
  for (const [value, text] of [["chat", "GLM-4 (chat)"], ["z1", "GLM-Z1 (reasoning)"]]) {
    const option = element("option", "", text);
    option.value = value;
    variant.append(option);
  }
  const temperature = element("input");
  Object.assign(temperature, { type: "number", min: 0, max: 2, step: 0.05 });
  const maxTokens = element("input");
  Object.assign(maxTokens, { type: "number", min: 1, step: 64 });
  const system = element("input");
  Object.assign(system, { type: "text", placeholder: "System prompt (optional)" });
  const dropOldTurns = element("input");
  Object.assign(dropOldTurns, {
    type: "checkbox", title: "When the conversation fills the context, drop its oldest turns instead of refusing",
  });
  const speed = element("span", "glm-nb-speed");
  const clear = element("button", "", "Clear");
  const exportButton = element("button", "", "Export");
  settings.append(
    labelled("Model", variant), labelled("Temperature", temperature), labelled("Max tokens", maxTokens),
    system, labelled("Drop old turns", dropOldTurns), speed, clear, exportButton,
  );

  const history = element("div", "glm-nb-history");
  const status = element("div", "glm-nb-status");
  const input = element("textarea");
  Object.assign(input, { rows: 2, placeholder: "Message (Enter sends, Shift+Enter new line)" });
  const send = element("button", "glm-nb-send", "Send");
  const stop = element("button", "glm-nb-stop", "Stop");
  const composer = element("div", "glm-nb-composer");
  composer.append(input, send, stop);
  root.append(settings, history, status, composer);
  el.append(root);

  const running = new Set();  // the frames the user chose to run: a redraw of the history keeps them running
  // A model drawn busy that no kernel answers (its sync, sent as it was made) may have been saved mid-reply. After
  // NO_ANSWER_MS the view asks once more (a sync may be lost), and only after as long again is the reply shown
  // unfinished and Send works (a send then says what to do). Anything from the kernel later draws it as it is.
  let unfinished = false;
  let silence = null;
  function noKernel() {
    unfinished = !heard.has(model);
    if (unfinished) redraw();
  }
  function askAgain() {
    if (heard.has(model)) return;
    syncs.get(model)?.(true);
    silence = setTimeout(noKernel, NO_ANSWER_MS);
  }
  if (model.get("busy") && !heard.has(model)) silence = setTimeout(askAgain, NO_ANSWER_MS);
  function kernelSpoke() {
    heard.add(model);
    clearTimeout(silence);
    if (unfinished) {
      unfinished = false;
      redraw();
    }
  }
  function redraw() {
    drawHistory();
    drawState();
  }
  // Finished turns keep their nodes (a running page, an opened thinking section stay as they are); only the
  // streaming turn's node is replaced on each update. `drawn`: the turns drawn, and their nodes.
  let drawn = [];
  let liveNode = null;
  // The live update a finished turn replaced: not drawn again while the kernel's update emptying it is on its way.
  let ended = null;
  function endLiveTurn(turn) {
    const live = model.get("live");
    if (live?.html !== undefined && turn?.prompt === model.get("live_prompt")) ended = live;
  }
  function drawTurns() {  // the finished turns changed: a new last one is the live turn, ended
    const turns = model.get("turns");
    if (turns.length > drawn.length) endLiveTurn(turns[turns.length - 1]);
    drawHistory();
  }
  function drawHistory() {
    const atBottom = history.scrollHeight - history.scrollTop - history.clientHeight <= 8;
    const turns = model.get("turns");
    const kept = drawn.length <= turns.length && drawn.every((d, i) => d.turn === turns[i]
      || (d.turn.prompt === turns[i].prompt && d.turn.html === turns[i].html));
    if (kept) {
      drawn.forEach((d, i) => { d.turn = turns[i]; });  // the kernel resent them: compare by identity from now on
    } else {  // cleared, or replaced from the kernel: draw afresh
      history.replaceChildren();
      drawn = [];
      liveNode = null;
    }
    const opened = liveNode ? [...liveNode.querySelectorAll("details")].map((d) => d.open) : [];
    liveNode?.remove();
    liveNode = null;
    for (const turn of turns.slice(drawn.length)) {
      const node = turnNode(turn, false);
      history.append(node);
      drawn.push({ turn, node });
    }
    const live = model.get("live");
    if (live && live.html !== undefined && live !== ended) {
      // Drawn from a notebook saved mid-reply: no longer streaming, and its footer says how it ended.
      const html = unfinished ? live.html.replace(/(<div class="glm-nb-footer">[^<]*)generating…/, "$1unfinished")
        : live.html;
      liveNode = turnNode({ prompt: model.get("live_prompt"), html }, !unfinished);
      if (unfinished) liveNode.append(element("div", "glm-nb-unfinished", UNFINISHED));
      // Each token redraws the streaming turn: a thinking section the reader closed, a tool result they opened, stay
      // so (sections only ever come after the ones already there, so the nth is the same section).
      liveNode.querySelectorAll("details").forEach((d, i) => { if (i < opened.length) d.open = opened[i]; });
      history.append(liveNode);
    }
    for (const button of history.querySelectorAll("button.glm-nb-run-scripts")) {
      const bar = button.parentNode;
      button.hidden = bar.querySelector(".glm-nb-run-note").hidden = false;
      bar.querySelector(".glm-nb-run-static").hidden = true;  // the note for where this button cannot work
      if (running.has(button.dataset.frame)) runScripts(button);
    }
    if (atBottom) history.scrollTop = history.scrollHeight;  // never pull the user away from an earlier turn
  }
  function runScripts(button) {
    const id = button.dataset.frame;
    const old = root.querySelector("iframe#" + CSS.escape(id));
    if (!old || button.disabled) return;
    const frame = document.createElement("iframe");
    frame.id = id;
    frame.className = old.className;
    frame.setAttribute("style", old.getAttribute("style") || "");
    frame.setAttribute("sandbox", "allow-scripts");  // never allow-same-origin: the page runs in an opaque origin
    frame.srcdoc = button.dataset.srcdoc;
    old.replaceWith(frame);
    button.disabled = true;
    button.textContent = "Scripts running";
    running.add(id);
  }
  function clickRun(event) {
    const button = event.target?.closest?.("button.glm-nb-run-scripts");
    if (button) runScripts(button);
  }
  function drawState() {
    const busy = model.get("busy") && !unfinished;
    send.disabled = busy;
    stop.disabled = !busy;
    variant.disabled = busy;  // a reply belongs to the conversation it started in
    const fields = [[variant, "variant"], [temperature, "temperature"], [maxTokens, "max_tokens"]];
    for (const [field, name] of [...fields, [system, "system"]]) {
      if (document.activeElement !== field) field.value = model.get(name);  // never under the user's typing
    }
    dropOldTurns.checked = model.get("drop_old_turns");
    const rate = model.get("tokens_per_s");
    const name = model.get("model_name");
    speed.textContent = [name, rate > 0 ? rate.toFixed(1) + " tok/s" : ""].filter(Boolean).join(" · ");
    status.textContent = model.get("status");
  }
  function offerDownload(page) {
    const link = element("a");
    link.href = URL.createObjectURL(new Blob([page], { type: "text/html" }));
    link.download = "glm-nb-chat.html";
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  }

  // This view's name in a send, which the kernel's answer repeats: a second view of the panel keeps its own box.
  const viewId = Math.random().toString(36).slice(2);
  // A send the kernel leaves unanswered: a panel drawn from a saved notebook's widget state has no kernel behind it
  // (its messages go nowhere), and a kernel running a cell answers when the cell ends. Say so, and what to do.
  let unanswered = null;
  function answered() {
    clearTimeout(unanswered);
    unanswered = null;
    if (status.textContent === NO_ANSWER) status.textContent = model.get("status");  // it did answer, late
  }
  function submit() {  // the box keeps the text until the kernel says it took it (it refuses one while busy)
    const text = input.value.trim();
    input.focus();  // after a click on Send too: the next message is typed at once (Send is disabled meanwhile)
    if (!text) return;
    if (model.get("busy") && !unfinished) {  // Enter while a reply streams (Send is disabled): not a silent no-op
      status.textContent = STILL_STREAMING;
      return;
    }
    model.send({ type: "send", text, view: viewId });
    answered();
    unanswered = setTimeout(() => { status.textContent = NO_ANSWER; }, NO_ANSWER_MS);
  }
  // A message that failed before any turn showed it (the model did not load): back in the box, ahead of anything
  // typed since, so that sending it again is one keypress.
  function returnToBox(text) {
    const typed = input.value.trim();
    if (typed !== text) input.value = typed ? `${text}\n\n${input.value}` : text;
  }
  function fromKernel(message) {
    kernelSpoke();
    const mine = message?.view === undefined || message.view === viewId;  // not typed in another view's box
    if (message?.type === "turn") {
      if (applyTurn(model, message) !== "ignored") drawTurns();  // applied here too where no initialize ran
    } else if (message?.type === "live") {
      if (applyLive(model, message) !== "ignored") drawHistory();
    } else if (message?.type === "accepted" && mine) {
      answered();
      if (input.value.trim() === message.text) input.value = "";
    } else if (message?.type === "refused" && mine) {
      answered();
      status.textContent = message.reason;  // said even where `status` already said so (it sends no change then)
    } else if (message?.type === "returned" && mine) {
      answered();
      returnToBox(message.text);
    } else if (message?.type === "download") offerDownload(message.html);
  }
  function setTrait(name, value) {
    model.set(name, value);
    model.save_changes();
  }
  // A number field: an empty or unreadable entry keeps the last value; one out of range is clamped, and says so.
  function setNumber(field, name, low, high, round) {
    const range = high === Infinity ? `at least ${low}` : `from ${low} to ${high}`;
    let value = String(field.value).trim() === "" ? NaN : Number(field.value);
    if (!Number.isFinite(value)) {
      field.value = model.get(name);
      setTrait("status", `${labels[name]} unchanged: type a number ${range}.`);
      return;
    }
    if (round) value = Math.round(value);
    const clamped = Math.min(high, Math.max(low, value));
    if (clamped !== value) setTrait("status", `${labels[name]} is ${range}: set to ${clamped}.`);
    field.value = clamped;
    setTrait(name, clamped);
  }
  const labels = { temperature: "Temperature", max_tokens: "Max tokens" };
  // Keys typed in the panel's fields are the user's text, not the notebook's shortcuts (Shift+Enter would run the
  // cell, re-creating this panel; "a", "b", "d d" edit cells), as ipywidgets' text fields do: they do not bubble to
  // JupyterLab's keydown handler. With Ctrl or Cmd they do (Ctrl+S saves the notebook, not the browser's page);
  // not `data-lm-suppress-shortcuts`, which would suppress those too.
  const typedIn = [input, system, temperature, maxTokens];
  const keepKey = (event) => {
    if (!event.ctrlKey && !event.metaKey) event.stopPropagation();
  };
  const listeners = [
    ...typedIn.map((field) => [field, "keydown", keepKey]),
    [input, "keydown", (event) => {
      // An Enter that picks an IME candidate (Chinese, Japanese) is not a send. Safari ends the composition before
      // that keydown, so isComposing is false there; keyCode 229 still says an IME processed the key.
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
        event.preventDefault();
        submit();
      }
    }],
    [send, "click", submit],
    [history, "click", clickRun],
    [stop, "click", () => {
      model.send({ type: "stop" });
      input.focus();  // Stop is disabled once the reply ends, and a disabled button drops the focus
    }],
    [clear, "click", () => model.send({ type: "clear" })],
    [exportButton, "click", () => model.send({ type: "export" })],
    [variant, "change", () => setTrait("variant", variant.value)],
    [temperature, "change", () => setNumber(temperature, "temperature", 0, 2, false)],
    [maxTokens, "change", () => setNumber(maxTokens, "max_tokens", 1, Infinity, true)],
    [system, "change", () => setTrait("system", system.value)],
    [dropOldTurns, "change", () => setTrait("drop_old_turns", dropOldTurns.checked)],
  ];
  for (const [node, name, handler] of listeners) node.addEventListener(name, handler);
  // HTML artifacts, once running, report their height from inside their sandboxed frame; size only the frame that
  // sent it.
  function sizeFrame(event) {
    const data = event.data;
    if (!data || typeof data.glmNbFrame !== "string") return;
    const frame = root.querySelector ? root.querySelector("iframe#" + CSS.escape(data.glmNbFrame)) : null;
    if (!frame || event.source !== frame.contentWindow) return;
    const height = Number(data.height);
    if (height > 0) frame.style.height = Math.min(height + 4, 2000) + "px";
  }
  globalThis.addEventListener?.("message", sizeFrame);
  const traits = [
    ["change:turns", drawTurns],
    ["change:live change:live_prompt", drawHistory],
    ["change:busy change:variant change:temperature change:max_tokens change:system change:drop_old_turns "
      + "change:tokens_per_s change:status change:model_name", drawState],
    ["msg:custom", fromKernel],
    [KERNEL_TRAITS, kernelSpoke],
  ];
  for (const [events, handler] of traits) model.on(events, handler);
  drawHistory();
  drawState();
  model.send({ type: "view" });

  return () => {  // clean up when the view is removed
    answered();
    clearTimeout(silence);
    for (const [node, name, handler] of listeners) node.removeEventListener(name, handler);
    globalThis.removeEventListener?.("message", sizeFrame);
    for (const [events, handler] of traits) model.off(events, handler);
    root.remove();
  };
}

export default { initialize, render };

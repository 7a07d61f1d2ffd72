// The ChatPanel view (anywidget). State lives in the Python model's traits; this file only draws it and sends
// the user's actions back as messages ({type: "send" | "stop" | "clear" | "export"}).
// HTML in `turns` and `live` comes from glm_nb.render: model text escaped, SVG sanitized, HTML artifacts inside
// sandboxed iframes (no allow-same-origin) drawn without their scripts. Nothing here evaluates model output. The
// inline scripts of that HTML do not run here (innerHTML), so this view does their job: it shows an artifact's
// "Run scripts" button, and on the user's click re-creates that frame with allow-scripts (only that flag), from the
// wrapper document the button carries as data.

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

function labelled(text, input) {
  const label = element("label", "glm-nb-field", text + " ");
  label.append(input);
  return label;
}

function render({ model, el }) {
  const root = element("div", "glm-nb-panel");

  // settings: variant, temperature, max tokens, system prompt; live tok/s; Clear, Export
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
  const speed = element("span", "glm-nb-speed");
  const clear = element("button", "", "Clear");
  const exportButton = element("button", "", "Export");
  settings.append(
    labelled("Model", variant), labelled("Temperature", temperature), labelled("Max tokens", maxTokens),
    system, speed, clear, exportButton,
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
  function drawHistory() {
    history.replaceChildren(...model.get("turns").map((turn) => turnNode(turn, false)));
    const live = model.get("live");
    if (live && live.prompt !== undefined) history.append(turnNode(live, true));
    for (const button of history.querySelectorAll("button.glm-nb-run-scripts")) {
      const bar = button.parentNode;
      button.hidden = bar.querySelector(".glm-nb-run-note").hidden = false;
      bar.querySelector(".glm-nb-run-static").hidden = true;  // the note for where this button cannot work
      if (running.has(button.dataset.frame)) runScripts(button);
    }
    history.scrollTop = history.scrollHeight;
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
    const busy = model.get("busy");
    send.disabled = busy;
    stop.disabled = !busy;
    variant.value = model.get("variant");
    temperature.value = model.get("temperature");
    maxTokens.value = model.get("max_tokens");
    if (document.activeElement !== system) system.value = model.get("system");
    const rate = model.get("tokens_per_s");
    const name = model.get("model_name");
    speed.textContent = [name, rate > 0 ? rate.toFixed(1) + " tok/s" : ""].filter(Boolean).join(" · ");
    status.textContent = model.get("status");
  }
  function offerDownload() {
    const page = model.get("export_html");
    if (!page) return;
    const link = element("a");
    link.href = URL.createObjectURL(new Blob([page], { type: "text/html" }));
    link.download = "glm-nb-chat.html";
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  }

  function submit() {
    const text = input.value.trim();
    if (!text || model.get("busy")) return;
    model.send({ type: "send", text });
    input.value = "";
  }
  function setTrait(name, value) {
    model.set(name, value);
    model.save_changes();
  }
  const listeners = [
    [input, "keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        submit();
      }
    }],
    [send, "click", submit],
    [history, "click", clickRun],
    [stop, "click", () => model.send({ type: "stop" })],
    [clear, "click", () => model.send({ type: "clear" })],
    [exportButton, "click", () => model.send({ type: "export" })],
    [variant, "change", () => setTrait("variant", variant.value)],
    [temperature, "change", () => setTrait("temperature", Number(temperature.value))],
    [maxTokens, "change", () => setTrait("max_tokens", Math.max(1, Math.round(Number(maxTokens.value))))],
    [system, "change", () => setTrait("system", system.value)],
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
    ["change:turns change:live", drawHistory],
    ["change:busy change:variant change:temperature change:max_tokens change:system change:tokens_per_s "
      + "change:status change:model_name", drawState],
    ["change:export_html", offerDownload],
  ];
  for (const [events, handler] of traits) model.on(events, handler);
  drawHistory();
  drawState();

  return () => {  // clean up when the view is removed
    for (const [node, name, handler] of listeners) node.removeEventListener(name, handler);
    globalThis.removeEventListener?.("message", sizeFrame);
    for (const [events, handler] of traits) model.off(events, handler);
    root.remove();
  };
}

export default { render };

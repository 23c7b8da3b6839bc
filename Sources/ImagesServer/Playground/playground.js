// The unclip playground, after DALL·E 2's web app: generate (streamed partial images), an eraser to mark what to change,
// a frame to drag past the border to extend the canvas, variations. It talks to the public OpenAI images API only.
"use strict";

const $ = (id) => document.getElementById(id);
const SIDES = [256, 512, 1024];
const state = { keyRequired: false, abort: null, editAbort: null };

// ---------- the API ----------

function authHeaders() {
  const key = $("api-key").value.trim();
  return state.keyRequired && key ? { Authorization: "Bearer " + key } : {};
}

/** The API's error object from a failed response (OpenAI's {"error": {...}}), or one made from the status. */
async function apiError(response) {
  try {
    const body = await response.json();
    if (body && body.error) return body.error;
  } catch (_) { /* not JSON */ }
  return { message: `${response.status} ${response.statusText}`, param: null };
}

function showError(element, error) {
  if (!error) { element.hidden = true; element.textContent = ""; return; }
  if (error.name === "AbortError") { element.hidden = false; element.textContent = "Cancelled."; return; }
  const message = error.message || String(error);
  element.textContent = error.param ? `${message} (field: ${error.param})` : message;
  element.hidden = false;
}

/** POSTs `body` and reads OpenAI's image stream (server-sent events), calling onEvent(name, data) for each event. */
async function stream(path, body, onEvent, signal) {
  const isForm = body instanceof FormData;
  const response = await fetch(path, {
    method: "POST", signal, body: isForm ? body : JSON.stringify(body),
    headers: { ...authHeaders(), ...(isForm ? {} : { "Content-Type": "application/json" }) },
  });
  if (!response.ok) throw await apiError(response);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const chunk = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "", data = "";
      for (const line of chunk.split("\n")) {
        if (line.startsWith("event: ")) name = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      if (!data) continue;
      const event = JSON.parse(data);
      if (name === "error" || event.error) throw event.error;
      onEvent(name, event);
    }
  }
}

/** A plain (non-streamed) images call returning `data`. */
async function call(path, form) {
  const response = await fetch(path, { method: "POST", body: form, headers: authHeaders() });
  if (!response.ok) throw await apiError(response);
  return (await response.json()).data;
}

// ---------- results ----------

function dataURL(b64) { return "data:image/png;base64," + b64; }

/** A result card: the picture, its seed and settings, and what can be done with it. */
function card(result, container) {
  const element = document.createElement("figure");
  element.className = "card";
  const img = document.createElement("img");
  img.src = dataURL(result.b64);
  img.alt = `${result.kind}: ${result.prompt || "variation"} (seed ${result.seed})`;
  const meta = document.createElement("figcaption");
  meta.className = "meta";
  meta.textContent = `${result.kind} · seed ${result.seed} · ${result.size}` + (result.prompt ? ` · “${result.prompt}”` : "");
  const actions = document.createElement("div");
  actions.className = "actions";
  const button = (label, action) => {
    const b = document.createElement("button");
    b.type = "button"; b.textContent = label; b.addEventListener("click", action);
    actions.append(b);
    return b;
  };
  button("Edit", () => { selectTab("edit"); editor.open(img.src); });
  button("Variations", () => variations(result.b64, $("generate-error")));
  button("Use seed", () => { $("seed").value = result.seed; selectTab("generate"); $("seed").focus(); });
  if (result.apply) button("Apply", result.apply);
  const download = document.createElement("a");
  download.href = img.src; download.download = `unclip-${result.kind}-${result.seed}.png`; download.textContent = "Download";
  actions.append(download);
  element.append(img, meta, actions);
  container.prepend(element);
  if (container === $("gallery")) $("gallery-empty").hidden = true;
  return element;
}

// ---------- generate ----------

function generateBody() {
  const body = { prompt: $("prompt").value, n: Number($("count").value || 1), size: $("size").value, stream: true, partial_images: 3 };
  if ($("seed").value !== "") body.seed = Number($("seed").value);
  for (const id of ["prior_steps", "decoder_steps", "super_res_steps", "prior_guidance_scale", "decoder_guidance_scale"]) {
    if ($(id).value !== "") body[id] = Number($(id).value);
  }
  if ($("decoder_scheduler").value) body.decoder_scheduler = $("decoder_scheduler").value;
  return body;
}

async function generate(event) {
  event.preventDefault();
  showError($("generate-error"), null);
  const body = generateBody();
  state.abort = new AbortController();
  $("generate").disabled = true; $("cancel").hidden = false;
  $("progress").hidden = false; $("partial").removeAttribute("src");
  $("progress-text").textContent = "Waiting for the server…";
  let done = 0;
  try {
    await stream("/v1/images/generations", body, (name, data) => {
      if (name.endsWith(".partial_image")) {
        $("partial").src = dataURL(data.b64_json);
        $("progress-text").textContent = `Drawing… preview ${data.partial_image_index + 1} of ${body.partial_images}`;
      } else if (name.endsWith(".completed")) {
        done += 1;
        card({ b64: data.b64_json, seed: data.seed, size: data.size, prompt: body.prompt, kind: "generation" }, $("gallery"));
        $("progress-text").textContent = `${done} of ${body.n} done`;
      }
    }, state.abort.signal);
  } catch (error) {
    showError($("generate-error"), error);
  } finally {
    $("generate").disabled = false; $("cancel").hidden = true; $("progress").hidden = true; state.abort = null;
  }
}

async function variations(b64, errorElement) {
  showError(errorElement, null);
  const form = new FormData();
  form.append("image", new Blob([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], { type: "image/png" }), "image.png");
  form.append("n", "2"); form.append("response_format", "b64_json");
  form.append("size", `${editor.side || 256}x${editor.side || 256}`);
  const status = $("edit-progress");
  status.hidden = false; $("edit-progress-text").textContent = "Making variations…";
  try {
    for (const item of await call("/v1/images/variations", form)) {
      const result = { b64: item.b64_json, seed: item.seed, size: form.get("size"), kind: "variation" };
      card(result, $("gallery"));
      card(result, $("edit-results"));
    }
  } catch (error) {
    showError(errorElement, error);
  } finally {
    status.hidden = true;
  }
}

// ---------- the editor: eraser, frame, canvas that grows ----------

const editor = {
  world: null,      // the picture so far (a canvas; transparent where nothing is yet)
  mask: null,       // white (opaque) where the user erased: to be regenerated
  origin: { x: 0, y: 0 },  // where world pixel (0, 0) is, in canvas coordinates (the canvas also shows the frame)
  frame: null,      // { x, y } in world coordinates; side = this.side
  side: 0,
  undo: [],

  open(src) {
    const image = new Image();
    image.onload = () => {
      const natural = Math.min(image.naturalWidth, image.naturalHeight);
      this.side = SIDES.includes(natural) && image.naturalWidth === image.naturalHeight ? natural : 512;
      this.world = document.createElement("canvas");
      this.world.width = this.world.height = this.side;
      const sx = (image.naturalWidth - natural) / 2, sy = (image.naturalHeight - natural) / 2;
      this.world.getContext("2d").drawImage(image, sx, sy, natural, natural, 0, 0, this.side, this.side);
      this.mask = document.createElement("canvas");
      this.mask.width = this.mask.height = this.side;
      this.frame = { x: 0, y: 0 };
      this.undo = [];
      this.draw();
    };
    image.src = src;
  },

  mode() { return document.querySelector('input[name="mode"]:checked').value; },

  /** Redraws: the world, erased parts see-through, the frame dashed. */
  draw() {
    const canvas = $("canvas");
    if (!this.world) return;
    const f = this.frame, s = this.side;
    const minX = Math.min(0, f.x), minY = Math.min(0, f.y);
    const maxX = Math.max(this.world.width, f.x + s), maxY = Math.max(this.world.height, f.y + s);
    canvas.width = maxX - minX; canvas.height = maxY - minY;
    canvas.style.width = `${canvas.width * Math.max(1, 512 / s)}px`;       // a 256² picture shows at 512 px
    this.origin = { x: -minX, y: -minY };
    const g = canvas.getContext("2d");
    g.clearRect(0, 0, canvas.width, canvas.height);
    const layer = document.createElement("canvas");
    layer.width = this.world.width; layer.height = this.world.height;
    const lg = layer.getContext("2d");
    lg.drawImage(this.world, 0, 0);
    lg.globalCompositeOperation = "destination-out";
    lg.drawImage(this.mask, 0, 0);
    g.drawImage(layer, this.origin.x, this.origin.y);
    g.setLineDash([10, 6]); g.lineWidth = 3; g.strokeStyle = this.mode() === "frame" ? "#1d5fd6" : "rgba(29,95,214,.35)";
    g.strokeRect(this.origin.x + f.x + 1.5, this.origin.y + f.y + 1.5, s - 3, s - 3);
  },

  /** World coordinates of a pointer event. */
  point(event) {
    const canvas = $("canvas"), rect = canvas.getBoundingClientRect();
    return { x: (event.clientX - rect.left) * canvas.width / rect.width - this.origin.x,
             y: (event.clientY - rect.top) * canvas.height / rect.height - this.origin.y };
  },

  snapshot() {
    const copy = (c) => { const d = document.createElement("canvas"); d.width = c.width; d.height = c.height; d.getContext("2d").drawImage(c, 0, 0); return d; };
    this.undo.push({ world: copy(this.world), mask: copy(this.mask), frame: { ...this.frame } });
    if (this.undo.length > 30) this.undo.shift();
  },

  restore() {
    const last = this.undo.pop();
    if (!last) return;
    this.world = last.world; this.mask = last.mask; this.frame = last.frame;
    this.draw();
  },

  paint(from, to) {
    const g = this.mask.getContext("2d");
    g.globalCompositeOperation = this.mode() === "restore" ? "destination-out" : "source-over";
    g.strokeStyle = g.fillStyle = "#fff"; g.lineCap = "round"; g.lineWidth = Number($("brush").value);
    g.beginPath(); g.moveTo(from.x, from.y); g.lineTo(to.x, to.y); g.stroke();
    this.draw();
  },

  /** Grows world and mask so that the frame lies inside them (new area transparent, i.e. to be filled). */
  growToFrame() {
    const f = this.frame, s = this.side;
    const minX = Math.min(0, f.x), minY = Math.min(0, f.y);
    const maxX = Math.max(this.world.width, f.x + s), maxY = Math.max(this.world.height, f.y + s);
    if (minX === 0 && minY === 0 && maxX === this.world.width && maxY === this.world.height) return;
    for (const key of ["world", "mask"]) {
      const grown = document.createElement("canvas");
      grown.width = maxX - minX; grown.height = maxY - minY;
      grown.getContext("2d").drawImage(this[key], -minX, -minY);
      this[key] = grown;
    }
    this.frame = { x: f.x - minX, y: f.y - minY };
  },

  /** The frame's square as two PNGs: the picture (transparent where empty) and the mask (alpha 0 = edit). */
  async crop() {
    const s = this.side, f = this.frame;
    const picture = document.createElement("canvas");
    picture.width = picture.height = s;
    picture.getContext("2d").drawImage(this.world, f.x, f.y, s, s, 0, 0, s, s);
    const mask = document.createElement("canvas");
    mask.width = mask.height = s;
    const mg = mask.getContext("2d");
    mg.drawImage(picture, 0, 0);                                  // alpha 0 where nothing is yet
    mg.globalCompositeOperation = "destination-out";
    mg.drawImage(this.mask, f.x, f.y, s, s, 0, 0, s, s);          // and where erased
    const blob = (c) => new Promise((resolve) => c.toBlob(resolve, "image/png"));
    return { picture: await blob(picture), mask: await blob(mask) };
  },

  /** Pastes a result into the frame and clears the eraser there. */
  apply(b64, frame) {
    const image = new Image();
    image.onload = () => {
      this.snapshot();
      this.world.getContext("2d").drawImage(image, frame.x, frame.y, this.side, this.side);
      this.mask.getContext("2d").clearRect(frame.x, frame.y, this.side, this.side);
      this.draw();
    };
    image.src = dataURL(b64);
  },
};

async function edit(event) {
  if (event) event.preventDefault();
  showError($("edit-error"), null);
  if (!editor.world) { showError($("edit-error"), { message: "Open a picture first (upload a PNG or choose Edit on a result)." }); return; }
  editor.growToFrame();
  editor.draw();
  const frame = { ...editor.frame };
  const { picture, mask } = await editor.crop();
  const form = new FormData();
  form.append("image", picture, "image.png");
  form.append("mask", mask, "mask.png");
  form.append("prompt", $("edit-prompt").value);
  form.append("n", $("edit-count").value || "1");
  form.append("size", `${editor.side}x${editor.side}`);
  form.append("stream", "true");
  form.append("partial_images", "2");
  $("edit").disabled = $("fill-frame").disabled = true;
  $("edit-progress").hidden = false; $("edit-progress-text").textContent = "Editing…";
  let first = true;
  try {
    await stream("/v1/images/edits", form, (name, data) => {
      if (name.endsWith(".partial_image")) {
        $("edit-progress-text").textContent = `Drawing… preview ${data.partial_image_index + 1} of 2`;
      } else if (name.endsWith(".completed")) {
        const result = { b64: data.b64_json, seed: data.seed, size: data.size, prompt: $("edit-prompt").value, kind: "edit" };
        result.apply = () => editor.apply(result.b64, frame);
        card(result, $("edit-results"));
        if (first) { editor.apply(result.b64, frame); first = false; }
      }
    });
  } catch (error) {
    showError($("edit-error"), error);
  } finally {
    $("edit").disabled = $("fill-frame").disabled = false; $("edit-progress").hidden = true;
  }
}

// ---------- wiring ----------

function selectTab(name) {
  for (const tab of ["generate", "edit"]) {
    $(`tab-${tab}`).setAttribute("aria-selected", String(tab === name));
    $(`panel-${tab}`).hidden = tab !== name;
  }
}

function wire() {
  $("tab-generate").addEventListener("click", () => selectTab("generate"));
  $("tab-edit").addEventListener("click", () => selectTab("edit"));
  $("generate-form").addEventListener("submit", generate);
  $("prompt").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("generate-form").requestSubmit(); }
  });
  $("edit-prompt").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("edit-form").requestSubmit(); }
  });
  $("cancel").addEventListener("click", () => state.abort && state.abort.abort());
  $("edit-form").addEventListener("submit", edit);
  $("fill-frame").addEventListener("click", () => edit(null));
  $("variation").addEventListener("click", async () => {
    if (!editor.world) { showError($("edit-error"), { message: "Open a picture first." }); return; }
    const { picture } = await editor.crop();
    const bytes = new Uint8Array(await picture.arrayBuffer());
    let binary = "";
    for (const b of bytes) binary += String.fromCharCode(b);
    variations(btoa(binary), $("edit-error"));
  });
  $("brush").addEventListener("input", () => { $("brush-value").value = $("brush").value; });
  $("undo").addEventListener("click", () => editor.restore());
  $("download-canvas").addEventListener("click", () => {
    if (!editor.world) return;
    const a = document.createElement("a");
    a.href = editor.world.toDataURL("image/png"); a.download = "unclip-canvas.png"; a.click();
  });
  $("upload").addEventListener("change", () => {
    const file = $("upload").files[0];
    if (file) editor.open(URL.createObjectURL(file));
  });
  for (const radio of document.querySelectorAll('input[name="mode"]')) {
    radio.addEventListener("change", () => {
      if (editor.world && editor.mode() === "frame" && editor.frame.x === 0 && editor.frame.y === 0) {
        editor.frame = { x: Math.round(editor.side / 2), y: 0 };      // half past the right edge, as DALL·E's frame
      }
      editor.draw();
    });
  }
  const canvas = $("canvas");
  let last = null, grab = null;
  canvas.addEventListener("pointerdown", (e) => {
    if (!editor.world) return;
    canvas.setPointerCapture(e.pointerId);
    const p = editor.point(e);
    editor.snapshot();
    if (editor.mode() === "frame") grab = { dx: p.x - editor.frame.x, dy: p.y - editor.frame.y };
    else { last = p; editor.paint(p, p); }
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!editor.world) return;
    const p = editor.point(e);
    if (grab) { editor.frame = { x: Math.round(p.x - grab.dx), y: Math.round(p.y - grab.dy) }; editor.draw(); }
    else if (last) { editor.paint(last, p); last = p; }
  });
  const end = () => { last = null; grab = null; };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  canvas.addEventListener("keydown", (e) => {           // arrow keys move the frame (Shift: faster)
    if (!editor.world || editor.mode() !== "frame") return;
    const step = e.shiftKey ? 64 : 16;
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (!moves[e.key]) return;
    e.preventDefault();
    editor.frame = { x: editor.frame.x + moves[e.key][0], y: editor.frame.y + moves[e.key][1] };
    editor.draw();
  });
}

async function start() {
  wire();
  try {
    const health = await (await fetch("/health")).json();
    $("model").textContent = `model: ${health.model}` + (health.status === "ok" ? "" : " (loading…)");
    state.keyRequired = !!health.api_key_required;
    $("key-row").hidden = !state.keyRequired;
    const saved = sessionStorage.getItem("unclip-api-key");
    if (saved) $("api-key").value = saved;
    $("api-key").addEventListener("change", () => sessionStorage.setItem("unclip-api-key", $("api-key").value));
  } catch (_) {
    $("model").textContent = "server not reachable";
  }
}

start();

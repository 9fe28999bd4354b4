// The playground: a form that calls POST /classify and draws the answer. Every piece of data reaches
// the page through textContent or attributes set one by one, never as HTML, so a text holding markup
// shows as the characters it is.
"use strict";

const form = document.getElementById("classify-form");
const textsBox = document.getElementById("texts");
const modelsBox = document.getElementById("models");
const modelsNote = document.getElementById("models-note");
const explainBox = document.getElementById("explain");
const keyBox = document.getElementById("api-key");
const statusLine = document.getElementById("status");
const results = document.getElementById("results");
const SLOT_COLOURS = 8;
const HEAT_LEVELS = 5;

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function headers() {
  const result = { "content-type": "application/json" };
  if (keyBox.value) result.authorization = "Bearer " + keyBox.value;
  return result;
}

async function errorMessage(response) {
  try {
    const body = await response.json();
    const error = body.error || {};
    return (error.field ? error.field + ": " : "") + (error.message || response.statusText);
  } catch (_) {
    return response.status + " " + response.statusText;
  }
}

async function loadModels() {
  const response = await fetch("/models", { headers: headers() });
  if (!response.ok) {
    modelsNote.textContent = response.status === 401
      ? "Enter the API key to list the models (every model answers meanwhile)."
      : "Could not list the models: " + (await errorMessage(response));
    return;
  }
  const { models } = await response.json();
  modelsBox.querySelectorAll(".row").forEach((row) => row.remove());
  modelsNote.textContent = "";
  for (const model of models) {
    const row = element("div", "row");
    const box = element("input");
    box.type = "checkbox";
    box.id = "model-" + model.name;
    box.value = model.name;
    box.checked = true;
    const label = element("label", "", model.name + " (" + model.kind + ")");
    label.htmlFor = box.id;
    row.append(box, label);
    modelsBox.append(row);
  }
}

function chosenModels() {
  const boxes = [...modelsBox.querySelectorAll("input[type=checkbox]")];
  return boxes.length ? boxes.filter((box) => box.checked).map((box) => box.value) : null;
}

// A stable colour class per slot name, so one slot has one colour everywhere on the page.
function colourOf(slot) {
  let hash = 0;
  for (const char of slot) hash = (hash * 31 + char.codePointAt(0)) >>> 0;
  return "colour-" + (hash % SLOT_COLOURS);
}

function answerLine(label, score, model) {
  const line = element("p", "answer");
  const name = element("span", "answer-label", label);
  name.dataset.model = model;
  const meter = element("meter");
  meter.min = 0;
  meter.max = 1;
  meter.value = score;
  meter.title = "probability " + score.toFixed(3);
  meter.setAttribute("aria-label", "probability of " + label);
  line.append(name, " ", meter, " ", element("span", "score", score.toFixed(3)));
  return line;
}

// The text with each slot span marked and labelled, displaCy-style; characters between spans stay plain.
function slotText(text, slots) {
  const line = element("p", "slots");
  let at = 0;
  for (const slot of slots) {
    if (slot.start > at) line.append(text.slice(at, slot.start));
    const mark = element("mark", "slot " + colourOf(slot.slot));
    mark.dataset.slot = slot.slot;
    mark.append(element("span", "slot-value", text.slice(slot.start, slot.end)), element("span", "slot-label", slot.slot));
    line.append(mark);
    at = slot.end;
  }
  if (at < text.length) line.append(text.slice(at));
  return line;
}

// Tokens shaded by attribution: warm pushed the answer, cool held it back, scaled to the text's largest.
function heatMap(text, explanation) {
  const line = element("p", "heat");
  const largest = Math.max(1e-9, ...explanation.map((entry) => Math.abs(entry.attribution)));
  let at = 0;
  for (const entry of explanation) {
    if (entry.start > at) line.append(text.slice(at, entry.start));
    const level = Math.min(HEAT_LEVELS, Math.round((Math.abs(entry.attribution) / largest) * HEAT_LEVELS));
    const token = element("span", "token " + (entry.attribution >= 0 ? "push-" : "hold-") + level, entry.text);
    token.title = "attribution " + entry.attribution.toFixed(4);
    token.dataset.attribution = String(entry.attribution);
    line.append(token);
    at = entry.end;
  }
  if (at < text.length) line.append(text.slice(at));
  return line;
}

// An abstaining bundle says the text is outside its scope: it is shown greyed, its label as a guess.
function bundleView(name, text, prediction) {
  const section = element("section", prediction.abstained ? "bundle abstained" : "bundle");
  section.dataset.model = name;
  section.dataset.abstained = String(prediction.abstained);
  section.append(element("h3", "", name));
  if (prediction.abstained) {
    section.append(element("p", "out-of-scope", "Out of scope: this model abstains. Its would-be answer:"));
  }
  if (prediction.intent) {
    section.append(answerLine(prediction.intent.label, prediction.intent.score, name));
    section.append(slotText(text, prediction.slots));
  } else {
    section.append(answerLine(prediction.label, prediction.score, name));
  }
  if (prediction.explanation) {
    section.append(element("p", "note", "Attribution of each token (how much masking it lowers that answer's probability):"));
    section.append(heatMap(text, prediction.explanation));
  }
  return section;
}

function render(body) {
  results.replaceChildren();
  for (const result of body.results || [body]) {
    const card = element("article", "result");
    card.append(element("h2", "text", result.text));
    for (const [name, prediction] of Object.entries(result.predictions)) card.append(bundleView(name, result.text, prediction));
    results.append(card);
  }
}

async function classify(event) {
  event.preventDefault();
  const texts = textsBox.value.split("\n").filter((line) => line.trim());
  if (!texts.length) {
    statusLine.textContent = "Type at least one text.";
    textsBox.focus();
    return;
  }
  const request = { texts, explain: explainBox.checked };
  const models = chosenModels();
  if (models !== null) {
    if (!models.length) {
      statusLine.textContent = "Pick at least one model.";
      return;
    }
    request.models = models;
  }
  statusLine.textContent = "Classifying…";
  const started = performance.now();
  try {
    const response = await fetch("/classify", { method: "POST", headers: headers(), body: JSON.stringify(request) });
    if (!response.ok) {
      statusLine.textContent = "Error " + response.status + ": " + (await errorMessage(response));
      return;
    }
    render(await response.json());
    statusLine.textContent = "Answered in " + Math.round(performance.now() - started) + " ms.";
  } catch (error) {
    statusLine.textContent = "The server could not be reached: " + error.message;
  }
}

form.addEventListener("submit", classify);
textsBox.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
});
keyBox.addEventListener("change", loadModels);
loadModels();

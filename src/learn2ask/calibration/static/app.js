// learn2ask labelling page: one card at a time, keyboard first, no external code.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const state = { labeller: "", card: null, verdicts: [] };
  // Every action runs after the previous one has finished (its next card shown), so fast
  // typing never labels a card the labeller has not seen yet.
  let chain = Promise.resolve();
  function enqueue(task) {
    chain = chain.then(task).catch((error) => show(error.message));
    return chain;
  }

  function show(message) { $("message").textContent = message; }

  async function api(method, path, body) {
    const options = { method, headers: { "content-type": "application/json" } };
    if (body !== undefined) options.body = JSON.stringify(body);
    const response = await fetch(path, options);
    const data = await response.json();
    if (!response.ok) throw new Error(data.detail || response.statusText);
    return data;
  }

  function fillTurns(list, turns) {
    list.replaceChildren();
    for (const turn of turns) {
      const li = document.createElement("li");
      li.className = turn.role;
      li.textContent = (turn.role === "expert" ? "Expert: " : "User: ") + turn.content;
      list.appendChild(li);
    }
  }

  function fillList(list, texts) {
    list.replaceChildren();
    for (const text of texts) {
      const li = document.createElement("li");
      li.textContent = text;
      list.appendChild(li);
    }
  }

  function renderVerdicts() {
    const items = $("items").children;
    for (let i = 0; i < items.length; i++) items[i].className = state.verdicts[i];
  }

  function setProgress(p) {
    $("progress").textContent = `${p.labelled} labelled, ${p.skipped} skipped, ${p.total} cards`;
  }

  function render(card) {
    state.card = card;
    if (!card) {
      $("card").hidden = true;
      show("No cards left for you. Thank you!");
      return;
    }
    show("");
    $("card").hidden = false;
    $("card").dataset.cardId = String(card.id);
    $("card").dataset.kind = card.kind;
    $("reason").textContent = `card ${card.id} · ${card.reason}`;
    fillTurns($("context"), card.context);
    const grade = card.kind === "grade";
    $("grade-part").hidden = !grade;
    $("extraction-part").hidden = grade;
    if (grade) {
      fillList($("infoset"), card.info_set);
      $("question").textContent = card.question;
    } else {
      fillTurns($("future"), card.future);
      fillList($("items"), card.items);
      state.verdicts = card.items.map(() => "right");
      renderVerdicts();
      $("missing").value = "";
    }
  }

  async function loadNext() {
    const data = await api("GET", `/api/next?labeller=${encodeURIComponent(state.labeller)}`);
    setProgress(data.progress);
    render(data.card);
  }

  async function act(path, extra) {
    if (!state.card) return;
    try {
      await api("POST", path, { card_id: state.card.id, labeller: state.labeller, ...extra });
      await loadNext();
    } catch (error) { show(`Not saved: ${error.message}`); }
  }

  async function undo() {
    if (!state.labeller) return;
    try {
      const data = await api("POST", "/api/undo", { labeller: state.labeller });
      setProgress(data.progress);
      if (data.card) { render(data.card); show("Undone: label this card again."); }
      else show("Nothing to undo.");
    } catch (error) { show(`Undo failed: ${error.message}`); }
  }

  function saveExtraction() {
    const missing = $("missing").value.split("\n").map((s) => s.trim()).filter(Boolean);
    return act("/api/label", { verdicts: state.verdicts, missing });
  }

  function toggle(index) {
    if (!state.card || state.card.kind !== "extraction" || index >= state.verdicts.length) return;
    state.verdicts[index] = state.verdicts[index] === "right" ? "wrong" : "right";
    renderVerdicts();
  }

  async function start() {
    const id = $("labeller").value.trim();
    if (!id) { show("Type your labeller id first."); return; }
    state.labeller = id;
    $("labeller").blur(); // keys now label cards
    try { localStorage.setItem("learn2ask-labeller", id); } catch (e) { /* private mode */ }
    enqueue(loadNext);
  }

  function onKey(event) {
    if (event.target === $("labeller")) { if (event.key === "Enter") start(); return; }
    if (event.target === $("missing")) { if (event.key === "Escape") $("missing").blur(); return; }
    if (!state.labeller || event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key;
    const grades = { "0": 0, "5": 0.5, "h": 0.5, "1": 1 };
    if (key === "m" && state.card && state.card.kind === "extraction") $("missing").focus();
    else if (key === "s") enqueue(() => act("/api/skip", {}));
    else if (key === "u") enqueue(undo);
    else if (key in grades || /^[1-9]$/.test(key) || key === "Enter") {
      // what a key means depends on the card shown when its turn comes
      enqueue(() => {
        if (!state.card) return undefined;
        if (state.card.kind === "grade") {
          return key in grades ? act("/api/label", { label: grades[key] }) : undefined;
        }
        if (key === "Enter") return saveExtraction();
        if (/^[1-9]$/.test(key)) toggle(Number(key) - 1);
        return undefined;
      });
    } else return;
    event.preventDefault();
  }

  document.addEventListener("keydown", onKey);
  $("start").addEventListener("click", start);
  $("skip").addEventListener("click", () => enqueue(() => act("/api/skip", {})));
  $("undo").addEventListener("click", () => enqueue(undo));
  $("submit-extraction").addEventListener("click", () => enqueue(saveExtraction));
  for (const button of document.querySelectorAll("[data-label]")) {
    const label = Number(button.dataset.label);
    button.addEventListener("click", () => enqueue(() => act("/api/label", { label })));
  }
  try { $("labeller").value = localStorage.getItem("learn2ask-labeller") || ""; } catch (e) { /* */ }
})();

"""What the LSTM gates do on a text: record them, find interpretable units, and show them.

After Karpathy, Johnson & Fei-Fei (2015), "Visualizing and Understanding Recurrent
Networks" (arXiv:1506.02078), which found character-LSTM cells that track quotes,
line length and nesting. :func:`inspect_gates` runs a model's encoder twice on the
same token ids: the fast path (``torch.nn.LSTM``) and the reference cell of
:mod:`nlp_lstm.lstm`, which returns every gate. The two must agree, so the gates
shown are those of the model that generates and classifies. Recorded per token,
layer and unit:

* ``f``, ``i``, ``o``: the forget, input and output gates, in [0, 1];
* ``c``: the cell state (unbounded: some cells count, reaching hundreds);
* ``h``: the hidden state, in [-1, 1].

Only the first :data:`MAX_TOKENS` tokens of a text are read, so pages stay small
(the HTML page stores one byte per token, layer, unit and quantity). For a
bidirectional classifier only the forward stack is inspected.

Colours everywhere use one rule: a value's position in its quantity's range, from
-1 (blue) through 0 (white) to +1 (red). Gates map [0, 1] there, ``h`` is already
in range, and ``c`` is divided by its unit's largest ``|c|`` over the text.
"""

from __future__ import annotations

import base64
import html
import json
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from nlp_lstm.errors import NlpLstmError, UsageError

if TYPE_CHECKING:
    from rich.text import Text

    from nlp_lstm.checkpoint import SavedModel

MAX_TOKENS = 1000
QUANTITIES = ("f", "i", "o", "c", "h")
QUANTITY_NAMES = {"f": "forget gate", "i": "input gate", "o": "output gate", "c": "cell state", "h": "hidden state"}
FEATURES = ("inside quotes", "position in line", "uppercase", "punctuation", "whitespace")
# A short passage with speakers, line breaks and punctuation, for a first look.
DEFAULT_TEXT = """ROMEO:
But, soft! what light through yonder window breaks?
It is the east, and Juliet is the sun.

JULIET:
O Romeo, Romeo! wherefore art thou Romeo?
Deny thy father and refuse thy name;
Or, if thou wilt not, be but sworn my love,
And I'll no longer be a Capulet.
"""
# Each opening quotation mark and the mark that closes it. A straight single quote is left out:
# in most English text it is an apostrophe ('tis, o'er, fathers').
QUOTE_PAIRS = {'"': '"', "\u201c": "\u201d", "\u2018": "\u2019"}


class GateMismatchError(NlpLstmError):
    """The reference LSTM and torch.nn.LSTM disagree on a model's weights: the gates would be wrong."""


@dataclass
class UnitScore:
    """How well one unit's activation follows one text feature (Pearson r over the text)."""

    feature: str
    layer: int
    quantity: str
    unit: int
    r: float

    def as_dict(self) -> dict[str, Any]:
        return {"feature": self.feature, "layer": self.layer, "quantity": self.quantity, "unit": self.unit, "r": self.r}


@dataclass(eq=False)  # holds arrays: compare the fields instead
class Inspection:
    """Gate activations of one text: ``gates[q]`` is (layers, steps, units) float32 for q in f, i, o, c, h."""

    tokens: list[str]
    ids: np.ndarray
    gates: dict[str, np.ndarray]
    max_difference: float  # largest gap found between the fast path and the reference
    truncated: bool  # the text had more than the tokens kept

    @property
    def layers(self) -> int:
        return self.gates["h"].shape[0]

    @property
    def steps(self) -> int:
        return self.gates["h"].shape[1]

    @property
    def units(self) -> int:
        return self.gates["h"].shape[2]

    def features(self) -> dict[str, np.ndarray]:
        return text_features(self.tokens)

    def top_units(self, top: int = 5) -> dict[str, list[UnitScore]]:
        return rank_units(self.gates, self.features(), top)

    def check_view(self, layer: int, quantity: str, unit: int | None = None) -> None:
        """Raise a UsageError naming the valid range if a layer, quantity or unit does not exist."""
        if quantity not in QUANTITIES:
            raise UsageError(f"unknown quantity {quantity!r}; choose one of {', '.join(QUANTITIES)}")
        if not 0 <= layer < self.layers:
            raise UsageError(f"layer {layer} does not exist; this model has layers 0 to {self.layers - 1}")
        if unit is not None and not 0 <= unit < self.units:
            raise UsageError(f"unit {unit} does not exist; this model has units 0 to {self.units - 1}")

    def best_unit(self, layer: int, quantity: str) -> int:
        """The unit of ``layer`` whose ``quantity`` follows some text feature best (largest |r|)."""
        self.check_view(layer, quantity)
        only = {quantity: self.gates[quantity][layer : layer + 1]}
        scores = [s for ranked in rank_units(only, self.features(), 1).values() for s in ranked]
        return max(scores, key=lambda s: abs(s.r)).unit if scores else 0

    def colour_positions(self, layer: int, quantity: str) -> np.ndarray:
        """(steps, units) values mapped to [-1, 1] for colouring (see the module docstring)."""
        self.check_view(layer, quantity)
        return colour_positions(self.gates[quantity][layer], quantity)


def inspect_gates(
    saved: SavedModel, text: str | None = None, max_tokens: int = MAX_TOKENS, tolerance: float = 1e-4
) -> Inspection:
    """Record every gate of ``saved``'s encoder over the first ``max_tokens`` tokens of ``text`` (default: :data:`DEFAULT_TEXT`).

    Raises :class:`GateMismatchError` if the reference cell and ``torch.nn.LSTM`` differ by more
    than ``tolerance`` in the hidden states (cell states are compared relative to their size, as
    counting cells grow large).
    """
    if text is None:
        text = DEFAULT_TEXT
    if not text:
        raise UsageError("no text to inspect; pass a non-empty --text or --input FILE")
    if max_tokens < 1:
        raise UsageError(f"max_tokens must be a positive integer, got {max_tokens}")
    tokenizer = saved.tokenizer
    if tokenizer.kind == "char":
        # One token per code point: keep the text's own characters, not decode()'s stand-in for unknown ones.
        truncated = len(text) > max_tokens
        text = text[:max_tokens]
        ids = tokenizer.encode_array(text)
        tokens = list(text)
    else:
        ids = tokenizer.encode_array(text)
        truncated = len(ids) > max_tokens
        ids = ids[:max_tokens]
        tokens = [tokenizer.decode([i]) for i in ids]
    encoder = saved.model.encoder
    was_training = saved.model.training
    saved.model.eval()  # no dropout between layers, or the fast path would not be the model's inference
    try:
        with torch.no_grad():
            weight = encoder.lstm.weight_hh_l0
            embedded = encoder.embedding(torch.as_tensor(ids, device=weight.device)[None])  # (1, T, E)
            fast, (fast_h, fast_c) = encoder.lstm(embedded)
            reference, (ref_h, ref_c), gates = encoder.reference()(embedded, return_gates=True)
    finally:
        saved.model.train(was_training)
    difference = max(
        (fast - reference).abs().max().item(),
        (fast_h - ref_h).abs().max().item(),
        ((fast_c - ref_c).abs() / ref_c.abs().clamp(min=1.0)).max().item(),
    )
    if not difference <= tolerance:  # also catches NaN
        raise GateMismatchError(
            f"the reference LSTM differs from torch.nn.LSTM by {difference:.3g} (tolerance {tolerance:g}) on this model; "
            "its gates cannot be trusted: please report it with the model"
        )
    forward = [layer[0] for layer in gates]  # direction 0 of each layer
    fields = {"f": "forget", "i": "input", "o": "output", "c": "cell", "h": "hidden"}
    arrays = {q: np.stack([getattr(g, name)[0].float().cpu().numpy() for g in forward]) for q, name in fields.items()}
    return Inspection(tokens, np.asarray(ids), arrays, difference, truncated)


def colour_positions(values: np.ndarray, quantity: str) -> np.ndarray:
    """``values`` (steps, units) of one quantity mapped to [-1, 1]: gates from [0, 1], c per unit by max |c|."""
    if quantity in ("f", "i", "o"):
        return 2.0 * values - 1.0
    if quantity == "c":
        return values / np.maximum(np.abs(values).max(axis=0, keepdims=True), 1e-6)
    return values


def diverging_rgb(position: float) -> tuple[int, int, int]:
    """Blue (-1) through white (0) to red (+1); the page's JavaScript uses the same formula."""
    position = max(-1.0, min(1.0, float(position)))
    end = (202, 0, 32) if position >= 0 else (5, 113, 176)
    weight = abs(position)
    return tuple(round(255 + (e - 255) * weight) for e in end)  # type: ignore[return-value]


def text_features(tokens: list[str]) -> dict[str, np.ndarray]:
    """Per-token features (steps,) of the text the tokens spell: the mean over each token's characters.

    * inside quotes: 1 from an opening double quote (or curly single quote) to its closing one,
      both marks included; a blank line ends any quote left open, so one stray mark cannot
      colour the rest of the text;
    * position in line: characters since the last newline (0 for the first);
    * uppercase, punctuation (Unicode category P*), whitespace: 1 or 0.
    """
    text = "".join(tokens)
    per_char = {name: np.zeros(len(text), dtype=np.float64) for name in FEATURES}
    closer: str | None = None  # the mark that ends the open quote, if one is open
    column = 0
    for k, ch in enumerate(text):
        if ch == "\n" and k > 0 and text[k - 1] == "\n":
            closer = None
        if closer is None and ch in QUOTE_PAIRS:
            closer = QUOTE_PAIRS[ch]
            per_char["inside quotes"][k] = 1.0
        # A curly single quote followed by a letter is an apostrophe (as in "don’t"), not the end of a quote.
        elif ch == closer and not (ch == "\u2019" and k + 1 < len(text) and text[k + 1].isalpha()):
            closer = None
            per_char["inside quotes"][k] = 1.0
        else:
            per_char["inside quotes"][k] = float(closer is not None)
        per_char["position in line"][k] = column
        column = 0 if ch == "\n" else column + 1
        per_char["uppercase"][k] = float(ch.isupper())
        per_char["punctuation"][k] = float(unicodedata.category(ch).startswith("P"))
        per_char["whitespace"][k] = float(ch.isspace())
    ends = np.cumsum([len(t) for t in tokens])
    starts = ends - np.array([len(t) for t in tokens], dtype=ends.dtype)
    return {
        name: np.array([values[s:e].mean() if e > s else 0.0 for s, e in zip(starts, ends)]) for name, values in per_char.items()
    }


def rank_units(activations: dict[str, np.ndarray], features: dict[str, np.ndarray], top: int = 5) -> dict[str, list[UnitScore]]:
    """For each feature, the ``top`` (layer, quantity, unit) whose activation has the largest |Pearson r| with it.

    ``activations[q]`` is (layers, steps, units); ``features[name]`` is (steps,). A feature that is
    constant over the text (no quotes at all, say) has no correlation and gets an empty list.
    """
    ranked: dict[str, list[UnitScore]] = {}
    for name, feature in features.items():
        x = np.asarray(feature, dtype=np.float64)
        x = x - x.mean()
        norm = np.linalg.norm(x)
        if norm == 0:
            ranked[name] = []
            continue
        candidates: list[UnitScore] = []
        for quantity, values in activations.items():
            for layer, a in enumerate(np.asarray(values, dtype=np.float64)):
                a = a - a.mean(axis=0)
                norms = np.linalg.norm(a, axis=0) * norm
                # A constant unit carries no signal: r = 0, not a division by zero.
                r = np.divide(x @ a, norms, out=np.zeros(a.shape[1]), where=norms > 0)
                for unit in np.argsort(-np.abs(r))[:top]:
                    candidates.append(UnitScore(name, layer, quantity, int(unit), float(r[unit])))
        ranked[name] = sorted(candidates, key=lambda s: -abs(s.r))[:top]
    return ranked


def _quantised(inspection: Inspection) -> bytes:
    """One byte per (layer, quantity, unit, step): the colour position scaled to 0..255, a unit's steps contiguous."""
    out = np.empty((inspection.layers, len(QUANTITIES), inspection.units, inspection.steps), dtype=np.uint8)
    for q, quantity in enumerate(QUANTITIES):
        for layer in range(inspection.layers):
            position = inspection.colour_positions(layer, quantity)  # (steps, units)
            out[layer, q] = np.rint((np.clip(position, -1, 1) + 1) * 127.5).astype(np.uint8).T
    return out.tobytes()


def render_html(
    inspection: Inspection,
    layer: int | None = None,
    quantity: str = "c",
    unit: int | None = None,
    title: str = "LSTM gates",
    top: int = 5,
) -> str:
    """One self-contained HTML page (inline CSS and JavaScript, data embedded, no network) to explore the gates.

    Controls: ``#layer``, ``#quantity``, ``#unit`` (with the slider ``#unit-slider``); the text in
    ``#text`` is one ``span`` per token, its background the chosen unit's activation. The table
    ``#top-units`` lists the units most correlated with each text feature; clicking a row shows it.
    """
    layer = inspection.layers - 1 if layer is None else layer
    unit = inspection.best_unit(layer, quantity) if unit is None else unit
    inspection.check_view(layer, quantity, unit)
    top_units = [s.as_dict() for ranked in inspection.top_units(top).values() for s in ranked]
    cell_scale = np.abs(inspection.gates["c"]).max(axis=1)  # (layers, units): what the c colours are relative to
    data = {
        "tokens": inspection.tokens,
        "layers": inspection.layers,
        "units": inspection.units,
        "steps": inspection.steps,
        "quantities": list(QUANTITIES),
        "names": QUANTITY_NAMES,
        "cell_scale": np.round(cell_scale, 4).tolist(),
        "initial": {"layer": layer, "quantity": quantity, "unit": unit},
        "top": top_units,
        "truncated": inspection.truncated,
        "values": base64.b64encode(_quantised(inspection)).decode("ascii"),
    }
    # "/" only occurs inside JSON strings, where "\/" means the same: this keeps "</script>" and any
    # URL-like text out of the page.
    payload = json.dumps(data, ensure_ascii=True).replace("/", "\\/")
    page = PAGE.replace("__TITLE__", html.escape(title)).replace("__DATA__", payload)
    return page


def render_png(
    inspection: Inspection,
    path: str | Path,
    layer: int | None = None,
    quantity: str = "c",
    units: list[int] | None = None,
    max_units: int = 32,
) -> Path:
    """A heatmap (units × tokens) of one layer's ``quantity`` as a PNG; by default the ``max_units`` most variable units."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise NlpLstmError("the PNG heatmap needs matplotlib: pip install 'nlp-lstm[plot]'") from None
    layer = inspection.layers - 1 if layer is None else layer
    inspection.check_view(layer, quantity)
    position = inspection.colour_positions(layer, quantity)  # (steps, units)
    if units is None:
        units = sorted(np.argsort(-position.std(axis=0))[:max_units].tolist())
    for unit in units:
        inspection.check_view(layer, quantity, unit)
    steps = inspection.steps
    # A figure object, not pyplot: no global backend or state, and no display needed.
    figure = Figure(figsize=(min(max(6.0, 2.0 + 0.12 * steps), 30.0), min(max(3.0, 1.5 + 0.22 * len(units)), 12.0)), dpi=100)
    axes = figure.add_subplot()
    image = axes.imshow(position[:, units].T, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    axes.set_yticks(range(len(units)), [str(u) for u in units], fontsize=6)
    axes.set_ylabel("unit")
    if steps <= 150:
        labels = [{"\n": "\\n", " ": "\u2423"}.get(t, t) for t in inspection.tokens]
        axes.set_xticks(range(steps), labels, fontsize=6, rotation=0 if all(len(t) <= 1 for t in labels) else 90)
    else:
        axes.set_xlabel("token")
    scale = {"c": "c / max |c| of the unit", "h": "h"}.get(quantity, f"2·{quantity} - 1")
    axes.set_title(f"layer {layer}, {QUANTITY_NAMES[quantity]}, {len(units)} units")
    figure.colorbar(image, ax=axes, label=scale, fraction=0.03, pad=0.01)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path


def render_terminal(inspection: Inspection, layer: int | None = None, quantity: str = "c", unit: int | None = None) -> Text:
    """The text with each token's background the unit's activation, as a rich ``Text`` to print."""
    from rich.text import Text

    layer = inspection.layers - 1 if layer is None else layer
    unit = inspection.best_unit(layer, quantity) if unit is None else unit
    inspection.check_view(layer, quantity, unit)
    position = inspection.colour_positions(layer, quantity)[:, unit]
    text = Text()
    for token, value in zip(inspection.tokens, position):
        red, green, blue = diverging_rgb(value)
        # Newlines are shown as ↵ so their colour is visible too.
        text.append(token.replace("\n", "\u21b5\n"), style=f"rgb(0,0,0) on rgb({red},{green},{blue})")
    return text


PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; max-width: 70em; }
h1 { font-size: 1.3em; margin-bottom: 0.2em; }
p.note { color: #555; font-size: 0.9em; margin-top: 0; }
#controls { display: flex; gap: 1.2em; align-items: center; flex-wrap: wrap; margin: 0.8em 0; }
#controls label { font-size: 0.95em; }
#unit { width: 5em; }
#unit-slider { width: 16em; }
#legend { display: inline-block; width: 12em; height: 0.9em; vertical-align: middle;
  background: linear-gradient(to right, rgb(5,113,176), rgb(255,255,255), rgb(202,0,32)); border: 1px solid #aaa; }
#text { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 14px; line-height: 1.6;
  white-space: pre-wrap; word-break: break-all; border: 1px solid #ddd; padding: 0.8em; }
#text span.tok { padding: 1px 0; }
#text span.tok:hover { outline: 1px solid #000; }
#status { font-family: ui-monospace, monospace; font-size: 0.9em; min-height: 1.3em; color: #333; }
table { border-collapse: collapse; margin-top: 0.6em; font-size: 0.9em; }
th, td { border-bottom: 1px solid #e3e3e3; padding: 0.2em 0.7em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
#top-units tbody tr { cursor: pointer; }
#top-units tbody tr:hover { background: #f3f3f3; }
#top-units tbody tr.selected { background: #ffe9a8; }
</style>
</head>
<body>
<h1>__TITLE__</h1>
<p class="note">Each character's background is the chosen unit's activation: blue is low, white the middle, red high
(gates f, i, o from 0 to 1; h from -1 to 1; c relative to the unit's largest |c| in this text).
After Karpathy, Johnson &amp; Fei-Fei (2015), <i>Visualizing and Understanding Recurrent Networks</i>.</p>
<div id="controls">
<label>layer <select id="layer"></select></label>
<label>quantity <select id="quantity"></select></label>
<label>unit <input id="unit" type="number" min="0" step="1"></label>
<input id="unit-slider" type="range" min="0" step="1" aria-label="unit">
<span><span id="legend"></span> <span id="legend-text"></span></span>
</div>
<div id="status"></div>
<div id="text"></div>
<h2 style="font-size:1.1em">Units most correlated with text features</h2>
<p class="note">Pearson r over this text between a unit's activation and a per-character feature. Click a row to show that unit.</p>
<table id="top-units"><thead><tr><th>feature</th><th>r</th><th>layer</th><th>quantity</th><th>unit</th></tr></thead><tbody></tbody></table>
<script type="application/json" id="gate-data">__DATA__</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("gate-data").textContent);
const raw = atob(D.values);
const bytes = new Uint8Array(raw.length);
for (let k = 0; k < raw.length; k++) bytes[k] = raw.charCodeAt(k);
const $ = (id) => document.getElementById(id);
const layerSel = $("layer"), quantitySel = $("quantity"), unitInput = $("unit"), slider = $("unit-slider");
const Q = D.quantities.length;

for (let l = 0; l < D.layers; l++) layerSel.add(new Option(String(l), String(l)));
D.quantities.forEach((q) => quantitySel.add(new Option(q + " (" + D.names[q] + ")", q)));
unitInput.max = slider.max = String(D.units - 1);

const spans = D.tokens.map((token, t) => {
  const span = document.createElement("span");
  span.className = "tok";
  span.textContent = token.replace(/\\n/g, "\\u21b5\\n");  // show newlines, so their colour is visible
  span.dataset.t = String(t);
  $("text").appendChild(span);
  return span;
});

// Same formula as diverging_rgb in Python: blue (-1), white (0), red (+1).
function colour(x) {
  const end = x >= 0 ? [202, 0, 32] : [5, 113, 176], w = Math.min(1, Math.abs(x));
  return "rgb(" + end.map((e) => Math.round(255 + (e - 255) * w)).join(",") + ")";
}
function view() {
  const unit = Math.max(0, Math.min(D.units - 1, parseInt(unitInput.value, 10) || 0));
  return { layer: parseInt(layerSel.value, 10), quantity: quantitySel.value, unit: unit };
}
// Colour positions of one unit over the text, each in [-1, 1].
function positions(v) {
  const start = ((v.layer * Q + D.quantities.indexOf(v.quantity)) * D.units + v.unit) * D.steps;
  return Array.from(bytes.subarray(start, start + D.steps), (b) => b / 127.5 - 1);
}
function value(v, p) {  // back from a colour position to the quantity's own scale
  if (v.quantity === "c") return p * D.cell_scale[v.layer][v.unit];
  return v.quantity === "h" ? p : (p + 1) / 2;
}
function render() {
  const v = view();
  unitInput.value = slider.value = String(v.unit);
  const p = positions(v);
  spans.forEach((span, t) => { span.style.backgroundColor = colour(p[t]); });
  const low = v.quantity === "c" ? (-D.cell_scale[v.layer][v.unit]).toFixed(2) : v.quantity === "h" ? "-1" : "0";
  const high = v.quantity === "c" ? D.cell_scale[v.layer][v.unit].toFixed(2) : "1";
  $("legend-text").textContent = low + " \\u2026 " + high;
  document.body.dataset.view = v.layer + "/" + v.quantity + "/" + v.unit;
  document.querySelectorAll("#top-units tbody tr").forEach((row) => {
    row.classList.toggle("selected", row.dataset.view === document.body.dataset.view);
  });
}
function show(layer, quantity, unit) {
  layerSel.value = String(layer); quantitySel.value = quantity; unitInput.value = String(unit);
  render();
}

const tbody = document.querySelector("#top-units tbody");
D.top.forEach((s) => {
  const row = tbody.insertRow();
  [s.feature, s.r.toFixed(3), s.layer, s.quantity, s.unit].forEach((cell, k) => {
    const td = row.insertCell(); td.textContent = String(cell); if (k > 0) td.className = "num";
  });
  row.dataset.view = s.layer + "/" + s.quantity + "/" + s.unit;
  row.addEventListener("click", () => show(s.layer, s.quantity, s.unit));
});
if (!D.top.length) tbody.insertRow().insertCell().textContent = "no feature varies over this text";

layerSel.addEventListener("change", render);
quantitySel.addEventListener("change", render);
unitInput.addEventListener("input", render);
slider.addEventListener("input", () => { unitInput.value = slider.value; render(); });
$("text").addEventListener("mouseover", (event) => {
  const t = event.target.dataset && event.target.dataset.t;
  if (t === undefined) return;
  const v = view(), p = positions(v)[Number(t)];
  $("status").textContent = "token " + t + " " + JSON.stringify(D.tokens[Number(t)]) + ": " + v.quantity + " = " + value(v, p).toFixed(3);
});
show(D.initial.layer, D.initial.quantity, D.initial.unit);
if (D.truncated) $("status").textContent = "The text was cut to its first " + D.steps + " tokens.";
</script>
</body>
</html>
"""

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
import functools
import html
import importlib.resources
import json
import unicodedata
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from nlp_lstm.errors import NlpLstmError, UsageError

if TYPE_CHECKING:
    from rich.text import Text

    from nlp_lstm.checkpoint import ModelBundle

MAX_TOKENS = 1000
PNG_ROW_TOKENS = 100  # columns per row of the PNG heatmap: narrow enough for each token's character under it
# Whitespace and control characters as the PNG's axis shows them (the HTML page shows a newline as ↵ too).
VISIBLE_WHITESPACE = str.maketrans({"\n": "\u21b5", " ": "\u2423", "\t": "\u21e5", "\r": "\u240d"})
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

    def unit_to_show(self, layer: int, quantity: str, unit: int | None) -> int:
        """``unit`` where one is asked for, else the default: :meth:`best_unit`."""
        return self.best_unit(layer, quantity) if unit is None else unit

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
    saved: ModelBundle, text: str | None = None, max_tokens: int = MAX_TOKENS, tolerance: float = 1e-4
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


def ink_rgb(background: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white, whichever contrasts more with ``background`` (WCAG 2 luminance); the page's JavaScript agrees.

    Black text on the deep ends of the scale (dark red, dark blue) was unreadable. The better of the two always
    reaches a contrast of at least 4.58, above WCAG's 4.5 for body text.
    """
    luminance = relative_luminance(background)
    return (0, 0, 0) if (luminance + 0.05) / 0.05 >= 1.05 / (luminance + 0.05) else (255, 255, 255)


def relative_luminance(rgb: tuple[int, int, int]) -> float:
    """WCAG 2's relative luminance of an sRGB colour, 0 (black) to 1 (white)."""
    linear = [v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4 for v in (c / 255 for c in rgb)]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


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
    unit = inspection.unit_to_show(layer, quantity, unit)
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
    page = _page_template().replace("__TITLE__", html.escape(title)).replace("__DATA__", payload)
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
    figure = heatmap_figure(inspection, layer, quantity, units, max_units)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # A character the font lacks (an emoji, say) is drawn as a box; the warning would only add noise to stderr.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font", category=UserWarning)
        figure.savefig(path)
    return path


def heatmap_figure(
    inspection: Inspection, layer: int | None = None, quantity: str = "c", units: list[int] | None = None, max_units: int = 32
) -> Any:
    """The matplotlib ``Figure`` of :func:`render_png`: one row of panels per :data:`PNG_ROW_TOKENS` tokens.

    Every token's character stands under its column: a longer text wraps onto rows, as a paragraph does, instead
    of squeezing its columns too narrow for a label.
    """
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
    rows = [range(start, min(start + PNG_ROW_TOKENS, inspection.steps)) for start in range(0, inspection.steps, PNG_ROW_TOKENS)]
    columns = len(rows[0])  # every row as wide as the first, so a short last row keeps the same column width
    row_height = 0.7 + 0.11 * len(units)
    # A figure object, not pyplot: no global backend or state, and no display needed.
    figure = Figure(figsize=(max(6.0, 2.5 + 0.12 * columns), 0.5 + row_height * len(rows)), dpi=100, layout="constrained")
    panels = figure.subplots(len(rows), 1, squeeze=False)[:, 0]
    for axes, row in zip(panels, rows):
        image = axes.imshow(
            position[row.start : row.stop, units].T, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest"
        )
        axes.set_xlim(-0.5, columns - 0.5)
        axes.set_yticks(range(len(units)), [str(u) for u in units], fontsize=6)
        axes.set_ylabel("unit", fontsize=8)
        _label_tokens(axes, inspection.tokens[row.start : row.stop], row.start)
    scale = {"c": "c / max |c| of the unit", "h": "h"}.get(quantity, f"2·{quantity} - 1")
    panels[0].set_title(f"layer {layer}, {QUANTITY_NAMES[quantity]}, {len(units)} units")
    figure.colorbar(image, ax=list(panels), label=scale, fraction=0.03, pad=0.01)
    return figure


def _label_tokens(axes: Any, tokens: list[str], first: int) -> None:
    """Each token's text under its column (whitespace made visible), and where in the text the row starts."""
    labels = [token.translate(VISIBLE_WHITESPACE) for token in tokens]
    vertical = any(len(label) > 1 for label in labels)  # subwords would overlap side by side
    # parse_math off: a "$" in the text is a dollar sign, not the start of a formula.
    axes.set_xticks(range(len(labels)), labels, fontsize=7, rotation=90 if vertical else 0, parse_math=False)
    axes.tick_params(axis="x", length=0)
    axes.set_xlabel(f"tokens {first:,} to {first + len(tokens) - 1:,}", fontsize=8)


def render_terminal(inspection: Inspection, layer: int | None = None, quantity: str = "c", unit: int | None = None) -> Text:
    """The text with each token's background the unit's activation, as a rich ``Text`` to print."""
    from rich.text import Text

    layer = inspection.layers - 1 if layer is None else layer
    unit = inspection.unit_to_show(layer, quantity, unit)
    inspection.check_view(layer, quantity, unit)
    position = inspection.colour_positions(layer, quantity)[:, unit]
    text = Text()
    for token, value in zip(inspection.tokens, position):
        background = diverging_rgb(value)
        style = "rgb({},{},{}) on rgb({},{},{})".format(*ink_rgb(background), *background)
        text.append(token.replace("\n", "\u21b5\n"), style=style)  # newlines shown as ↵, so their colour is visible too
    return text


@functools.cache
def _page_template() -> str:
    """The page of :func:`render_html` (gates.html, package data): HTML, CSS and JavaScript, with __TITLE__ and __DATA__."""
    return importlib.resources.files("nlp_lstm").joinpath("gates.html").read_text(encoding="utf-8")

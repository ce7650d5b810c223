"""Gate inspection: the reference cell agrees with the fast path, the gates obey the equations, and the views work.

The browser tests run the HTML page in Debian's Chromium (installed by .ci/run) and skip where it is missing.
"""

import base64
import json
import re
import shutil
import subprocess

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import nlp_lstm
from nlp_lstm.cli import app
from nlp_lstm.inspection import (
    DEFAULT_TEXT,
    PNG_ROW_TOKENS,
    QUANTITIES,
    VISIBLE_WHITESPACE,
    GateMismatchError,
    colour_positions,
    diverging_rgb,
    heatmap_figure,
    ink_rgb,
    inspect_gates,
    rank_units,
    relative_luminance,
    render_html,
    render_png,
    render_terminal,
    text_features,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
QUOTED = 'He said "Soft, what light?"\nThen JULIET:\n  \u201cO Romeo!\u201d\n'


@pytest.fixture(scope="module")
def shipped_lm():
    return nlp_lstm.load_model(nlp_lstm.shipped_model("lm"))


@pytest.fixture(scope="module")
def shipped_inspection(shipped_lm):
    return inspect_gates(shipped_lm, QUOTED + "ROMEO:\nBut, soft! what light through yonder window breaks?\n")


def page_data(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="gate-data">(.*?)</script>', page, re.S)
    assert match, "the data block is missing"
    return json.loads(match.group(1))


def test_reference_agrees_with_the_fast_path_on_the_shipped_model(shipped_lm, sonnets_text):
    text = sonnets_text[:300]
    inspection = inspect_gates(shipped_lm, text)
    assert inspection.max_difference < 1e-4
    assert inspection.tokens == list(text) and not inspection.truncated
    assert {q: a.shape for q, a in inspection.gates.items()} == {q: (2, 300, 640) for q in QUANTITIES}
    for q in ("f", "i", "o"):
        assert inspection.gates[q].min() >= 0.0 and inspection.gates[q].max() <= 1.0
    assert np.abs(inspection.gates["h"]).max() <= 1.0
    # The agreement check is real: with no tolerance at all, float32 rounding alone trips it.
    with pytest.raises(GateMismatchError, match="differs from torch.nn.LSTM"):
        inspect_gates(shipped_lm, text, tolerance=0.0)


def test_long_texts_are_cut_and_empty_ones_refused(tiny_lm):
    inspection = inspect_gates(tiny_lm, "To be, or not to be " * 10, max_tokens=50)
    assert inspection.steps == 50 and inspection.truncated
    with pytest.raises(nlp_lstm.UsageError, match="no text"):
        inspect_gates(tiny_lm, "")


def test_recorded_gates_follow_the_cell_equations(shipped_lm, shipped_inspection):
    """Recompute every gate in float64 numpy from the weights and the recorded states of the step before."""
    g = {q: a.astype(np.float64) for q, a in shipped_inspection.gates.items()}
    # h_t = o_t * tanh(c_t) holds among the recorded values alone.
    np.testing.assert_allclose(g["h"], g["o"] * np.tanh(g["c"]), atol=1e-6)
    lstm = shipped_lm.model.encoder.lstm
    weights = {name: p.detach().double().numpy() for name, p in lstm.named_parameters()}
    ids = torch.as_tensor(shipped_inspection.ids)
    layer_input = shipped_lm.model.encoder.embedding(ids).detach().double().numpy()  # (T, E)
    for layer in range(shipped_inspection.layers):
        h_prev = np.vstack([np.zeros((1, lstm.hidden_size)), g["h"][layer, :-1]])  # h_{t-1}, zero before the text
        c_prev = np.vstack([np.zeros((1, lstm.hidden_size)), g["c"][layer, :-1]])
        pre = (
            layer_input @ weights[f"weight_ih_l{layer}"].T
            + weights[f"bias_ih_l{layer}"]
            + h_prev @ weights[f"weight_hh_l{layer}"].T
            + weights[f"bias_hh_l{layer}"]
        )
        pre_i, pre_f, pre_g, pre_o = np.split(pre, 4, axis=1)  # PyTorch's order: i, f, g, o
        sigmoid = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
        np.testing.assert_allclose(g["f"][layer], sigmoid(pre_f), atol=1e-5)
        np.testing.assert_allclose(g["i"][layer], sigmoid(pre_i), atol=1e-5)
        np.testing.assert_allclose(g["o"][layer], sigmoid(pre_o), atol=1e-5)
        # c_t = f_t * c_{t-1} + i_t * g_t, with the recorded f, i and c_{t-1}.
        expected_c = g["f"][layer] * c_prev + g["i"][layer] * np.tanh(pre_g)
        np.testing.assert_allclose(g["c"][layer], expected_c, rtol=1e-5, atol=1e-4)
        layer_input = g["h"][layer]  # the next layer reads this one's hidden states


def test_text_features_on_a_known_string():
    features = text_features(list(QUOTED))
    inside = "".join("q" if v else "." for v in features["inside quotes"])
    assert inside == "." * 8 + "q" * 19 + "." * 16 + "q" * 10 + "."
    assert features["position in line"][: len("He said")].tolist() == list(range(7))
    assert features["position in line"][QUOTED.index("Then")] == 0
    assert [QUOTED[k] for k in np.flatnonzero(features["uppercase"])] == list("HSTJULIETOR")
    assert [QUOTED[k] for k in np.flatnonzero(features["punctuation"])] == list('",?":\u201c!\u201d')
    assert features["whitespace"].sum() == sum(ch.isspace() for ch in QUOTED)
    # A curly apostrophe does not end a quote; a blank line ends one left open.
    apostrophe = text_features(list("\u2018don\u2019t\u2019 x \u201copen\n\nshut"))["inside quotes"]
    assert apostrophe.tolist() == [1.0] * 7 + [0.0] * 3 + [1.0] * 6 + [0.0] * 5


def test_subword_tokens_average_their_characters():
    from nlp_lstm.config import ModelConfig
    from nlp_lstm.model import LanguageModel
    from nlp_lstm.tokenizer import SubwordTokenizer

    text = "ROMEO: But, soft! what light through yonder window breaks?\n" * 3
    tokenizer = SubwordTokenizer.build([text * 5], vocab_size=300)
    torch.manual_seed(0)
    model = LanguageModel(ModelConfig(vocab_size=tokenizer.vocab_size, embedding_dim=8, hidden_size=12, num_layers=1)).eval()
    inspection = inspect_gates(nlp_lstm.ModelBundle(model, tokenizer, "lm"), text)
    assert "".join(inspection.tokens) == text and inspection.steps < len(text)
    features = inspection.features()
    first = inspection.tokens[0]
    assert features["uppercase"][0] == pytest.approx(sum(c.isupper() for c in first) / len(first))


def test_feature_correlation_finds_a_planted_unit(sonnets_text):
    text = sonnets_text[:1500]
    features = text_features(list(text))
    rng = np.random.default_rng(0)
    activations = {q: rng.normal(size=(2, len(text), 24)).astype(np.float32) for q in QUANTITIES}
    # Unit 7 of layer 1's output gate opens on capitals, through noise: an "uppercase cell".
    activations["o"][1, :, 7] = 0.2 + 0.6 * features["uppercase"] + rng.normal(scale=0.05, size=len(text))
    activations["c"][0, :, 3] = 1.0  # a constant unit: no correlation, not a division by zero
    ranked = rank_units(activations, features, top=3)
    best = ranked["uppercase"][0]
    assert (best.layer, best.quantity, best.unit) == (1, "o", 7) and best.r > 0.85  # about 0.92 for this noise
    assert all(abs(s.r) < 0.3 for s in ranked["uppercase"][1:])
    assert all(not np.isnan(s.r) for scores in ranked.values() for s in scores)
    assert ranked["inside quotes"] == []  # no double or curly quotes in the Sonnets' opening: the feature is constant


def test_html_page_is_self_contained_and_embeds_the_data(tiny_lm):
    text = 'See http://example.com and "</script><b>x</b>" \u2014 done.\n'
    inspection = inspect_gates(tiny_lm, text)
    page = render_html(inspection, layer=1, quantity="i", unit=5, title="gates <test>")
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"<(link|img|iframe)\b|\bsrc=|@import|url\(", page)
    assert page.count("</script>") == 2 and "gates &lt;test&gt;" in page
    for control in ('id="layer"', 'id="quantity"', 'id="unit"', 'id="unit-slider"', 'id="text"', 'id="top-units"'):
        assert control in page
    data = page_data(page)
    assert data["tokens"] == list(text) and data["initial"] == {"layer": 1, "quantity": "i", "unit": 5}
    values = np.frombuffer(base64.b64decode(data["values"]), dtype=np.uint8)
    assert values.size == inspection.layers * len(QUANTITIES) * inspection.units * inspection.steps
    # The stored bytes are the colour positions of the chosen unit, quantised to 0..255.
    start = ((1 * len(QUANTITIES) + QUANTITIES.index("i")) * inspection.units + 5) * inspection.steps
    stored = values[start : start + inspection.steps] / 127.5 - 1
    np.testing.assert_allclose(stored, inspection.colour_positions(1, "i")[:, 5], atol=1 / 127.5)
    with pytest.raises(nlp_lstm.UsageError, match="units 0 to 31"):
        render_html(inspection, unit=32)


def test_png_heatmap_is_written(tiny_lm, tmp_path):
    pytest.importorskip("matplotlib")
    inspection = inspect_gates(tiny_lm, "From fairest creatures we desire increase,\n")
    path = render_png(inspection, tmp_path / "plots" / "gates.png", layer=0, quantity="f", max_units=8)
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 1000
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width >= 600 and height >= 200  # one row of 44 characters, 8 units of about 11 pixels each


def test_the_heatmap_has_every_character_on_its_axis_however_long_the_text(shipped_lm):
    pytest.importorskip("matplotlib")
    text = DEFAULT_TEXT + 'A "$5" bet\tnow.\n'  # longer than two rows; a dollar sign, a tab
    inspection = inspect_gates(shipped_lm, text)
    figure = heatmap_figure(inspection, layer=0, quantity="o", max_units=8)
    panels = [axes for axes in figure.axes if axes.get_xlabel().startswith("tokens")]
    assert len(panels) == -(-len(text) // PNG_ROW_TOKENS) >= 3
    shown = [label.get_text() for axes in panels for label in axes.get_xticklabels()]
    assert shown == [c.translate(VISIBLE_WHITESPACE) for c in text] and "$" in shown and "\u21e5" in shown
    assert panels[1].get_xlabel() == f"tokens {PNG_ROW_TOKENS} to {2 * PNG_ROW_TOKENS - 1}"
    assert panels[-1].get_xlim() == panels[0].get_xlim()  # the short last row keeps the columns' width


def test_text_is_readable_on_every_colour_of_the_scale():
    for position in np.linspace(-1, 1, 201):
        background = diverging_rgb(position)
        assert contrast(ink_rgb(background), background) >= 4.5, position  # WCAG AA for body text
    assert ink_rgb(diverging_rgb(1.0)) == (255, 255, 255) and ink_rgb(diverging_rgb(0.0)) == (0, 0, 0)


def contrast(one: tuple[int, ...], other: tuple[int, ...]) -> float:
    light, dark = sorted((relative_luminance(one), relative_luminance(other)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_terminal_view_colours_each_character(shipped_inspection):
    text = render_terminal(shipped_inspection, layer=0, quantity="h", unit=11)
    assert text.plain == "".join(shipped_inspection.tokens).replace("\n", "\u21b5\n")
    for span, value in zip(text.spans, colour_positions(shipped_inspection.gates["h"][0], "h")[:, 11]):
        background = diverging_rgb(value)
        assert str(span.style) == "rgb({},{},{}) on rgb({},{},{})".format(*ink_rgb(background), *background)


def test_cli_writes_html_png_and_json(tmp_path):
    pytest.importorskip("matplotlib")
    runner = CliRunner()
    html, png = tmp_path / "gates.html", tmp_path / "gates.png"
    args = ["inspect", "--text", QUOTED, "--html", str(html), "--png", str(png), "--layer", "0", "--quantity", "o"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "layer 0, quantity o, unit" in result.stdout and "units most correlated" in result.stdout
    assert page_data(html.read_text(encoding="utf-8"))["initial"]["quantity"] == "o"
    assert png.read_bytes()[:8] == PNG_SIGNATURE
    result = runner.invoke(app, ["inspect", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["tokens"] > 100 and summary["max_difference"] < 1e-4
    assert set(summary["top_units"]) == {"inside quotes", "position in line", "uppercase", "punctuation", "whitespace"}
    assert runner.invoke(app, ["inspect", "--layer", "9"]).exit_code == 2
    assert runner.invoke(app, ["inspect", "--text", "x", "--input", str(html)]).exit_code == 2


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("no Chromium installed (apt-get install chromium; .ci/run does)")
    return found


def rgb(css: str) -> tuple[int, ...]:
    return tuple(int(v) for v in re.findall(r"\d+", css))


def test_page_in_a_headless_browser(shipped_inspection, tmp_path):
    executable = chromium()
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the test extra has it)")
    path = tmp_path / "gates.html"
    path.write_text(render_html(shipped_inspection, layer=1, quantity="c"), encoding="utf-8")
    colours = "els => els.map(e => e.style.backgroundColor)"
    with sync_api.sync_playwright() as p:
        # Debian's Chromium, not a Playwright download; no sandbox, as CI runs as root.
        browser = p.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 900, "height": 700})
            errors, requests = [], []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(path.as_uri())
            assert errors == [] and requests == [path.as_uri()]  # nothing fetched beyond the page itself
            spans = page.eval_on_selector_all("#text span.tok", colours)
            assert len(spans) == shipped_inspection.steps
            view = page.evaluate("document.body.dataset.view")
            layer, quantity, unit = view.split("/")
            assert (layer, quantity) == ("1", "c")
            # The page's colours match Python's for the same unit, up to the one-byte quantisation.
            expected = [diverging_rgb(x) for x in shipped_inspection.colour_positions(1, "c")[:, int(unit)]]
            assert np.abs(np.array([rgb(c) for c in spans]) - np.array(expected)).max() <= 2
            inks = page.eval_on_selector_all("#text span.tok", "els => els.map(e => getComputedStyle(e).color)")
            assert [rgb(c) for c in inks] == [ink_rgb(rgb(c)) for c in spans]  # the page's rule is Python's

            page.select_option("#quantity", "f")
            after_quantity = page.eval_on_selector_all("#text span.tok", colours)
            assert after_quantity != spans and page.evaluate("document.body.dataset.view") == f"1/f/{unit}"
            page.fill("#unit", "3")
            after_unit = page.eval_on_selector_all("#text span.tok", colours)
            assert after_unit != after_quantity and page.input_value("#unit-slider") == "3"
            page.select_option("#layer", "0")
            assert page.eval_on_selector_all("#text span.tok", colours) != after_unit
            assert page.evaluate("document.body.dataset.view") == "0/f/3"
            # Clicking a row of the correlation table shows that unit.
            row = page.locator("#top-units tbody tr").nth(1)
            row.click()
            assert page.evaluate("document.body.dataset.view") == row.get_attribute("data-view")
            assert "selected" in row.get_attribute("class")
            page.hover("#text span.tok >> nth=2")
            assert page.text_content("#status").startswith("token 2 ")
            shot = tmp_path / "gates-view.png"
            page.screenshot(path=str(shot))
            assert shot.read_bytes()[:8] == PNG_SIGNATURE and errors == []
        finally:
            browser.close()


def test_page_renders_in_plain_chromium(tiny_lm, tmp_path):
    """Without Playwright too: Chromium's own --dump-dom shows the DOM after the page's script ran."""
    executable = chromium()
    inspection = inspect_gates(tiny_lm, "From fairest creatures we desire increase,\n")
    path = tmp_path / "gates.html"
    path.write_text(render_html(inspection, layer=0, quantity="h", unit=4), encoding="utf-8")
    command = [
        executable,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--virtual-time-budget=5000",
        "--dump-dom",
        path.as_uri(),
    ]
    dom = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout
    assert 'data-view="0/h/4"' in dom
    assert len(re.findall(r'class="tok" data-t="\d+" style="background-color: rgb\(', dom)) == inspection.steps

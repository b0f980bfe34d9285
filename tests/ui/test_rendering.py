"""What the web UI renders, checked without a browser: every description as CommonMark (markdown-it, the spec the
UI's markdown follows) loses no `<…>` to HTML; every stored column has a meaning; sample rows are whole; JSON-shaped
metadata becomes tables."""

import importlib
import pkgutil
import re
from html.parser import HTMLParser

import polars as pl
from dagster import MetadataValue
from markdown_it import MarkdownIt

import definitions
import thinkforge
from assets.common.metadata import column_schema, sample_markdown, samples_markdown, tables
from thinkforge.columns import describe

# tags the markdown renderer writes itself; any other tag in the HTML came from the text and the UI swallows it
RENDERER_TAGS = {"p", "code", "em", "strong", "a", "ul", "ol", "li", "pre", "h1", "h2", "h3", "h4", "br", "hr"}
RENDERER_TAGS |= {"blockquote", "table", "thead", "tbody", "tr", "th", "td", "img"}


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.text = set(), []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)

    def handle_endtag(self, tag):
        self.tags.add(tag)

    def handle_data(self, data):
        self.text.append(data)


def rendered(markdown: str) -> tuple[set[str], str]:
    """(tags, visible text) of markdown as the UI renders it (raw HTML passes through, as tags)."""
    parser = _Text()
    parser.feed(MarkdownIt("commonmark").enable("table").render(markdown))
    return parser.tags, "".join(parser.text)


def swallowed(markdown: str) -> set[str]:
    tags, _ = rendered(markdown)
    return tags - RENDERER_TAGS


def descriptions() -> dict[str, str]:
    """Every description the UI shows as markdown: assets, checks, jobs, schedules, sensors."""
    repo = definitions.defs.get_repository_def()
    out = {}
    for node in repo.asset_graph.asset_nodes:
        out[f"asset {node.key.to_user_string()}"] = node.description or ""
    for key in repo.asset_graph.asset_check_keys:
        spec = repo.asset_graph.get_check_spec(key)
        out[f"check {key.asset_key.to_user_string()}:{key.name}"] = spec.description or ""
    for job in repo.get_all_jobs():
        out[f"job {job.name}"] = job.description or ""
    for schedule in repo.schedule_defs:
        out[f"schedule {schedule.name}"] = schedule.description or ""
    for sensor in repo.sensor_defs:
        out[f"sensor {sensor.name}"] = sensor.description or ""
    return out


def test_the_renderer_used_here_swallows_an_unquoted_placeholder():
    assert swallowed("HF folder at $THINKFORGE_HOME/models/sft_model/<domain>/") == {"domain"}
    _, text = rendered("HF folder at `$THINKFORGE_HOME/models/sft_model/<domain>/`")
    assert "models/sft_model/<domain>/" in text


def test_no_description_loses_text_to_html():
    found = descriptions()
    assert len(found) > 40 and "asset sft_model" in found and "sensor inbox_sensor" in found
    lost = {name: swallowed(text) for name, text in found.items() if swallowed(text)}
    assert not lost, lost
    _, text = rendered(found["asset sft_model"])
    assert "$THINKFORGE_HOME/models/sft_model/<domain>/" in text


def test_every_asset_description_is_one_sentence_then_a_short_list():
    for name, text in descriptions().items():
        if not name.startswith("asset "):
            continue
        sentence, *details = text.split("\n\n")
        assert len(sentence) <= 160 and sentence.endswith(".") and "\n" not in sentence, (name, sentence)
        assert not re.search(r"[.;] [A-Z]", sentence), (name, sentence)  # one sentence
        assert len(details) <= 1, (name, details)
        items = details[0].split("\n") if details else []
        assert len(items) <= 6 and all(item.startswith("- ") for item in items), (name, items)


def test_every_sensor_and_schedule_says_what_it_does():
    repo = definitions.defs.get_repository_def()
    assert all(len(d.description or "") > 20 for d in [*repo.sensor_defs, *repo.schedule_defs])


def _stored_schemas() -> dict[str, dict]:
    """The schemas of every warehouse table (kept rows and rejects) the stages write."""
    out = {}
    for info in pkgutil.walk_packages(thinkforge.__path__, "thinkforge."):
        try:
            module = importlib.import_module(info.name)
        except Exception:  # a module that needs an optional runtime (a sandbox harness) writes no table
            continue
        for name in ("SCHEMA", "REJECTS_SCHEMA", "POOL_SCHEMA", "REJECT_SCHEMA", "EXTRA_COLUMNS"):
            schema = getattr(module, name, None)
            if isinstance(schema, dict):
                out[f"{info.name}.{name}"] = schema
    return out


def test_every_stored_column_has_a_meaning():
    schemas = _stored_schemas()
    assert len(schemas) > 20
    stage = {"thinkforge.evaluation.evaluate": "model_eval", "thinkforge.evalsets": "eval_problems"}  # own meanings
    undescribed = {
        f"{where}.{c}"
        for where, schema in schemas.items()
        for c in schema
        if not describe(c, stage.get(where.rsplit(".", 1)[0]))
    }
    assert not undescribed, sorted(undescribed)
    frame = pl.DataFrame({"id": ["a"], "pass_rate": [0.0], "model": ["m"]})
    schema = column_schema(frame, "model_eval")
    meaning = {c.name: c.description for c in schema.columns}
    assert "checkpoint evaluated" in meaning["model"] and "a correct row can show 0.0" in meaning["pass_rate"]


RESPONSE = "<think>\nFirst, 2 + 2.\n" + "Carry on. " * 40 + "\n</think>\n\nThe answer is **4** | done."


def test_a_sample_is_shown_whole_with_its_think_block_and_meanings():
    row = {"id": "0123456789abcdef", "pass_rate": 0.0, "response": RESPONSE, "skipped": None}
    md = sample_markdown(row, "sample 1 of 1", "verified_responses")
    tags, text = rendered(md)
    assert tags <= RENDERER_TAGS
    assert RESPONSE in text  # every character, the think block as written
    assert "share of the teacher's K samples verified correct" in text  # pass_rate 0.0 with its meaning
    assert "skipped" not in text


def test_a_conversation_by_role_and_a_trajectory_as_numbered_actions():
    messages = [{"role": "user", "content": "What is 2 + 2?"}, {"role": "assistant", "content": RESPONSE}]
    actions = [
        {"kind": "solve", "text": "The answer is 5.", "correct": False, "verdict": None, "mask": 0, "origin": "p"},
        {"kind": "verify", "text": "Wait, ``` 5 is wrong.", "correct": None, "verdict": "incorrect", "mask": 1},
    ]
    md = samples_markdown(pl.DataFrame({"messages": [messages], "actions": [actions]}), ["messages", "actions"])
    tags, text = rendered(md)
    assert tags <= RENDERER_TAGS and "ol" in tags
    assert text.index("user") < text.index("What is 2 + 2?") < text.index("assistant") < text.index(RESPONSE)
    assert "mask 0 (not trained)" in text and "mask 1 (trained)" in text and "Wait, ``` 5 is wrong." in text


def test_json_shaped_metadata_becomes_tables_and_empty_ones_are_left_out():
    made = tables(
        rows_by_source=({"gsm8k": 12, "math<hard>": 3}, "source"),
        verdicts=({"verdict_format": {"pass": 4, "fail": 1}, "verdict_length": {"pass": 5}}, "rule"),
        models_missing=({}, "model"),
    )
    assert set(made) == {"rows_by_source", "verdicts"}
    assert all(isinstance(v, type(MetadataValue.md(""))) for v in made.values())
    tags, text = rendered(made["verdicts"].value)
    assert "table" in tags and "verdict_length" in text
    assert re.search(r"verdict_format\s*4\s*1", text)
    _, text = rendered(made["rows_by_source"].value)
    assert "math<hard>" in text


def test_a_short_training_curve_has_whole_steps_its_values_and_its_whole_title():
    import matplotlib.pyplot as plt

    from thinkforge.plots import line_figure

    title = "step_dpo_model_1 · math · rewards/margins over the steps of the first Step-DPO iteration"
    fig = line_figure({"loss": [(1, 0.6931), (2, 0.6125)]}, title=title)
    ax = fig.axes[0]
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)  # no step 1.25
    assert {a.get_text() for a in ax.texts} == {"0.6931", "0.6125"}  # two points: their values are written
    assert " ".join(ax.get_title().split()) == title and max(map(len, ax.get_title().splitlines())) <= 66
    plt.close(fig)

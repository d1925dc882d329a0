"""The Snakemake report: every output in it has its own caption that fills in and renders, and the environment
table of the run's hardware and versions is written."""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace

import docutils.core
import jinja2
import pandas as pd
import pytest
import yaml
from snakemake.iocontainers import InputFiles, Log, OutputFiles

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "workflow" / "report"
CONFIGS = {"paper": ROOT / "config.yaml", "demo": ROOT / "config" / "demo.yaml"}
GENERIC = "caption.rst"  # rules table and figure: it shows the caption that tables.smk's caption() gives as a param

# Loads the workflow as `snakemake` would (no DAG, no jobs) and prints what its report is made of.
LOAD = """
import json, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.io import get_flag_value, is_flagged
from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

root, configfiles = Path(sys.argv[1]), [Path(p) for p in sys.argv[2:]]
with SnakemakeApi(OutputSettings()) as api:
    settings = ConfigSettings(configfiles=configfiles)
    workflow = api.workflow(ResourceSettings(), settings, snakefile=root / "Snakefile", workdir=root)._workflow
    names = [*workflow.globals["TABLES"], *workflow.globals["FIGURES"]]
    reports = [
        {"rule": rule.name, "output": str(f), "caption": str(get_flag_value(f, "report").caption),
         "category": get_flag_value(f, "report").category}
        for rule in workflow.rules for f in rule.output if is_flagged(f, "report")
    ]
    captions = {name: workflow.globals["caption"](name) for name in names}
    ablation = list(workflow.globals["ABLATION_TABLES"])
    print("REPORT" + json.dumps({"reports": reports, "captions": captions, "ablation": ablation}))
"""


def load_report_spec(name: str) -> dict:
    """The report outputs (rule, output, caption file, category), the table and figure captions and the
    FT-against-KD tables of a config, and the config."""
    args = [] if name == "paper" else [str(CONFIGS[name])]
    run = subprocess.run(
        [sys.executable, "-c", LOAD, str(ROOT), *args],
        capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, cwd=ROOT,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    spec = json.loads(run.stdout[run.stdout.index("REPORT") + len("REPORT") :])
    spec["config"] = yaml.safe_load(CONFIGS[name].read_text(encoding="utf-8"))
    return spec


@pytest.fixture(scope="module")
def report_specs() -> dict[str, dict]:
    """load_report_spec of the paper's and the demo's config."""
    return {name: load_report_spec(name) for name in CONFIGS}


def link_targets(report_spec: dict) -> list[str]:
    """The file names that the report links to (environment.html, deploy.html, ...), as in `name.html_` in a caption."""
    return sorted({Path(entry["output"]).name for entry in report_spec["reports"]} - {"{table}.html", "{figure}.png"})


def rendered(text: str, targets: list[str]) -> str:
    """A caption as the report renders it (reStructuredText to HTML), failing on any docutils warning.

    `targets` are the report's file links (`name.html_`), which Snakemake appends to every caption."""
    links = "\n\n" + "\n".join(f".. _{target}: #" for target in targets) + "\n"
    overrides = {"halt_level": 2, "report_level": 2, "warning_stream": False}
    return docutils.core.publish_parts(text + links, writer="html", settings_overrides=overrides)["body"]


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_every_report_output_has_its_own_caption(report_specs, config):
    report_spec = report_specs[config]
    reports, captions = report_spec["reports"], report_spec["captions"]
    targets = link_targets(report_spec)
    for entry in reports:
        caption = Path(entry["caption"])
        assert caption.is_file(), f"{entry['rule']}: caption {caption} of {entry['output']} is missing"
        assert entry["category"], f"{entry['output']} has no report category"
        if entry["category"] in ("Tables", "Environment"):  # the report shows HTML; Markdown only as a download
            assert entry["output"].endswith(".html"), f"{entry['output']}: a table in the report must be an HTML page"
        if caption.name == GENERIC:
            assert entry["rule"] in ("table", "figure"), f"rule {entry['rule']} shows the generic caption"
        else:  # the caption file is named after the output (deploy.html: deploy.rst, study.png: study.rst)
            assert caption.stem == Path(entry["output"]).stem, f"{entry['output']} shows {caption.name}"
    assert {"table", "figure", "environment", "deploy_table", "study_collect"} <= {e["rule"] for e in reports}
    # every table and figure of rules table and figure: its own filled-in caption, which names it and renders
    assert set(captions) >= {f"table{n}" for n in (1, 2, 3, 4, 8)} | {"frontier", "budget", "paper_vs_run", "figure1"}
    for name, text in captions.items():
        assert "{" not in text and "}" not in text, f"{name}: caption has unfilled fields: {text}"
        if name.startswith(("table", "figure")):
            number = name.removeprefix("table").removeprefix("figure")
            assert text.startswith(f"**{'Table' if name.startswith('table') else 'Figure'} {number}.**"), text
        assert len(text.split()) >= 30, f"{name}: caption too short to say how it was measured: {text}"
        assert rendered(text, targets)
    assert len(set(captions.values())) == len(captions), "two tables or figures share a caption"
    assert all((REPORT / name).is_file() for name in caption_files(report_spec))


def caption_files(report_spec: dict) -> set[str]:
    """The caption files a config's report shows: the FT-against-KD tables share ablation.rst."""
    ablation = report_spec["ablation"]
    files = {Path(entry["caption"]).name for entry in report_spec["reports"]}
    files |= {f"{name}.rst" for name in report_spec["captions"] if name not in ablation}
    return files | ({"ablation.rst"} if ablation else set())


def test_every_caption_file_is_shown(report_specs):
    """No caption file in workflow/report is left over: each captions an output of the paper's or the demo's report."""
    shown = set().union(*(caption_files(spec) for spec in report_specs.values()))
    assert sorted(p.name for p in REPORT.glob("*.rst") if p.name != "workflow.rst") == sorted(shown)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_jinja_captions_and_the_workflow_description_render(report_specs, name):
    """The captions that the report fills in itself (Jinja: config, wildcards) and workflow.rst render cleanly."""
    report_spec = report_specs[name]
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    config, targets = report_spec["config"], link_targets(report_spec)
    study = config["study"]
    wildcards = SimpleNamespace(dataset=study["dataset"], model=study["student"])
    for caption in ("deploy.rst", "study.rst", "environment.rst", "workflow.rst"):
        text = env.from_string((REPORT / caption).read_text(encoding="utf-8"))
        html = rendered(text.render(snakemake=SimpleNamespace(config=config, wildcards=wildcards)), targets)
        assert "{{" not in html and "{%" not in html
        if caption == "study.rst":
            assert f"{study['student']} on {study['dataset']}" in html and f"{study['trials']} trials" in html
        if caption == "workflow.rst":
            assert 'href="#">environment.html</a>' in html
            assert ("synthetic" in html) == (name == "demo")


def test_environment_table_lists_hardware_and_versions(tmp_path):
    speed = {"model": "tiny", "device": "cpu", "threads": 1, "cpu": "Test CPU 9000", "gpu": None, "torch": "2.13.0"}
    speed_file = tmp_path / "tiny_cpu.json"
    speed_file.write_text(json.dumps(speed))
    outputs = {name: str(tmp_path / f"environment.{name}") for name in ("csv", "md", "html")}
    smk = SimpleNamespace(
        input=InputFiles(fromdict={"speed": [str(speed_file)]}),
        output=OutputFiles(fromdict=outputs),
        log=Log([str(tmp_path / "environment.log")]),
    )
    runpy.run_path(str(ROOT / "scripts" / "make_environment_table.py"), init_globals={"snakemake": smk})
    table = pd.read_csv(outputs["csv"]).set_index("what")["value"]
    for package in ("snakemake", "torch", "transformers"):
        assert table[package] == metadata.version(package)
    assert table["Python"].startswith(f"{sys.version_info.major}.{sys.version_info.minor}.")
    assert f"{os.cpu_count()} logical" in table["CPU cores"]
    assert table["CPU"] and table["GPU"] and table["memory"].endswith("GiB")
    assert table["speed benchmark on cpu"] == "CPU Test CPU 9000, 1 thread(s), torch 2.13.0 (1 model(s))"
    assert "| Python" in Path(outputs["md"]).read_text(encoding="utf-8")
    assert "<td>Python</td>" in Path(outputs["html"]).read_text(encoding="utf-8")

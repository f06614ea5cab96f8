from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from musicsteer import config


def test_config_checks_the_selection_seeds():
    from musicsteer import config

    schema = "workflow/schemas/config.schema.yaml"
    cfg = config.validate_config({}, schema)
    assert cfg["evaluation"]["select_seeds"] == [0] and cfg["steering"]["seeds"] == [0, 1]
    with pytest.raises(config.ConfigError, match=r"evaluation\.select_seeds: \[5\] not in"):
        config.validate_config({"evaluation": {"select_seeds": [0, 5]}}, schema)
    with pytest.raises(config.ConfigError, match=r"evaluation\.select_seeds: .*none is left"):
        config.validate_config(
            {"steering": {"seeds": [0]}, "evaluation": {"select_seeds": [0]}}, schema
        )
    # null follows steering.seeds: its first seed, or none when there is only one
    moved = config.validate_config({"steering": {"seeds": [5, 6, 7]}}, schema)
    assert moved["evaluation"]["select_seeds"] == [5]
    assert (
        config.validate_config({"steering": {"seeds": [0]}}, schema)["evaluation"]["select_seeds"]
        == []
    )
    for empty in ([], None):
        config.validate_config(
            {"steering": {"seeds": [0]}, "evaluation": {"select_seeds": empty}}, schema
        )
    with pytest.raises(config.ConfigError, match=r"evaluation\.template: 'music' must contain"):
        config.validate_config({"evaluation": {"template": "music"}}, schema)
    for name in ("config.yaml", "demo.yaml"):
        layer = yaml.safe_load(Path(f"config/{name}").read_text())
        seeds, select = layer["steering"]["seeds"], layer["evaluation"]["select_seeds"]
        assert set(select) < set(seeds), name  # a proper subset: seeds left to report on


def _demo_config() -> dict:
    import yaml

    cfg = yaml.safe_load(Path("config/config.yaml").read_text())
    cfg.update(yaml.safe_load(Path("config/demo.yaml").read_text()))
    return cfg


def test_config_defaults_and_errors_name_the_key():
    schema = "workflow/schemas/config.schema.yaml"
    cfg = config.validate_config({}, schema)
    assert cfg["steering"]["alphas"] == [0.05, 0.1, 0.2, 0.3, 0.5]
    assert cfg["steering"]["sites"] == cfg["activations"]["sites"] == ["resid", "attn"]
    assert cfg["steering"]["methods"] == cfg["probing"]["methods"]
    with pytest.raises(config.ConfigError, match=r"steering\.alphas\.0"):
        config.validate_config({"steering": {"alphas": ["big"]}}, schema)
    with pytest.raises(config.ConfigError, match=r"steering\.layers\.0"):
        config.validate_config({"steering": {"layers": ["first"]}}, schema)
    with pytest.raises(config.ConfigError, match=r"evaluation\.alpha\b"):
        config.validate_config({"evaluation": {"alpha_rule": "fixed", "alpha": 3.0}}, schema)
    with pytest.raises(config.ConfigError, match=r"steering\.sites: 'attn'"):
        config.validate_config(
            {"activations": {"sites": ["resid"]}, "steering": {"sites": ["resid", "attn"]}}, schema
        )
    with pytest.raises(
        config.ConfigError, match=r"instrument_transfer\.melody: cannot read note 'H4'"
    ):
        config.validate_config({"instrument_transfer": {"melody": "C4 H4"}}, schema)
    with pytest.raises(config.ConfigError, match=r"instrument_transfer\.enabled: .*tiny-musicgen"):
        config.validate_config({"models": {"musicgen": "tiny-musicgen"}}, schema)
    with pytest.raises(config.ConfigError, match=r"probing\.layer_rul\b"):
        config.validate_config({"probing": {"layer_rul": "ari"}}, schema)
    with pytest.raises(config.ConfigError, match=r"steering\.pairs\[0\]\.target"):
        config.validate_config({"steering": {"pairs": [{"source": "rock", "target": "x"}]}}, schema)


def test_a_run_name_cannot_reach_into_another_runs_folders():
    schema = "workflow/schemas/config.schema.yaml"
    assert config.run_folders(None) == ("results", "logs")
    assert config.run_folders("demo") == ("results/demo", "logs/demo")
    assert config.validate_config({"run": "paper-2"}, schema)["run"] == "paper-2"
    for name in ("tables", "data"):  # the paper run's folders in results/
        with pytest.raises(config.ConfigError, match=rf"run: '{name}' is a folder"):
            config.validate_config({"run": name}, schema)
    for name in ("../elsewhere", "a/b", ".hidden", ""):
        with pytest.raises(config.ConfigError, match=r"\brun\b"):
            config.validate_config({"run": name}, schema)


def test_schema_documents_every_key():
    import yaml

    def walk(node, path):
        for key, sub in node.get("properties", {}).items():
            assert "description" in sub, f"{path}{key} has no description"
            if path.count(".") < 1:  # top-level keys and their children carry defaults
                assert "default" in sub, f"{path}{key} has no default"
            walk(sub, f"{path}{key}.")

    walk(yaml.safe_load(Path("workflow/schemas/config.schema.yaml").read_text()), "")


def test_preflight_names_missing_data_and_models(tmp_path, monkeypatch):
    cfg = config.validate_config(_demo_config(), "workflow/schemas/config.schema.yaml")
    assert config.preflight(cfg) == ([], [])
    cfg["demo"]["render"] = False
    cfg["data"]["gtzan"] = str(tmp_path / "nothing")
    cfg["models"]["musicgen"] = "facebook/musicgen-melody"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    errors, _ = config.preflight(cfg)
    assert any(e.startswith("data.gtzan") for e in errors)
    assert any(e.startswith("models.musicgen") and "hf download" in e for e in errors)


def test_config_readme_documents_every_key_of_the_schema():
    generated = config.schema_markdown("workflow/schemas/config.schema.yaml")
    assert Path("config/README.md").read_text() == generated


def test_cond_without_guidance_and_the_old_relative_alpha_are_config_errors():
    from musicsteer import config

    schema = "workflow/schemas/config.schema.yaml"
    cfg = config.validate_config({}, schema)["steering"]
    assert (cfg["alphas"], cfg["alpha_scale"]) == ([0.05, 0.1, 0.2, 0.3, 0.5], "norm")
    assert (cfg["top_k"], cfg["top_p"], cfg["temperature"]) == (250, 0.0, 1.0)
    cases = {
        r"steering\.cfg: 'cond' .*steering\.guidance_scale 1 turns guidance off": {
            "cfg": "cond",
            "guidance_scale": 1,
        },
        r"steering\.relative_alpha: replaced by steering\.alpha_scale .*projection": {
            "relative_alpha": True
        },
        r"steering\.alphas: \[4\.0, 16\.0\] exceed 2 × the mean activation norm": {
            "alphas": [0.5, 4.0, 16.0]
        },
        r"steering\.top_p": {"top_p": 1.5},
        r"steering\.top_k": {"top_k": -1},
        r"steering\.temperature": {"temperature": 0},
        r"steering\.alpha_scale": {"alpha_scale": "relative"},
    }
    for needle, steering_keys in cases.items():
        with pytest.raises(config.ConfigError, match=needle):
            config.validate_config({"steering": steering_keys}, schema)
    ok = config.validate_config(
        {
            "steering": {
                "alphas": [8.0],
                "alpha_scale": "absolute",
                "cfg": "cond",
                "guidance_scale": 1.5,
            }
        },
        schema,
    )
    assert ok["steering"]["alphas"] == [8.0]


def test_non_finite_numbers_are_config_errors_naming_the_key():
    from musicsteer import config

    cfg = {"steering": {"alphas": [0.1, float("inf")], "guidance_scale": float("nan")}}
    with pytest.raises(config.ConfigError) as err:
        config.validate_config(cfg, "workflow/schemas/config.schema.yaml")
    assert "steering.alphas[1]: inf is not a finite number" in str(err.value)
    assert "steering.guidance_scale: nan is not a finite number" in str(err.value)


def test_a_cuda_device_that_is_not_there_stops_a_local_run_before_any_job():
    import torch

    from musicsteer import config

    cfg = config.validate_config({"device": "cuda"}, "workflow/schemas/config.schema.yaml")
    errors, _ = config.preflight(cfg)
    device_errors = [e for e in errors if e.startswith("device: 'cuda'")]
    assert bool(device_errors) == (not torch.cuda.is_available())
    errors, _ = config.preflight(cfg, check_device=False)  # a cluster: the node checks
    assert not any(e.startswith("device") for e in errors)


def test_every_pair_source_needs_a_prompt(tmp_path):
    """A pair whose source genre has no prompt is refused at parse time, naming the fix."""
    from musicsteer import config

    schema = "workflow/schemas/config.schema.yaml"
    prompts = tmp_path / "prompts.tsv"
    prompts.write_text("genre\tprompt\nrock\tloud rock\nfolk\tquiet folk\n")
    pairs = [{"source": "rock", "target": "pop"}, {"source": "jazz", "target": "metal"}]
    with pytest.raises(
        config.ConfigError, match=r"steering\.pairs: no prompt for 'jazz' .*jazz<TAB>"
    ):
        config.validate_config({"steering": {"prompts": str(prompts), "pairs": pairs}}, schema)
    covered = [{"source": "rock", "target": "pop"}, {"source": "folk", "target": "rock"}]
    config.validate_config({"steering": {"prompts": str(prompts), "pairs": covered}}, schema)
    prompts.write_text("style\tprompt\nrock\tloud rock\n")
    with pytest.raises(config.ConfigError, match=r"steering\.prompts: .* no 'genre' column"):
        config.validate_config({"steering": {"prompts": str(prompts), "pairs": covered}}, schema)

import numpy as np
import pytest

from musicsteer import audio
from musicsteer.steering import generation
from musicsteer.steering import grid as steering_grid
from tests.steering.helpers import _vector


def test_steering_grid_files_share_prompt_and_seed_with_their_originals(tiny, tmp_path):
    prompts = steering_grid.prompt_table(["calm folk", "loud rock"])
    vectors = {
        ("pop", "resid", "mse"): _vector(tiny),
        ("pop", "attn", "mse"): _vector(tiny, "attn"),
    }
    grid = steering_grid.setting_grid(
        ["pop"], ["resid", "attn"], ["mse"], [0.5, 2.0], ["best", "all"]
    )
    assert len(grid) == 8 and grid[0] == steering_grid.Setting("pop", "resid", "mse", "best", 0.5)
    originals = generation.generate_originals(tiny, prompts, [0, 3], tmp_path, 16)
    steered = generation.generate_steered(tiny, vectors, grid[:3], prompts, [0, 3], tmp_path, 16)
    assert len(originals) == 4 and len(steered) == 3 * 4
    assert set(steered.path.map(lambda p: p.split("/")[-1])) >= {
        "pop_resid_mse_best_a0.5_p00_s0.wav",
        "pop_resid_mse_all_a0.5_p01_s3.wav",
    }
    assert steered.layer.tolist()[:4] == ["1"] * 4
    row = steered[(steered.alpha == 2.0) & (steered.layers == "best") & (steered.seed == 3)]
    with vectors[("pop", "resid", "mse")].apply(tiny.model, 2.0):  # α × mean ‖h‖ by default
        want = generation.generate(tiny, prompts.prompt.tolist(), 16, seed=3)
    for i in range(2):
        got = audio.load(row[row.prompt_id == i].path.iloc[0])
        np.testing.assert_allclose(got, want[i], atol=1 / 32767)  # 16-bit WAV
    plain = generation.generate(tiny, prompts.prompt.tolist(), 16, seed=3)
    first = originals[(originals.seed == 3) & (originals.prompt_id == 0)].path.iloc[0]
    np.testing.assert_allclose(audio.load(first), plain[0], atol=1 / 32767)
    with pytest.raises(ValueError, match="no prompt for genre 'jazz'"):
        path = tmp_path / "p.tsv"
        path.write_text("genre\tprompt\nrock\tloud\n")
        steering_grid.genre_prompts(path, "jazz")


def test_samples_tables_record_the_settings_that_made_them(tiny, tmp_path):
    prompts = steering_grid.prompt_table(["calm folk", "loud rock"])
    vectors = {("pop", "resid", "mse"): _vector(tiny)}
    grid = steering_grid.setting_grid(["pop"], ["resid"], ["mse"], [0.3])
    sampling = {"top_k": 1, "top_p": 0.9, "temperature": 0.7}
    originals = generation.generate_originals(
        tiny, prompts, [2], tmp_path / "o", 12, 2.5, **sampling
    )
    steered = generation.generate_steered(
        tiny,
        vectors,
        grid,
        prompts,
        [2],
        tmp_path / "s",
        12,
        2.5,
        cfg="cond",
        alpha_scale="norm",
        skip_prefix=False,
        **sampling,
    )
    made_with = {
        "max_new_tokens": 12,
        "guidance_scale": 2.5,
        "top_k": 1,
        "top_p": 0.9,
        "temperature": 0.7,
    }
    for table in (originals, steered):
        assert table[list(made_with)].drop_duplicates().to_dict("records") == [made_with]
    assert steered[["alpha_scale", "cfg", "skip_prefix"]].drop_duplicates().to_dict("records") == [
        {"alpha_scale": "norm", "cfg": "cond", "skip_prefix": False}
    ]
    # top_k = 1 reached the model: the originals are the greedy generations
    greedy = generation.generate(
        tiny, prompts.prompt.tolist(), 12, seed=2, guidance_scale=2.5, do_sample=False
    )
    for i in range(2):
        np.testing.assert_allclose(audio.load(originals.path.iloc[i]), greedy[i], atol=1 / 32767)


def test_setting_is_the_one_list_of_setting_keys():
    from dataclasses import fields

    from musicsteer.evaluation import stats
    from musicsteer.report import pages
    from musicsteer.steering.grid import SETTING_KEYS, VARIANT_KEYS, Setting

    assert tuple(f.name for f in fields(Setting)) == SETTING_KEYS
    assert VARIANT_KEYS == ("site", "method", "layers")  # a target's variants, without α
    assert [*SETTING_KEYS[:-1], "layer", "alpha"] == stats.SETTING_KEYS
    assert list(VARIANT_KEYS) == pages.SETTING
    assert Setting("pop", "resid", "mse", "best", 0.5).stem() == "pop_resid_mse_best_a0.5"


def test_steering_parts_split_the_grid_by_the_chosen_keys_and_cover_it_once():
    grid = {
        "sites": ["resid", "attn"],
        "methods": ["dim", "mse"],
        "layers": ["best", "4,5"],
        "alphas": [0.1, 0.3],
    }
    whole = steering_grid.steering_parts(grid, [])
    assert list(whole) == ["all"] and whole["all"] == grid
    parts = steering_grid.steering_parts(grid, ["layers", "site"])  # named site first
    assert list(parts) == ["resid_best", "resid_4,5", "attn_best", "attn_4,5"]
    assert parts["attn_4,5"] == {**grid, "sites": ["attn"], "layers": ["4,5"]}
    cells = [
        s
        for part in steering_grid.steering_parts(grid, ["site", "method", "layers"]).values()
        for s in steering_grid.setting_grid(
            ["pop"], part["sites"], part["methods"], part["alphas"], part["layers"]
        )
    ]
    full = steering_grid.setting_grid(
        ["pop"], grid["sites"], grid["methods"], grid["alphas"], grid["layers"]
    )
    assert sorted(cells, key=str) == sorted(full, key=str) and len(set(cells)) == len(full)
    with pytest.raises(ValueError, match="cannot split steering jobs by \\['alpha'\\]"):
        steering_grid.steering_parts(grid, ["alpha"])


def test_merge_samples_joins_the_jobs_tables_and_refuses_overlaps(tmp_path):
    import pandas as pd

    def table(site, alphas):
        rows = [
            {
                "target": "pop",
                "site": site,
                "method": "mse",
                "layers": "best",
                "alpha": a,
                "seed": 0,
            }
            for a in alphas
        ]
        path = tmp_path / f"{site}{len(alphas)}.parquet"
        pd.DataFrame(rows).to_parquet(path)
        return path

    merged = steering_grid.merge_samples([table("resid", [0.1, 0.3]), table("attn", [0.1])])
    assert merged[["site", "alpha"]].values.tolist() == [
        ["resid", 0.1],
        ["resid", 0.3],
        ["attn", 0.1],
    ]
    with pytest.raises(ValueError, match="in both"):
        steering_grid.merge_samples([table("resid", [0.1, 0.3]), table("resid", [0.3])])

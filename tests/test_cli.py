"""The ``musicsteer`` command: outputs equal the library calls they wrap; clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from musicsteer import __version__, audio, cli
from musicsteer.cli import main, new_tokens, output_paths, parse_layers
from musicsteer.evaluation.clap import ZERO_SHOT_TEMPLATE, ClapScorer
from musicsteer.models import loading
from musicsteer.steering import generation
from musicsteer.steering.vector import SteeringVector

STEPS = 20  # decoder steps per test generation
PROMPTS = ["rock music with drums", "pop"]


@pytest.fixture(scope="module")
def plain(models_dir: Path) -> loading.MusicGen:
    """The built-in tiny MusicGen, loaded the way the CLI loads it."""
    return loading.load_musicgen("tiny-musicgen", models_dir)


@pytest.fixture(scope="module")
def melody_model(models_dir: Path) -> loading.MusicGen:
    """The built-in tiny MusicGen-Melody."""
    return loading.load_musicgen("tiny-musicgen-melody", models_dir)


def make_vector(
    mg: loading.MusicGen, path: Path, d: int | None = None, seed: int = 0, norms: bool = True
) -> Path:
    """A random resid vector sized for ``mg`` (or of width ``d``), saved to ``path``; with
    ``norms``, mean activation norms 8, 12, 16, ... per layer index (α = 0.5 → 4, 6, 8...)."""
    n_layers = mg.model.decoder.config.num_hidden_layers
    width = d or mg.model.decoder.config.hidden_size
    dirs = np.random.default_rng(seed).standard_normal((n_layers + 1, width))
    mean_norm = [8.0 + 4 * i for i in range(n_layers + 1)] if norms else []
    return SteeringVector(
        directions=dirs, layer=1, site="resid", model=mg.name, mean_norm=mean_norm
    ).save(path)


def gen_args(models_dir: Path, out: Path, *extra: str, model: str = "tiny-musicgen") -> list[str]:
    """``generate`` arguments shared by the tests (float WAVs keep the samples exact)."""
    return [
        "generate",
        "--model",
        model,
        "--models-dir",
        str(models_dir),
        "--out",
        str(out),
        "--max-new-tokens",
        str(STEPS),
        "--seed",
        "3",
        "--subtype",
        "FLOAT",
        *extra,
    ]


def prompt_args(prompts: list[str]) -> list[str]:
    """``--prompt p`` for every prompt."""
    return [arg for p in prompts for arg in ("--prompt", p)]


def read(path: Path) -> np.ndarray:
    """A written WAV's samples (32 kHz, checked)."""
    wave, sr = sf.read(path, dtype="float32")
    assert sr == 32_000
    return wave


def assert_same(paths: list[Path], expected: np.ndarray) -> None:
    """Each WAV equals its row of ``expected`` (as write_wav stores it: clipped)."""
    assert len(paths) == len(expected)
    for path, row in zip(paths, expected, strict=True):
        np.testing.assert_allclose(read(path), np.clip(row, -1, 1), rtol=0, atol=1e-6)


def test_helpers_version_and_help(capsys):
    assert parse_layers("best") == "best" and parse_layers("all") == "all"
    assert parse_layers("3") == [3] and parse_layers("2,5") == [2, 5]
    for bad in ("x", "1,,2", "-1", ""):
        with pytest.raises(ValueError, match="--layers"):
            parse_layers(bad)
    assert output_paths(Path("o/a.wav"), 1) == [Path("o/a.wav")]
    assert output_paths(Path("o/a.wav"), 2) == [Path("o/a_0.wav"), Path("o/a_1.wav")]
    assert new_tokens(None, 20, 50, 4) == 20 and new_tokens(None, None, 50, 4) == 253  # 5 s
    assert new_tokens(1.1, None, 50, 4) == 58  # 55 frames (+3 delays), not 56
    with pytest.raises(ValueError, match="positive"):
        new_tokens(0.0, None, 50, 4)
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"musicsteer {__version__}"
    assert main(["generate", "--help"]) == 0
    assert "--vector" in capsys.readouterr().out
    assert main([]) == 2  # a subcommand is required


def test_generate_unsteered_equals_steering_generate(plain, models_dir, tmp_path, capsys):
    out = tmp_path / "plain.wav"
    assert main(gen_args(models_dir, out, *prompt_args(PROMPTS))) == 0
    paths = [tmp_path / "plain_0.wav", tmp_path / "plain_1.wav"]
    expected = generation.generate(plain, PROMPTS, STEPS, seed=3)
    assert expected.shape == (2, (STEPS - plain.num_codebooks + 1) * 640)  # frames → samples
    assert_same(paths, expected)
    printed = capsys.readouterr().out
    assert all(f"wrote {p} (0.34 s)" in printed for p in paths)
    assert not out.exists()


@pytest.mark.parametrize(
    "options, apply_kw",
    [
        (["--alpha", "0.5"], {}),
        (["--alpha", "0.5", "--layers", "0,2", "--cfg", "cond"], {"layers": [0, 2], "cfg": "cond"}),
        (
            [
                "--alpha",
                "8",
                "--site",
                "attn",
                "--layers",
                "all",
                "--greedy",
                "--alpha-scale",
                "absolute",
            ],
            {"site": "attn", "layers": "all", "alpha_scale": "absolute"},
        ),
        (["--alpha", "2", "--alpha-scale", "projection"], {"alpha_scale": "projection"}),
    ],
    ids=["best", "layers-cond", "attn-all-greedy-absolute", "projection"],
)
def test_generate_steered_equals_vector_apply(plain, models_dir, tmp_path, options, apply_kw):
    vec_path = make_vector(plain, tmp_path / "v.npz")
    if "projection" in options:  # mean projections of 2, 3, 4, ...
        vector = SteeringVector.load(vec_path)
        vector.mean_projection = [2.0 + i for i in range(vector.directions.shape[0])]
        vector.save(vec_path)
    steered, original = tmp_path / "steered.wav", tmp_path / "original.wav"
    argv = gen_args(
        models_dir,
        steered,
        "--prompt",
        PROMPTS[0],
        "--vector",
        str(vec_path),
        "--original",
        str(original),
        *options,
    )
    assert main(argv) == 0
    kw = {"seed": 3, "do_sample": "--greedy" not in options}
    vector = SteeringVector.load(vec_path)
    with vector.apply(plain.model, float(options[1]), **apply_kw):
        want_steered = generation.generate(plain, PROMPTS[:1], STEPS, **kw)
    want_original = generation.generate(plain, PROMPTS[:1], STEPS, **kw)
    assert_same([steered], want_steered)
    assert_same([original], want_original)
    assert not np.allclose(read(steered), read(original), atol=1e-3)  # steering did something


def test_sampling_options_reach_generate(plain, models_dir, tmp_path, capsys):
    top1, nucleus = tmp_path / "top1.wav", tmp_path / "nucleus.wav"
    assert main(gen_args(models_dir, top1, "--prompt", "folk", "--top-k", "1")) == 0
    assert_same([top1], generation.generate(plain, ["folk"], STEPS, seed=3, do_sample=False))
    argv = gen_args(
        models_dir,
        nucleus,
        "--prompt",
        "folk",
        "--top-k",
        "0",
        "--top-p",
        "0.8",
        "--temperature",
        "2",
    )
    assert main(argv) == 0
    want = generation.generate(plain, ["folk"], STEPS, seed=3, top_k=0, top_p=0.8, temperature=2)
    assert_same([nucleus], want)
    assert not np.allclose(want, generation.generate(plain, ["folk"], STEPS, seed=3), atol=1e-3)
    assert main(["generate", "--help"]) == 0
    usage = capsys.readouterr().out
    assert all(f"--{o}" in usage for o in ("alpha-scale", "top-k", "top-p", "temperature"))
    assert "--relative" not in usage


def test_alpha_zero_equals_original_and_seconds_set_length(plain, models_dir, tmp_path, capsys):
    vec_path = make_vector(plain, tmp_path / "v.npz")
    steered, original = tmp_path / "s.wav", tmp_path / "o.wav"
    argv = gen_args(
        models_dir,
        steered,
        "--prompt",
        "folk",
        "--vector",
        str(vec_path),
        "--alpha",
        "0",
        "--original",
        str(original),
    )
    assert main(argv) == 0
    np.testing.assert_array_equal(read(steered), read(original))
    pcm = tmp_path / "pcm.wav"
    argv = [
        "generate",
        "--model",
        "tiny-musicgen",
        "--models-dir",
        str(models_dir),
        "--prompt",
        "folk",
        "--out",
        str(pcm),
        "--seconds",
        "0.3",
    ]
    assert main(argv) == 0
    info = sf.info(pcm)
    assert (info.frames, info.samplerate, info.subtype) == (9600, 32_000, "PCM_16")
    assert f"wrote {pcm} (0.30 s)" in capsys.readouterr().out


def test_melody_audio_conditions_melody_models_only(melody_model, models_dir, tmp_path, capsys):
    t = np.arange(int(1.5 * 44_100)) / 44_100  # another rate: the CLI resamples to 32 kHz
    tune = tmp_path / "tune.wav"
    sf.write(tune, 0.3 * np.sin(2 * np.pi * 220 * t * (1 + t)), 44_100)
    out = tmp_path / "m.wav"
    # greedy: the random tiny model's near-flat distributions over 2048 codes hide the
    # melody's small logit shifts from top-250 sampling (it changes 0 of 160 codes)
    argv = gen_args(
        models_dir,
        out,
        "--prompt",
        "jazz",
        "--melody",
        str(tune),
        "--greedy",
        model="tiny-musicgen-melody",
    )
    assert main(argv) == 0
    melody = audio.load(tune, melody_model.sample_rate)
    kw = {"seed": 3, "do_sample": False}
    with_melody = generation.generate(melody_model, ["jazz"], STEPS, melody=melody, **kw)
    assert_same([out], with_melody)
    assert not np.allclose(with_melody, generation.generate(melody_model, ["jazz"], STEPS, **kw))
    capsys.readouterr()
    assert (
        main(gen_args(models_dir, tmp_path / "x.wav", "--prompt", "a", "--melody", str(tune))) == 2
    )
    assert "MusicGen-Melody" in capsys.readouterr().err
    assert not (tmp_path / "x.wav").exists()


def _probabilities(models_dir: Path, paths: list[Path], labels: list[str], template: str):
    model, processor = loading.load_clap("tiny-clap", models_dir)
    scorer = ClapScorer(model, processor, template)
    rows = [
        scorer.probabilities([audio.load(p)], audio.probe(p).sample_rate, labels)[0] for p in paths
    ]
    return np.stack(rows)


def _clips(tmp_path: Path) -> list[Path]:
    rng = np.random.default_rng(0)
    a, b = tmp_path / "noise.wav", tmp_path / "tone.wav"
    sf.write(a, 0.2 * rng.standard_normal(32_000 * 2), 32_000)
    t = np.arange(44_100 * 3) / 44_100
    sf.write(b, 0.4 * np.sin(2 * np.pi * 330 * t), 44_100)
    return [a, b]


@pytest.mark.parametrize("template", ["{} music", "the sound of {}"])
def test_score_json_equals_clap_scorer(models_dir, tmp_path, capsys, template):
    paths, labels = _clips(tmp_path), ["rock", "pop", "hip hop"]
    argv = [
        "score",
        *map(str, paths),
        "--labels",
        *labels,
        "--model",
        "tiny-clap",
        "--models-dir",
        str(models_dir),
        "--template",
        template,
        "--json",
    ]
    assert main(argv) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["path"] for line in lines] == [str(p) for p in paths]
    got = np.array([[line["scores"][label] for label in labels] for line in lines])
    np.testing.assert_allclose(got, _probabilities(models_dir, paths, labels, template), atol=1e-7)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)


def test_score_template_default_is_the_tables():
    assert cli.ZERO_SHOT_TEMPLATE == ZERO_SHOT_TEMPLATE


def test_score_table_and_builtin_built_on_demand(models_dir, tmp_path, capsys):
    paths, labels = _clips(tmp_path), ["rock", "pop"]
    fresh = tmp_path / "models"  # tiny-clap is not there yet: the CLI builds it
    argv = [
        "score",
        *map(str, paths),
        "--labels",
        *labels,
        "--model",
        "tiny-clap",
        "--models-dir",
        str(fresh),
    ]
    assert main(argv) == 0
    assert (fresh / "tiny-clap" / "config.json").is_file()
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.split() == ["file", *labels]
    want = _probabilities(models_dir, paths, labels, ZERO_SHOT_TEMPLATE)  # same seed, weights
    for row, path, probs in zip(rows, paths, want, strict=True):
        name, *cells = row.split()
        assert name == str(path) and all(len(c.split(".")[1]) == 4 for c in cells)
        np.testing.assert_allclose([float(c) for c in cells], probs, atol=5e-5)
        assert abs(sum(float(c) for c in cells) - 1) <= 1e-4 * len(labels)


def test_bad_input_is_one_line_and_exit_2(plain, models_dir, tmp_path, capsys):
    wrong_d = make_vector(plain, tmp_path / "d32.npz", d=32)
    good = make_vector(plain, tmp_path / "v.npz")
    bare = make_vector(plain, tmp_path / "bare.npz", norms=False)  # fitted before mean_norm
    (tmp_path / "junk.npz").write_bytes(b"not a vector")
    (tmp_path / "junk.wav").write_bytes(b"RIFF....")
    out = tmp_path / "o.wav"
    cases = {
        "d=32": gen_args(models_dir, out, "--prompt", "a", "--vector", str(wrong_d)),
        "not found: ": gen_args(models_dir, out, "--prompt", "a", "--vector", "absent.npz"),
        "cannot read steering vector": gen_args(
            models_dir, out, "--prompt", "a", "--vector", str(tmp_path / "junk.npz")
        ),
        "--layers must be": gen_args(
            models_dir, out, "--prompt", "a", "--vector", str(good), "--layers", "two"
        ),
        "cannot steer layer 9": gen_args(
            models_dir, out, "--prompt", "a", "--vector", str(good), "--layers", "1,9"
        ),
        "is a clap model": gen_args(models_dir, out, "--prompt", "a", model="tiny-clap"),
        "--cfg cond steers one half of classifier-free guidance only": gen_args(
            models_dir, out, "--prompt", "a", "--cfg", "cond", "--guidance-scale", "1"
        ),
        "lacks at layer 1: refit the vector": gen_args(
            models_dir, out, "--prompt", "a", "--vector", str(bare)
        ),
        "--relative was replaced by --alpha-scale projection": gen_args(
            models_dir, out, "--prompt", "a", "--vector", str(good), "--relative"
        ),
        "--top-k must be": gen_args(models_dir, out, "--prompt", "a", "--top-k", "-1"),
        "--top-p must be": gen_args(models_dir, out, "--prompt", "a", "--top-p", "1.5"),
        "--temperature must be": gen_args(models_dir, out, "--prompt", "a", "--temperature", "0"),
        "does not exist": gen_args(models_dir, out, "--prompt", "a", model="./no/such/model"),
        "--device 'cuda', but torch": gen_args(
            models_dir, out, "--prompt", "a", "--device", "cuda"
        ),
        "fitted on 'tiny-musicgen', not on --model 'tiny-musicgen-melody'": gen_args(
            models_dir, out, "--prompt", "a", "--vector", str(good), model="tiny-musicgen-melody"
        ),
        "junk.wav: unreadable": [
            "score",
            str(tmp_path / "junk.wav"),
            "--labels",
            "a",
            "b",
            "--model",
            "tiny-clap",
            "--models-dir",
            str(models_dir),
        ],
    }
    if __import__("torch").cuda.is_available():
        del cases["--device 'cuda', but torch"]
    for needle, argv in cases.items():
        assert main(argv) == 2, needle
        err = capsys.readouterr().err
        assert err.startswith("musicsteer: error: ") and err.count("\n") == 1, err
        assert needle in err
    assert not out.exists()


def test_non_finite_and_huge_numbers_are_refused_or_steer_to_the_limit(
    plain, models_dir, tmp_path, capsys
):
    good = make_vector(plain, tmp_path / "v.npz")
    out = tmp_path / "o.wav"
    steer = ("--prompt", "a", "--vector", str(good))
    cases = {
        ("--alpha", "nan"): "--alpha must be a finite number, got nan",
        ("--alpha", "inf"): "--alpha must be a finite number, got inf",
        ("--alpha", "-1e400"): "--alpha must be a finite number, got -inf",
        ("--alpha", "1e30"): "--alpha 1e+30 × the mean activation norm is past 2",
        ("--guidance-scale", "nan"): "--guidance-scale must be a finite number, got nan",
        ("--temperature", "inf"): "--temperature must be a finite number, got inf",
        ("--top-p", "nan"): "--top-p must be a finite number, got nan",
    }
    for (option, value), needle in cases.items():
        assert main(gen_args(models_dir, out, *steer, f"{option}={value}")) == 2, option
        err = capsys.readouterr().err
        assert err.startswith("musicsteer: error: ") and err.count("\n") == 1, err
        assert needle in err, err
    by_seconds = [
        a for a in gen_args(models_dir, out, *steer) if a not in ("--max-new-tokens", str(STEPS))
    ]
    for value, needle in (
        ("inf", "--seconds must be a finite number, got inf"),
        ("1e30", "--seconds 1e+30 is longer than this model generates"),
    ):
        assert main([*by_seconds, f"--seconds={value}"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("musicsteer: error: ") and err.count("\n") == 1 and needle in err, err
    with pytest.raises(ValueError, match="longer than this model generates: at most 40.9 s"):
        new_tokens(1e30, None, 50, 4, max_steps=2048)
    with pytest.raises(ValueError, match="more than the model's 2048 positions"):
        new_tokens(None, 99_999, 50, 4, max_steps=2048)
    assert not out.exists()
    # a finite α too large for float32 arithmetic steers to its limit ‖h‖ v̂, not to NaN
    huge = ("--alpha", "1e30", "--alpha-scale", "absolute")
    assert main(gen_args(models_dir, out, *steer, *huge)) == 0
    assert np.isfinite(read(out)).all()


def _script(*argv: str) -> subprocess.CompletedProcess:
    script = Path(sys.executable).with_name("musicsteer")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [str(script), *argv],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def test_console_script(plain, models_dir, tmp_path):
    vec_path = make_vector(plain, tmp_path / "v.npz", seed=1)
    steered, original = tmp_path / "s.wav", tmp_path / "o.wav"
    done = _script(
        *gen_args(
            models_dir,
            steered,
            *prompt_args(PROMPTS),
            "--vector",
            str(vec_path),
            "--alpha",
            "0.5",
            "--original",
            str(original),
        )
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("wrote ") == 4 and "Traceback" not in done.stderr
    with SteeringVector.load(vec_path).apply(plain.model, 0.5):
        want = generation.generate(plain, PROMPTS, STEPS, seed=3)
    assert_same(output_paths(steered, 2), want)
    assert_same(output_paths(original, 2), generation.generate(plain, PROMPTS, STEPS, seed=3))
    wrong = make_vector(plain, tmp_path / "d48.npz", d=48)
    failed = _script(
        *gen_args(models_dir, tmp_path / "x.wav", "--prompt", "a", "--vector", str(wrong))
    )
    assert failed.returncode == 2
    assert failed.stderr.strip().splitlines() == [
        f"musicsteer: error: vector has d=48 (from {plain.name}), the model has d=64"
    ]


def test_force_steers_with_a_vector_of_another_model(plain, melody_model, models_dir, tmp_path):
    """Same width, other model: refused above, steered with --force (the user's call)."""
    vector = make_vector(plain, tmp_path / "v.npz")
    assert melody_model.model.decoder.config.hidden_size == plain.model.decoder.config.hidden_size
    argv = gen_args(
        models_dir,
        tmp_path / "o.wav",
        "--prompt",
        "a",
        "--vector",
        str(vector),
        "--force",
        model="tiny-musicgen-melody",
    )
    assert main(argv) == 0 and (tmp_path / "o.wav").exists()


def test_a_terminal_gets_status_lines_and_progress_bars(models_dir, tmp_path):
    """On a TTY (a pseudo-terminal here) generate says what it loads and shows a bar;
    the other tests (stderr captured, not a TTY) see one line per error and nothing else."""
    import fcntl
    import struct
    import termios

    leader, follower = os.openpty()
    # a terminal 24 × 100 (a new pseudo-terminal is 0 × 0, where tqdm draws nothing)
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    argv = gen_args(models_dir, tmp_path / "o.wav", "--prompt", "a")
    done = subprocess.run(
        [sys.executable, "-m", "musicsteer.cli", *argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=follower,
        timeout=300,
    )
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    text = seen.decode(errors="replace")
    assert done.returncode == 0, text
    assert "musicsteer: loading tiny-musicgen on cpu" in text
    assert f"{STEPS}/{STEPS}" in text and "generating" in text, text


def test_generate_reports_every_decoder_step(plain):
    calls: list[int] = []
    plain_waves = generation.generate(plain, ["a", "b"], STEPS, seed=1)
    waves = generation.generate(
        plain, ["a", "b"], STEPS, seed=1, progress=lambda n: calls.append(n) or True
    )
    np.testing.assert_array_equal(waves, plain_waves)  # the hook changes nothing
    assert len(calls) >= STEPS and set(calls) == {1}


def test_extract_then_probe_equal_the_library_calls(plain, models_dir, tmp_path, capsys):
    """extract = activations.record on the same clips; probe = probe_accuracy + build_vector;
    a short and an unreadable file are skipped by name; the vector steers via generate."""
    from musicsteer.activations import record
    from musicsteer.probing.assembly import build_vector
    from musicsteer.probing.probes import probe_accuracy

    sr, files, labels = 32_000, [], []
    rng = np.random.default_rng(0)
    for i in range(8):
        label = "low" if i % 2 else "high"
        hz = (110 if label == "low" else 880) * (1 + 0.05 * i)
        t = np.arange(int(0.6 * sr)) / sr
        wave = (0.3 * np.sin(2 * np.pi * hz * t) + 0.01 * rng.standard_normal(t.size)).astype(
            np.float32
        )
        files.append(audio.write_wav(tmp_path / f"c{i}.wav", wave, sr))
        labels.append(label)
    short = audio.write_wav(tmp_path / "short.wav", np.zeros(sr // 10, np.float32), sr)
    (tmp_path / "junk.wav").write_bytes(b"RIFF....")
    acts = tmp_path / "acts.npz"
    argv = ["extract", *map(str, files), str(short), str(tmp_path / "junk.wav")]
    argv += ["--model", "tiny-musicgen", "--models-dir", str(models_dir), "--out", str(acts)]
    assert main([*argv, "--seconds", "0.5", "--batch-size", "3"]) == 0
    err = capsys.readouterr().err
    assert "skipped" in err and "short.wav" in err and "junk.wav" in err
    with np.load(acts) as data:
        assert [Path(f).name for f in data["files"]] == [f.name for f in files]
        waves = np.stack([audio.load(f, sr, duration_s=0.5) for f in files])
        expected = record(plain, waves, sites=("resid", "attn"))
        for site in ("resid", "attn"):  # batches of 3 vs 8: BLAS may round differently
            np.testing.assert_allclose(data[site], expected[site], rtol=1e-4, atol=1e-5)
        X = data["resid"]
    table = tmp_path / "labels.tsv"
    rows = [f"{f.name}\t{lb}\n" for f, lb in zip(files, labels, strict=True)]
    table.write_text("file\tlabel\n" + "".join(rows))
    vector_path = tmp_path / "v.npz"
    argv = ["probe", str(acts), "--labels", str(table), "--target", "high", "--source", "low"]
    assert main([*argv, "--method", "dim", "--folds", "2", "--out", str(vector_path)]) == 0
    out = capsys.readouterr().out
    y = np.array([lb == "high" for lb in labels]).astype(int)
    accuracy = probe_accuracy(X, y, "dim", folds=2)
    layer = int(np.nanargmax(accuracy))
    want = build_vector(
        X, y, "dim", "resid", layer, "pair", "high", "low", "tiny-musicgen", accuracy
    )
    got = SteeringVector.load(vector_path)
    assert got.layer == layer and f"layer {layer}" in out
    np.testing.assert_allclose(got.directions, want.directions, rtol=0, atol=1e-6)
    assert (got.positive, got.negative, got.model) == ("high", "low", "tiny-musicgen")
    steered = tmp_path / "s.wav"
    assert main(gen_args(models_dir, steered, "--prompt", "a", "--vector", str(vector_path))) == 0
    # bad input: one line each
    (tmp_path / "bad.tsv").write_text("path\tgenre\n")
    cases = {
        "needs the columns file and label": ["--labels", str(tmp_path / "bad.tsv")],
        "0 clip(s) labelled 'nosuch'": ["--labels", str(table), "--source", "nosuch"],
        "activations not found": ["--labels", str(table), "--site", "resid", "--folds", "2"],
    }
    for needle, extra in cases.items():
        source = tmp_path / "absent.npz" if needle.startswith("activations") else acts
        bad = ["probe", str(source), "--target", "high", "--out", str(tmp_path / "x.npz"), *extra]
        assert main(bad) == 2 and needle in capsys.readouterr().err


def test_one_version_everywhere():
    """The package, its metadata, the citation and the changelog's latest release agree."""
    import re
    import tomllib

    root = Path(__file__).resolve().parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"]
    citation = re.search(r"^version: (\S+)$", (root / "CITATION.cff").read_text(), re.M)
    released = re.findall(r"^## \[(\d[^\]]*)\]", (root / "CHANGELOG.md").read_text(), re.M)
    assert __version__ == project == citation.group(1) == released[0]

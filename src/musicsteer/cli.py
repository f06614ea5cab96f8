"""The ``musicsteer`` command: generate (optionally steered) audio, score audio with CLAP.

    musicsteer generate --model tiny-musicgen --prompt "rock music" --out rock.wav \\
        [--vector v.npz --alpha 0.2 --site resid --layers best --original plain.wav]
    musicsteer score rock.wav plain.wav --labels rock pop [--json]
    musicsteer extract clips/*.wav --model tiny-musicgen --out acts.npz [--seconds 10]
    musicsteer probe acts.npz --labels labels.tsv --target pop [--source rock] --out v.npz
    musicsteer --version

Models are built-in names (built under ``--models-dir`` on first use), local
``save_pretrained`` folders or Hugging Face Hub IDs. With several ``--prompt``\\ s, every
output path gets the prompt's index before its suffix: ``--out a.wav`` writes ``a_0.wav``,
``a_1.wav``, ... (one prompt writes ``a.wav`` itself). Bad input (missing files, a vector
that does not fit the model, bad ``--layers``) ends with one line on stderr and exit
status 2.

On a terminal, ``generate`` and ``score`` say which model they load and show progress
bars (none when stderr is a file or pipe). A vector fitted on another model than
``--model`` is refused unless ``--force``: a direction of one model means nothing in
another, even of the same shape.

``--alpha`` is by default a fraction of the mean activation norm the vector recorded at
each steered layer (``--alpha-scale norm``: 0.2 rotates a typical activation by about
11°); ``--alpha-scale absolute`` takes it as it is. Sampling follows audiocraft's
defaults: ``--top-k 250``, ``--top-p 0`` (off), ``--temperature 1``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from musicsteer import __version__
from musicsteer.config import MAX_NORM_ALPHA
from musicsteer.models.specs import PAPER_CLAP, model_config_file, same_model

ZERO_SHOT_TEMPLATE = "This is a sound of {}."  # the zero-shot pipeline's, as the tables

if TYPE_CHECKING:  # torch and transformers load only when a command needs them
    from transformers import PreTrainedModel

    from musicsteer.models.loading import MusicGen
    from musicsteer.steering.vector import SteeringVector

USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, FileNotFoundError)
WAV_SUBTYPES = ("PCM_16", "PCM_24", "FLOAT")


# ---------------------------------------------------------------------- parsing


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with the ``generate`` and ``score`` subcommands."""
    parser = argparse.ArgumentParser(
        prog="musicsteer", description="Generate steered MusicGen audio and score it with CLAP."
    )
    parser.add_argument("--version", action="version", version=f"musicsteer {__version__}")
    parser.add_argument(
        "--verbose", action="store_true", help="show transformers' warnings and progress bars"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_generate(sub.add_parser("generate", help="generate audio, optionally steered"))
    _add_score(sub.add_parser("score", help="zero-shot CLAP probabilities of audio files"))
    _add_extract(sub.add_parser("extract", help="activations of audio files at every layer"))
    _add_probe(sub.add_parser("probe", help="probe every layer and save a steering vector"))
    return parser


def _add_common(p: argparse.ArgumentParser, model_default: str | None) -> None:
    """Options shared by every subcommand: model, device, models folder."""
    help_model = "built-in name, local save_pretrained folder or Hub ID"
    if model_default is None:
        p.add_argument("--model", required=True, help=help_model)
    else:
        p.add_argument("--model", default=model_default, help=f"{help_model} (%(default)s)")
    p.add_argument("--device", default="cpu", help="torch device (%(default)s)")
    p.add_argument(
        "--models-dir",
        default="resources/models",
        type=Path,
        help="where built-in models live; missing ones are built there (%(default)s)",
    )


def _add_generate(p: argparse.ArgumentParser) -> None:
    """Arguments of ``musicsteer generate``."""
    _add_common(p, None)
    p.add_argument("--prompt", action="append", required=True, help="text prompt (repeatable)")
    p.add_argument("--out", required=True, type=Path, help="WAV to write (_<i> per prompt if >1)")
    p.add_argument("--original", type=Path, help="also write the unsteered audio here")
    p.add_argument("--vector", type=Path, help="steering vector .npz (none: plain generation)")
    p.add_argument(
        "--force",
        action="store_true",
        help="steer with a vector fitted on another model than --model",
    )
    p.add_argument(
        "--alpha",
        type=float,
        default=0.2,
        help="steering strength in units of --alpha-scale (%(default)s)",
    )
    p.add_argument(
        "--alpha-scale",
        choices=("norm", "absolute", "projection"),
        default="norm",
        help="alpha's unit: the mean activation norm of the vector's layer, 1, or the mean "
        "projection (%(default)s)",
    )
    p.add_argument("--site", choices=("resid", "attn"), help="default: the vector's site")
    p.add_argument(
        "--layers", default="best", help="best (the vector's layer), all, 3 or 2,5 (%(default)s)"
    )
    p.add_argument(
        "--cfg",
        choices=("both", "cond", "uncond"),
        default="both",
        help="CFG halves to steer (cond/uncond need --guidance-scale above 1; %(default)s)",
    )
    p.add_argument("--relative", action="store_true", help=argparse.SUPPRESS)  # removed
    p.add_argument(
        "--no-skip-prefix",
        dest="skip_prefix",
        action="store_false",
        help="steer MusicGen-Melody's conditioning prefix too",
    )
    p.add_argument("--melody", type=Path, help="melody audio (MusicGen-Melody models only)")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--seconds", type=float, help="audio length (default 5 s)")
    length.add_argument("--max-new-tokens", type=int, help="decoder steps instead of --seconds")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (%(default)s)")
    p.add_argument("--guidance-scale", type=float, default=3.0, help="CFG scale (%(default)s)")
    p.add_argument("--greedy", action="store_true", help="argmax decoding instead of sampling")
    p.add_argument(
        "--top-k",
        type=int,
        default=250,
        help="sample among the k likeliest codes; 0 = all (%(default)s, as audiocraft)",
    )
    p.add_argument(
        "--top-p",
        type=float,
        default=0.0,
        help="nucleus sampling: keep codes holding this much probability; 0 = off (%(default)s)",
    )
    p.add_argument(
        "--temperature", type=float, default=1.0, help="sampling temperature (%(default)s)"
    )
    p.add_argument(
        "--dtype",
        choices=("float32", "bfloat16", "float16"),
        default="float32",
        help="weights dtype (%(default)s)",
    )
    p.add_argument(
        "--subtype",
        choices=WAV_SUBTYPES,
        default="PCM_16",
        help="WAV sample format (%(default)s; FLOAT keeps the generated samples exactly)",
    )
    p.set_defaults(func=run_generate)


def _add_score(p: argparse.ArgumentParser) -> None:
    """Arguments of ``musicsteer score``."""
    p.add_argument("files", nargs="+", type=Path, help="audio files to score")
    p.add_argument("--labels", nargs="+", required=True, help="candidate labels, used as given")
    # evaluation.ZERO_SHOT_TEMPLATE (not imported: it would load torch at start-up)
    p.add_argument("--template", default=ZERO_SHOT_TEMPLATE, help="text for a label (%(default)r)")
    p.add_argument("--json", action="store_true", help="one JSON object per file")
    _add_common(p, PAPER_CLAP)
    p.set_defaults(func=run_score)


def _add_extract(p: argparse.ArgumentParser) -> None:
    """Arguments of ``musicsteer extract``."""
    p.add_argument("files", nargs="+", type=Path, help="audio files (each cut to --seconds)")
    p.add_argument("--out", required=True, type=Path, help=".npz to write")
    p.add_argument("--sites", nargs="+", choices=("resid", "attn"), default=["resid", "attn"])
    p.add_argument(
        "--position", choices=("last", "mean"), default="last", help="token pooling (%(default)s)"
    )
    p.add_argument(
        "--seconds", type=float, default=10.0, help="clip length from each file (%(default)s)"
    )
    p.add_argument("--batch-size", type=int, default=8, help="clips per pass (%(default)s)")
    p.add_argument(
        "--dtype",
        choices=("float32", "bfloat16", "float16"),
        default="float32",
        help="weights dtype (%(default)s)",
    )
    _add_common(p, None)
    p.set_defaults(func=run_extract)


def _add_probe(p: argparse.ArgumentParser) -> None:
    """Arguments of ``musicsteer probe``."""
    p.add_argument("activations", type=Path, help="an .npz from musicsteer extract")
    p.add_argument(
        "--labels", required=True, type=Path, help="TSV with columns file, label (one per clip)"
    )
    p.add_argument("--target", required=True, help="the label to steer towards (y = 1)")
    p.add_argument("--source", help="the label to steer away from (default: every other label)")
    p.add_argument("--method", choices=("dim", "bce", "mse"), default="mse")
    p.add_argument("--site", choices=("resid", "attn"), default="resid")
    p.add_argument("--layer", default="best", help="best (highest held-out accuracy) or an index")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds (%(default)s)")
    p.add_argument("--out", required=True, type=Path, help="steering vector .npz to write")
    p.set_defaults(func=run_probe)


def parse_layers(text: str) -> str | list[int]:
    """``best``/``all`` as they are, ``3`` → ``[3]``, ``2,5`` → ``[2, 5]``."""
    if text in ("best", "all"):
        return text
    try:
        layers = [int(part) for part in text.split(",")]
    except ValueError:
        raise ValueError(
            f"--layers must be best, all, an index or a comma-separated list, got {text!r}"
        ) from None
    if any(layer < 0 for layer in layers):
        raise ValueError(f"--layers takes non-negative indices, got {text!r}")
    return layers


def output_paths(path: Path, n: int) -> list[Path]:
    """``path`` itself for one prompt; ``stem_0.wav``, ``stem_1.wav``, ... for several."""
    if n == 1:
        return [path]
    return [path.with_name(f"{path.stem}_{i}{path.suffix}") for i in range(n)]


def new_tokens(
    seconds: float | None,
    max_new_tokens: int | None,
    frame_rate: int,
    k: int,
    max_steps: int | None = None,
) -> int:
    """Decoder steps: given, or enough for ``seconds`` of audio (+ k - 1 for the delays).

    At most ``max_steps`` (the decoder's positions), so a huge length fails here, not
    in the middle of generation.
    """
    if max_new_tokens is not None:
        if max_new_tokens < k:
            raise ValueError(f"--max-new-tokens must be at least {k} (the codebook delays)")
        steps = max_new_tokens
    else:
        seconds = 5.0 if seconds is None else seconds
        if not seconds > 0:
            raise ValueError(f"--seconds must be positive, got {seconds:g}")
        if max_steps is not None and seconds * frame_rate > max_steps:
            raise ValueError(
                f"--seconds {seconds:g} is longer than this model generates: at most "
                f"{(max_steps - k + 1) / frame_rate:g} s ({max_steps} decoder positions)"
            )
        steps = math.ceil(seconds * frame_rate - 1e-6) + k - 1  # 1.1 s * 50 Hz is 55.00000000000001
    if max_steps is not None and steps > max_steps:
        raise ValueError(f"--max-new-tokens {steps} is more than the model's {max_steps} positions")
    return steps


# ---------------------------------------------------------------------- models


def _model_path(spec: str, models_dir: Path, kinds: Sequence[str]) -> str:
    """Check ``spec`` is a model of one of ``kinds`` (``model_type``), building built-ins.

    Fails early, in one line, for unavailable models and for models of another kind.
    """
    from musicsteer.models import loading, tiny

    if spec in loading.TINY_MODELS:
        folder = models_dir / spec
        if not (folder / "config.json").exists():
            print(f"building built-in model {spec} in {folder}", file=sys.stderr)
            tiny.build_builtin(spec, folder)
    problem = loading.availability_problem(spec, models_dir)
    if problem:
        raise loading.ModelNotAvailableError(problem)
    kind = _model_type(loading.resolve_spec(spec, models_dir))
    if kind is not None and kind not in kinds:
        raise ValueError(f"{spec} is a {kind} model; this command needs {' or '.join(kinds)}")
    return spec


def _model_type(path: str) -> str | None:
    """``model_type`` from a local folder's or a cached Hub model's ``config.json``."""
    config = model_config_file(path)
    if config is None:
        return None
    try:
        return json.loads(config.read_text()).get("model_type")
    except (OSError, ValueError, AttributeError):
        return None


def load_vector(path: Path) -> SteeringVector:
    """A saved steering vector; a missing or unreadable file is a one-line error."""
    import zipfile

    from musicsteer.steering.vector import SteeringVector

    if not path.is_file():
        raise FileNotFoundError(f"steering vector not found: {path}")
    try:
        return SteeringVector.load(path)
    except (OSError, KeyError, TypeError, ValueError, zipfile.BadZipFile) as err:
        raise ValueError(f"cannot read steering vector {path}: {err}") from err


def check_device(device: str) -> None:
    """A device torch cannot use here is a one-line error, before any model loads."""
    from musicsteer.config import device_problem

    problem = device_problem(device)
    if problem:
        what = problem.split("; use", 1)[0]
        raise ValueError(f"--device {what}; use --device cpu, or a machine with a GPU")


def load_generator(args: argparse.Namespace) -> MusicGen:
    """The MusicGen(-Melody) named by ``--model``."""
    from musicsteer.models import loading

    check_device(args.device)
    spec = _model_path(args.model, args.models_dir, ("musicgen", "musicgen_melody"))
    status(f"loading {spec} on {args.device}")
    return loading.load_musicgen(spec, args.models_dir, args.device, args.dtype)


def check_vector_model(vector: SteeringVector, model: str, force: bool) -> None:
    """Refuse a vector recorded for another model (unless ``force``): its directions live
    in that model's activation space, which another model's layers do not share."""
    if not vector.model or same_model(vector.model, model) or force:
        return
    raise ValueError(
        f"the vector was fitted on {vector.model!r}, not on --model {model!r}: its directions "
        "mean nothing in another model, even one of the same shape (pass --force to steer "
        "anyway)"
    )


def interactive() -> bool:
    """Whether a person watches stderr (progress bars and status lines go there)."""
    return sys.stderr.isatty()


def status(message: str) -> None:
    """One status line on a terminal; nothing in pipes and logs."""
    if interactive():
        print(f"musicsteer: {message}", file=sys.stderr, flush=True)


@contextmanager
def quiet_transformers(verbose: bool) -> Iterator[None]:
    """Hide transformers' warnings and progress bars (restored afterwards) unless verbose."""
    from transformers.utils import logging as tf_logging

    if verbose:
        yield
        return
    level, bars = tf_logging.get_verbosity(), tf_logging.is_progress_bar_enabled()
    tf_logging.set_verbosity_error()
    tf_logging.disable_progress_bar()
    try:
        yield
    finally:
        tf_logging.set_verbosity(level)
        if bars:
            tf_logging.enable_progress_bar()


# ---------------------------------------------------------------------- commands


def run_generate(args: argparse.Namespace) -> int:
    """``musicsteer generate``: write steered (and optionally original) WAVs."""
    from musicsteer.steering import generation

    check_generate_options(args)
    layers = parse_layers(args.layers)
    vector = load_vector(args.vector) if args.vector is not None else None
    if vector is not None:
        check_vector_model(vector, args.model, args.force)
    if args.melody is not None and not args.melody.is_file():
        raise FileNotFoundError(f"melody file not found: {args.melody}")
    mg = load_generator(args)
    melody = load_melody(args.melody, mg, args.model) if args.melody is not None else None
    positions = getattr(cast(Any, mg.model).decoder.config, "max_position_embeddings", None)
    steps = new_tokens(
        args.seconds, args.max_new_tokens, mg.frame_rate, mg.num_codebooks, positions
    )

    def run(what: str) -> np.ndarray:
        from tqdm import tqdm

        with tqdm(total=steps, desc=what, unit="step", disable=not interactive()) as bar:
            return cast(
                np.ndarray,
                generation.generate(
                    mg,
                    args.prompt,
                    steps,
                    args.seed,
                    args.guidance_scale,
                    do_sample=not args.greedy,
                    melody=melody,
                    top_k=args.top_k,
                    top_p=args.top_p,
                    temperature=args.temperature,
                    progress=lambda n: bar.update(min(n, bar.total - bar.n)),
                ),
            )

    with steering_context(vector, mg, args, layers):
        waves = run("steered" if vector is not None else "generating")
    outputs = [(args.out, waves)]
    if args.original is not None:
        outputs.append((args.original, waves if vector is None else run("original")))
    for base, batch in outputs:
        _write_all(base, batch, mg.sample_rate, args.subtype)
    return 0


def check_generate_options(args: argparse.Namespace) -> None:
    """Options that contradict each other or are out of range, before any model loads."""
    from musicsteer.steering.generation import check_sampling

    if args.relative:
        raise ValueError("--relative was replaced by --alpha-scale projection")
    for option in ("alpha", "seconds", "guidance_scale", "top_p", "temperature"):
        value = getattr(args, option)
        if value is not None and not math.isfinite(value):
            raise ValueError(f"--{option.replace('_', '-')} must be a finite number, got {value}")
    if args.alpha_scale == "norm" and abs(args.alpha) > MAX_NORM_ALPHA:
        raise ValueError(
            f"--alpha {args.alpha:g} × the mean activation norm is past {MAX_NORM_ALPHA:g} (which "
            "already turns a typical activation by 63°): use a smaller --alpha, or "
            "--alpha-scale absolute for a raw strength"
        )
    if args.cfg != "both" and args.guidance_scale <= 1:
        raise ValueError(
            f"--cfg {args.cfg} steers one half of classifier-free guidance only, but "
            f"--guidance-scale {args.guidance_scale:g} turns guidance off: use --cfg both or "
            "a --guidance-scale above 1"
        )
    try:
        check_sampling(args.top_k, args.top_p, args.temperature)
    except ValueError as err:
        raise ValueError(f"--{str(err).replace('_', '-')}") from None


def load_melody(path: Path, mg: MusicGen, name: str) -> np.ndarray:
    """Melody audio as mono at the model's rate; only MusicGen-Melody takes one."""
    if not mg.is_melody:
        raise ValueError(f"--melody needs a MusicGen-Melody model; {name} is not one")
    return _read(path, mg.sample_rate)[0]


def steering_context(
    vector: SteeringVector | None, mg: MusicGen, args: argparse.Namespace, layers: str | list[int]
) -> AbstractContextManager[None]:
    """``vector.apply(...)`` with the command's options, or nothing without a vector."""
    if vector is None:
        return nullcontext()
    n_layers = int(cast("PreTrainedModel", mg.model.decoder).config.num_hidden_layers)
    for layer in layers if isinstance(layers, list) else []:
        if layer >= n_layers:
            raise ValueError(
                f"cannot steer layer {layer}: the model has decoder layers 0..{n_layers - 1}"
            )
    return vector.apply(
        mg.model,
        args.alpha,
        site=args.site,
        layers=layers,
        cfg=args.cfg,
        skip_prefix=args.skip_prefix,
        alpha_scale=args.alpha_scale,
    )


def _write_all(base: Path, waves: np.ndarray, sample_rate: int, subtype: str) -> None:
    """Write one WAV per prompt and say where each went and how long it is."""
    from musicsteer.audio import write_wav

    for path, wave in zip(output_paths(base, len(waves)), waves, strict=True):
        written = write_wav(path, wave, sample_rate, subtype=subtype)
        print(f"wrote {written} ({len(wave) / sample_rate:.2f} s)")


def run_score(args: argparse.Namespace) -> int:
    """``musicsteer score``: a probability per label for every file (table or JSON lines)."""
    from musicsteer.evaluation.clap import ClapScorer
    from musicsteer.models import loading

    _check_template(args.template)
    for path in args.files:
        if not path.is_file():
            raise FileNotFoundError(f"audio file not found: {path}")
    waves = [_read(path) for path in args.files]  # unreadable files fail before the model loads
    check_device(args.device)
    spec = _model_path(args.model, args.models_dir, ("clap",))
    status(f"loading {spec} on {args.device}")
    model, processor = loading.load_clap(spec, args.models_dir, args.device)
    scorer = ClapScorer(model, processor, args.template)
    from tqdm import tqdm

    scored = tqdm(waves, desc="scoring", unit="file", disable=not interactive())
    rows = [scorer.probabilities([w], sr, args.labels)[0] for w, sr in scored]
    names = [str(path) for path in args.files]
    print(_json_lines(names, args.labels, rows) if args.json else _table(names, args.labels, rows))
    return 0


def run_extract(args: argparse.Namespace) -> int:
    """``musicsteer extract``: activations ``[clips, layer indices, d]`` per site, as .npz.

    Files shorter than ``--seconds`` or unreadable are skipped and named on stderr; the
    .npz holds ``files`` (those kept, in order), one array per site, ``model`` and
    ``position``.
    """
    from tqdm import tqdm

    from musicsteer import audio
    from musicsteer.activations import record

    if not args.seconds > 0 or not math.isfinite(args.seconds):
        raise ValueError(f"--seconds must be a positive number, got {args.seconds}")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {args.batch_size}")
    for path in args.files:
        if not path.is_file():
            raise FileNotFoundError(f"audio file not found: {path}")
    mg = load_generator(args)
    kept, waves = [], []
    for path in args.files:
        try:
            waves.append(audio.load(path, mg.sample_rate, duration_s=args.seconds))
            kept.append(str(path))
        except audio.AudioError as err:
            print(f"musicsteer: skipped {path}: {err}", file=sys.stderr)
    if not waves:
        raise ValueError(f"none of the {len(args.files)} files gave a {args.seconds:g} s clip")
    parts: dict[str, list[np.ndarray]] = {site: [] for site in args.sites}
    batches = range(0, len(waves), args.batch_size)
    for start in tqdm(batches, desc="extracting", unit="batch", disable=not interactive()):
        batch = np.stack(waves[start : start + args.batch_size])
        for site, values in record(mg, batch, sites=args.sites, position=args.position).items():
            parts[site].append(values)
    arrays = {site: np.concatenate(chunks) for site, chunks in parts.items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload: dict[str, Any] = {
        "files": np.array(kept),
        "model": np.array(mg.name),
        "position": np.array(args.position),
        **arrays,
    }
    np.savez(args.out, **payload)
    shapes = ", ".join(f"{site} {tuple(a.shape)}" for site, a in arrays.items())
    print(f"wrote {args.out}: {len(kept)} clips; {shapes}")
    return 0


def run_probe(args: argparse.Namespace) -> int:
    """``musicsteer probe``: held-out accuracy at every layer, then a vector at the best
    (or the given) layer, fitted on every clip."""
    import pandas as pd

    from musicsteer.probing.assembly import build_vector
    from musicsteer.probing.probes import probe_accuracy

    X, files, model = _load_activations(args.activations, args.site)
    y, keep = _binary_labels(args.labels, files, args.target, args.source)
    X = X[keep]
    accuracy = probe_accuracy(X, y, args.method, folds=args.folds)
    if args.layer == "best":
        layer = int(np.nanargmax(accuracy))
    else:
        layer = int(args.layer)
        if not 0 <= layer < X.shape[1]:
            raise ValueError(f"--layer {layer}: the activations hold indices 0..{X.shape[1] - 1}")
    kind = "pair" if args.source else "one_vs_rest"
    vector = build_vector(
        X,
        y,
        args.method,
        args.site,
        layer,
        kind,
        args.target,
        args.source or "rest",
        model,
        accuracy,
    )
    vector.save(args.out)
    table = pd.DataFrame({"layer": range(len(accuracy)), "accuracy": accuracy})
    print(table.to_string(index=False, float_format="%.3f"))
    print(f"wrote {args.out}: {args.method} at {args.site} layer {layer} ({len(y)} clips)")
    return 0


def _load_activations(path: Path, site: str) -> tuple[np.ndarray, list[str], str]:
    """``(X, files, model)`` of one site from a ``musicsteer extract`` .npz."""
    if not path.is_file():
        raise FileNotFoundError(f"activations not found: {path}")
    try:
        with np.load(path) as data:
            if site not in data:
                sites = [k for k in data.files if k not in ("files", "model", "position")]
                raise ValueError(f"{path} has no {site!r} activations (it has {sites})")
            return data[site], [str(f) for f in data["files"]], str(data["model"])
    except (OSError, KeyError) as err:
        raise ValueError(f"cannot read activations {path}: {err}") from err


def _binary_labels(
    labels: Path, files: Sequence[str], target: str, source: str | None
) -> tuple[np.ndarray, np.ndarray]:
    """``(y, rows)``: 1 for ``target``, 0 for ``source`` (or any other label), for the
    clips whose file the labels table names (by path, or by file name)."""
    import pandas as pd

    if not labels.is_file():
        raise FileNotFoundError(f"labels not found: {labels}")
    table = pd.read_csv(labels, sep="\t", dtype=str)
    if not {"file", "label"} <= set(table.columns):
        raise ValueError(f"{labels} needs the columns file and label, has {list(table.columns)}")
    by_path = dict(zip(table.file, table.label, strict=True))
    by_name = {Path(f).name: label for f, label in by_path.items()}
    found = [by_path.get(f, by_name.get(Path(f).name)) for f in files]
    missing = [f for f, label in zip(files, found, strict=True) if label is None]
    if missing:
        raise ValueError(f"{labels} has no label for {len(missing)} clip(s), e.g. {missing[0]}")
    label = np.array(found, dtype=object)
    keep = np.isin(label, [target, source]) if source else np.ones(len(label), bool)
    y = (label[keep] == target).astype(np.int64)
    for name, count in ((target, int(y.sum())), (source or "the rest", int((1 - y).sum()))):
        if count < 2:
            raise ValueError(f"{count} clip(s) labelled {name!r}: a probe needs 2 or more of each")
    return y, np.flatnonzero(keep)


def _read(path: Path, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Mono audio resampled to ``sample_rate`` (default: its own rate), with that rate."""
    from musicsteer import audio

    try:
        with audio.open_audio(path) as sound:
            rate = sample_rate or audio.info_of(sound).sample_rate
            return audio.read_window(sound, rate), rate
    except audio.AudioError as err:
        raise audio.AudioError(f"{path}: {err}") from err


def _check_template(template: str) -> None:
    """The template must place the label somewhere (``{}``)."""
    try:
        ok = template.format("\0") != template
    except (IndexError, KeyError):
        ok = False
    if not ok:
        raise ValueError(f"--template must contain {{}} where the label goes, got {template!r}")


def _table(names: Sequence[str], labels: Sequence[str], rows: Sequence[np.ndarray]) -> str:
    """Aligned text table: file, then one 4-decimal column per label."""
    width = max(len("file"), *(len(n) for n in names))
    cols = [max(len(label), 6) for label in labels]
    head = ["file".ljust(width)] + [label.rjust(w) for label, w in zip(labels, cols, strict=True)]
    lines = ["  ".join(head)]
    for name, row in zip(names, rows, strict=True):
        cells = [f"{p:.4f}".rjust(w) for p, w in zip(row, cols, strict=True)]
        lines.append("  ".join([name.ljust(width), *cells]))
    return "\n".join(lines)


def _json_lines(names: Sequence[str], labels: Sequence[str], rows: Sequence[np.ndarray]) -> str:
    """One ``{"path": ..., "scores": {label: p}}`` object per line (full precision)."""
    return "\n".join(
        json.dumps({"path": n, "scores": {lb: float(p) for lb, p in zip(labels, r, strict=True)}})
        for n, r in zip(names, rows, strict=True)
    )


# ---------------------------------------------------------------------- entry point


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors that mean bad input, reported in one line (audio/model errors included)."""
    from musicsteer.audio import AudioError
    from musicsteer.models.loading import ModelNotAvailableError

    return (*USER_ERRORS, AudioError, ModelNotAvailableError)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for bad input)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version, usage errors: argparse already printed
        return 0 if stop.code is None else stop.code if isinstance(stop.code, int) else 2
    try:
        with quiet_transformers(args.verbose):
            return args.func(args)
    except _user_errors() as err:
        message = " ".join(str(err).split()) or type(err).__name__
        print(f"musicsteer: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""Load MusicGen / MusicGen-Melody / CLAP, or build tiny random-weight twins offline.

A *model spec* in a config is one of:

* a built-in name (``tiny-musicgen``, ``tiny-musicgen-melody``, ``tiny-clap``): a
  deterministic random-weight model of the real class, built by
  :func:`build_builtin` under ``models_dir/<name>``;
* a local folder written by ``save_pretrained``;
* a Hugging Face Hub ID such as ``facebook/musicgen-melody``.

MusicGen-Melody's own feature extractor needs torchaudio, which has no build for
torch 2.13; :func:`melody_chroma` reproduces its chroma in plain torch.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import (
    AutoConfig,
    AutoTokenizer,
    ClapConfig,
    ClapFeatureExtractor,
    ClapModel,
    ClapProcessor,
    EncodecConfig,
    GenerationConfig,
    MusicgenConfig,
    MusicgenDecoderConfig,
    MusicgenForConditionalGeneration,
    MusicgenMelodyConfig,
    MusicgenMelodyDecoderConfig,
    MusicgenMelodyForConditionalGeneration,
    PreTrainedModel,
    RobertaTokenizer,
    T5Config,
    T5Tokenizer,
)
from transformers.audio_utils import chroma_filter_bank

MUSICGEN_SAMPLE_RATE = 32_000
CLAP_SAMPLE_RATE = 48_000
PAD_TOKEN_ID = 2048
BUILTIN_MODELS = ("tiny-musicgen", "tiny-musicgen-melody", "tiny-clap")

# Decoder shapes of the public checkpoints (layers, d_model, heads, ffn), for random
# models of real size in benchmarks.
DECODER_SHAPES: dict[str, tuple[int, int, int, int]] = {
    "tiny": (4, 64, 4, 128),
    "small": (24, 1024, 16, 4096),
    "medium": (48, 1536, 24, 6144),
    "large": (48, 2048, 32, 8192),
    "melody": (48, 1536, 24, 6144),
}

_WORDS = [
    "music",
    "song",
    "track",
    "genre",
    "style",
    "sound",
    "of",
    "a",
    "an",
    "the",
    "with",
    "and",
    "in",
    "on",
    "by",
    "for",
    "playing",
    "rock",
    "pop",
    "folk",
    "hip",
    "hop",
    "hiphop",
    "jazz",
    "blues",
    "classical",
    "country",
    "disco",
    "metal",
    "reggae",
    "electronic",
    "instrumental",
    "experimental",
    "international",
    "flute",
    "violin",
    "xylophone",
    "piano",
    "guitar",
    "drums",
    "bass",
    "synth",
    "strings",
    "acoustic",
    "electric",
    "upbeat",
    "slow",
    "fast",
    "happy",
    "sad",
]


class ModelNotAvailableError(RuntimeError):
    """A model spec names neither a built-in, a local folder, nor a cached Hub model."""


class UnsupportedModelError(ValueError):
    """A checkpoint this package cannot drive correctly (e.g. a stereo MusicGen)."""


@dataclass
class MusicGen:
    """A loaded MusicGen-family model with what is needed to drive it."""

    model: PreTrainedModel
    tokenizer: Any
    name: str
    is_melody: bool

    @property
    def sample_rate(self) -> int:
        """Sampling rate of the EnCodec audio codec (32 kHz for every MusicGen)."""
        return int(self.model.config.audio_encoder.sampling_rate)

    @property
    def frame_rate(self) -> int:
        """Codec frames (decoder tokens) per second of audio."""
        return int(self.model.config.audio_encoder.frame_rate)

    @property
    def num_codebooks(self) -> int:
        """Parallel codebook streams of the decoder."""
        return int(self.model.decoder.config.num_codebooks)

    @property
    def device(self) -> torch.device:
        """Device holding the decoder weights."""
        return next(self.model.parameters()).device


def decoder_layers(model: PreTrainedModel) -> torch.nn.ModuleList:
    """The transformer blocks of a MusicGen(-Melody) decoder."""
    return model.decoder.model.decoder.layers


def inner_decoder(model: PreTrainedModel) -> torch.nn.Module:
    """The decoder stack (embeddings, layers, final LayerNorm)."""
    return model.decoder.model.decoder


def is_melody_model(model: PreTrainedModel) -> bool:
    """True for MusicGen-Melody (prefix conditioning), False for plain MusicGen."""
    return isinstance(model, MusicgenMelodyForConditionalGeneration)


# --------------------------------------------------------------------------- specs


def resolve_spec(spec: str, models_dir: str | Path = "resources/models") -> str:
    """Turn a model spec into a local folder (built-ins, paths) or a Hub ID."""
    if spec in BUILTIN_MODELS:
        return str(Path(models_dir) / spec)
    if Path(spec).expanduser().exists():
        return str(Path(spec).expanduser())
    return spec


def looks_like_path(spec: str) -> bool:
    """Specs starting with '/', '.', '~' or holding more than one '/' are paths, not Hub IDs."""
    return spec.startswith(("/", ".", "~")) or spec.count("/") > 1


def availability_problem(spec: str, models_dir: str | Path = "resources/models") -> str | None:
    """Why ``spec`` cannot be loaded here, or None if it can (or will be built).

    Hub IDs count as available when they are in the local Hugging Face cache;
    otherwise the message says how to fetch them.
    """
    if spec in BUILTIN_MODELS or Path(spec).expanduser().exists():
        return None
    if looks_like_path(spec):
        return f"model folder {spec!r} does not exist"
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(spec, "config.json"), str):
        return None
    return (
        f"model {spec!r} is not in the local Hugging Face cache; fetch it on a machine with "
        f"network (`hf download {spec}`) or point the config at a local folder"
    )


def _from_pretrained(cls: Any, spec: str, **kwargs: Any) -> Any:
    try:
        return cls.from_pretrained(spec, **kwargs)
    except OSError as err:
        raise ModelNotAvailableError(
            f"cannot load {spec!r}: {err}. Use a built-in ({', '.join(BUILTIN_MODELS)}), "
            "a local save_pretrained folder, or a Hub ID cached on this machine."
        ) from err


def load_musicgen(
    spec: str,
    models_dir: str | Path = "resources/models",
    device: str = "cpu",
    dtype: str | torch.dtype = "float32",
) -> MusicGen:
    """Load MusicGen or MusicGen-Melody (class chosen from the checkpoint's config)."""
    path = resolve_spec(spec, models_dir)
    config = _from_pretrained(AutoConfig, path)
    refuse_stereo(config, spec)
    melody = config.model_type == "musicgen_melody"
    cls = MusicgenMelodyForConditionalGeneration if melody else MusicgenForConditionalGeneration
    model = _from_pretrained(cls, path, dtype=_dtype(dtype))
    model.to(device).eval()
    tokenizer = _from_pretrained(AutoTokenizer, path)
    return MusicGen(model=model, tokenizer=tokenizer, name=spec, is_melody=melody)


def refuse_stereo(config: MusicgenConfig | MusicgenMelodyConfig, spec: str) -> None:
    """Raise :class:`UnsupportedModelError` for stereo checkpoints (``audio_channels == 2``).

    Stereo MusicGens (musicgen-stereo-*) interleave left/right codebooks and delay them
    in pairs (8 codebooks, delays 0,0,1,1,2,2,3,3); teacher forcing here assumes mono
    codes with codebook ``k`` delayed by ``k``, so their activations would be wrong.
    """
    decoder = getattr(config, "decoder", None)
    channels = getattr(decoder, "audio_channels", 1)
    if channels != 1:
        books = getattr(decoder, "num_codebooks", "?")
        raise UnsupportedModelError(
            f"{spec!r} is a stereo MusicGen (audio_channels={channels}, {books} codebooks "
            "delayed in left/right pairs); only mono checkpoints are supported (e.g. "
            "facebook/musicgen-small, -medium, -large, -melody)"
        )


def load_clap(
    spec: str, models_dir: str | Path = "resources/models", device: str = "cpu"
) -> tuple[ClapModel, ClapProcessor]:
    """Load a CLAP model and its processor."""
    path = resolve_spec(spec, models_dir)
    model = _from_pretrained(ClapModel, path).to(device).eval()
    processor = _from_pretrained(ClapProcessor, path)
    return model, processor


def _dtype(dtype: str | torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    try:
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[
            dtype
        ]
    except KeyError:
        raise ValueError(f"dtype must be float32, bfloat16 or float16, got {dtype!r}") from None


# ------------------------------------------------------------------ tiny models


def build_builtin(name: str, out_dir: str | Path, seed: int = 0) -> Path:
    """Build the built-in model ``name`` into ``out_dir`` (weights, tokenizer, configs)."""
    builders = {
        "tiny-musicgen": lambda d: _save_musicgen(d, melody=False, seed=seed),
        "tiny-musicgen-melody": lambda d: _save_musicgen(d, melody=True, seed=seed),
        "tiny-clap": lambda d: _save_clap(d, seed=seed),
    }
    if name not in builders:
        raise ValueError(f"unknown built-in model {name!r}; choose from {BUILTIN_MODELS}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    builders[name](out)
    (out / "musicsteer.json").write_text(json.dumps({"builtin": name, "seed": seed}) + "\n")
    return out


def tiny_t5_tokenizer() -> T5Tokenizer:
    """A deterministic unigram tokenizer over characters and a few music words."""
    pieces = ["<pad>", "</s>", "<unk>"]
    pieces += ["▁" + w for w in _WORDS] + ["▁"]
    pieces += list(string.ascii_lowercase + string.ascii_uppercase + string.digits + "-.,'!?")
    vocab = [(p, 0.0 if i < 3 else -float(len(p) < 2) - 1.0) for i, p in enumerate(pieces)]
    return T5Tokenizer(vocab=vocab, extra_ids=0)


def tiny_roberta_tokenizer() -> RobertaTokenizer:
    """A byte-level BPE tokenizer with no merges (one token per byte): CLAP's tokenizer class."""
    from tokenizers.pre_tokenizers import ByteLevel

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    alphabet = sorted(ByteLevel.alphabet())
    vocab = {tok: i for i, tok in enumerate(specials + alphabet)}
    return RobertaTokenizer(vocab=vocab, merges=[])


def tiny_musicgen_config(
    melody: bool, vocab_size: int, shape: str = "tiny"
) -> MusicgenConfig | MusicgenMelodyConfig:
    """Config of a MusicGen(-Melody) with real structure and tiny (or real-sized) decoder."""
    layers, hidden, heads, ffn = DECODER_SHAPES[shape]
    text = T5Config(
        vocab_size=vocab_size,
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_heads=4,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )
    audio = EncodecConfig(
        sampling_rate=MUSICGEN_SAMPLE_RATE,
        upsampling_ratios=[8, 5, 4, 4],
        target_bandwidths=[2.2],
        codebook_size=2048,
        hidden_size=32,
        num_filters=8,
        num_lstm_layers=1,
        use_causal_conv=False,
        normalize=False,
    )
    decoder_cls = MusicgenMelodyDecoderConfig if melody else MusicgenDecoderConfig
    decoder = decoder_cls(
        vocab_size=2048,
        num_hidden_layers=layers,
        hidden_size=hidden,
        num_attention_heads=heads,
        ffn_dim=ffn,
        num_codebooks=4,
        max_position_embeddings=2048,
        dropout=0.0,
        pad_token_id=PAD_TOKEN_ID,
        bos_token_id=PAD_TOKEN_ID,
    )
    cls = MusicgenMelodyConfig if melody else MusicgenConfig
    return cls(
        text_encoder=text.to_dict(), audio_encoder=audio.to_dict(), decoder=decoder.to_dict()
    )


def random_musicgen(melody: bool, shape: str = "tiny", seed: int = 0) -> MusicGen:
    """A random-weight MusicGen(-Melody) of a given decoder shape (not saved)."""
    tokenizer = tiny_t5_tokenizer()
    config = tiny_musicgen_config(melody, len(tokenizer), shape)
    torch.manual_seed(seed)
    cls = MusicgenMelodyForConditionalGeneration if melody else MusicgenForConditionalGeneration
    model = cls(config).eval()
    _condition_codec(model.audio_encoder, seed)
    model.generation_config = _generation_config()
    return MusicGen(model=model, tokenizer=tokenizer, name=f"random-{shape}", is_melody=melody)


@torch.no_grad()
def _condition_codec(codec: torch.nn.Module, seed: int) -> None:
    """Make a random EnCodec encode and decode audio-dependently.

    A freshly built codec is degenerate: its codebooks are all zeros (every frame is
    code 0), its encoder maps all audio to nearly one vector, and its decoder shrinks
    every signal towards a fixed waveform. Here, deterministically: biases are zeroed,
    every convolution is rescaled to unit output variance on probe audio (LSUV), and
    each residual stage takes its code vectors from encoder frames (k-means-style
    init, as EnCodec's own training starts). Codes then depend on the input, and
    different codes decode to different audio.
    """
    gen = torch.Generator().manual_seed(seed)
    probe = _probe_audio(int(codec.config.sampling_rate), gen).unsqueeze(1)
    for name, param in codec.named_parameters():
        if name.startswith(("encoder.", "decoder.")) and "bias" in name.rsplit(".", 1)[-1]:
            param.zero_()
    _unit_variance(codec.encoder, probe)
    frames = codec.encoder(probe)  # [n, dim, frames]
    _fill_codebooks(codec.quantizer, frames.transpose(1, 2).reshape(-1, frames.shape[1]), gen)
    codes = codec.quantizer.encode(frames)
    _unit_variance(codec.decoder, codec.quantizer.decode(codes), last_std=0.1)


def _probe_audio(sample_rate: int, gen: torch.Generator, n: int = 16) -> torch.Tensor:
    """Deterministic 0.5-s mixtures of tones and noise at varied levels."""
    t = torch.arange(sample_rate // 2) / sample_rate
    freqs = 55.0 * 2 ** (torch.rand(n, 3, 1, generator=gen) * 6)
    tones = (torch.sin(2 * torch.pi * freqs * t) * torch.rand(n, 3, 1, generator=gen)).sum(1)
    noise = torch.randn(n, len(t), generator=gen) * torch.rand(n, 1, generator=gen)
    return 0.1 * tones + 0.1 * noise


def _unit_variance(stack: torch.nn.Module, x: torch.Tensor, last_std: float = 1.0) -> None:
    """LSUV: rescale each weight-normed convolution, in order, to unit output std."""
    convs = [m for m in stack.modules() if hasattr(m, "parametrizations")]
    seen: dict[str, torch.Tensor] = {}
    for i, conv in enumerate(convs):
        handle = conv.register_forward_hook(lambda _m, _a, out: seen.update(std=out.std()))
        stack(x)
        handle.remove()
        target = last_std if i == len(convs) - 1 else 1.0
        conv.parametrizations.weight.original0.mul_(target / seen["std"].clamp_min(1e-8))


def _fill_codebooks(quantizer: torch.nn.Module, frames: torch.Tensor, gen: torch.Generator) -> None:
    residual = frames
    for layer in quantizer.layers:
        book = layer.codebook
        pick = torch.randint(0, residual.shape[0], (book.embed.shape[0],), generator=gen)
        jitter = torch.randn(book.embed.shape, generator=gen) * residual.std() * 0.01
        book.embed.copy_(residual[pick] + jitter)
        book.embed_avg.copy_(book.embed)
        residual = residual - book.embed[torch.cdist(residual, book.embed).argmin(1)]


def _generation_config() -> GenerationConfig:
    return GenerationConfig(
        decoder_start_token_id=PAD_TOKEN_ID,
        pad_token_id=PAD_TOKEN_ID,
        bos_token_id=PAD_TOKEN_ID,
        do_sample=True,
        guidance_scale=3.0,
        max_length=1500,
    )


def _save_musicgen(out: Path, melody: bool, seed: int) -> None:
    bundle = random_musicgen(melody, "tiny", seed)
    bundle.model.save_pretrained(out)
    bundle.tokenizer.save_pretrained(out)


def tiny_clap_config(vocab_size: int) -> ClapConfig:
    """A CLAP (HTSAT + RoBERTa) with the real structure and tiny widths, no fusion."""
    text = {
        "vocab_size": vocab_size,
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "projection_dim": 32,
        "max_position_embeddings": 514,
    }
    audio = {
        "depths": [1, 1, 1, 1],
        "num_attention_heads": [2, 2, 4, 4],
        "patch_embeds_hidden_size": 16,
        "hidden_size": 128,
        "projection_dim": 32,
        "enable_fusion": False,
    }
    return ClapConfig(text_config=text, audio_config=audio, projection_dim=32)


def _save_clap(out: Path, seed: int) -> None:
    tokenizer = tiny_roberta_tokenizer()
    torch.manual_seed(seed)
    model = ClapModel(tiny_clap_config(len(tokenizer))).eval()
    # laion/clap-htsat-unfused's preprocessor_config.json: the class default truncation
    # "fusion" gives 4-channel mels that an unfused model rejects (the zero-shot pipeline
    # uses these saved settings as they are)
    features = ClapFeatureExtractor(
        truncation="rand_trunc", padding="repeatpad", frequency_min=50, frequency_max=14_000
    )
    processor = ClapProcessor(feature_extractor=features, tokenizer=tokenizer)
    model.save_pretrained(out)
    processor.save_pretrained(out)


# ----------------------------------------------------------------- melody chroma


def melody_chroma(
    audio: np.ndarray | torch.Tensor,
    sample_rate: int = MUSICGEN_SAMPLE_RATE,
    n_fft: int = 16384,
    hop_length: int = 4096,
    num_chroma: int = 12,
) -> torch.Tensor:
    """One-hot chroma ``[batch, frames, 12]`` as MusicgenMelodyFeatureExtractor computes it.

    ``audio`` is ``[samples]`` or ``[batch, samples]`` at ``sample_rate`` (resample to
    32 kHz first). Hann-windowed power STFT normalised by the window's energy, folded
    by librosa's chroma filter bank, argmax per frame.
    """
    wave = torch.as_tensor(np.asarray(audio), dtype=torch.float32)
    wave = wave.unsqueeze(0) if wave.ndim == 1 else wave
    if wave.shape[-1] < n_fft:  # the extractor centre-pads short input to one window
        pad = n_fft - wave.shape[-1]
        wave = torch.nn.functional.pad(wave, (pad // 2, pad - pad // 2))
    window = torch.hann_window(n_fft)
    spec = torch.stft(
        wave,
        n_fft,
        hop_length,
        window=window,
        center=True,
        pad_mode="reflect",
        return_complex=True,
    )
    power = spec.abs().pow(2) / window.pow(2).sum()
    filters = torch.from_numpy(
        chroma_filter_bank(
            num_frequency_bins=n_fft, num_chroma=num_chroma, sampling_rate=sample_rate, tuning=0
        )
    ).float()
    raw = torch.einsum("cf,bft->bct", filters, power)
    idx = raw.argmax(dim=1)  # argmax is unchanged by the extractor's max-normalisation
    return torch.nn.functional.one_hot(idx, num_chroma).float()

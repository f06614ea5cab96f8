"""Offline random-weight twins of MusicGen, MusicGen-Melody and CLAP (the built-in ``tiny-*`` models)."""

from __future__ import annotations

import json
import string
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch
from transformers import (
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
    RobertaTokenizer,
    T5Config,
    T5Tokenizer,
)

from musicsteer.audio import MUSICGEN_SAMPLE_RATE
from musicsteer.models.loading import PAD_TOKEN_ID, MusicGen
from musicsteer.models.specs import DECODER_SHAPES, TINY_MODELS  # noqa: F401 (re-exported)

if TYPE_CHECKING:
    from transformers import EncodecModel


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


def build_builtin(name: str, out_dir: str | Path, seed: int = 0) -> Path:
    """Build the built-in model ``name`` into ``out_dir`` (weights, tokenizer, configs)."""
    builders = {
        "tiny-musicgen": lambda d: _save_musicgen(d, melody=False, seed=seed),
        "tiny-musicgen-melody": lambda d: _save_musicgen(d, melody=True, seed=seed),
        "tiny-clap": lambda d: _save_clap(d, seed=seed),
    }
    if name not in builders:
        raise ValueError(f"unknown built-in model {name!r}; choose from {TINY_MODELS}")
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


DecoderShape = str | tuple[int, int, int, int]


def tiny_musicgen_config(
    melody: bool,
    vocab_size: int,
    shape: DecoderShape = "tiny",
    chroma_length: int | None = None,
) -> MusicgenConfig | MusicgenMelodyConfig:
    """Config of a MusicGen(-Melody) with real structure and tiny (or real-sized) decoder.

    ``shape`` is a name in :data:`DECODER_SHAPES` or ``(layers, d_model, heads, ffn)``;
    ``chroma_length`` (Melody) shortens its chroma prefix from the real 235 frames.
    """
    layers, hidden, heads, ffn = DECODER_SHAPES[shape] if isinstance(shape, str) else shape
    text = T5Config(  # type: ignore[call-arg]
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
    parts: dict[str, Any] = {
        "text_encoder": text.to_dict(),
        "audio_encoder": audio.to_dict(),
        "decoder": decoder.to_dict(),
    }
    if not melody:
        return MusicgenConfig(**parts)
    if chroma_length is not None:
        parts["chroma_length"] = chroma_length
    return MusicgenMelodyConfig(**parts)


def random_musicgen(
    melody: bool, shape: DecoderShape = "tiny", seed: int = 0, chroma_length: int | None = None
) -> MusicGen:
    """A random-weight MusicGen(-Melody) of a given decoder shape (not saved)."""
    tokenizer = tiny_t5_tokenizer()
    config = tiny_musicgen_config(melody, len(tokenizer), shape, chroma_length)
    torch.manual_seed(seed)
    cls = MusicgenMelodyForConditionalGeneration if melody else MusicgenForConditionalGeneration
    model = cls(cast(Any, config)).eval()
    _condition_codec(cast("EncodecModel", model.audio_encoder), seed)
    model.generation_config = _generation_config()
    return MusicGen(model=model, tokenizer=tokenizer, name=f"random-{shape}", is_melody=melody)


@torch.no_grad()
def _condition_codec(codec: EncodecModel, seed: int) -> None:
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
        cast(Any, conv.parametrizations).weight.original0.mul_(target / seen["std"].clamp_min(1e-8))


def _fill_codebooks(quantizer: torch.nn.Module, frames: torch.Tensor, gen: torch.Generator) -> None:
    residual = frames
    for layer in cast(Iterable[Any], quantizer.layers):
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


def random_clap(seed: int = 0) -> tuple[ClapModel, ClapProcessor]:
    """A random-weight tiny CLAP and its processor (not saved)."""
    tokenizer = tiny_roberta_tokenizer()
    torch.manual_seed(seed)
    model = ClapModel(tiny_clap_config(len(tokenizer))).eval()
    # laion/clap-htsat-unfused's preprocessor_config.json: the class default truncation
    # "fusion" gives 4-channel mels that an unfused model rejects (the zero-shot pipeline
    # uses these saved settings as they are)
    features = ClapFeatureExtractor(
        truncation="rand_trunc", padding="repeatpad", frequency_min=50, frequency_max=14_000
    )
    return model, ClapProcessor(feature_extractor=features, tokenizer=tokenizer)


def _save_clap(out: Path, seed: int) -> None:
    model, processor = random_clap(seed)
    model.save_pretrained(out)
    processor.save_pretrained(out)

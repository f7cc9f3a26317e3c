"""A small randomly initialised Stable Diffusion pipeline, built offline.

It has the real components (``CLIPTokenizer``, ``CLIPTextModel``, ``AutoencoderKL``,
``UNet2DConditionModel``, the SD v1.5 PNDM scheduler config) at toy widths, so tests, CI
and the demo run the real loading, sampling and DreamBooth code on a CPU. The tokenizer
is a real byte-level BPE (CLIP format: ``vocab.json`` + ``merges.txt``) trained here on
the project's prompts, because no tokenizer can be downloaded.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from benchbench_sd.prompts import ALL_PROMPTS

BOS, EOS = "<|startoftext|>", "<|endoftext|>"
EOW = "</w>"
# CLIP's pre-tokenizer splits letters runs, single digits and punctuation runs; this is
# the same split with Python's re (\p{L} ~ [^\W\d_]).
_WORD = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|[^\s\w]+|_+")
EXTRA_WORDS = ("a photo of an image picture frame thermal infrared laser scan crack sane defect "
               "metal metallic part surface steel specimen notch hot spot without with presenting")


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP byte -> printable unicode map used by byte-level BPE."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs), strict=True))


def train_bpe(texts: Iterable[str], max_merges: int = 2000) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Learn CLIP-style BPE merges until every word of ``texts`` is one token.

    The vocabulary holds all 256 byte symbols with and without the end-of-word mark (so
    any text still tokenizes), the learned merges, then the two special tokens — the
    layout of the real CLIP vocabulary. Ties break on the pair's text: deterministic.
    """
    b2u = bytes_to_unicode()
    counts: Counter[tuple[str, ...]] = Counter()
    for text in texts:
        for word in _WORD.findall(text.lower()):
            chars = [b2u[b] for b in word.encode("utf-8")]
            counts[tuple(chars[:-1]) + (chars[-1] + EOW,)] += 1
    merges: list[tuple[str, str]] = []
    words = dict(counts)
    for _ in range(max_merges):
        pairs: Counter[tuple[str, str]] = Counter()
        for symbols, freq in words.items():
            for pair in zip(symbols, symbols[1:], strict=False):
                pairs[pair] += freq
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        merged: dict[tuple[str, ...], int] = {}
        for symbols, freq in words.items():
            out: list[str] = []
            i = 0
            while i < len(symbols):
                if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == best:
                    out.append(symbols[i] + symbols[i + 1])
                    i += 2
                else:
                    out.append(symbols[i])
                    i += 1
            merged[tuple(out)] = merged.get(tuple(out), 0) + freq
        words = merged
    base = list(b2u.values())
    tokens = base + [c + EOW for c in base] + ["".join(m) for m in merges]
    vocab: dict[str, int] = {}
    for tok in tokens + [BOS, EOS]:
        vocab.setdefault(tok, len(vocab))
    return vocab, merges


def build_tokenizer(out_dir: str | Path, texts: Iterable[str] = (), model_max_length: int = 77) -> Any:
    """Write vocab.json + merges.txt, load them as a real ``CLIPTokenizer`` and save it to ``out_dir``."""
    from transformers import CLIPTokenizer

    vocab, merges = train_bpe([*ALL_PROMPTS, EXTRA_WORDS, *texts])
    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory() as tmp:
        _write_bpe_files(Path(tmp), vocab, merges)
        tok = CLIPTokenizer.from_pretrained(tmp, model_max_length=model_max_length)
    tok.save_pretrained(str(out_dir))
    # Keep the CLIP source files too, as in released SD folders (older transformers read them).
    _write_bpe_files(out_dir, vocab, merges)
    return CLIPTokenizer.from_pretrained(str(out_dir))


def _write_bpe_files(folder: Path, vocab: dict[str, int], merges: list[tuple[str, str]]) -> None:
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))


def build_tiny_sd(out: str | Path, *, size: int = 64, channels: int = 3, seed: int = 0,
                  texts: Iterable[str] = ()) -> Path:
    """Save a randomly initialised StableDiffusionPipeline to ``out`` (a few MB).

    ``size``: native resolution (multiple of 8); the VAE downsamples by 4 and the UNet
    by 2 more. ``channels``: 1 (grey) or 3 image channels of the VAE.
    """
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel

    if size % 8:
        raise ValueError(f"size must be a multiple of 8, not {size}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, not {channels}")
    out = Path(out)
    torch.manual_seed(seed)
    # Built in place: the pipeline's save_pretrained below rewrites tokenizer.json and
    # keeps vocab.json + merges.txt beside it, as in released SD folders.
    tokenizer = build_tokenizer(out / "tokenizer", texts)
    text_encoder = build_text_encoder(tokenizer, hidden=32)
    vae = AutoencoderKL(
        in_channels=channels, out_channels=channels, latent_channels=4,
        down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(16, 32, 32), layers_per_block=1, norm_num_groups=8, sample_size=size)
    unet = UNet2DConditionModel(
        sample_size=size // 4, in_channels=4, out_channels=4, layers_per_block=1,
        block_out_channels=(32, 64), down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32,
        attention_head_dim=4, norm_num_groups=8)
    save_sd_pipeline(out, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet)
    return out


def build_text_encoder(tokenizer: Any, *, hidden: int, layers: int = 2) -> Any:
    """A randomly initialised ``CLIPTextModel`` for ``tokenizer`` (hidden width ``hidden``)."""
    from transformers import CLIPTextConfig, CLIPTextModel

    return CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden, num_attention_heads=4,
        num_hidden_layers=layers, max_position_embeddings=tokenizer.model_max_length, projection_dim=hidden,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id))


def sd_v15_scheduler() -> Any:
    """The SD v1.5 scheduler config (PNDM, scaled-linear betas), so scheduler swaps and DreamBooth's
    DDPM training noise behave as with real weights."""
    from diffusers import PNDMScheduler

    return PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                         num_train_timesteps=1000, skip_prk_steps=True, set_alpha_to_one=False, steps_offset=1)


def zero_snr_scheduler() -> Any:
    """SD v1.5's betas rescaled to zero terminal SNR, v-prediction, trailing timesteps (Lin et al., WACV 2024).

    Under SD v1.5's own betas the noisiest latent keeps 6.8% of the frame, enough for a UNet trained from
    scratch on unit-variance latents to read the frame's mean brightness there; sampling starts from pure
    noise, whose mean is zero, so frames come out mid-grey (the sd plugin README, "Noise schedule"). Euler
    ancestral is the default sampler: deterministic ones leave a briefly trained model's error as grain."""
    from diffusers import EulerAncestralDiscreteScheduler

    return EulerAncestralDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                           num_train_timesteps=1000, rescale_betas_zero_snr=True, steps_offset=1,
                                           prediction_type="v_prediction", timestep_spacing="trailing")


NOISE_SCHEDULES = {"sd15": sd_v15_scheduler, "zero-snr": zero_snr_scheduler}


def save_sd_pipeline(out: str | Path, *, scheduler: Any | None = None, **parts: Any) -> Any:
    """Save vae, text_encoder, tokenizer and unet as a StableDiffusionPipeline, with ``scheduler``
    (default: SD v1.5's)."""
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline(**parts, scheduler=scheduler or sd_v15_scheduler(), safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(str(out), safe_serialization=True)
    return pipe

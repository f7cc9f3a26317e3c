"""The diffusion kit: code shared by diffusion generator plugins (``benchbench-sd``, ``benchbench-ddpm``).

A public import path, like ``benchbench.api``: plugins import ``benchbench.diffusion`` (or names
from it), never its submodules, which are the kit's own layout:

* ``seeding``: per-image seeds (:func:`image_seed`), step-deterministic training draws
  (:func:`step_seed`, :func:`step_generator`, :func:`batch_indices`, :func:`probe_noise`);
* ``images``: training image folders (:func:`list_images`, :func:`class_images`, :func:`load_training_image`,
  :func:`training_mask`, :func:`square_mask`) and
  pipeline outputs in the frame format of the real data (:func:`to_frame_images`);
* ``generation``: the batched, per-image seeded loop that makes frame i bit-identical whatever
  the request's ``n`` and ``start_index`` (:func:`generate_frames`), :class:`PipelineGenerator`
  around it and :func:`check_output_params`;
* ``weights``: local pipeline folders (:func:`require_pipeline_dir`, :func:`class_folders`,
  :func:`pipeline_fingerprint`, :func:`quiet_loading`, :func:`torch_dtype`);
* ``training``: the options every training run has (:class:`TrainingRun`, the base of a plugin's
  training config), the end of an optimizer step (:func:`optimizer_step`), checkpoints with exact
  resume (:class:`Checkpoints`, :func:`advance_schedule`) and :func:`progress_bar`;
* ``commands``: CLI wiring of plugin commands (:func:`add_generator_commands`,
  :func:`training_options`, :func:`init_tiny_command`, :func:`training_summary`, :func:`ensure_group`);
* ``masks``: mask-conditioned models and generators (:func:`takes_mask`, :func:`with_mask_channel`,
  :func:`pooled_mask`, :class:`MaskConditioned`, :func:`jittered_mask`): each cracked frame drawn around a
  crack mask of the fold's training frames, which the frame carries (``labeler: mask``);
* ``hooks``: a generator plugin's two hook implementations (:func:`generator_hooks`);
* ``speed``: :func:`generation_speed` and the plugins' speed scripts (:func:`speed_script`).

The generator conformance check, ``check_generator``, is in ``benchbench.testing`` beside
``check_detector``. Importing the kit is cheap: torch, diffusers, PIL and rich are imported inside
the functions that need them, so plugins may import it from their hook modules.
"""

from benchbench.data.provenance import MASKS_DIR
from benchbench.diffusion.commands import (
    GROUP_HELP,
    add_generator_commands,
    ensure_group,
    init_tiny_command,
    training_options,
    training_summary,
)
from benchbench.diffusion.generation import PipelineGenerator, check_output_params, generate_frames
from benchbench.diffusion.hooks import generator_hooks
from benchbench.diffusion.images import (
    IMAGE_SUFFIXES,
    class_images,
    list_images,
    load_training_image,
    require_training_masks,
    square_mask,
    to_frame_images,
    training_mask,
)
from benchbench.diffusion.masks import (
    DEFAULT_JITTER,
    MaskConditioned,
    jittered_mask,
    pooled_mask,
    takes_mask,
    with_mask_channel,
)
from benchbench.diffusion.seeding import batch_indices, image_seed, probe_noise, step_generator, step_seed
from benchbench.diffusion.speed import generation_speed, speed_script
from benchbench.diffusion.training import Checkpoints, TrainingRun, advance_schedule, optimizer_step, progress_bar
from benchbench.diffusion.weights import (
    class_folders,
    pipeline_fingerprint,
    quiet_loading,
    require_pipeline_dir,
    torch_dtype,
)

__all__ = [
    "image_seed", "step_seed", "step_generator", "batch_indices", "probe_noise", "to_frame_images", "list_images",
    "class_images", "load_training_image", "training_mask", "square_mask",
    "require_training_masks", "MASKS_DIR", "generate_frames",
    "check_output_params",
    "PipelineGenerator", "generation_speed",
    "torch_dtype", "require_pipeline_dir", "class_folders", "pipeline_fingerprint", "quiet_loading",
    "TrainingRun", "optimizer_step", "Checkpoints", "advance_schedule", "progress_bar", "add_generator_commands",
    "training_options", "init_tiny_command", "training_summary", "ensure_group", "IMAGE_SUFFIXES", "GROUP_HELP",
    "generator_hooks", "speed_script", "MaskConditioned", "DEFAULT_JITTER", "jittered_mask", "pooled_mask",
    "takes_mask", "with_mask_channel",
]

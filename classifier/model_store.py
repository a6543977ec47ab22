"""Where models live: not in git, in ``get_settings().model_dir`` (a cache shared by runs and
tests).  :func:`ensure_default_model` trains the default model there once per machine; a file lock
makes concurrent callers (test workers, CLI runs) wait for one training instead of racing."""

from __future__ import annotations

import fcntl
import logging
import sys
from pathlib import Path

from classifier.meta import META_FILE, RECIPE, ModelMeta
from classifier.train import TrainConfig, train
from dragnet.settings import get_settings

log = logging.getLogger(__name__)


def model_ready(model_dir: Path, recipe: int | None = None) -> bool:
    """A finished model (weights, tokenizer, decision data and the int8 ONNX file), and, when
    ``recipe`` is given, one built with that training recipe."""
    files = (META_FILE, "config.json", "model.safetensors", "tokenizer.json", "onnx/model.int8.onnx")
    if not all((model_dir / name).is_file() for name in files):
        return False
    return recipe is None or ModelMeta.load(model_dir).recipe == recipe


def ensure_default_model(mode: str = "default", *, show_progress: bool | None = None) -> Path:
    """The default model directory, training it first (``mode``: the default recipe, or quick
    or full) if it is not there or was built with an older recipe.  Returns at once when it is
    current."""
    settings = get_settings()
    model_dir = Path(settings.model_dir)
    if model_ready(model_dir, RECIPE):
        return model_dir
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    lock_path = model_dir.parent / f".{model_dir.name}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be training it right now
        try:
            if model_ready(model_dir, RECIPE):
                return model_dir
            config = TrainConfig.of_mode(
                mode, seed=settings.classifier.seed, precision_target=settings.classifier.precision_target
            )
            log.info("no current model in %s: training the %s model first", model_dir, mode)
            progress = sys.stderr.isatty() if show_progress is None else show_progress
            train(model_dir, config, settings.training_data_dir, show_progress=progress)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return model_dir

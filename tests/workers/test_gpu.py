"""On a machine with CUDA, a classify worker loads the model on the GPU (bf16) and the pipeline
classifies through it.  Reported as skipped with a reason where there is no GPU."""

from __future__ import annotations

import pytest

from tests.workers.conftest import Pipeline, make_listings
from workers.submit import flush, submit_batch

pytestmark = [pytest.mark.gpu, pytest.mark.integration, pytest.mark.slow]


def test_classify_worker_runs_the_model_on_the_gpu(pipeline: Pipeline) -> None:
    worker = pipeline.start_worker("gpu", queues="classify,index", extra_env={"DRAGNET_CLASSIFIER__DEVICE": "auto"})
    assert "cuda-bf16 on cuda" in worker.log_path.read_text(errors="replace")
    listings = make_listings(200, "gpu")
    submit_batch(listings)
    flush()
    assert pipeline.wait_count(len(listings), timeout_s=120) == len(listings), pipeline.logs()

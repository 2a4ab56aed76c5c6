"""A transformers ``LogitsProcessor`` for token healing (needs the ``transformers`` extra)."""

from __future__ import annotations

import numpy as np
import torch
from transformers import LogitsProcessor

from .healing import HealingPlan


class TokenHealingLogitsProcessor(LogitsProcessor):
    """Masks (to -inf) every token not allowed by ``plan`` until the removed bytes are re-covered.

    ``prompt_length``: length of the input ids passed to ``generate`` (default: the plan's
    kept prompt); what comes after it in each row is that row's generation so far.
    """

    def __init__(self, plan: HealingPlan, prompt_length: int | None = None):
        self.plan = plan
        self.prompt_length = len(plan.prompt_ids) if prompt_length is None else int(prompt_length)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        scores = scores.clone()
        for row in range(input_ids.shape[0]):
            generated = input_ids[row, self.prompt_length:].tolist()
            allowed = self.plan.allowed_ids(generated)
            if allowed is None:
                continue
            allowed = allowed[allowed < scores.shape[-1]]
            mask = torch.ones(scores.shape[-1], dtype=torch.bool, device=scores.device)
            mask[torch.from_numpy(np.ascontiguousarray(allowed)).to(scores.device)] = False
            scores[row, mask] = float("-inf")
        return scores

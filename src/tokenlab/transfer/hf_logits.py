"""A transformers ``LogitsProcessor`` for token healing (needs the ``transformers`` extra)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from transformers import LogitsProcessor

from ..errors import InvalidInputError
from .healing import HealingPlan


class TokenHealingLogitsProcessor(LogitsProcessor):
    """Masks (to -inf) every token not allowed by the plan until the removed bytes are re-covered.

    ``plans``: one plan for every row, or a list with one plan per batch row (left-padded batch).
    ``prompt_length``: length of the input ids given to ``generate`` (default: the longest kept
    prompt); what follows it in each row is that row's generation so far.
    """

    def __init__(self, plans: HealingPlan | Sequence[HealingPlan], prompt_length: int | None = None):
        self.plans = [plans] if isinstance(plans, HealingPlan) else list(plans)
        if not self.plans or not all(isinstance(p, HealingPlan) for p in self.plans):
            raise InvalidInputError("plans must be a HealingPlan or a non-empty list of them")
        longest = max(len(p.prompt_ids) for p in self.plans)
        self.prompt_length = longest if prompt_length is None else int(prompt_length)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        rows = input_ids.shape[0]
        if len(self.plans) not in (1, rows):
            raise InvalidInputError(f"{len(self.plans)} healing plans for a batch of {rows} rows")
        scores = scores.clone()
        for row in range(rows):
            plan = self.plans[0] if len(self.plans) == 1 else self.plans[row]
            allowed = plan.allowed_ids(input_ids[row, self.prompt_length:].tolist())
            if allowed is None:
                continue
            allowed = allowed[allowed < scores.shape[-1]]
            mask = torch.ones(scores.shape[-1], dtype=torch.bool, device=scores.device)
            mask[torch.from_numpy(np.ascontiguousarray(allowed)).to(scores.device)] = False
            scores[row, mask] = float("-inf")
        return scores

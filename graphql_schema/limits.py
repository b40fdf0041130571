"""Static query limits as validation rules built ONCE, so ValidationCache can key on them.

Strawberry's limiter extensions build a new rule class per instance; with per-request extension
factories that defeats the validation cache (every request re-validates: ~10 ms here).
"""

from __future__ import annotations

from strawberry.extensions import AddValidationRules
from strawberry.extensions.max_aliases import create_validator as max_aliases_rule
from strawberry.extensions.query_depth_limiter import create_validator as max_depth_rule

MAX_DEPTH = 12
MAX_ALIASES = 30
MAX_TOKENS = 4_000

_RULES = (max_depth_rule(MAX_DEPTH, None, None), max_aliases_rule(MAX_ALIASES))


class QueryShapeLimits(AddValidationRules):
    """Depth and alias limits (tokens are limited at parse time by MaxTokensLimiter)."""

    def __init__(self) -> None:
        super().__init__(list(_RULES))

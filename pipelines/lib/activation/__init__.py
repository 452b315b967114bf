"""Activation: holdout arms, the per-night outboxes of WeCom tags and coupons (docs/activation.md)."""

from pipelines.lib.activation.arms import arm, arm_unit
from pipelines.lib.activation.outbox import (
    OutboxResult,
    Target,
    default_outbox_dir,
    erase_from_outboxes,
    targets,
    write_outboxes,
)

__all__ = ["OutboxResult", "Target", "arm", "arm_unit", "default_outbox_dir",
           "erase_from_outboxes", "targets", "write_outboxes"]

"""Import every room's tables so SQLModel.metadata (and Alembic) knows them all."""

from __future__ import annotations


def import_all_tables() -> None:
    import bot.mail.models
    import bot.models
    import bot.outbox  # noqa: F401
    import enrollment.models  # noqa: F401
    import scheduler.models  # noqa: F401

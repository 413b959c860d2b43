"""Renewal reminders.

* ``scheduler.policy``: which reminder is due for which certificate (pure, no I/O);
* ``scheduler.run``: one pass over the database: claim, deliver through a ``Notifier``, record;
* ``scheduler.clock``: the APScheduler clock that runs a pass every N minutes;
* ``scheduler.models``: the ``reminder_sent`` table whose unique (certificate, threshold) rows
  let any number of clocks share a database.

The notifiers themselves (Slack, local outbox) live in ``bot/notify.py``.
"""

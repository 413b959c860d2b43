"""Prometheus metrics of the reminder passes (registered on the default registry)."""

from prometheus_client import Counter, Histogram

REMINDERS = Counter(
    "certdesk_reminders", "Reminders handled by reminder passes, by result", ["result"]
)
PASS_SECONDS = Histogram(
    "certdesk_reminder_pass_seconds",
    "Duration of one reminder pass",
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300),
)

"""Latency histograms: HdrHistogram (microseconds, 3 significant digits), mergeable
across locust workers and stored as text in the measurements and verdicts."""

from __future__ import annotations

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # an hour: nothing a run waits for is longer
DIGITS = 3


class Histogram:
    """Recorded durations; percentiles in milliseconds."""

    def __init__(self, recorded: HdrHistogram | None = None) -> None:
        self._hdr = recorded or HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)

    def record_ms(self, milliseconds: float) -> None:
        """Record one duration (clamped into the trackable range)."""
        micros = min(max(round(milliseconds * 1000), LOWEST_US), HIGHEST_US)
        self._hdr.record_value(micros)

    def merge(self, other: Histogram) -> None:
        """Add every value of ``other``."""
        self._hdr.add(other._hdr)

    @property
    def count(self) -> int:
        """How many values were recorded."""
        return int(self._hdr.get_total_count())

    def percentile_ms(self, percentile: float) -> float:
        """The value at ``percentile`` (0-100), in milliseconds; 0 when empty."""
        if not self.count:
            return 0.0
        return float(self._hdr.get_value_at_percentile(percentile)) / 1000

    def max_ms(self) -> float:
        """The largest value, in milliseconds."""
        return float(self._hdr.get_max_value()) / 1000 if self.count else 0.0

    def encode(self) -> str:
        """A compressed text form (HdrHistogram's base64 encoding)."""
        encoded: bytes = self._hdr.encode()
        return encoded.decode("ascii")

    @classmethod
    def decode(cls, text: str) -> Histogram:
        """The histogram :meth:`encode` wrote; an empty text is an empty histogram."""
        return cls(HdrHistogram.decode(text.encode("ascii"))) if text else cls()

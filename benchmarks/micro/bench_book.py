"""The in-memory order book's insert: building a book of 1,000 resting orders."""

from __future__ import annotations

from cases import BOOK_SIZE, Benchmark, book_building


def test_build_book(benchmark: Benchmark) -> None:
    book = benchmark(book_building(BOOK_SIZE))
    assert len(book.bids) + len(book.asks) == BOOK_SIZE
    assert not book.is_crossed()

"""Tests of `crawl/`."""

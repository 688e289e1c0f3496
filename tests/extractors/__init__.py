"""Tests of `extractors/`."""

"""Crawling without Prefect: settings, the guarded fetcher and its sessions, politeness (robots.txt,
pacing), discovery (feeds, sitemaps, links), payload guards, the sources file, and the waits that give
up on a signal.  Imports ``extractors``; never ``storage`` or ``flows``."""

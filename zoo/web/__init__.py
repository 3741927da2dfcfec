"""The catalogue's web pages: models, a card per model, measured results and plots, registered runs, and
the JSON behind them. `zoo serve` answers them live (zoo.hub.server asks a `Site` for every path it does
not serve as a file); `zoo catalog build` writes them as a static site. No back-end is imported here.
"""

from __future__ import annotations

from zoo.web.build import build_catalog
from zoo.web.site import Response, Site, serve_pages

__all__ = ["Response", "Site", "build_catalog", "serve_pages"]

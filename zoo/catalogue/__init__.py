"""Generated model catalogues: scripts/timm_catalogue.py writes them, docs/catalogue.md says what."""

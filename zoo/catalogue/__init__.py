"""Generated catalogue data (timm.yaml, timm_unsupported.yaml): see scripts/timm_catalogue.py."""

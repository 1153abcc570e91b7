"""Packaged data: drug library, stylesheet, icons, demo data recipe."""

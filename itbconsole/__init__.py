"""ITB Console domain core: model, units, dosing arithmetic, drug library, record store and
services. Imports no Qt (enforced by the import-linter contract in setup.cfg)."""

__version__ = "0.1.0"

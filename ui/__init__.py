"""The desktop app: PySide6 + pyqtgraph views over the itbconsole services."""
